//! Per-context statistics, kept off the wake path.
//!
//! Two kinds of counters:
//!
//! | kind | counters | written by | when |
//! |------|----------|------------|------|
//! | work | `polls`, `sleeps`, `poll_iterations`, `bhs_run`, `tasks_polled`, `timers_fired`, `timer_overflows` | the owner core only (a load and a store, no RMW) | always |
//! | wake path | `kicks`, `notifies_skipped` (`notifies` is their sum: each notify bumps one) | any core ([`Counter`], a Relaxed RMW) | feature `stats` |
//! | wake path, owner side | `accepts`, `accepts_notified`, the wake-to-run latency histogram | the owner only ([`Counter::bump_owner`]: a load and a store) | feature `stats` |
//!
//! `double_schedules` (an error path: any core, an RMW, only when `co_schedule` refuses) is
//! always kept. Without feature `stats` a [`Counter`] is zero-sized and does nothing, a wake
//! reads no clock, and [`StatsSnapshot`] has no wake-path fields, so code that reads them does
//! not compile rather than reading zeros.
//!
//! All counters are `core` atomics with `Relaxed` (also under loom): they are diagnostics,
//! order nothing and pair with nothing. A work counter has one writer at a time: the core
//! inside `Context::poll` (the `polling` guard orders hand-offs between cores).
//!
//! The wake-to-run latency histogram has power-of-two buckets in clock ticks: bucket 0 holds
//! latency 0, bucket `i > 0` holds `[2^(i-1), 2^i)`. Percentiles are reported as the upper
//! bound of the bucket that contains them (capped by the exact maximum).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Whether the wake-path statistics are compiled in (feature `stats`).
pub const ENABLED: bool = cfg!(feature = "stats");

/// A work counter: written only by the core doing the work (the owner), so a plain load and
/// store suffice.
pub(crate) struct OwnerCounter(AtomicU64);

impl OwnerCounter {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Owner only. Relaxed load and store: one writer at a time; pairs with nothing.
    #[inline]
    pub(crate) fn bump(&self) {
        self.0.store(self.0.load(Relaxed) + 1, Relaxed);
    }

    fn get(&self) -> u64 {
        // Relaxed: a diagnostic read; pairs with nothing.
        self.0.load(Relaxed)
    }
}

/// A statistics counter that any core may bump; zero-sized and free without feature `stats`.
///
/// Used for the executor's wake-path counters and by platforms for their own (the kernel's
/// SGI notifier), so one feature switches all of them.
#[derive(Debug, Default)]
pub struct Counter {
    #[cfg(feature = "stats")]
    n: AtomicU64,
}

impl Counter {
    /// A zero counter.
    pub const fn new() -> Self {
        Counter {
            #[cfg(feature = "stats")]
            n: AtomicU64::new(0),
        }
    }

    /// Adds `by` (nothing without feature `stats`).
    #[inline(always)]
    pub fn add(&self, by: u64) {
        // Relaxed: a diagnostic; pairs with nothing.
        #[cfg(feature = "stats")]
        self.n.fetch_add(by, Relaxed);
        #[cfg(not(feature = "stats"))]
        let _ = by;
    }

    /// Adds 1 (nothing without feature `stats`).
    #[inline(always)]
    pub fn bump(&self) {
        self.add(1);
    }

    /// Adds 1, for a counter that only one core at a time writes (its owner: a load and a
    /// store, no read-modify-write). Mixing it with `bump`/`add` on one counter loses counts.
    #[inline(always)]
    pub fn bump_owner(&self) {
        // Relaxed (both): one writer at a time; a diagnostic that pairs with nothing.
        #[cfg(feature = "stats")]
        self.n.store(self.n.load(Relaxed) + 1, Relaxed);
    }

    /// Runs `f`; with feature `stats`, adds the ticks it took on `now` (without the feature,
    /// `now` is never called).
    #[inline(always)]
    pub fn time<R>(&self, now: impl Fn() -> u64, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "stats")]
        {
            let t0 = now();
            let r = f();
            self.add(now().wrapping_sub(t0));
            r
        }
        #[cfg(not(feature = "stats"))]
        {
            let _ = now;
            f()
        }
    }

    /// The current value.
    #[cfg(feature = "stats")]
    pub fn get(&self) -> u64 {
        // Relaxed: a diagnostic read; pairs with nothing.
        self.n.load(Relaxed)
    }
}

/// When a task was last woken, for the wake-to-run latency (feature `stats`; zero-sized and
/// never reading the clock otherwise).
pub(crate) struct WakeStamp {
    #[cfg(feature = "stats")]
    at: AtomicU64,
}

impl WakeStamp {
    pub(crate) const fn new() -> Self {
        WakeStamp {
            #[cfg(feature = "stats")]
            at: AtomicU64::new(0),
        }
    }

