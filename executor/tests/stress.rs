//! Host stress: several producers notify one context; no lost wakeup, no busy loop.
//!
//! - `million_notifications_no_lost_wakeup`: producers publish work (a counter) and schedule
//!   a bottom half on the context 10^6 times in all; like QEMU's `aio_bh_enqueue`, every
//!   schedule calls `notify()`. The owner runs blocking polls until the BH has observed every
//!   increment. With feature `stats` it also checks the notify counters and prints the share
//!   of notifies that became kicks (EventNotifier sets).
//! - `fan_in_rounds_owner_ends_idle`: the liveness check. Producers hit a sleeping owner at
//!   once, round after round; after each round the handshake must be in a state from which
//!   the owner can sleep (not the event set with `notified` false: BUG1's busy loop), and a
//!   stale `notified` is carried into the next round, where BUG2 loses the wakeup.
//!
//! A lost wakeup leaves the owner asleep forever: the tests fail after 10 s without progress
//! (`common::join_watching`) instead of hanging.
#![cfg(not(loom))] // statics need const constructors; loom models live in tests/loom.rs

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{context, join_watching, leak};
use executor::{Bh, Context, EventNotifier, HostNotifier};

/// A stress owner that makes no progress for this long has lost a wakeup.
const STALL: Duration = Duration::from_secs(10);

/// The handshake and the event, for a failure message.
fn report(ctx: &Context, event: Option<&HostNotifier>) -> String {
    format!(
        "handshake {:?}, event set: {:?}, {:?}, stats {:?}",
        ctx.handshake_state(),
        event.map(HostNotifier::is_set),
        event.map(HostNotifier::counts),
        ctx.stats()
    )
}

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 250_000;
const TOTAL: u64 = PRODUCERS * PER_PRODUCER;

static SENT: AtomicU64 = AtomicU64::new(0);
static SEEN: AtomicU64 = AtomicU64::new(0);

static WORK: Bh = Bh::new(|_| {
    // Relaxed is enough: the BH's state RMWs order the producers' increments before this run.
    SEEN.store(SENT.load(Ordering::Relaxed), Ordering::Relaxed);
});

