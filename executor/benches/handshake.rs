//! Host micro-benchmarks of the executor's hot paths (no harness crate: each is a timed loop
//! reporting ns per operation, min and median of 5 runs).
//!
//! `cargo bench -p aiolos-executor --features std --target host-tuple` (wake path without
//! statistics) and `cargo bench -p aiolos-executor --features std,stats --target host-tuple` (with);
//! the first line says which. Numbers: executor/README.md.
//!
//! What they show: a notify that finds the owner awake costs one fence and one load (the
//! skip), a kick adds the notifier's `set` and the store of `notified`; a self-wake adds the
//! task's state CAS and run-queue push to a skipped notify, and its poll the accept and the
//! run. With feature `stats` each of these also pays its counter RMWs (and a wake a clock
//! read for the latency histogram). Spawn, BH and cross-thread ping-pong give the
//! per-operation overhead of the queues. On target the notifier is the SGI/WFE one
//! (kernel/src/runtime/notifier.rs), whose costs the kernel's statistics table reports.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use executor::{Bh, Context, EventNotifier, HostClock, HostNotifier, TaskPool};

static CLOCK: HostClock = HostClock::new();

fn context(id: usize) -> &'static Context {
    let ctx: &'static Context = Box::leak(Box::new(Context::new(id)));
    ctx.attach(Box::leak(Box::new(HostNotifier::new())), &CLOCK)
        .unwrap();
    ctx
}

/// Min and median ns/op of 5 timed loops of `iters` calls of `f` (the min is the figure to
/// compare on a shared, loaded machine).
fn bench(name: &str, iters: u64, mut f: impl FnMut()) {
    let mut samples: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    println!("{name:<44} {:>10.1} {:>10.1} ns/op", samples[0], samples[2]);
}

/// A notifier whose `wait` holds the owner inside its blocking poll (so `notify_me` stays
/// raised) until `release`, whatever is set meanwhile: the notifier side of a kick, measured
/// without the owner waking. `set` is one store, so the numbers are the executor's own.
struct Holding {
    latch: AtomicBool,
    held: AtomicBool,
    release: AtomicBool,
}

impl EventNotifier for Holding {
    fn set(&self) {
        // Relaxed: a bench stand-in, nothing is published through it.
        self.latch.store(true, Ordering::Relaxed);
    }
    fn test_and_clear(&self) -> bool {
        // Relaxed: as in `set`.
        self.latch.swap(false, Ordering::Relaxed)
    }
    fn wait(&self, _deadline: Option<u64>) {
        // Release/Acquire: the bench thread sees `held` only after notify_me was raised
        // (the owner's fence (2) precedes this store); pairs with its Acquire load.
        self.held.store(true, Ordering::Release);
        // Acquire: pairs with the Release store of `release` by the bench thread.
        while !self.release.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
    }
}

/// The notifier side of a kick: `notify` while the owner (another thread) holds `notify_me`
/// raised.
fn bench_kick() {
    let holding: &'static Holding = Box::leak(Box::new(Holding {
        latch: AtomicBool::new(false),
        held: AtomicBool::new(false),
        release: AtomicBool::new(false),
    }));
    let ctx: &'static Context = Box::leak(Box::new(Context::new(9)));
    ctx.attach(holding, &CLOCK).unwrap();
    let owner = std::thread::spawn(move || ctx.poll(true));
    // Acquire: pairs with the Release store in `Holding::wait`.
    while !holding.held.load(Ordering::Acquire) {
        std::hint::spin_loop();
    }
    bench("notify, owner asleep (kick)", 2_000_000, || ctx.notify());
    // Release: pairs with the Acquire load in `Holding::wait`.
    holding.release.store(true, Ordering::Release);
    owner.join().unwrap();
}

