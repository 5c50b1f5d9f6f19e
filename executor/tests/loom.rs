//! loom models of the real executor code (`RUSTFLAGS="--cfg loom"`).
//!
//! Each model ends with the owner blocked in `EventNotifier::wait(None)` if a wakeup is lost;
//! the loom `HostNotifier` waits on a loom `Condvar`, so a lost wakeup is a loom deadlock.
//!
//! Negative controls (`--cfg aiolos_mutant="…"`, see `loom-mutants.sh`): with the full fence
//! removed on either side of the handshake (or the owner's side written as a SeqCst RMW plus
//! Relaxed loads), `mutant_loses_wakeup` asserts that loom finds the lost wakeup.
//!
//! Explored executions are counted and printed (`--nocapture`). Preemption bound: loom's
//! `LOOM_MAX_PREEMPTIONS`, default 8 here (about 10 s in release for all models).
#![cfg(loom)]

use std::sync::atomic::{
    AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};

use executor::{Bh, Context, HostClock, HostNotifier, WakeGate};
use loom::thread;

static CLOCK: HostClock = HostClock::new();

/// Preemption bound unless `LOOM_MAX_PREEMPTIONS` is set.
const DEFAULT_PREEMPTIONS: usize = 8;

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

fn context(id: usize) -> &'static Context {
    let ctx = leak(Context::new(id));
    ctx.attach(leak(HostNotifier::new()), &CLOCK).unwrap();
    ctx
}

/// Runs `f` under loom with a default preemption bound; returns the number of executions.
fn check(name: &str, f: impl Fn() + Sync + Send + 'static) -> usize {
    check_counted(name, leak(AtomicUsize::new(0)), f)
}

/// `check`, counting executions in `count` (readable even if the model panics).
fn check_counted(
    name: &str,
    count: &'static AtomicUsize,
    f: impl Fn() + Sync + Send + 'static,
) -> usize {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(DEFAULT_PREEMPTIONS);
    }
    b.check(move || {
        count.fetch_add(1, Relaxed);
        f()
    });
    let n = count.load(Relaxed);
    println!("loom model {name}: {n} executions explored, no lost wakeup");
    n
}

/// The latch/sleep handshake of a sleeping notifier (`WakeGate`, the core of the kernel's
/// SGI notifier): the notifier latches and kicks if it sees the owner asleep; the owner
/// announces sleep and sleeps if it sees no latch. It must never sleep through a latch that
/// did not kick it.
fn wake_gate_handshake() {
    let gate: &'static WakeGate = leak(WakeGate::new());
    let kicked: &'static loom::sync::atomic::AtomicBool =
        leak(loom::sync::atomic::AtomicBool::new(false));
    let t = thread::spawn(move || {
        if gate.latch() {
            kicked.store(true, SeqCst);
        }
    });
    let slept = gate.prepare_sleep();
    t.join().unwrap();
    if slept {
        assert!(
            kicked.load(SeqCst),
            "owner slept through a latch that sent no kick (lost wakeup)"
        );
    }
    gate.awake();
    assert!(gate.take());
}

/// Another thread schedules a bottom half while the owner polls (and may sleep).
fn bh_from_other_thread() {
    let ctx = context(0);
    let bh: &'static Bh = leak(Bh::new(|_| {}));
    let t = thread::spawn(move || {
        bh.schedule(ctx);
    });
    while ctx.stats().bhs_run == 0 {
        ctx.poll(true);
    }
    t.join().unwrap();
}

#[cfg(not(any(
    aiolos_mutant = "no_owner_fence",
    aiolos_mutant = "no_notifier_fence",
    aiolos_mutant = "rmw_relaxed"
)))]
mod models {
    use super::*;
    use executor::{TaskPool, WorkerPool};
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Mutex;
    use std::future::poll_fn;
    use std::sync::atomic::Ordering::{Acquire, Release};
    use std::task::{Poll, Waker};

    #[test]
    fn wake_gate() {
        check("wake_gate", wake_gate_handshake);
    }

    #[test]
    fn bh_scheduled_from_another_thread() {
        check("bh_scheduled_from_another_thread", bh_from_other_thread);
    }

    /// Coalescing: two schedules from another thread while the owner runs the BH; the BH
    /// runs once or twice, never zero times after the last schedule, and its list stays sane.
    #[test]
    fn bh_coalesce_vs_run() {
        check("bh_coalesce_vs_run", || {
            let ctx = context(0);
            let bh: &'static Bh = leak(Bh::new(|_| {}));
            let t = thread::spawn(move || {
                bh.schedule(ctx);
                bh.schedule(ctx);
            });
            while ctx.stats().bhs_run == 0 {
                ctx.poll(true);
            }
            t.join().unwrap();
            ctx.poll(false);
            assert!(!bh.is_pending());
            let runs = ctx.stats().bhs_run;
            assert!((1..=2).contains(&runs), "ran {runs} times");
        });
    }

