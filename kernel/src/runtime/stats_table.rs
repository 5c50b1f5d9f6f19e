//! The per-core statistics table printed at the end of a run (feature `stats`, default).

use crate::println;

/// One core's statistics as values (`api::core_stats`; the `/stats` page of the `serve`
/// demo). `wake` is `None` without feature `stats`.
#[derive(Clone, Copy, Debug)]
pub struct CoreStats {
    pub core: usize,
    pub polls: u64,
    pub tasks_polled: u64,
    pub bhs_run: u64,
    pub timers_fired: u64,
    pub wake: Option<WakeStats>,
}

/// The wake path's counters of one core (the columns of [`print`]); latencies in clock ticks.
#[derive(Clone, Copy, Debug)]
pub struct WakeStats {
    pub notifies: u64,
    pub kicks: u64,
    pub notifies_skipped: u64,
    pub accepts_notified: u64,
    pub sgis_sent: u64,
    pub wfe_waits: u64,
    pub wfi_sleeps: u64,
    pub latency_p50: u64,
    pub latency_p99: u64,
    pub latency_max: u64,
}

/// The statistics of `core` (`None` if it is not online).
pub fn core_stats(core: usize) -> Option<CoreStats> {
    if !crate::smp::is_online(core) {
        return None;
    }
    let s = super::context(core).stats();
    #[cfg(feature = "stats")]
    let wake = {
        let n = super::notifier(core).snapshot();
        Some(WakeStats {
            notifies: s.notifies,
            kicks: s.kicks,
            notifies_skipped: s.notifies_skipped,
            accepts_notified: s.accepts_notified,
            sgis_sent: n.sgis_sent,
            wfe_waits: n.wfe_waits,
            wfi_sleeps: n.wfi_sleeps,
            latency_p50: s.latency_p50,
            latency_p99: s.latency_p99,
            latency_max: s.latency_max,
        })
    };
    #[cfg(not(feature = "stats"))]
    let wake = None;
    Some(CoreStats {
        core,
        polls: s.polls,
        tasks_polled: s.tasks_polled,
        bhs_run: s.bhs_run,
        timers_fired: s.timers_fired,
        wake,
    })
}

/// Without feature `stats` there is nothing to print but that.
#[cfg(not(feature = "stats"))]
pub fn print() {
    println!("stats: compiled out (kernel built without feature `stats`)");
}

/// Print one row per online core: the executor's handshake counters and the notifier's.
#[cfg(feature = "stats")]
pub fn print() {
    let tps = hal::timer::frequency();
    println!(
        "stats (latency in timer ticks, {} ticks/us):",
        (tps / 1_000_000).max(1)
    );
    println!(
        "{:>4} {:>8} {:>7} {:>6} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7} {:>8}",
        "core",
        "notifies",
        "kicks",
        "sgis",
        "skipped",
        "accepted",
        "wfe",
        "wfi",
        "polls",
        "poll_it",
        "p50",
        "p99",
        "max"
    );
    for core in 0..crate::smp::possible_count() {
        if !crate::smp::is_online(core) {
            continue;
        }
        let s = super::context(core).stats();
        let n = super::notifier(core).snapshot();
        println!(
            "{:>4} {:>8} {:>7} {:>6} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7} {:>8}",
            core,
            s.notifies,
            s.kicks,
            n.sgis_sent,
            s.notifies_skipped,
            s.accepts_notified,
            n.wfe_waits,
            n.wfi_sleeps,
            s.polls,
            s.poll_iterations,
            s.latency_p50,
            s.latency_p99,
            s.latency_max
        );
    }
    let (spurious, unhandled) = crate::irq::counts();
    let mut clears = 0;
    let mut clear_ticks = 0;
    let mut skipped = 0;
    for core in 0..crate::smp::possible_count() {
        let n = super::notifier(core).snapshot();
        clears += n.gic_clears;
        clear_ticks += n.gic_clear_ticks;
        skipped += n.clears_skipped;
    }
    for core in 0..crate::smp::possible_count() {
        let n = super::notifier(core).snapshot();
        if crate::smp::is_online(core) {
            // Early returns: waits that found the latch set (typically inside a notifier's
            // window, between its `set` and `notified`); each consumes one set, so they
            // stay at or below the kicks.
            println!(
                "core {}: woken in WFE {} times; {} early returns from wait for {} kicks",
                core,
                n.wfe_wakeups,
                n.early_returns,
                super::context(core).stats().kicks
            );
        }
    }
    println!(
        "gic: {} pending-clears in test_and_clear, {} ticks avg ({} skipped: no SGI sent); {} spurious, {} unregistered irqs",
        clears,
        clear_ticks.checked_div(clears).unwrap_or(0),
        skipped,
        spurious,
        unhandled
    );
}
