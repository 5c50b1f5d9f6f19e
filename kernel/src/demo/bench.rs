//! Guest benchmarks for `cargo xtask bench`: the kernel package's second binary, `bench`
//! (its own binary so that the demo's Image carries none of it); bootarg `bench_n=N` round
//! trips, at most 1000, default 200. Meant for QEMU `-icount shift=0,sleep=off`, where the virtual
//! counter counts instructions (all cores together) and two boots print the same numbers.
//! Every figure is a raw tick count, printed as `bench: key=value` for the host to parse:
//!
//! - `boot.main_ticks`: counter at the application's entry (just after `cpus online`).
//! - `rt.*`: a single-pair cross-core round trip (core 0 raises a `Signal` core 1 awaits,
//!   core 1 raises one back), per round trip: min/p50/p99/max; `wake.cN.hist`: each core's
//!   wake latency (the other side's raise → the waiting task running) in log2 buckets.
//! - `irq_bh.*`: physical-timer interrupt → the bottom half's first instruction: the
//!   bottom half's reading of the device clock minus the compare value `device_irq_after`
//!   returns (the counter value at which the timer raises its interrupt), min and max of 8.
//!   Exact: neither the arming (`device_irq_after` up to the compare value, then the rest
//!   of it) nor the programmed delay is in it.
//! - `notify.skipped_x100`: 100 × the cost of a notify that finds the owner running;
//!   `notify.sgi_*`: a notify that finds core 1 asleep and kicks it (counted only when the
//!   kick counter moved).
//! - `busy.*`: a producer on core 0 and a consumer (a bottom half) on core 1 doing the same
//!   work per item; the consumer's context's notifies and kicks, and the SGIs sent to core
//!   1, over the run. `busy_poll.*`: the same run again with adaptive polling on core 1
//!   (QEMU's iothread defaults: at most 32 µs, from 4 µs, grow ×2, shrink to 0); the
//!   kernel's default is polling off.
//! - `footprint.context_bytes`: one core's executor `Context`.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::api::*;
use kernel::println;

const MAX_N: usize = 1000;

static PING: Signal = Signal::new();
static PONG: Signal = Signal::new();

/// When each side raised its signal (for the other side's wake latency).
static PING_AT: AtomicU64 = AtomicU64::new(0);
static PONG_AT: AtomicU64 = AtomicU64::new(0);

/// Log2 buckets of wake latencies: bucket k holds [2^k, 2^(k+1)).
const BUCKETS: usize = 24;

/// Prints a wake-latency histogram (`wake.cCORE.hist=` counts per log2 bucket).
fn print_hist(core: usize, lat: &[u64]) {
    let mut h = [0u32; BUCKETS];
    for &l in lat {
        h[(63 - l.max(1).leading_zeros() as usize).min(BUCKETS - 1)] += 1;
    }
    let mut line: heapless::String<256> = heapless::String::new();
    for (i, c) in h.iter().enumerate() {
        let _ = core::fmt::write(
            &mut line,
            format_args!("{}{}", if i > 0 { "," } else { "" }, c),
        );
    }
    println!("bench: wake.c{}.hist={}", core, line);
}

/// Core 1's half of the round trip; measures its own wake latency (PING raised → running).
async fn ponger(n: usize) {
    let mut lat = [0u64; MAX_N];
    for l in lat.iter_mut().take(n) {
        PING.wait().await;
        // Relaxed: PING's Release/Acquire ordered the store before this load.
        *l = now().saturating_sub(PING_AT.load(Ordering::Relaxed));
        // Relaxed: published by PONG's raise (Release).
        PONG_AT.store(now(), Ordering::Relaxed);
        PONG.raise();
    }
    print_hist(1, &lat[..n]);
}
task_pool!(static PONGER: ponger, 1);

