//! loom models of the real executor code (`RUSTFLAGS="--cfg loom"`).
//!
//! Each model ends with the owner blocked in `EventNotifier::wait(None)` if a wakeup is lost;
//! the loom `HostNotifier` waits on a loom `Condvar`, so a lost wakeup is a loom deadlock.
//! The event left set with `notified` false and nobody to clear it (the seed's BUG1: a busy
//! loop with the seed's `wait`, one wasted early return with the consuming one) is not a
//! deadlock; the models with an end-state check (`assert_idle_end_state`) see it: after the
//! last notifier is joined and the owner has polled once more, the event must be clear and
//! no work left. An owner spinning through a notifier's window (the seed's `wait`, which
//! leaves a latch it finds set) is seen by `early_returns_per_set`: early returns from
//! `wait` never exceed the event's sets.
//!
//! Negative controls (`--cfg aiolos_mutant="…"`, see `loom-mutants.sh`): for every executor
//! mutant, `mutant_caught` runs the model named in `CATCHER` and passes only if loom finds
//! the failure that model states (a deadlock, or the end-state assertion). It prints the
//! model's name and the executions explored until the failure.
//!
//! Explored executions are counted and printed (`--nocapture`). Preemption bound: loom's
//! `LOOM_MAX_PREEMPTIONS`, else the model's own (8 for most; the three-thread fan-in has 3,
//! enough for the stale-`notified` interleaving, see `fan_in`).
#![cfg(loom)]

use std::sync::atomic::{
    AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};

use executor::{Bh, Context, EventNotifier, HostClock, HostNotifier, WakeGate};
use loom::thread;

static CLOCK: HostClock = HostClock::new();

/// Preemption bound unless `LOOM_MAX_PREEMPTIONS` is set.
const DEFAULT_PREEMPTIONS: usize = 8;

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

fn context(id: usize) -> &'static Context {
    context_and_event(id).0
}

/// A context and its EventNotifier (for end-state checks on the event).
fn context_and_event(id: usize) -> (&'static Context, &'static HostNotifier) {
    let ctx = leak(Context::new(id));
    let event = leak(HostNotifier::new());
    ctx.attach(event, &CLOCK).unwrap();
    (ctx, event)
}

/// Runs `f` under loom with a default preemption bound; returns the number of executions.
fn check(name: &str, f: impl Fn() + Sync + Send + 'static) -> usize {
    check_counted(name, DEFAULT_PREEMPTIONS, leak(AtomicUsize::new(0)), f)
}