    /// notify vs poll: a task pending on a flag is woken from another thread.
    #[test]
    fn task_wake_vs_poll() {
        check("task_wake_vs_poll", || {
            let ctx = context(0);
            let pool: &'static TaskPool<256, 1> = leak(TaskPool::new());
            let flag: &'static AtomicBool = leak(AtomicBool::new(false));
            let slot: &'static Mutex<Option<Waker>> = leak(Mutex::new(None));
            let mut h = pool
                .spawn(ctx, async move {
                    poll_fn(|cx| {
                        // Acquire: pairs with the Release store in the waking thread.
                        if flag.load(Acquire) {
                            return Poll::Ready(());
                        }
                        slot.lock()
                            .unwrap()
                            .get_or_insert_with(|| cx.waker().clone());
                        Poll::Pending
                    })
                    .await
                })
                .unwrap();
            ctx.poll(false); // first poll: registers the waker, pending
            let t = thread::spawn(move || {
                flag.store(true, Release);
                let w = slot.lock().unwrap().take().unwrap();
                w.wake();
            });
            while h.try_take().is_none() {
                ctx.poll(true);
            }
            t.join().unwrap();
        });
    }

    /// Cross-context wake: a task on A awaits the JoinHandle of a task on B (B's owner wakes
    /// A's task through the join waker).
    #[test]
    fn cross_context_wake() {
        check("cross_context_wake", || {
            let a = context(0);
            let b = context(1);
            let pool: &'static TaskPool<256, 2> = leak(TaskPool::new());
            let hb = pool.spawn(b, async { 1u32 }).unwrap();
            let mut ha = pool.spawn(a, async move { hb.await + 1 }).unwrap();
            let t = thread::spawn(move || {
                while b.stats().tasks_polled == 0 {
                    b.poll(true);
                }
            });
            loop {
                if let Some(v) = ha.try_take() {
                    assert_eq!(v, 2);
                    break;
                }
                a.poll(true);
            }
            t.join().unwrap();
        });
    }

    fn double(x: u32) -> u32 {
        2 * x
    }

    /// Worker completion: a task on A submits a job to worker context W; the result comes back
    /// through the completion BH on A.
    #[test]
    fn worker_completion() {
        check("worker_completion", || {
            let a = context(0);
            let w = context(1);
            let pool: &'static WorkerPool<u32, u32, 1> = leak(WorkerPool::new(leak([w])));
            let tasks: &'static TaskPool<256, 1> = leak(TaskPool::new());
            let mut h = tasks
                .spawn(a, async move { pool.submit(a, double, 21).unwrap().await })
                .unwrap();
            let t = thread::spawn(move || {
                while w.stats().bhs_run == 0 {
                    w.poll(true);
                }
            });
            loop {
                if let Some(v) = h.try_take() {
                    assert_eq!(v, 42);
                    break;
                }
                a.poll(true);
            }
            t.join().unwrap();
        });
    }
}

/// Runs `model` under loom expecting it to fail with a panic message containing `what`;
/// returns the executions explored until then. Panics if loom finds nothing.
#[cfg(any(
    aiolos_mutant = "no_owner_fence",
    aiolos_mutant = "no_notifier_fence",
    aiolos_mutant = "rmw_relaxed",
    aiolos_mutant = "no_sleep_fence",
    aiolos_mutant = "no_latch_fence"
))]
fn expect_caught(model: fn(), what: &str) -> usize {
    let count: &'static AtomicUsize = leak(AtomicUsize::new(0));
    let r = std::panic::catch_unwind(|| check_counted("mutant", count, model));
    let payload = r.expect_err("loom did not find the lost wakeup with the fence removed");
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(msg.contains(what), "unexpected failure: {msg}");
    count.load(Relaxed)
}

/// Negative control: only compiled for a fence-removal mutant; passes only if loom finds the
/// lost wakeup (a deadlock of the sleeping owner).
#[cfg(any(
    aiolos_mutant = "no_owner_fence",
    aiolos_mutant = "no_notifier_fence",
    aiolos_mutant = "rmw_relaxed"
))]
#[test]
fn mutant_loses_wakeup() {
    // The owner is blocked in wait(None) after the notifier exited without kicking.
    let n = expect_caught(bh_from_other_thread, "deadlock");
    println!(
        "mutant caught: loom found the lost wakeup (owner asleep forever) after {n} executions"
    );
}

/// Negative control for the notifier's own handshake: with either `WakeGate` fence removed,
/// loom must find an execution where the owner sleeps through an unkicked latch.
#[cfg(any(aiolos_mutant = "no_sleep_fence", aiolos_mutant = "no_latch_fence"))]
#[test]
fn mutant_gate_loses_wakeup() {
    let n = expect_caught(wake_gate_handshake, "lost wakeup");
    println!(
        "mutant caught: loom found the owner asleep through an unkicked latch after {n} executions"
    );
}
