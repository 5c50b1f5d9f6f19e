//! The stress phases and their progress counters (one per phase), plus each core's time of
//! last progress (for the stall report).

use crate::api::{bootarg, cores_online, now};
use crate::boot::layout::MAX_CPUS;
use core::sync::atomic::{AtomicU64, Ordering};

/// A stress phase (module docs of `stress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Ring,
    Naps,
    FanIn,
    FanOut,
    Irq,
    Bh,
    /// The timers mixed into fanout, irq and bh (not a phase of its own: no target).
    Mix,
}

impl Phase {
    /// The phases in the order they run.
    pub const ORDER: [Phase; 6] = [
        Phase::Ring,
        Phase::Naps,
        Phase::FanIn,
        Phase::FanOut,
        Phase::Irq,
        Phase::Bh,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Ring => "ring",
            Phase::Naps => "naps",
            Phase::FanIn => "fanin",
            Phase::FanOut => "fanout",
            Phase::Irq => "irq",
            Phase::Bh => "bh",
            Phase::Mix => "mix",
        }
    }

    /// The bootarg that sets this phase's count.
    pub fn key(self) -> &'static str {
        match self {
            Phase::Ring => "stress_ring",
            Phase::Naps => "stress_naps",
            Phase::FanIn => "stress_fanin",
            Phase::FanOut => "stress_fanout",
            Phase::Irq => "stress_irq",
            Phase::Bh => "stress_bh",
            Phase::Mix => "stress_mix",
        }
    }

    /// Default count (per worker; ring: hops per core), sized for well under a second of TCG
    /// time per core.
    pub fn default_count(self) -> u64 {
        match self {
            Phase::Ring => 3_000,
            Phase::Naps => 500,
            Phase::FanIn => 400,
            Phase::FanOut => 400,
            Phase::Irq => 300,
            Phase::Bh => 400,
            Phase::Mix => 0,
        }
    }

    /// Whether a unit of this phase's progress is a cross-core wakeup.
    pub fn cross_core(self) -> bool {
        !matches!(self, Phase::Naps | Phase::Mix)
    }

    fn index(self) -> usize {
        self as usize
    }
}

const PHASES: usize = 7;
static COUNT: [AtomicU64; PHASES] = [const { AtomicU64::new(0) }; PHASES];
static LAST: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// One unit of progress in `phase`, made on core `core`.
pub fn bump(phase: Phase, core: usize) {
    // Relaxed: progress counters, sampled by the watchdog; nothing is published through them.
    COUNT[phase.index()].fetch_add(1, Ordering::Relaxed);
    // Relaxed: as above.
    LAST[core].store(now(), Ordering::Relaxed);
}

/// Progress so far in `phase`.
pub fn get(phase: Phase) -> u64 {
    // Relaxed: sampling only.
    COUNT[phase.index()].load(Ordering::Relaxed)
}

/// When core `core` last made progress (clock ticks; 0 = never).
pub fn last(core: usize) -> u64 {
    // Relaxed: sampling only.
    LAST[core].load(Ordering::Relaxed)
}

/// A phase's count per worker (or for the ring: hops per core), from the bootargs.
pub fn count(phase: Phase) -> u64 {
    let key = phase.key();
    if let Some(n) = bootarg(key).and_then(|v| v.parse::<u64>().ok()) {
        return n;
    }
    let rounds = bootarg("stress")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1);
    phase.default_count().saturating_mul(rounds)
}

/// The cores that run the workloads: all but core 0 when there are at least 3 cores.
pub fn workers() -> core::ops::Range<usize> {
    let cores = cores_online();
    if cores >= 3 {
        1..cores
    } else {
        0..cores
    }
}
