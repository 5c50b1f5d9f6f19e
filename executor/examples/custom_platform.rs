//! The executor on a platform of your own: a user-written [`EventNotifier`] and [`Clock`],
//! with the executor built **without** its `std` feature (as on a bare-metal target or
//! under another kernel). It runs on the host so that it can be tried:
//!
//! ```sh
//! cargo run -p aiolos-executor --example custom_platform --target host-tuple
//! ```
//!
//! The "platform" here is what a small kernel has: a free-running counter register (a thread
//! advances [`COUNTER`], standing in for e.g. CNTVCT_EL0 or a memory-mapped timer) and a
//! per-core pending word that the owner spins on (a `WFE`/`WFI` loop would sleep instead).
//! Only `core` atomics are used in the two trait implementations.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use executor::{sleep, Clock, Context, EventNotifier};

/// The platform's counter register: ticks at [`TICK_HZ`], advanced by the "hardware".
static COUNTER: AtomicU64 = AtomicU64::new(0);
const TICK_HZ: u64 = 10_000;

/// A clock over the counter register.
struct CounterClock;

impl Clock for CounterClock {
    fn now(&self) -> u64 {
        // Relaxed: a monotonic counter read; ordering with other memory comes from the
        // executor's own synchronisation, as with a hardware counter.
        COUNTER.load(Ordering::Relaxed)
    }
    fn ticks_per_second(&self) -> u64 {
        TICK_HZ
    }
}

/// A latched wakeup: a pending word. `set` may be called from any core (or an interrupt
/// handler on a real platform) and never blocks.
struct PendingWord {
    pending: AtomicBool,
}

impl PendingWord {
    const fn new() -> Self {
        PendingWord {
            pending: AtomicBool::new(false),
        }
    }
}

impl EventNotifier for PendingWord {
    fn set(&self) {
        // Release: pairs with the Acquire in `test_and_clear`/`wait`, so the owner that sees
        // the latch also sees what the notifier published before setting it.
        self.pending.store(true, Ordering::Release);
        // A real platform sends the owner an interrupt here (an SGI, an IPI) if it sleeps.
    }

    fn test_and_clear(&self) -> bool {
        // Acquire: pairs with the Release store in `set`.
        self.pending.swap(false, Ordering::Acquire)
    }

    fn wait(&self, deadline: Option<u64>) {
        // A latch already set on entry is consumed and we return at once (the trait's
        // contract: each set costs the owner at most one such early return, even while a
        // notifier sits between its `set` and its store of `notified`). Relaxed look first,
        // so that the common wait pays no read-modify-write; the swap's Acquire pairs with
        // the Release store in `set`.
        if self.pending.load(Ordering::Relaxed) && self.pending.swap(false, Ordering::Acquire) {
            return;
        }
        // Returns when the latch is set or the deadline passed; does not clear a latch set
        // meanwhile (the owner's accept does). Acquire: pairs with the Release store in `set`.
        while !self.pending.load(Ordering::Acquire) {
            if deadline.is_some_and(|d| CounterClock.now() >= d) {
                return;
            }
            // Where a bare-metal loop would execute WFE/WFI.
            std::thread::yield_now();
        }
    }
}

static CONTEXTS: [Context; 2] = Context::array();
static NOTIFIERS: [PendingWord; 2] = [const { PendingWord::new() }; 2];
static CLOCK: CounterClock = CounterClock;

/// Sleeps `ms` milliseconds of counter time on whichever core runs it, returns when it woke.
async fn nap(ms: u64) -> u64 {
    sleep(ms * TICK_HZ / 1000).await;
    CLOCK.now()
}
executor::task_pool!(static NAP: nap, 2);

async fn main_task() -> (u64, u64) {
    let start = CLOCK.now();
    // One nap on the other core, one here; both must see at least their time pass.
    let other = NAP.spawn(&CONTEXTS[1], nap(20)).unwrap();
    let here = nap(10).await;
    let there = other.await;
    (here - start, there - start)
}
executor::task_pool!(static MAIN: main_task, 1);

fn main() {
    // The "hardware": the counter advances by one tick every 1/TICK_HZ s.
    std::thread::spawn(|| loop {
        std::thread::sleep(Duration::from_micros(1_000_000 / TICK_HZ));
        // Relaxed: see `CounterClock::now`.
        COUNTER.fetch_add(1, Ordering::Relaxed);
    });
    for (ctx, notifier) in CONTEXTS.iter().zip(&NOTIFIERS) {
        ctx.attach(notifier, &CLOCK).expect("attached once");
    }
    std::thread::spawn(|| CONTEXTS[1].run());

    let mut main = MAIN.spawn(&CONTEXTS[0], main_task()).unwrap();
    CONTEXTS[0].run_until(|| main.is_finished());
    let (here, there) = main.try_take().expect("finished");

    let ms = |ticks: u64| ticks * 1000 / TICK_HZ;
    println!(
        "nap(10) on core 0 woke after {} ms, nap(20) on core 1 after {} ms of counter time",
        ms(here),
        ms(there)
    );
    assert!(ms(here) >= 10 && ms(there) >= 20, "a nap never ends early");
    println!("custom platform example: ok");
}
