//! Host tests: the notify/accept sequence, bottom halves, tasks, timers, worker pool.
#![cfg(not(loom))] // statics need const constructors; loom models live in tests/loom.rs

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::task::Poll;

use common::{context, join_within, leak, run_until, Recording, Runner, CLOCK, OWNER_DEADLINE};
use executor::{
    co_schedule, sleep, sleep_until, with_timeout, Bh, Clock, Context, Elapsed, EventNotifier,
    HostNotifier, HostNotifierCounts, JoinHandle, PollParams, ScheduleError, SpawnError, TaskPool,
    WorkerPool,
};

fn recording_context() -> (&'static Context, &'static Recording) {
    let ctx = leak(Context::new(0));
    let rec = leak(Recording::default());
    ctx.attach(rec, &CLOCK).unwrap();
    (ctx, rec)
}

// ---------------------------------------------------------------- handshake sequence

#[test]
fn notify_while_awake_is_skipped_and_accept_does_not_clear() {
    let (ctx, rec) = recording_context();
    ctx.notify();
    ctx.notify_accept();
    assert_eq!(
        rec.take(),
        Vec::<&str>::new(),
        "no kick, no clear while notify_me == 0"
    );
    #[cfg(feature = "stats")]
    {
        let s = ctx.stats();
        assert_eq!(
            (s.notifies, s.kicks, s.notifies_skipped, s.accepts_notified),
            (1, 0, 1, 0)
        );
    }
}

#[test]
fn attach_twice_fails() {
    let (ctx, _) = recording_context();
    assert!(ctx.attach(leak(Recording::default()), &CLOCK).is_err());
}

#[test]
fn blocking_poll_with_work_does_not_sleep() {
    static BH: Bh = Bh::new(|_| {});
    let (ctx, rec) = recording_context();
    BH.schedule(ctx);
    assert!(ctx.poll(true));
    assert_eq!(rec.take(), Vec::<&str>::new());
    assert_eq!(ctx.stats().sleeps, 0);
}

#[test]
fn sleeping_owner_is_kicked_then_accepts_once() {
    static BH: Bh = Bh::new(|_| {});
    let (ctx, rec) = recording_context();
    let owner = std::thread::spawn(move || ctx.poll(true));
    // Wait until the owner is asleep.
    while !rec.log.lock().unwrap().contains(&"wait") {
        std::thread::yield_now();
    }
    BH.schedule(ctx);
    assert!(join_within(owner, OWNER_DEADLINE, "kicked owner"));
    // The owner may wake between the notifier's `set` and its store of `notified`; then this
    // accept finds `notified` false and the next one clears the event (a harmless false
    // positive, PROTOCOL.md). Either way the event is cleared exactly once.
    ctx.poll(false);
    assert_eq!(rec.take(), ["wait", "set", "test_and_clear:true"]);
    let s = ctx.stats();
    #[cfg(feature = "stats")]
    assert_eq!((s.kicks, s.accepts_notified), (1, 1));
    assert_eq!((s.sleeps, s.bhs_run), (1, 1));
    // The next accept finds `notified` clear: no second (expensive) clear.
    ctx.poll(false);
    assert_eq!(rec.take(), Vec::<&str>::new());
}

#[test]
fn wait_consumes_a_latch_it_finds_set() {
    let n = leak(HostNotifier::new());
    n.set();
    // Set on entry: returns at once (no deadline, so it would block otherwise) and consumes.
    n.wait(None);
    #[cfg(not(aiolos_mutant = "wait_keeps_latch"))]
    assert!(!n.is_set(), "the latch found set was left set");
    assert_eq!(
        n.counts(),
        HostNotifierCounts {
            sets: 1,
            early_returns: 1
        }
    );
    // A latch set during the wait is left set (for the accept). If this thread is so late
    // that the latch is already set on entry, the wait consumes it (counted): no check then.
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        n.set();
    });
    n.wait(Some(CLOCK.now() + 5_000_000_000));
    t.join().unwrap();
    if n.counts().early_returns == 1 {
        assert!(n.is_set(), "a latch set during the wait was consumed");
    }
}

/// A notifier that stops inside the window: after latching, `set` sleeps before it returns
/// (and so before `notify` stores `notified`), like a vCPU descheduled there under KVM.
struct StallsInWindow {
    inner: HostNotifier,
    stall: AtomicBool,
}

