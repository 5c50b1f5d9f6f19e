//! The executor alone, on the host: two "cores" (threads) each run one [`Context`], woken by
//! the `std` feature's [`HostNotifier`] (Mutex + Condvar) and timed by [`HostClock`]
//! (`Instant`, 1 tick = 1 ns). No aiolos kernel involved.
//!
//! ```sh
//! cargo run -p aiolos-executor --example host --features std --target host-tuple
//! ```
//!
//! Core 0 runs the main task: five round trips to a task on core 1 (a cross-context wake
//! each way), a bottom half scheduled onto core 1, sleeps, and a `with_timeout` that expires.

use std::sync::atomic::{AtomicU32, Ordering};

use executor::{sleep, with_timeout, Bh, Clock, Context, HostClock, HostNotifier};

static CONTEXTS: [Context; 2] = Context::array();
static NOTIFIERS: [HostNotifier; 2] = [const { HostNotifier::new() }; 2];
static CLOCK: HostClock = HostClock::new();

/// One millisecond in [`HostClock`] ticks.
const MS: u64 = 1_000_000;

/// Runs on core 1: answers one round.
async fn pong(round: u32) -> u32 {
    sleep(MS).await;
    round + 1
}
executor::task_pool!(static PONG: pong, 2);

static BH_RUNS: AtomicU32 = AtomicU32::new(0);
// Relaxed: a bare counter; nothing else is published through it.
static COUNT_BH: Bh = Bh::new(|_ctx| {
    BH_RUNS.fetch_add(1, Ordering::Relaxed);
});

struct Report {
    rounds: u32,
    timed_out: bool,
    elapsed_ms: u64,
}

async fn main_task() -> Report {
    let start = CLOCK.now();
    let mut rounds = 0;
    for _ in 0..5 {
        // Spawned onto core 1's context; awaiting the handle wakes core 0 when it finishes.
        rounds = PONG.spawn(&CONTEXTS[1], pong(rounds)).unwrap().await;
    }
    COUNT_BH.schedule(&CONTEXTS[1]);
    // Wait (at most 1 s) for core 1 to run it.
    for _ in 0..1000 {
        if BH_RUNS.load(Ordering::Relaxed) > 0 {
            break;
        }
        sleep(MS).await;
    }
    let timed_out = with_timeout(MS, sleep(1_000 * MS)).await.is_err();
    Report {
        rounds,
        timed_out,
        elapsed_ms: (CLOCK.now() - start) / MS,
    }
}
executor::task_pool!(static MAIN: main_task, 1);

fn main() {
    // Each core attaches its notifier and the shared clock once, before its first poll.
    for (ctx, notifier) in CONTEXTS.iter().zip(&NOTIFIERS) {
        ctx.attach(notifier, &CLOCK).expect("attached once");
    }
    std::thread::spawn(|| CONTEXTS[1].run());

    let mut main = MAIN.spawn(&CONTEXTS[0], main_task()).unwrap();
    CONTEXTS[0].run_until(|| main.is_finished());
    let r = main.try_take().expect("finished");

    println!(
        "rounds: {}, bottom halves run: {}, timeout expired: {}, elapsed: {} ms",
        r.rounds,
        BH_RUNS.load(Ordering::Relaxed),
        r.timed_out,
        r.elapsed_ms
    );
    assert_eq!(r.rounds, 5, "every round trip came back");
    assert_eq!(
        BH_RUNS.load(Ordering::Relaxed),
        1,
        "the BH ran once on core 1"
    );
    assert!(r.timed_out, "with_timeout(1 ms, sleep(1 s)) expired");
    assert!(
        r.elapsed_ms >= 6,
        "at least 6 x 1 ms of sleeps took {} ms",
        r.elapsed_ms
    );
    println!("host example: ok");
}