fn main() {
    println!(
        "{:<44} {:>10} {:>10}   (of 5; wake-path statistics: {})",
        "benchmark",
        "min",
        "median",
        if executor::stats::ENABLED {
            "on"
        } else {
            "off"
        }
    );

    // Owner awake (notify_me == 0): the notify is skipped after the fence.
    let ctx = context(0);
    bench("notify, owner awake (skipped)", 2_000_000, || ctx.notify());

    bench_kick();

    // A task that wakes itself and returns Pending, polled again: the wake (state CAS,
    // run-queue push, skipped notify) plus the poll (accept, dequeue, run).
    // On its own context: the task never ends, and the benches below need an idle one.
    static SELF_WAKE: TaskPool<128, 1> = TaskPool::new();
    let own = context(3);
    let _forever = SELF_WAKE
        .spawn(
            own,
            std::future::poll_fn(|cx| {
                cx.waker().wake_by_ref();
                std::task::Poll::<()>::Pending
            }),
        )
        .unwrap();
    bench("self-wake + poll(false)", 1_000_000, || {
        black_box(own.poll(false));
    });

    // Accept with nothing to accept.
    bench("notify_accept, nothing notified", 2_000_000, || {
        ctx.notify_accept()
    });

    // Non-blocking poll of an idle context.
    bench("poll(false), idle context", 1_000_000, || {
        black_box(ctx.poll(false));
    });

    // BH schedule + the poll that runs it.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    static BH: Bh = Bh::new(|_| {
        RUNS.fetch_add(1, Ordering::Relaxed);
    });
    bench("Bh::schedule + poll", 1_000_000, || {
        BH.schedule(ctx);
        ctx.poll(false);
    });

    // Spawn a trivial task, run it, take its output.
    static POOL: TaskPool<128, 4> = TaskPool::new();
    bench("spawn + poll + join, trivial task", 500_000, || {
        let mut h = POOL.spawn(ctx, async { 7u32 }).unwrap();
        ctx.poll(false);
        black_box(h.try_take());
    });

    // Cross-thread ping-pong: a BH bounced between two contexts on two threads, each
    // blocking in poll(true) when idle (so most notifies are kicks).
    let a = context(1);
    let b = context(2);
    static LEFT: AtomicU64 = AtomicU64::new(0);
    static DONE: AtomicBool = AtomicBool::new(false);
    static PONG_CTX: std::sync::OnceLock<(&'static Context, &'static Context)> =
        std::sync::OnceLock::new();
    PONG_CTX.set((a, b)).unwrap();
    static PING: Bh = Bh::new(|_| {
        let (_, b) = PONG_CTX.get().unwrap();
        PONG.schedule(b);
    });
    static PONG: Bh = Bh::new(|_| {
        let (a, _) = PONG_CTX.get().unwrap();
        if LEFT.fetch_sub(1, Ordering::Relaxed) > 1 {
            PING.schedule(a);
        } else {
            DONE.store(true, Ordering::Release);
            a.notify(); // the main thread may be asleep in a.poll(true)
        }
    });
    let rounds = 100_000;
    LEFT.store(rounds, Ordering::Relaxed);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let t = std::thread::spawn(move || {
        while !s2.load(Ordering::Acquire) {
            b.poll(true);
        }
    });
    let start = Instant::now();
    PING.schedule(a);
    while !DONE.load(Ordering::Acquire) {
        a.poll(true);
    }
    let per = start.elapsed().as_nanos() as f64 / rounds as f64;
    stop.store(true, Ordering::Release);
    b.notify(); // let the other thread see `stop`
    BH.schedule(b);
    t.join().unwrap();
    println!(
        "{:<44} {:>10.1} ns/op",
        "cross-thread BH ping-pong (round trip)", per
    );
    #[cfg(feature = "stats")]
    {
        let (sa, sb) = (a.stats(), b.stats());
        println!(
            "  kicks/notifies: {}/{} and {}/{}",
            sa.kicks, sa.notifies, sb.kicks, sb.notifies
        );
    }
}