/// `check` with the model's own preemption bound (unless `LOOM_MAX_PREEMPTIONS` is set),
/// counting executions in `count` (readable even if the model panics).
fn check_counted(
    name: &str,
    preemptions: usize,
    count: &'static AtomicUsize,
    f: impl Fn() + Sync + Send + 'static,
) -> usize {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(preemptions);
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

/// What `task_wake` says when the completed task's slot is still taken.
const SLOT_HELD: &str = "slot reusable after completion";

/// notify vs poll: a task pending on a flag is woken from another thread. The wake can land
/// before, during or after any of the task's polls; during a poll it is a mark the owner
/// turns into a queue entry after a Pending poll (mutant `deferred_wake_dropped` loses it:
/// a deadlock) and drops after the completing one (mutant `deferred_mark_kept` keeps the
/// slot taken: the spawn at the end fails).
fn task_wake() {
    use executor::TaskPool;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Mutex;
    use std::future::poll_fn;
    use std::sync::atomic::Ordering::{Acquire, Release};
    use std::task::{Poll, Waker};

    let ctx = context(0);
    let pool: &'static TaskPool<256, 1> = leak(TaskPool::new());
    let flag: &'static AtomicBool = leak(AtomicBool::new(false));
    let slot: &'static Mutex<Option<Waker>> = leak(Mutex::new(None));
    // Leaked, for the reason given in `signal_raise_vs_wait`; taken out to drop it at the end.
    let h = Box::leak(Box::new(Some(
        pool.spawn(ctx, async move {
            poll_fn(|cx| {
                // Register, then check: a raise that finds no waker yet is seen by the check.
                slot.lock()
                    .unwrap()
                    .get_or_insert_with(|| cx.waker().clone());
                // Acquire: pairs with the Release store in the waking thread.
                if flag.load(Acquire) {
                    return Poll::Ready(());
                }
                Poll::Pending
            })
            .await
        })
        .unwrap(),
    )));
    // The waker runs from the start, so its wake can land inside either poll.
    let t = thread::spawn(move || {
        // Release: pairs with the Acquire load in the task.
        flag.store(true, Release);
        if let Some(w) = slot.lock().unwrap().take() {
            w.wake();
        }
    });
    while h.as_mut().unwrap().try_take().is_none() {
        ctx.poll(true);
    }
    t.join().unwrap();
    // However the wake fell, the slot is free once the handle is gone: a completed task is
    // on no run queue.
    drop(h.take());
    if let Err(e) = pool.spawn(ctx, async {}) {
        panic!("{SLOT_HELD}: {e:?}");
    }
}

/// What a failed end-state check says (the catchers below look for it).
const BUSY_LOOP: &str = "event still set after the owner accepted the last notify";

/// The end state once every notifier is joined: one more (non-blocking) poll accepts the
/// last notifies; then nothing may be left to run and the event must be clear. An event
/// left set with `notified` false and no notify in flight breaks the invariant on
/// `notified` (BUG1, `no_accept`, `accept_load_store`): with the seed's `wait` every later
/// wait returned at once (a busy loop); with the consuming `wait` the next one takes it
/// (one wasted early return). Consumes the event.
fn assert_idle_end_state(ctx: &'static Context, event: &'static HostNotifier, bhs: &[Bh]) {
    let progress = ctx.poll(false);
    assert!(!progress, "work left unrun after the last notify");
    assert!(
        bhs.iter().all(|b| !b.is_pending()),
        "a bottom half still pending"
    );
    assert!(
        !event.test_and_clear(),
        "{BUSY_LOOP}: the invariant on `notified` is broken (the owner's next wait returns at once)"
    );
}

/// One notifier, one notify racing a blocking poll, then the end-state check: the smallest
/// model that sees the busy-loop bugs (the event set after, or without, the accept).
fn notify_end_state() {
    let (ctx, event) = context_and_event(0);
    let bhs: &'static [Bh; 1] = leak([Bh::new(|_| {})]);
    let t = thread::spawn(move || {
        bhs[0].schedule(ctx);
    });
    while ctx.stats().bhs_run == 0 {
        ctx.poll(true);
    }
    t.join().unwrap();
    assert_idle_end_state(ctx, event, bhs);
}

/// What a failed window check says (the catcher below looks for it).
const WINDOW_SPIN: &str = "more early returns from wait than sets";

/// The notifier's window: one notifier schedules two bottom halves while the owner polls
/// (blocking) until both ran, checking after every poll that its `wait` returned at once no
/// more often than the event was set. An owner that wakes (or finds the latch) while the
/// notifier is between its `set` and its store of `notified` accepts nothing; with the seed's
/// `wait` (mutant `wait_keeps_latch`) every later wait returns at once until that store
/// lands: loom schedules the owner alone there, and the second early return on one set fails
/// the check. With the consuming `wait`, each early return takes one set. No yield in the
/// owner's loop: a spinning owner must show up here, not be scheduled away.
fn early_returns_per_set() {
    let (ctx, event) = context_and_event(0);
    let bhs: &'static [Bh; 2] = leak([Bh::new(|_| {}), Bh::new(|_| {})]);
    let t = thread::spawn(move || {
        bhs[0].schedule(ctx);
        bhs[1].schedule(ctx);
    });
    while ctx.stats().bhs_run < 2 {
        ctx.poll(true);
        let c = event.counts();
        assert!(
            c.early_returns <= c.sets,
            "{WINDOW_SPIN}: {} early returns for {} sets (the owner spins through the notifier's window)",
            c.early_returns,
            c.sets
        );
    }
    t.join().unwrap();
    assert_idle_end_state(ctx, event, bhs);
}

/// Preemption bound of [`early_returns_per_set`] (two notifies and the owner's polls).
const WINDOW_PREEMPTIONS: usize = 3;

/// Preemption bound of [`fan_in`]: the stale-`notified` interleaving below needs 3.
const FAN_IN_PREEMPTIONS: usize = 3;

/// Fan-in: two notifiers race one owner with three notifies (the first notifier schedules
/// two bottom halves in a row, the second one), then the end-state check.
///
/// The seed's BUG2 (skip the set while `notified` is true) needs a *stale* `notified`: a
/// notify that sets the event after the owner's accept consumed `notified` but before its
/// `test_and_clear`, and stores `notified` after it, leaves `notified` true with the event
/// clear; the owner then finds no work and sleeps, and the third notify sees `notified`
/// true and skips the set: the owner sleeps forever (a loom deadlock). With one notify in
/// flight per notifier and fewer than three notifies that state is unreachable.
fn fan_in() {
    let (ctx, event) = context_and_event(0);
    let bhs: &'static [Bh; 3] = leak([Bh::new(|_| {}), Bh::new(|_| {}), Bh::new(|_| {})]);
    let t1 = thread::spawn(move || {
        bhs[0].schedule(ctx);
        bhs[1].schedule(ctx);
    });
    let t2 = thread::spawn(move || {
        bhs[2].schedule(ctx);
    });
    while ctx.stats().bhs_run < 3 {
        // An event set by a notifier that is between its `set` and its store of `notified`
        // (or a notifier that has not started yet while the event is set) lets the owner
        // poll without progress until that notifier runs: a transient busy loop that loom,
        // which never preempts the spinning owner for free, would follow forever ("maximum
        // number of branches"). Yielding lets the other threads run; a lost wakeup is still
        // a deadlock and a permanent busy loop still fails the end-state check.
        if !ctx.poll(true) {
            thread::yield_now();
        }
    }
    t1.join().unwrap();
    t2.join().unwrap();
    assert_idle_end_state(ctx, event, bhs);
}

/// `Signal`: a task on the owner awaits a signal another thread raises. The owner polls
/// (blocking) until the task finishes: a raise that finds no waker while the task does not
/// see the flag leaves the owner asleep for good (a loom deadlock).
fn signal_raise_vs_wait() {
    let ctx = context(0);
    let pool: &'static executor::TaskPool<256, 1> = leak(executor::TaskPool::new());
    let signal: &'static executor::Signal = leak(executor::Signal::new());
    // Leaked: a handle dropped while loom unwinds from a deadlock would touch loom state
    // from a destructor (an abort instead of the deadlock report the mutant check expects).
    let h = Box::leak(Box::new(pool.spawn(ctx, signal.wait()).unwrap()));
    let t = thread::spawn(move || signal.raise());
    while h.try_take().is_none() {
        ctx.poll(true);
    }
    t.join().unwrap();
}

/// The models; compiled with the mutants too (`cargo test` then shows which models fail),
/// but `loom-mutants.sh` runs only `mutant_caught`.
mod models {
    use super::*;
    use executor::{TaskPool, WorkerPool};
    use loom::sync::Mutex;

    #[test]
    fn wake_gate() {
        check("wake_gate", wake_gate_handshake);
    }

    #[test]
    fn signal_raise_vs_wait() {
        check("signal_raise_vs_wait", super::signal_raise_vs_wait);
    }

    /// Two rounds on one `Signal`: the second `wait` finds the first round's waker still
    /// registered (`raise` leaves it there) and re-registers it without a clone; the second
    /// raise must still reach it. Preemption bound 3 (the two rounds grow the state space).
    #[test]
    fn signal_two_rounds() {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(3);
        }
        // Two rounds with a condvar hand-off are longer than loom's default 1,000 branches.
        b.max_branches = 20_000;
        let count: &'static AtomicUsize = leak(AtomicUsize::new(0));
        b.check(move || {
            count.fetch_add(1, Relaxed);
            let ctx = context(0);
            let pool: &'static TaskPool<256, 1> = leak(TaskPool::new());
            let signal: &'static executor::Signal = leak(executor::Signal::new());
            // The first round's end, told to the raising thread (it blocks, no spinning).
            let first_seen: &'static (Mutex<bool>, loom::sync::Condvar) =
                leak((Mutex::new(false), loom::sync::Condvar::new()));
            let h = Box::leak(Box::new(
                pool.spawn(ctx, async move {
                    signal.wait().await;
                    *first_seen.0.lock().unwrap() = true;
                    first_seen.1.notify_one();
                    signal.wait().await;
                })
                .unwrap(),
            ));
            let t = thread::spawn(move || {
                signal.raise();
                let mut seen = first_seen.0.lock().unwrap();
                while !*seen {
                    seen = first_seen.1.wait(seen).unwrap();
                }
                drop(seen);
                signal.raise();
            });
            // yield_now: the owner may spin through a notifier's window (the event set,
            // `notified` not yet: each wait returns at once); without a yield, loom's
            // preemption bound can leave the notifier unscheduled for good.
            while h.try_take().is_none() {
                ctx.poll(true);
                thread::yield_now();
            }
            t.join().unwrap();
        });
        let n = count.load(Relaxed);
        println!("loom model signal_two_rounds: {n} executions explored, no lost wakeup");
    }

    #[test]
    fn bh_scheduled_from_another_thread() {
        check("bh_scheduled_from_another_thread", bh_from_other_thread);
    }

    #[test]
    fn notify_then_idle_end_state() {
        check("notify_then_idle_end_state", notify_end_state);
    }

    #[test]
    fn fan_in_three_notifies() {
        check_counted(
            "fan_in_three_notifies",
            FAN_IN_PREEMPTIONS,
            leak(AtomicUsize::new(0)),
            fan_in,
        );
    }

    #[test]
    fn early_returns_per_set() {
        check_counted(
            "early_returns_per_set",
            WINDOW_PREEMPTIONS,
            leak(AtomicUsize::new(0)),
            super::early_returns_per_set,
        );
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

    #[test]
    fn task_wake_vs_poll() {
        check("task_wake_vs_poll", task_wake);
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

/// The loom model that must catch a mutant, and what its failure says.
#[allow(dead_code)] // only the mutant builds read it
struct Catcher {
    model: &'static str,
    run: fn(),
    preemptions: usize,
    what: &'static str,
}

/// A lost wakeup: the owner blocked in `wait(None)` with nobody left to set the event.
const DEADLOCK: &str = "deadlock";

#[allow(dead_code)]
const BH_DEADLOCK: Catcher = Catcher {
    model: "bh_scheduled_from_another_thread",
    run: bh_from_other_thread,
    preemptions: DEFAULT_PREEMPTIONS,
    what: DEADLOCK,
};

#[allow(dead_code)]
const END_STATE: Catcher = Catcher {
    model: "notify_then_idle_end_state",
    run: notify_end_state,
    preemptions: DEFAULT_PREEMPTIONS,
    what: BUSY_LOOP,
};

/// Which model catches which mutant (the table in executor/README.md).
#[cfg(any(
    aiolos_mutant = "no_owner_fence",
    aiolos_mutant = "no_notifier_fence",
    aiolos_mutant = "rmw_relaxed",
    aiolos_mutant = "bh_skip_notify",
    aiolos_mutant = "wait_not_parked"
))]
const CATCHER: Catcher = BH_DEADLOCK;
#[cfg(any(aiolos_mutant = "no_sleep_fence", aiolos_mutant = "no_latch_fence"))]
const CATCHER: Catcher = Catcher {
    model: "wake_gate",
    run: wake_gate_handshake,
    preemptions: DEFAULT_PREEMPTIONS,
    what: "lost wakeup",
};
#[cfg(any(
    aiolos_mutant = "notified_before_set",
    aiolos_mutant = "accept_load_store",
    aiolos_mutant = "no_accept"
))]
const CATCHER: Catcher = END_STATE;
#[cfg(aiolos_mutant = "signal_no_recheck")]
const CATCHER: Catcher = Catcher {
    model: "signal_raise_vs_wait",
    run: signal_raise_vs_wait,
    preemptions: DEFAULT_PREEMPTIONS,
    what: DEADLOCK,
};
#[cfg(aiolos_mutant = "skip_set_if_notified")]
const CATCHER: Catcher = Catcher {
    model: "fan_in_three_notifies",
    run: fan_in,
    preemptions: FAN_IN_PREEMPTIONS,
    what: DEADLOCK,
};

