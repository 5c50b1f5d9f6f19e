//! Host stress: several producers notify one context 10^6 times; no lost wakeup, bounded time.
//!
//! Each producer publishes work (a counter) and schedules a bottom half on the context; like
//! QEMU's `aio_bh_enqueue`, every schedule calls `notify()`. The owner runs blocking polls
//! until the BH has observed every increment. A lost wakeup leaves the owner asleep forever;
//! the test fails after 60 s instead of hanging. With feature `stats` it also checks the
//! notify counters and prints the share of notifies that became kicks (EventNotifier sets).
#![cfg(not(loom))] // statics need const constructors; loom models live in tests/loom.rs

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::context;
use executor::Bh;

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
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let owner = std::thread::spawn(move || {
        while SEEN.load(Ordering::Relaxed) < TOTAL {
            ctx.poll(true);
        }
        tx.send(()).unwrap();
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
    rx.recv_timeout(Duration::from_secs(60))
        .expect("owner still asleep 60 s after the last notify: lost wakeup");
    owner.join().unwrap();
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