    /// Records `now()` (the waker's core; without feature `stats`, `now` is never called).
    #[inline(always)]
    pub(crate) fn stamp(&self, now: impl FnOnce() -> u64) {
        // Relaxed: a diagnostic, published to the owner with the task by the run-queue push.
        #[cfg(feature = "stats")]
        self.at.store(now(), Relaxed);
        #[cfg(not(feature = "stats"))]
        let _ = now;
    }
}

#[cfg(feature = "stats")]
const BUCKETS: usize = 64;

pub(crate) struct Stats {
    pub(crate) polls: OwnerCounter,
    pub(crate) sleeps: OwnerCounter,
    pub(crate) poll_iterations: OwnerCounter,
    pub(crate) bhs_run: OwnerCounter,
    pub(crate) tasks_polled: OwnerCounter,
    pub(crate) timers_fired: OwnerCounter,
    pub(crate) timer_overflows: OwnerCounter,
    double_schedules: AtomicU64,
    pub(crate) kicks: Counter,
    pub(crate) notifies_skipped: Counter,
    pub(crate) accepts: Counter,
    pub(crate) accepts_notified: Counter,
    #[cfg(feature = "stats")]
    latency_max: AtomicU64,
    #[cfg(feature = "stats")]
    latency: [AtomicU64; BUCKETS],
}

/// A plain copy of a context's statistics (wake-path fields only with feature `stats`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Calls to `poll`.
    pub polls: u64,
    /// Times the owner blocked in `EventNotifier::wait`.
    pub sleeps: u64,
    /// Busy-poll iterations of adaptive polling.
    pub poll_iterations: u64,
    /// Bottom-half callbacks run.
    pub bhs_run: u64,
    /// Task polls.
    pub tasks_polled: u64,
    /// Timer expiries delivered.
    pub timers_fired: u64,
    /// Sleeps that found the timer table full (they degrade to re-polling).
    pub timer_overflows: u64,
    /// `co_schedule` calls that found the task already scheduled.
    pub double_schedules: u64,
    /// Calls to `Context::notify` (aio_notify).
    #[cfg(feature = "stats")]
    pub notifies: u64,
    /// Notifies that set the EventNotifier (notify_me was raised).
    #[cfg(feature = "stats")]
    pub kicks: u64,
    /// Notifies skipped because notify_me was 0 (the owner was awake).
    #[cfg(feature = "stats")]
    pub notifies_skipped: u64,
    /// Calls to `notify_accept`.
    #[cfg(feature = "stats")]
    pub accepts: u64,
    /// Accepts that found `notified` set (and so cleared the EventNotifier).
    #[cfg(feature = "stats")]
    pub accepts_notified: u64,
    /// Number of wake-to-run latency samples.
    #[cfg(feature = "stats")]
    pub latency_samples: u64,
    /// Median wake-to-run latency in clock ticks (bucket upper bound).
    #[cfg(feature = "stats")]
    pub latency_p50: u64,
    /// 99th percentile wake-to-run latency in clock ticks (bucket upper bound).
    #[cfg(feature = "stats")]
    pub latency_p99: u64,
    /// Maximum wake-to-run latency in clock ticks (exact).
    #[cfg(feature = "stats")]
    pub latency_max: u64,
}

impl Stats {
    pub(crate) const fn new() -> Self {
        Stats {
            polls: OwnerCounter::new(),
            sleeps: OwnerCounter::new(),
            poll_iterations: OwnerCounter::new(),
            bhs_run: OwnerCounter::new(),
            tasks_polled: OwnerCounter::new(),
            timers_fired: OwnerCounter::new(),
            timer_overflows: OwnerCounter::new(),
            double_schedules: AtomicU64::new(0),
            kicks: Counter::new(),
            notifies_skipped: Counter::new(),
            accepts: Counter::new(),
            accepts_notified: Counter::new(),
            #[cfg(feature = "stats")]
            latency_max: AtomicU64::new(0),
            #[cfg(feature = "stats")]
            latency: [const { AtomicU64::new(0) }; BUCKETS],
        }
    }

    /// Any core (the error path of `co_schedule`).
    pub(crate) fn double_schedule(&self) {
        // Relaxed: a diagnostic; pairs with nothing.
        self.double_schedules.fetch_add(1, Relaxed);
    }

    /// Owner, about to poll a task woken at `woken`: record the wake-to-run latency (feature
    /// `stats`; without it neither the clock nor the stamp is read).
    #[inline(always)]
    pub(crate) fn task_started(&self, now: impl FnOnce() -> u64, woken: &WakeStamp) {
        #[cfg(feature = "stats")]
        // Relaxed: see `WakeStamp::stamp`.
        self.record_latency(now().saturating_sub(woken.at.load(Relaxed)));
        #[cfg(not(feature = "stats"))]
        let _ = (now, woken);
    }