#[cfg(aiolos_mutant = "wait_keeps_latch")]
const CATCHER: Catcher = Catcher {
    model: "early_returns_per_set",
    run: early_returns_per_set,
    preemptions: WINDOW_PREEMPTIONS,
    what: WINDOW_SPIN,
};

#[cfg(aiolos_mutant = "deferred_wake_dropped")]
const CATCHER: Catcher = Catcher {
    model: "task_wake_vs_poll",
    run: task_wake,
    preemptions: DEFAULT_PREEMPTIONS,
    what: DEADLOCK,
};
#[cfg(aiolos_mutant = "deferred_mark_kept")]
const CATCHER: Catcher = Catcher {
    model: "task_wake_vs_poll",
    run: task_wake,
    preemptions: DEFAULT_PREEMPTIONS,
    what: SLOT_HELD,
};

/// Negative control, one per mutant build: passes only if the mutant's catcher model fails
/// the way it states.
#[cfg(any(
    aiolos_mutant = "no_owner_fence",
    aiolos_mutant = "no_notifier_fence",
    aiolos_mutant = "rmw_relaxed",
    aiolos_mutant = "bh_skip_notify",
    aiolos_mutant = "no_sleep_fence",
    aiolos_mutant = "no_latch_fence",
    aiolos_mutant = "notified_before_set",
    aiolos_mutant = "accept_load_store",
    aiolos_mutant = "no_accept",
    aiolos_mutant = "skip_set_if_notified",
    aiolos_mutant = "signal_no_recheck",
    aiolos_mutant = "wait_keeps_latch",
    aiolos_mutant = "wait_not_parked",
    aiolos_mutant = "deferred_wake_dropped",
    aiolos_mutant = "deferred_mark_kept"
))]
#[test]
fn mutant_caught() {
    let c = CATCHER;
    let count: &'static AtomicUsize = leak(AtomicUsize::new(0));
    let r = std::panic::catch_unwind(|| check_counted(c.model, c.preemptions, count, c.run));
    let payload = r.expect_err(&format!("loom model {} did not catch the mutant", c.model));
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(
        msg.contains(c.what),
        "model {} failed, but not with \"{}\": {msg}",
        c.model,
        c.what
    );
    println!(
        "mutant caught by loom model {} (\"{}\") after {} executions",
        c.model,
        c.what,
        count.load(Relaxed)
    );
}
