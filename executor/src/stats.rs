//! Per-context statistics.
//!
//! All counters are `core` atomics updated with `Relaxed` (also under loom): they are
//! diagnostics, order nothing and pair with nothing. Counters bumped by notifiers (`notifies`,
//! `kicks`, `notifies_skipped`) are written from any core; the rest only by the owner.
//!
//! The wake-to-run latency histogram has power-of-two buckets in clock ticks: bucket 0 holds
//! latency 0, bucket `i > 0` holds `[2^(i-1), 2^i)`. Percentiles are reported as the upper
//! bound of the bucket that contains them (capped by the exact maximum).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

const BUCKETS: usize = 64;

pub(crate) struct Stats {
    pub(crate) notifies: AtomicU64,
    pub(crate) kicks: AtomicU64,
    pub(crate) notifies_skipped: AtomicU64,
    pub(crate) accepts: AtomicU64,
    pub(crate) accepts_notified: AtomicU64,
    pub(crate) sleeps: AtomicU64,
    pub(crate) polls: AtomicU64,
    pub(crate) poll_iterations: AtomicU64,
    pub(crate) bhs_run: AtomicU64,
    pub(crate) tasks_polled: AtomicU64,
    pub(crate) timers_fired: AtomicU64,
    pub(crate) timer_overflows: AtomicU64,
    pub(crate) double_schedules: AtomicU64,
    latency_max: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

/// A plain copy of a context's statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Calls to `Context::notify` (aio_notify).
    pub notifies: u64,
    /// Notifies that set the EventNotifier (notify_me was raised).
    pub kicks: u64,
    /// Notifies skipped because notify_me was 0 (the owner was awake).
    pub notifies_skipped: u64,
    /// Calls to `notify_accept`.
    pub accepts: u64,
    /// Accepts that found `notified` set (and so cleared the EventNotifier).
    pub accepts_notified: u64,
    /// Times the owner blocked in `EventNotifier::wait`.
    pub sleeps: u64,
    /// Calls to `poll`.
    pub polls: u64,
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
    /// `Context::co_schedule` calls that found the task already scheduled.
    pub double_schedules: u64,
    /// Number of wake-to-run latency samples.
    pub latency_samples: u64,
    /// Median wake-to-run latency in clock ticks (bucket upper bound).
    pub latency_p50: u64,
    /// 99th percentile wake-to-run latency in clock ticks (bucket upper bound).
    pub latency_p99: u64,
    /// Maximum wake-to-run latency in clock ticks (exact).
    pub latency_max: u64,
}

impl Stats {
    pub(crate) const fn new() -> Self {
        Stats {
            notifies: AtomicU64::new(0),
            kicks: AtomicU64::new(0),
            notifies_skipped: AtomicU64::new(0),
            accepts: AtomicU64::new(0),
            accepts_notified: AtomicU64::new(0),
            sleeps: AtomicU64::new(0),
            polls: AtomicU64::new(0),
            poll_iterations: AtomicU64::new(0),
            bhs_run: AtomicU64::new(0),
            tasks_polled: AtomicU64::new(0),
            timers_fired: AtomicU64::new(0),
            timer_overflows: AtomicU64::new(0),
            double_schedules: AtomicU64::new(0),
            latency_max: AtomicU64::new(0),
            latency: [const { AtomicU64::new(0) }; BUCKETS],
        }
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_latency(&self, ticks: u64) {
        let bucket = (u64::BITS - ticks.leading_zeros()) as usize;
        self.latency[bucket.min(BUCKETS - 1)].fetch_add(1, Relaxed);
        self.latency_max.fetch_max(ticks, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let mut counts = [0u64; BUCKETS];
        for (c, b) in counts.iter_mut().zip(self.latency.iter()) {
            *c = b.load(Relaxed);
        }
        let samples: u64 = counts.iter().sum();
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
        StatsSnapshot {
            notifies: self.notifies.load(Relaxed),
            kicks: self.kicks.load(Relaxed),
            notifies_skipped: self.notifies_skipped.load(Relaxed),
            accepts: self.accepts.load(Relaxed),
            accepts_notified: self.accepts_notified.load(Relaxed),
            sleeps: self.sleeps.load(Relaxed),
            polls: self.polls.load(Relaxed),
            poll_iterations: self.poll_iterations.load(Relaxed),
            bhs_run: self.bhs_run.load(Relaxed),
            tasks_polled: self.tasks_polled.load(Relaxed),
            timers_fired: self.timers_fired.load(Relaxed),
            timer_overflows: self.timer_overflows.load(Relaxed),
            double_schedules: self.double_schedules.load(Relaxed),
            latency_samples: samples,
            latency_p50: pct(50, 100),
            latency_p99: pct(99, 100),
            latency_max: max,
        }
    }
}

#[cfg(test)]
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
}