    /// Owner only (the core inside `poll`): loads and stores, no read-modify-write.
    #[cfg(feature = "stats")]
    fn record_latency(&self, ticks: u64) {
        let bucket = (u64::BITS - ticks.leading_zeros()) as usize;
        let b = &self.latency[bucket.min(BUCKETS - 1)];
        // Relaxed (all): one writer at a time (the owner); diagnostics, pair with nothing.
        b.store(b.load(Relaxed) + 1, Relaxed);
        if ticks > self.latency_max.load(Relaxed) {
            self.latency_max.store(ticks, Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        #[cfg(feature = "stats")]
        let latency = self.latency_summary();
        StatsSnapshot {
            polls: self.polls.get(),
            sleeps: self.sleeps.get(),
            poll_iterations: self.poll_iterations.get(),
            bhs_run: self.bhs_run.get(),
            tasks_polled: self.tasks_polled.get(),
            timers_fired: self.timers_fired.get(),
            timer_overflows: self.timer_overflows.get(),
            // Relaxed: a diagnostic read; pairs with nothing.
            double_schedules: self.double_schedules.load(Relaxed),
            #[cfg(feature = "stats")]
            // Each notify bumps exactly one of the two (no third counter on the wake path).
            notifies: self.kicks.get() + self.notifies_skipped.get(),
            #[cfg(feature = "stats")]
            kicks: self.kicks.get(),
            #[cfg(feature = "stats")]
            notifies_skipped: self.notifies_skipped.get(),
            #[cfg(feature = "stats")]
            accepts: self.accepts.get(),
            #[cfg(feature = "stats")]
            accepts_notified: self.accepts_notified.get(),
            #[cfg(feature = "stats")]
            latency_samples: latency.samples,
            #[cfg(feature = "stats")]
            latency_p50: latency.p50,
            #[cfg(feature = "stats")]
            latency_p99: latency.p99,
            #[cfg(feature = "stats")]
            latency_max: latency.max,
        }
    }

    #[cfg(feature = "stats")]
    fn latency_summary(&self) -> LatencySummary {
        let mut counts = [0u64; BUCKETS];
        for (c, b) in counts.iter_mut().zip(self.latency.iter()) {
            // Relaxed: a diagnostic read; pairs with nothing.
            *c = b.load(Relaxed);
        }
        let samples: u64 = counts.iter().sum();
        // Relaxed: a diagnostic read; pairs with nothing.
        let max = self.latency_max.load(Relaxed);
        let pct = |num: u64, den: u64| -> u64 {
            if samples == 0 {
                return 0;
            }
            // Smallest bucket whose cumulative count reaches ceil(samples * num / den).
            let rank = (samples * num).div_ceil(den).max(1);
            let mut acc = 0;
            for (i, c) in counts.iter().enumerate() {
                acc += c;
                if acc >= rank {
                    let upper = if i == 0 { 0 } else { (1u64 << i.min(63)) - 1 };
                    return upper.min(max);
                }
            }
            max
        };
        LatencySummary {
            samples,
            p50: pct(50, 100),
            p99: pct(99, 100),
            max,
        }
    }
}

#[cfg(feature = "stats")]
struct LatencySummary {
    samples: u64,
    p50: u64,
    p99: u64,
    max: u64,
}

#[cfg(all(test, feature = "stats"))]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_buckets() {
        let s = Stats::new();
        for _ in 0..98 {
            s.record_latency(3); // bucket 2: [2,4)
        }
        s.record_latency(1000); // bucket 10: [512,1024)
        s.record_latency(5000);
        let snap = s.snapshot();
        assert_eq!(snap.latency_samples, 100);
        assert_eq!(snap.latency_p50, 3);
        assert_eq!(snap.latency_p99, 1023);
        assert_eq!(snap.latency_max, 5000);
    }

    #[test]
    fn counters_count() {
        let c = Counter::new();
        c.bump();
        c.add(4);
        assert_eq!(c.get(), 5);
        assert_eq!(c.time(|| 10, || 7), 7);
        assert_eq!(c.get(), 5, "zero ticks on a clock that stands still");
    }
}

#[cfg(all(test, not(feature = "stats")))]
mod tests {
    use super::*;

    #[test]
    fn compiled_out_counters_are_free() {
        assert_eq!(core::mem::size_of::<Counter>(), 0);
        assert_eq!(core::mem::size_of::<WakeStamp>(), 0);
        let c = Counter::new();
        let r = c.time(|| panic!("the clock is read without feature stats"), || 7);
        assert_eq!(r, 7);
        WakeStamp::new().stamp(|| panic!("the clock is read without feature stats"));
    }
}