#[test]
fn million_notifications_no_lost_wakeup() {
    let ctx = context(0);
    let start = Instant::now();
    let owner = std::thread::spawn(move || {
        while SEEN.load(Ordering::Relaxed) < TOTAL {
            ctx.poll(true);
        }
    });
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..PER_PRODUCER {
                    SENT.fetch_add(1, Ordering::Relaxed);
                    WORK.schedule(ctx);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    join_watching(
        owner,
        STALL,
        "million notifications",
        || SEEN.load(Ordering::Relaxed),
        || report(ctx, None),
    );
    #[cfg(feature = "stats")]
    {
        let s = ctx.stats();
        assert_eq!(s.notifies, TOTAL);
        assert_eq!(s.kicks + s.notifies_skipped, s.notifies);
        println!(
            "stress: {} notifies in {:?}: {} kicks ({:.3}%), {} skipped (notify_me == 0), \
             {} accepts cleared the notifier, {} sleeps, {} BH runs, {} polls",
            s.notifies,
            start.elapsed(),
            s.kicks,
            100.0 * s.kicks as f64 / s.notifies as f64,
            s.notifies_skipped,
            s.accepts_notified,
            s.sleeps,
            s.bhs_run,
            s.polls
        );
    }
    #[cfg(not(feature = "stats"))]
    println!(
        "stress: {TOTAL} notifies in {:?} (kick share: feature stats)",
        start.elapsed()
    );
}

/// The fan-in's EventNotifier: a `HostNotifier` whose `set` and `test_and_clear` first spin
/// for a varying 0-4 µs, as a GIC access that traps to the hypervisor does under KVM. The
/// delay widens the windows the seed's bugs need: BUG1 between the store of `notified` and
/// the set, BUG2 between the owner's accept and its clear (where a set must land to leave a
/// stale `notified`).
struct SlowNotifier {
    inner: HostNotifier,
    seed: AtomicU64,
}

impl SlowNotifier {
    fn delay(&self) {
        // Relaxed: a pseudo-random number source; orders nothing.
        let x = self
            .seed
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let until = Instant::now() + Duration::from_nanos((x >> 32) % 4_000);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
}

impl EventNotifier for SlowNotifier {
    fn set(&self) {
        self.delay();
        self.inner.set();
    }
    fn test_and_clear(&self) -> bool {
        self.delay();
        self.inner.test_and_clear()
    }
    fn wait(&self, deadline: Option<u64>) {
        self.inner.wait(deadline);
    }
}

/// Producers of the fan-in: three notifies per round can leave BUG2's stale `notified`
/// (tests/loom.rs `fan_in`).
const FAN_IN_PRODUCERS: usize = 3;
/// Rounds of the fan-in (about 0.5 s on two shared cores).
const FAN_IN_ROUNDS: u64 = 10_000;

static FAN_IN_RAN: AtomicU64 = AtomicU64::new(0);
static FAN_IN_DONE: AtomicU64 = AtomicU64::new(0);
static FAN_IN_ROUND: AtomicU64 = AtomicU64::new(0);

fn fan_in_work(_: &'static Context) {
    // Relaxed: a count; the BH's state RMWs order the schedule before this run.
    FAN_IN_RAN.fetch_add(1, Ordering::Relaxed);
}

static FAN_IN_BHS: [Bh; FAN_IN_PRODUCERS] = [
    Bh::new(fan_in_work),
    Bh::new(fan_in_work),
    Bh::new(fan_in_work),
];

/// Liveness under fan-in: every round, the producers each schedule their BH on the owner as
/// the owner goes to sleep; the owner runs until it has seen all of them and waits until
/// every producer's `schedule` (and so its `notify`) has returned. Then no notify is in
/// flight, and the event set with `notified` false is the busy-loop state (BUG1,
/// `accept_load_store`, `no_accept`): nobody will ever clear it. The owner does *not*
/// accept between rounds, so a stale `notified` (true, event clear) reaches the next round:
/// with BUG2 all its notifies skip the set and the owner sleeps forever (the watchdog).
/// At the end the owner polls once more and the event must be clear: the owner would sleep.
#[test]
fn fan_in_rounds_owner_ends_idle() {
    let ctx = leak(Context::new(0));
    let slow = leak(SlowNotifier {
        inner: HostNotifier::new(),
        seed: AtomicU64::new(1),
    });
    ctx.attach(slow, &common::CLOCK).unwrap();
    let event = &slow.inner;
    let start: &'static Barrier = leak(Barrier::new(FAN_IN_PRODUCERS + 1));
    let producers: Vec<_> = FAN_IN_BHS
        .iter()
        .map(|bh| {
            std::thread::spawn(move || {
                for _ in 0..FAN_IN_ROUNDS {
                    start.wait();
                    bh.schedule(ctx);
                    // Release: pairs with the owner's Acquire load; the notify is complete.
                    FAN_IN_DONE.fetch_add(1, Ordering::Release);
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    let owner = std::thread::spawn(move || {
        let mut kicked_rounds = 0u64;
        for round in 0..FAN_IN_ROUNDS {
            let sleeps = ctx.stats().sleeps;
            start.wait();
            let want = (round + 1) * FAN_IN_PRODUCERS as u64;
            while FAN_IN_RAN.load(Ordering::Relaxed) < want {
                ctx.poll(true);
            }
            // Acquire: pairs with the producers' Release increments.
            while FAN_IN_DONE.load(Ordering::Acquire) < want {
                std::thread::yield_now();
            }
            let hs = ctx.handshake_state();
            assert!(
                hs.notified || !event.is_set(),
                "round {round}: after the last notify the event is set with `notified` false: \
                 the invariant on `notified` is broken (BUG1; the next wait returns at once, \
                 with the seed's wait every wait: a busy loop); {}",
                report(ctx, Some(event))
            );
            kicked_rounds += u64::from(ctx.stats().sleeps > sleeps);
            FAN_IN_ROUND.store(round + 1, Ordering::Relaxed);
        }
        ctx.poll(false);
        assert!(
            !event.is_set(),
            "after the last round and one more poll the event is still set: the owner's next \
             wait would return at once instead of sleeping; {}",
            report(ctx, Some(event))
        );
        // Each early return from `wait` consumes one set (the notifier's window costs the
        // owner at most one), whatever the producers' timing.
        let c = event.counts();
        assert!(
            c.early_returns <= c.sets,
            "{} early returns from wait for {} sets: the owner spun through a notifier's window",
            c.early_returns,
            c.sets
        );
        kicked_rounds
    });
    let slept_rounds = join_watching(
        owner,
        STALL,
        "fan-in round",
        || FAN_IN_ROUND.load(Ordering::Relaxed),
        || report(ctx, Some(event)),
    );
    for p in producers {
        p.join().unwrap();
    }
    println!(
        "fan-in: {FAN_IN_ROUNDS} rounds of {FAN_IN_PRODUCERS} notifies in {:?}; the owner slept in \
         {slept_rounds} rounds; {}",
        t0.elapsed(),
        report(ctx, Some(event))
    );
}
