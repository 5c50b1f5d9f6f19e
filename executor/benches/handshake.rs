//! Host micro-benchmarks of the executor's hot paths (no harness crate: each is a timed loop
//! reporting ns per operation, median of 5 runs).
//!
//! `cargo bench -p aiolos-executor --features std --target host-tuple`
//!
//! What they show: a notify that finds the owner awake costs one fence and one load (the
//! skip), a kick adds the notifier's `set`; spawn, BH and cross-thread ping-pong give the
//! per-operation overhead of the queues. On target the notifier is the SGI/WFE one
//! (kernel/src/runtime/notifier.rs), whose costs the kernel's statistics table reports.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use executor::{Bh, Context, HostClock, HostNotifier, TaskPool};

static CLOCK: HostClock = HostClock::new();

fn context(id: usize) -> &'static Context {
    let ctx: &'static Context = Box::leak(Box::new(Context::new(id)));
    ctx.attach(Box::leak(Box::new(HostNotifier::new())), &CLOCK)
        .unwrap();
    ctx
}

/// Median ns/op of `runs` timed loops of `iters` calls of `f`.
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
    println!("{name:<44} {:>10.1} ns/op", samples[2]);
}

fn main() {
    println!("{:<44} {:>16}", "benchmark", "median of 5");

    // Owner awake (notify_me == 0): the notify is skipped after the fence.
    let ctx = context(0);
    bench("notify, owner awake (skipped)", 2_000_000, || ctx.notify());

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
    let (sa, sb) = (a.stats(), b.stats());
    println!(
        "{:<44} {:>10.1} ns/op",
        "cross-thread BH ping-pong (round trip)", per
    );
    println!(
        "  kicks/notifies: {}/{} and {}/{}",
        sa.kicks, sa.notifies, sb.kicks, sb.notifies
    );
}
