//! Adaptive polling before sleeping (QEMU's `poll-max-ns`, `poll-grow`, `poll-shrink`).
//!
//! Before raising `notify_me` and sleeping, the owner may busy-poll for work for up to
//! `window` clock ticks (QEMU's `poll_ns`, which is in nanoseconds; here everything is in the
//! platform clock's ticks): while it polls, `notify_me` is 0, so notifiers skip the kick (no SGI, no
//! clearing of GIC state). After each blocking poll the window adapts to how long the owner
//! actually waited (`block`), exactly as QEMU's `adjust_polling_time`:
//! - `block <= window`: the sweet spot, keep it;
//! - `block > max`: polling cannot pay off, shrink (`window /= shrink`, or 0 if shrink is 0);
//! - `window < max && block < max`: grow (`window *= grow`; from 0 it starts at `initial`,
//!   QEMU's 4 µs), capped at `max`.
//!
//! `max == 0` disables polling (the default). Owner-only state: plain `core` atomics,
//! `Relaxed` (see `sync`).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Adaptive polling parameters, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollParams {
    /// Maximum busy-poll window (QEMU `poll-max-ns`); 0 disables polling.
    pub max: u64,
    /// Growth factor (QEMU `poll-grow`; 0 means the default 2).
    pub grow: u64,
    /// Shrink divisor (QEMU `poll-shrink`; 0 means reset to 0).
    pub shrink: u64,
    /// First non-zero window when growing from 0 (QEMU uses 4 µs).
    pub initial: u64,
}

impl PollParams {
    /// Polling off (the default).
    pub const DISABLED: PollParams = PollParams {
        max: 0,
        grow: 0,
        shrink: 0,
        initial: 0,
    };
}

pub(crate) struct PollPolicy {
    max: AtomicU64,
    grow: AtomicU64,
    shrink: AtomicU64,
    initial: AtomicU64,
    window: AtomicU64,
}

impl PollPolicy {
    pub(crate) const fn new() -> Self {
        Self {
            max: AtomicU64::new(0),
            grow: AtomicU64::new(0),
            shrink: AtomicU64::new(0),
            initial: AtomicU64::new(0),
            window: AtomicU64::new(0),
        }
    }

    pub(crate) fn set(&self, p: PollParams) {
        self.max.store(p.max, Relaxed);
        self.grow.store(p.grow, Relaxed);
        self.shrink.store(p.shrink, Relaxed);
        self.initial.store(p.initial.max(1), Relaxed);
        if p.max == 0 {
            self.window.store(0, Relaxed);
        } else if self.window.load(Relaxed) > p.max {
            self.window.store(p.max, Relaxed);
        }
    }

    /// Whether adaptive polling is on (`max != 0`); when off, `adjust` does nothing and the
    /// owner need not time its waits.
    pub(crate) fn enabled(&self) -> bool {
        self.max.load(Relaxed) != 0
    }

    /// Current busy-poll window, in clock ticks.
    pub(crate) fn window(&self) -> u64 {
        if self.max.load(Relaxed) == 0 {
            0
        } else {
            self.window.load(Relaxed)
        }
    }

    /// Adjust after a blocking poll that took `block` ticks from start to wakeup.
    pub(crate) fn adjust(&self, block: u64) {
        let max = self.max.load(Relaxed);
        if max == 0 {
            return;
        }
        let cur = self.window.load(Relaxed);
        let new = if block <= cur {
            cur
        } else if block > max {
            match self.shrink.load(Relaxed) {
                0 => 0,
                s => cur / s,
            }
        } else if cur < max {
            let grow = match self.grow.load(Relaxed) {
                0 => 2,
                g => g,
            };
            if cur == 0 {
                self.initial.load(Relaxed).min(max)
            } else {
                cur.saturating_mul(grow).min(max)
            }
        } else {
            cur
        };
        self.window.store(new, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_shrinks_like_qemu() {
        let p = PollPolicy::new();
        assert_eq!(p.window(), 0);
        p.set(PollParams {
            max: 1000,
            grow: 2,
            shrink: 2,
            initial: 100,
        });
        p.adjust(500); // short block, below max: grow from 0 to initial
        assert_eq!(p.window(), 100);
        p.adjust(500);
        assert_eq!(p.window(), 200);
        p.adjust(150); // within window: keep
        assert_eq!(p.window(), 200);
        p.adjust(5000); // longer than max: shrink
        assert_eq!(p.window(), 100);
        p.set(PollParams::DISABLED);
        assert_eq!(p.window(), 0);
    }
}