impl EventNotifier for StallsInWindow {
    fn set(&self) {
        self.inner.set();
        if self.stall.swap(false, SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    fn test_and_clear(&self) -> bool {
        self.inner.test_and_clear()
    }
    fn wait(&self, deadline: Option<u64>) {
        self.inner.wait(deadline)
    }
}

/// The notifier's window: the owner wakes (or finds the latch) while a notifier sits for
/// 50 ms between its `set` and its store of `notified`. It may return from `wait` at once
/// once for that set (the wait consumes the latch), then it must sleep: early returns never
/// exceed sets. With the seed's wait (mutant `wait_keeps_latch`) it spins for the 50 ms.
#[test]
fn owner_does_not_spin_through_the_notifiers_window() {
    static BHS: [Bh; 2] = [Bh::new(|_| {}), Bh::new(|_| {})];
    let ctx = leak(Context::new(0));
    let n = leak(StallsInWindow {
        inner: HostNotifier::new(),
        stall: AtomicBool::new(true),
    });
    ctx.attach(n, &CLOCK).unwrap();
    let owner = std::thread::spawn(move || {
        while ctx.stats().bhs_run < 2 {
            ctx.poll(true);
        }
        true
    });
    // Let the owner go to sleep, so that the first schedule kicks (and stalls in `set`).
    while ctx.handshake_state().notify_me == 0 {
        std::thread::yield_now();
    }
    BHS[0].schedule(ctx);
    // The owner is asleep again (or about to be): this kick ends the run.
    BHS[1].schedule(ctx);
    assert!(join_within(owner, OWNER_DEADLINE, "owner"));
    let c = n.inner.counts();
    assert!(
        c.early_returns <= c.sets,
        "{} early returns from wait for {} sets: the owner spun through the window",
        c.early_returns,
        c.sets
    );
}

#[test]
fn adaptive_polling_catches_work_without_kick() {
    static BH: Bh = Bh::new(|_| {});
    let (ctx, rec) = recording_context();
    ctx.set_poll_params(PollParams {
        max: 2_000_000_000,
        grow: 2,
        shrink: 2,
        initial: 2_000_000_000,
    });
    // Grow the window once (a short block below max).
    BH.schedule(ctx);
    ctx.poll(true);
    let owner = std::thread::spawn(move || ctx.poll(true));
    std::thread::sleep(std::time::Duration::from_millis(20));
    BH.schedule(ctx);
    assert!(join_within(owner, OWNER_DEADLINE, "busy-polling owner"));
    assert_eq!(
        rec.take(),
        Vec::<&str>::new(),
        "found while busy-polling: no wait, no kick"
    );
    let s = ctx.stats();
    assert!(s.poll_iterations > 0, "{s:?}");
    #[cfg(feature = "stats")]
    assert!(s.kicks == 0 && s.notifies_skipped >= 2, "{s:?}");
}

// ---------------------------------------------------------------- bottom halves

static BH_RUNS: AtomicU32 = AtomicU32::new(0);

#[test]
fn bh_scheduled_twice_runs_once_and_cancel() {
    static BH: Bh = Bh::new(|_| {
        BH_RUNS.fetch_add(1, SeqCst);
    });
    let ctx = context(0);
    assert!(BH.schedule(ctx));
    assert!(!BH.schedule(ctx), "second schedule coalesces");
    assert!(ctx.poll(false));
    assert_eq!(BH_RUNS.load(SeqCst), 1);
    assert!(!ctx.poll(false), "nothing left");
    BH.schedule(ctx);
    assert!(BH.cancel());
    assert!(!ctx.poll(false), "cancelled BH does not run");
    assert_eq!(BH_RUNS.load(SeqCst), 1);
    // Re-schedule while the cancelled node is still queued: it runs once.
    BH.schedule(ctx);
    BH.cancel();
    BH.schedule(ctx);
    assert!(ctx.poll(false));
    assert_eq!(BH_RUNS.load(SeqCst), 2);
}

#[test]
fn self_rescheduling_bh_runs_once_per_iteration() {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    static BH: Bh = Bh::new(|ctx| {
        if RUNS.fetch_add(1, SeqCst) < 10 {
            BH.schedule(ctx);
        }
    });
    let ctx = context(0);
    BH.schedule(ctx);
    for i in 1..=3 {
        ctx.poll(false);
        assert_eq!(RUNS.load(SeqCst), i);
    }
}

#[test]
fn idle_bh_does_not_notify_and_bounds_sleep() {
    static RAN: AtomicBool = AtomicBool::new(false);
    static IDLE: Bh = Bh::new_idle(|_| RAN.store(true, SeqCst));
    let (ctx, rec) = recording_context();
    IDLE.schedule(ctx);
    #[cfg(feature = "stats")]
    assert_eq!(ctx.stats().notifies, 0);
    let t0 = CLOCK.now();
    assert!(!ctx.poll(true), "idle BHs are not progress");
    assert!(RAN.load(SeqCst));
    assert_eq!(rec.take(), ["wait(deadline)"]);
    assert!(CLOCK.now() - t0 < 1_000_000_000);
}

#[test]
fn bh_from_another_thread_wakes_sleeping_owner() {
    static BH: Bh = Bh::new(|_| {
        BH_FROM_THREAD.store(true, SeqCst);
    });
    static BH_FROM_THREAD: AtomicBool = AtomicBool::new(false);
    let ctx = context(0);
    // The owner on its own thread, so that a lost wakeup fails the test in seconds.
    let owner = std::thread::spawn(move || {
        while !BH_FROM_THREAD.load(SeqCst) {
            ctx.poll(true);
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(10));
    BH.schedule(ctx);
    join_within(
        owner,
        OWNER_DEADLINE,
        "owner woken by a BH from another thread",
    );
}

// ---------------------------------------------------------------- tasks

async fn add(a: u32, b: u32) -> u32 {
    a + b
}

executor::task_pool!(static ADD_POOL: add, 2);

#[test]
fn task_pool_macro_spawn_and_join() {
    let ctx = context(0);
    let mut h = ADD_POOL.spawn(ctx, add(2, 3)).unwrap();
    assert!(ctx.poll(false));
    assert_eq!(h.try_take(), Some(5));
    drop(h);
    assert_eq!(ADD_POOL.free_slots(), 2);
}

#[test]
fn full_pool_and_too_large_are_errors() {
    static POOL: TaskPool<64, 2> = TaskPool::new();
    let ctx = context(0);
    let a = POOL.spawn(ctx, async { 1u8 }).unwrap();
    let b = POOL.spawn(ctx, async { 2u8 }).unwrap();
    assert_eq!(
        POOL.spawn(ctx, async { 3u8 }).unwrap_err(),
        SpawnError::PoolFull
    );
    let big = [0u8; 256];
    assert!(matches!(
        POOL.spawn(ctx, async move { big[0] }).unwrap_err(),
        SpawnError::TooLarge { available: 64, .. }
    ));
    ctx.poll(false);
    // Detached (dropped) handles free their slots; the pool is reusable.
    drop((a, b));
    assert_eq!(POOL.free_slots(), 2);
    let mut c = POOL.spawn(ctx, async { 4u8 }).unwrap();
    ctx.poll(false);
    assert_eq!(c.try_take(), Some(4));
}

#[test]
fn detached_task_frees_its_slot_on_completion() {
    static POOL: TaskPool<64, 1> = TaskPool::new();
    let ctx = context(0);
    drop(POOL.spawn(ctx, async { 7u32 }).unwrap());
    assert_eq!(POOL.free_slots(), 0);
    ctx.poll(false);
    assert_eq!(POOL.free_slots(), 1);
}

/// A future that is pending once (waking itself) and counts its polls.
struct YieldOnce(bool);
impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn self_waking_task_runs_on_next_iteration() {
    static POOL: TaskPool<128, 1> = TaskPool::new();
    let ctx = context(0);
    let mut h = POOL
        .spawn(ctx, async {
            YieldOnce(false).await;
            9
        })
        .unwrap();
    ctx.poll(false);
    assert_eq!(h.try_take(), None);
    ctx.poll(false);
    assert_eq!(h.try_take(), Some(9));
    assert_eq!(ctx.stats().tasks_polled, 2);
    // The spawn notified; the wake during the poll only marked the task (the owner queued
    // it after the poll), so it did not.
    #[cfg(feature = "stats")]
    assert_eq!(ctx.stats().notifies, 1);
}

/// A wake that lands during the poll that completes the task leaves no queue entry: the
/// slot is free when that poll returns, not one owner poll later.
#[test]
fn wake_during_the_completing_poll_frees_the_slot_at_once() {
    static POOL: TaskPool<64, 1> = TaskPool::new();
    let ctx = context(0);
    let ready_after_wake = || {
        std::future::poll_fn(|cx| {
            cx.waker().wake_by_ref();
            Poll::Ready(5u32)
        })
    };
    let mut h = POOL.spawn(ctx, ready_after_wake()).unwrap();
    ctx.poll(false);
    assert_eq!(h.try_take(), Some(5));
    drop(h);
    assert_eq!(POOL.free_slots(), 1, "slot held by the wake's mark");
    drop(POOL.spawn(ctx, ready_after_wake()).expect("slot reusable"));
    ctx.poll(false);
    assert_eq!(POOL.free_slots(), 1);
    assert_eq!(ctx.stats().tasks_polled, 2);
}

#[test]
fn spawn_onto_other_context_and_join_from_another() {
    static POOL: TaskPool<256, 4> = TaskPool::new();
    let a = context(0);
    let b = context(1);
    let _rb = Runner::start(b);
    // Spawned from this thread onto b; joined by a task on a.
    let hb = POOL.spawn(b, async { 40u32 + 2 }).unwrap();
    let mut ha = POOL.spawn(a, async move { hb.await + 1 }).unwrap();
    run_until(a, || ha.is_finished());
    assert_eq!(ha.try_take(), Some(43));
}

#[test]
fn co_schedule_detects_double_schedule() {
    static POOL: TaskPool<256, 1> = TaskPool::new();
    static RESULT: AtomicUsize = AtomicUsize::new(0);
    let ctx = context(0);
    let _h = POOL
        .spawn(ctx, async {
            let r = std::future::poll_fn(|cx| {
                let first = co_schedule(cx.waker());
                let second = co_schedule(cx.waker());
                Poll::Ready((first, second))
            })
            .await;
            assert_eq!(r, (Ok(()), Err(ScheduleError::AlreadyScheduled)));
            RESULT.store(1, SeqCst);
        })
        .unwrap();
    ctx.poll(false);
    assert_eq!(RESULT.load(SeqCst), 1);
    assert_eq!(ctx.stats().double_schedules, 1);
    let w = std::task::Waker::noop();
    assert_eq!(co_schedule(w), Err(ScheduleError::ForeignWaker));
}

#[cfg(feature = "stats")]
#[test]
fn wake_to_run_latency_is_recorded() {
    static POOL: TaskPool<64, 1> = TaskPool::new();
    let ctx = context(0);
    let _h = POOL.spawn(ctx, async {}).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    ctx.poll(false);
    let s = ctx.stats();
    assert_eq!(s.latency_samples, 1);
    assert!(
        s.latency_max >= 2_000_000 && s.latency_p50 >= 1_000_000,
        "{s:?}"
    );
}

// ---------------------------------------------------------------- timers

#[test]
fn sleep_uses_the_deadline_as_wait_timeout() {
    static POOL: TaskPool<256, 1> = TaskPool::new();
    let (ctx, rec) = recording_context();
    let t0 = CLOCK.now();
    let mut h = POOL
        .spawn(ctx, async {
            sleep(5_000_000).await;
            1
        })
        .unwrap();
    while !h.is_finished() {
        ctx.poll(true);
    }
    assert!(CLOCK.now() - t0 >= 5_000_000);
    assert_eq!(h.try_take(), Some(1));
    assert!(rec.take().contains(&"wait(deadline)"));
    assert!(ctx.stats().timers_fired >= 1);
}

#[test]
fn with_timeout_elapses_and_completes() {
    static POOL: TaskPool<512, 1> = TaskPool::new();
    let ctx = context(0);
    let mut h = POOL
        .spawn(ctx, async {
            let never = std::future::pending::<()>();
            let a = with_timeout(1_000_000, never).await;
            let b = with_timeout(1_000_000_000, async { 5 }).await;
            let now = executor::current_context().await.now();
            sleep_until(now + 1000).await;
            (a, b)
        })
        .unwrap();
    while !h.is_finished() {
        ctx.poll(true);
    }
    assert_eq!(h.try_take(), Some((Err(Elapsed), Ok(5))));
}

#[test]
fn timers_expiring_in_one_pass_fire_in_deadline_order() {
    static ORDER: AtomicU32 = AtomicU32::new(0);
    async fn nap(until: u64) -> u32 {
        sleep_until(until).await;
        ORDER.fetch_add(1, SeqCst)
    }
    executor::task_pool!(static NAPS: nap, 3);
    let ctx = context(0);
    let t0 = CLOCK.now();
    // Spawned (and so given timer slots) in reverse deadline order.
    let mut late = NAPS.spawn(ctx, nap(t0 + 30_000_000)).unwrap();
    let mut mid = NAPS.spawn(ctx, nap(t0 + 20_000_000)).unwrap();
    let mut early = NAPS.spawn(ctx, nap(t0 + 10_000_000)).unwrap();
    ctx.poll(false); // each task arms its timer
    std::thread::sleep(std::time::Duration::from_millis(40)); // all three expire meanwhile
    while !(late.is_finished() && mid.is_finished() && early.is_finished()) {
        ctx.poll(false);
    }
    let order = (early.try_take(), mid.try_take(), late.try_take());
    assert_eq!(order, (Some(0), Some(1), Some(2)));
}

// ---------------------------------------------------------------- wake gate

#[test]
fn wake_gate_kicks_only_a_sleeping_owner() {
    let gate = executor::WakeGate::new();
    assert!(!gate.latch(), "owner running: no kick");
    assert!(!gate.prepare_sleep(), "latched: the owner must not sleep");
    gate.awake();
    assert!(gate.take() && !gate.take());
    gate.watch();
    assert!(!gate.latch(), "owner watching the latch word: no kick");
    assert!(gate.take());
    assert!(gate.prepare_sleep(), "nothing latched: the owner may sleep");
    assert!(gate.latch(), "owner asleep: kick");
    gate.awake();
    assert!(gate.take());
}

// ---------------------------------------------------------------- worker pool

fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[test]
fn worker_pool_completes_through_a_bh_on_the_submitter() {
    let submitter = context(0);
    let w1 = context(1);
    let w2 = context(2);
    let workers: &'static [&'static Context] = leak([w1, w2]);
    let pool: &'static WorkerPool<u64, u64, 4> = leak(WorkerPool::new(workers));
    static POOL: TaskPool<512, 1> = TaskPool::new();
    let _r1 = Runner::start(w1);
    let _r2 = Runner::start(w2);
    let mut h: JoinHandle<u64> = POOL
        .spawn(submitter, async move {
            let a = pool
                .submit(executor::current_context().await, fib, 20)
                .unwrap();
            let b = pool.run(fib, 21).await.unwrap();
            a.await + b
        })
        .unwrap();
    run_until(submitter, || h.is_finished());
    assert_eq!(h.try_take(), Some(fib(20) + fib(21)));
    assert_eq!(
        submitter.stats().bhs_run,
        2,
        "one completion BH per job on the submitter"
    );
    assert_eq!(
        w1.stats().bhs_run + w2.stats().bhs_run,
        2,
        "one dispatch BH per job on a worker"
    );
}

// ---------------------------------------------------------------- alloc

#[test]
fn spawn_boxed_recycles_slots() {
    let ctx = context(0);
    for round in 0..3u64 {
        let handles: Vec<_> = (0..4u64)
            .map(|i| executor::spawn_boxed(ctx, async move { round * 10 + i }).unwrap())
            .collect();
        ctx.poll(false);
        for (i, mut h) in handles.into_iter().enumerate() {
            assert_eq!(h.try_take(), Some(round * 10 + i as u64));
        }
    }
    let big = [1u8; 20_000];
    assert!(matches!(
        executor::spawn_boxed(ctx, async move { big[0] }),
        Err(SpawnError::TooLarge { .. })
    ));
}

// ---------------------------------------------------------------- Signal

/// A raise before the wait is not lost (the wait finds the flag and lowers it); a raise
/// from another thread wakes a waiting task, round after round (the waker stays registered
/// between rounds).
#[test]
fn signal_ping_pong_across_threads() {
    static PING: executor::Signal = executor::Signal::new();
    static PONG: executor::Signal = executor::Signal::new();
    static POOL: TaskPool<512, 2> = TaskPool::new();
    const ROUNDS: u32 = 1000;
    let (a, b) = (context(0), context(1));
    // Raised before anyone waits: the first wait returns at once.
    PING.raise();
    let mut pinger = POOL
        .spawn(a, async {
            for _ in 0..ROUNDS {
                PING.wait().await;
                PONG.raise();
            }
        })
        .unwrap();
    let ponger = POOL
        .spawn(b, async {
            for _ in 1..ROUNDS {
                PONG.wait().await;
                PING.raise();
            }
            PONG.wait().await;
        })
        .unwrap();
    let t = std::thread::spawn(move || {
        let mut ponger = ponger;
        while ponger.try_take().is_none() {
            b.poll(true);
        }
    });
    run_until(a, || pinger.is_finished());
    assert!(pinger.try_take().is_some());
    join_within(t, OWNER_DEADLINE, "ponger");
}
