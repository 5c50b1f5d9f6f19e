//! The stress phases and their progress counters (one per phase), plus each core's time of
//! last progress (for the stall report), and the `progress:` line a long phase prints.

use crate::api::{bootarg, cores_online, ms, now, ticks_to_us};
use crate::boot::layout::MAX_CPUS;
use crate::println;
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

/// Cross-core wakeups so far, over every phase.
pub fn wakeups() -> u64 {
    Phase::ORDER
        .iter()
        .filter(|p| p.cross_core())
        .map(|&p| get(p))
        .sum()
}

/// A phase that runs longer than this (guest time) prints a `progress:` line this often, so
/// that a host harness reading the console can tell a long round from a hang (`cargo xtask
/// soak` calls 90 s of silence a hang). Short phases print nothing.
pub const PRINT_MS: u64 = 10_000;

/// Prints `progress: phase=P done=N target=T wakeups=W ms=M` every [`PRINT_MS`] while a
/// phase runs (the watchdog ticks it).
pub struct Ticker {
    start: u64,
    next: u64,
}

impl Ticker {
    pub fn new() -> Self {
        let t = now();
        Ticker {
            start: t,
            next: t + ms(PRINT_MS),
        }
    }

    /// Print if [`PRINT_MS`] passed since the last line (or the phase's start).
    pub fn tick(&mut self, phase: Phase, target: u64) {
        let t = now();
        if t < self.next {
            return;
        }
        self.next = t + ms(PRINT_MS);
        println!(
            "progress: phase={} done={} target={} wakeups={} ms={}",
            phase.name(),
            get(phase),
            target,
            wakeups(),
            ticks_to_us(t - self.start) / 1000
        );
    }
}