async fn round_trips(n: usize) {
    let mut t = [0u64; MAX_N];
    let mut lat = [0u64; MAX_N];
    for (slot, l) in t.iter_mut().zip(lat.iter_mut()).take(n) {
        let t0 = now();
        // Relaxed: published by PING's raise (Release).
        PING_AT.store(t0, Ordering::Relaxed);
        PING.raise();
        PONG.wait().await;
        let t1 = now();
        // Relaxed: PONG's Release/Acquire ordered the store before this load.
        *l = t1.saturating_sub(PONG_AT.load(Ordering::Relaxed));
        *slot = t1 - t0;
    }
    print_hist(0, &lat[..n]);
    let t = &mut t[..n];
    t.sort_unstable();
    println!("bench: rt.n={}", n);
    println!("bench: rt.min={}", t[0]);
    println!("bench: rt.p50={}", t[n / 2]);
    println!("bench: rt.p99={}", t[(n * 99 / 100).min(n - 1)]);
    println!("bench: rt.max={}", t[n - 1]);
}

static BH_AT: AtomicU64 = AtomicU64::new(0);
static BH_DONE: Signal = Signal::new();

fn bh(_ctx: &'static Context) {
    // Relaxed: read after BH_DONE's wait, which orders it.
    BH_AT.store(device_clock(), Ordering::Relaxed);
    BH_DONE.raise();
}
static BH: Bh = Bh::new(bh);

fn on_irq() {
    BH.schedule(context(0).expect("core 0 is online"));
}

async fn irq_to_bh() {
    const DELAY: u64 = 100_000;
    const TIMES: usize = 8;
    let (mut min, mut max) = (u64::MAX, 0);
    for _ in 0..TIMES {
        let fires_at = device_irq_after(DELAY, on_irq);
        BH_DONE.wait().await;
        // Relaxed: see `bh`.
        let at = BH_AT.load(Ordering::Relaxed);
        if at < fires_at {
            exit_fail(format_args!(
                "bench: bottom half ran at {} before its interrupt's compare value {}",
                at, fires_at
            ));
        }
        min = min.min(at - fires_at);
        max = max.max(at - fires_at);
    }
    println!("bench: irq_bh.min={}", min);
    println!("bench: irq_bh.max={}", max);
}

async fn notify_costs() {
    const M: u64 = 1000;
    let own = this_context();
    let t0 = now();
    for _ in 0..M {
        own.notify();
    }
    let skipped = now() - t0;
    let empty0 = now();
    let empty = now() - empty0;
    println!("bench: notify.skipped_x100={}", (skipped * 100) / M);
    let other = context(1).expect("core 1 is online");
    let (mut min, mut max, mut kicked) = (u64::MAX, 0, 0);
    for _ in 0..16 {
        // Let core 1 go to sleep (its poll window is far shorter than this).
        sleep(us(500)).await;
        let k0 = other.stats().kicks;
        let t0 = now();
        other.notify();
        let d = now() - t0;
        if other.stats().kicks > k0 {
            kicked += 1;
            min = min.min(d.saturating_sub(empty));
            max = max.max(d.saturating_sub(empty));
        }
    }
    println!("bench: notify.sgi_count={}", kicked);
    if kicked > 0 {
        println!("bench: notify.sgi_min={}", min);
        println!("bench: notify.sgi_max={}", max);
    }
}

const ITEMS: u64 = 2000;
const WORK: u32 = 200;
static PRODUCED: AtomicU64 = AtomicU64::new(0);
static CONSUMED: AtomicU64 = AtomicU64::new(0);
static ALL_CONSUMED: Signal = Signal::new();

fn work() {
    for _ in 0..WORK {
        core::hint::spin_loop();
    }
}

/// The consumer: a bottom half on core 1 that works off every item produced so far.
fn consume(_ctx: &'static Context) {
    // Relaxed: only this BH (one core) writes CONSUMED.
    let mut done = CONSUMED.load(Ordering::Relaxed);
    // Acquire: pairs with the producer's Release increment.
    while done < PRODUCED.load(Ordering::Acquire) {
        work();
        done += 1;
    }
    // Relaxed: read by the producer after ALL_CONSUMED, which orders it.
    CONSUMED.store(done, Ordering::Relaxed);
    if done == ITEMS {
        ALL_CONSUMED.raise();
    }
}
static CONSUME: Bh = Bh::new(consume);

/// SGIs sent to core 1 so far (0 without feature `stats`).
fn sgis_to_core1() -> u64 {
    core_stats(1)
        .and_then(|s| s.wake)
        .map_or(0, |w| w.sgis_sent)
}

/// The producer (core 0): per item the same work as the consumer, then `Bh::schedule` on
/// core 1 (a notify of core 1's context whenever the BH was not already pending). Prints
/// the run's figures as `bench: KEY.*`.
async fn busy_pair(key: &str) {
    let other = context(1).expect("core 1 is online");
    // Relaxed: the previous run ended with ALL_CONSUMED (raise/wait order everything).
    PRODUCED.store(0, Ordering::Relaxed);
    CONSUMED.store(0, Ordering::Relaxed);
    let (s0, g0) = (other.stats(), sgis_to_core1());
    for _ in 0..ITEMS {
        work();
        // Release: pairs with the consumer's Acquire load.
        PRODUCED.fetch_add(1, Ordering::Release);
        CONSUME.schedule(other);
    }
    ALL_CONSUMED.wait().await;
    let (s1, g1) = (other.stats(), sgis_to_core1());
    println!("bench: {}.items={}", key, ITEMS);
    println!("bench: {}.notifies={}", key, s1.notifies - s0.notifies);
    println!("bench: {}.kicks={}", key, s1.kicks - s0.kicks);
    println!("bench: {}.sgis={}", key, g1 - g0);
}

/// Sets core 1's adaptive polling from a task on core 1 (the parameters are its owner's).
async fn core1_polling(params: PollParams) {
    let other = context(1).expect("core 1 is online");
    match SET_POLL.spawn(other, set_polling(params)) {
        Ok(h) => h.await,
        Err(_) => exit_fail(format_args!("bench: cannot spawn on core 1")),
    }
}

async fn set_polling(params: PollParams) {
    this_context().set_poll_params(params);
}
task_pool!(static SET_POLL: set_polling, 1);

/// QEMU's iothread polling defaults (`poll-max-ns` 32768, first window 4 µs, grow ×2,
/// `poll-shrink` 0: back to 0), in clock ticks.
fn qemu_polling() -> PollParams {
    let us = |n: u64| n * ticks_per_second() / 1_000_000;
    PollParams {
        max: us(32),
        grow: 2,
        shrink: 0,
        initial: us(4),
    }
}

async fn run(n: usize, main_ticks: u64) {
    println!("bench: boot.main_ticks={}", main_ticks);
    println!("bench: cores={}", cores_online());
    println!("bench: ticks_per_second={}", ticks_per_second());
    println!(
        "bench: footprint.context_bytes={}",
        core::mem::size_of::<Context>()
    );
    if PONGER
        .spawn(context(1).expect("core 1 is online"), ponger(n))
        .is_err()
    {
        exit_fail(format_args!("bench: cannot spawn the ponger"));
    }
    round_trips(n).await;
    irq_to_bh().await;
    notify_costs().await;
    busy_pair("busy").await;
    core1_polling(qemu_polling()).await;
    busy_pair("busy_poll").await;
    core1_polling(PollParams::DISABLED).await;
    println!("bench: end_ticks={}", now());
    print_stats();
    exit_ok()
}
task_pool!(static RUN: run, 1);

kernel::entry!(start);

/// Starts the benchmarks (the application's entry, on core 0).
fn start() {
    let main_ticks = now();
    if cores_online() < 2 {
        exit_fail(format_args!("bench: needs at least 2 cores"));
    }
    let n = match bootarg("bench_n").map(str::parse::<usize>) {
        None => 200,
        Some(Ok(n)) if (1..=MAX_N).contains(&n) => n,
        Some(_) => exit_fail(format_args!("bench: bench_n must be 1..={}", MAX_N)),
    };
    if RUN.spawn(this_context(), run(n, main_ticks)).is_err() {
        exit_fail(format_args!("bench: cannot spawn the benchmark task"));
    }
}
