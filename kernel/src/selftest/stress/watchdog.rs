//! The stress watchdog (core 0): runs the phases in order and fails the boot by name.
//!
//! * `lost wakeup`: a phase made no progress for [`STALL_MS`] (nothing but a notify or a
//!   timer could have moved it: the workers keep no periodic timer).
//! * `too slow`: after calibrating on the first tenth of its work (and at least
//!   [`CAL_MIN_MS`]), a phase ran [`RATE_FACTOR`] times slower than that for
//!   [`SLOW_WINDOWS`] windows in a row.
//! * `busy loop`: during a phase, a core's event is seen set for [`STUCK_TICKS`] samples in a
//!   row while its `wait` keeps returning at once; or after a phase, an idle worker did not
//!   settle into WFI (its polls or early returns from `wait` kept rising, or `notify_me`, the
//!   latch or the queues did not reach their idle values, or it never entered WFI at all, or
//!   its `wait` returned at once more often than it was kicked).

use super::phases::{launch, mix_running, mix_start, mix_stop};
use super::progress::{self, workers, Phase};
use super::report;
use crate::api::*;
use crate::println;

/// No progress for this long in a phase is a lost wakeup.
pub const STALL_MS: u64 = 3_000;
/// The watchdog's sampling period (its timer is the only periodic one, on core 0).
const TICK_MS: u64 = 10;
/// Rate-check window.
const WINDOW_MS: u64 = 250;
/// A window this many times slower than the calibration counts as slow...
const RATE_FACTOR: u64 = 50;
/// ... and this many slow windows in a row fail the phase.
const SLOW_WINDOWS: u32 = 4;
/// The calibration covers the first tenth of the phase and at least this long: under
/// loaded TCG a phase's first 20 ms can run 50x faster than its average (a notifier vCPU
/// descheduled between `set` and `notified` leaves its owner spinning in early returns).
const CAL_MIN_MS: u64 = 100;
/// Quiet window of the liveness check, and how many tries a core gets to settle.
const QUIET_MS: u64 = 20;
const QUIET_TRIES: u32 = 10;
/// Polls (and early returns) an idle core may make in one quiet window.
const QUIET_POLLS: u64 = 2;

/// Ticks in a row a core may be seen with its latch set and its `wait` returning early
/// before that counts as a busy loop (a kick is accepted within microseconds; a set event
/// nobody accepts never is).
const STUCK_TICKS: u32 = 100;

/// Per-core state the busy-loop check compares from one tick to the next.
#[derive(Clone, Copy, Default)]
struct Spin {
    early: u64,
    ticks: u32,
}

/// One tick of the busy-loop check on every core (see [`STUCK_TICKS`]).
fn check_spin(phase: Phase, target: u64, spin: &mut [Spin]) {
    for (core, s) in spin.iter_mut().enumerate() {
        let e = early_returns(core);
        let latched = crate::runtime::notifier(core).gate_state().latched;
        // Seen set at every tick while `wait` keeps returning at once: an accepted kick
        // clears the latch within microseconds, so only an event nobody accepts stays set.
        s.ticks = if latched && e > s.early {
            s.ticks + 1
        } else {
            0
        };
        s.early = e;
        if s.ticks >= STUCK_TICKS {
            stalled(
                phase,
                target,
                format_args!(
                    "busy loop: phase {}: core {} kept its event set for {} ms that no accept clears, its wait returning at once",
                    phase.name(),
                    core,
                    STUCK_TICKS as u64 * TICK_MS
                ),
            );
        }
    }
}

/// Per-core counters sampled at the start of a phase.
#[derive(Clone, Copy, Default)]
struct Sample {
    wfi: u64,
}

fn sample(core: usize) -> Sample {
    #[cfg(feature = "stats")]
    let wfi = crate::runtime::notifier(core).snapshot().wfi_sleeps;
    #[cfg(not(feature = "stats"))]
    let wfi = {
        let _ = core;
        0
    };
    Sample { wfi }
}

fn early_returns(core: usize) -> u64 {
    #[cfg(feature = "stats")]
    return crate::runtime::notifier(core).snapshot().early_returns;
    #[cfg(not(feature = "stats"))]
    {
        let _ = core;
        0
    }
}

/// Kicks this core's context received (0 without feature `stats`, like `early_returns`).
fn kicks(core: usize) -> u64 {
    #[cfg(feature = "stats")]
    return context(core).expect("online").stats().kicks;
    #[cfg(not(feature = "stats"))]
    {
        let _ = core;
        0
    }
}

fn stalled(phase: Phase, target: u64, why: core::fmt::Arguments) -> ! {
    report::print(phase, target);
    exit_fail(why)
}

/// Wait for `phase` to reach `target`, with the stall and rate checks.
async fn monitor(phase: Phase, target: u64) {
    let start = now();
    let cal_target = (target / 10).max(1);
    let mut cal: Option<(u64, u64)> = None; // (units, ticks) of the calibration
    let mut last = progress::get(phase);
    let mut last_change = now();
    let mut window_start = (now(), last);
    let mut slow = 0;
    let mut spin = [Spin::default(); crate::boot::layout::MAX_CPUS];
    let mut ticker = progress::Ticker::new();
    loop {
        sleep(ms(TICK_MS)).await;
        ticker.tick(phase, target);
        if cfg!(feature = "stats") {
            check_spin(phase, target, &mut spin[..cores_online()]);
        }
        let got = progress::get(phase);
        let t = now();
        if got >= target {
            return;
        }
        if got != last {
            last = got;
            last_change = t;
        } else if t - last_change > ms(STALL_MS) {
            stalled(
                phase,
                target,
                format_args!(
                    "lost wakeup: phase {} made no progress for {} ms ({} of {})",
                    phase.name(),
                    STALL_MS,
                    got,
                    target
                ),
            );
        }
        match cal {
            None if got >= cal_target && t - start >= ms(CAL_MIN_MS) => {
                cal = Some((got, (t - start).max(1)));
                window_start = (t, got);
            }
            None => {}
            Some((units, ticks)) if t - window_start.0 >= ms(WINDOW_MS) => {
                let made = got - window_start.1;
                let expected = units * (t - window_start.0) / ticks;
                // A window with no progress at all is the stall check's (`lost wakeup`).
                slow = if made > 0 && made * RATE_FACTOR < expected {
                    slow + 1
                } else {
                    0
                };
                if slow >= SLOW_WINDOWS {
                    stalled(
                        phase,
                        target,
                        format_args!(
                            "too slow: phase {} made {} in {} ms, its calibration {} ({} in {} ms)",
                            phase.name(),
                            made,
                            ticks_to_us(t - window_start.0) / 1000,
                            expected,
                            units,
                            ticks_to_us(ticks) / 1000
                        ),
                    );
                }
                window_start = (t, got);
            }
            Some(_) => {}
        }
    }
}

/// Whether core `core` looks idle: asleep in WFI with nothing latched or queued.
fn settled(core: usize) -> bool {
    let h = context(core).expect("online").handshake_state();
    let g = crate::runtime::notifier(core).gate_state();
    // `notified` may stay set: two notifies that both kicked before one accept leave it
    // set with the latch clear, a harmless false positive (docs of the handshake).
    h.notify_me != 0
        && !h.tasks_queued
        && !h.bhs_queued
        && h.next_timer.is_none()
        && !g.latched
        && g.announced == "sleeping"
}

/// After a phase: every idle worker (not core 0, which keeps our timer) must sleep.
async fn liveness(phase: Phase, before: &[Sample]) {
    for core in workers().filter(|&c| c != 0) {
        let mut tries = 0;
        loop {
            let polls = context(core).expect("online").stats().polls;
            let early = early_returns(core);
            sleep(ms(QUIET_MS)).await;
            let dp = context(core).expect("online").stats().polls - polls;
            let de = early_returns(core) - early;
            if dp <= QUIET_POLLS && de <= QUIET_POLLS && settled(core) {
                break;
            }
            tries += 1;
            if tries >= QUIET_TRIES {
                stalled(
                    phase,
                    0,
                    format_args!(
                        "busy loop: after phase {} core {} does not settle: {} polls and {} early returns from wait in {} ms with nothing to do",
                        phase.name(),
                        core,
                        dp,
                        de,
                        QUIET_MS
                    ),
                );
            }
        }
        // Each early return consumes a set (`EventNotifier::wait`), and each set is a kick:
        // more early returns than kicks is an owner spinning through a notifier's window
        // (the seed's wait, mutant `wait_keeps_latch`). Slack: a kick counts itself after
        // its set, so a few may be in flight (at most two per core: one from a task, one
        // from an IRQ handler that interrupted it).
        let kicks = kicks(core);
        let early = early_returns(core);
        if early > kicks + 2 * cores_online() as u64 {
            stalled(
                phase,
                0,
                format_args!(
                    "busy loop: after phase {} core {} made {} early returns from wait for {} kicks (more than one per set: it spun through a notifier's window)",
                    phase.name(),
                    core,
                    early,
                    kicks
                ),
            );
        }
        if cfg!(feature = "stats") && sample(core).wfi == before[core].wfi {
            stalled(
                phase,
                0,
                format_args!(
                    "busy loop: core {} never entered WFI in phase {}",
                    core,
                    phase.name()
                ),
            );
        }
    }
}

/// The watchdog task: all phases, then the verdict.
pub async fn run() {
    let start = now();
    let mut before = [Sample::default(); crate::boot::layout::MAX_CPUS];
    for phase in Phase::ORDER {
        for (core, b) in before.iter_mut().enumerate().take(cores_online()) {
            *b = sample(core);
        }
        // Not in bh: a timer on the BH's owner would hide a BH schedule that lost its notify.
        let mixed = matches!(phase, Phase::FanOut | Phase::Irq);
        if mixed {
            mix_start();
        }
        let t0 = now();
        let target = launch(phase);
        monitor(phase, target).await;
        if mixed {
            mix_stop();
            let t = now();
            while mix_running() > 0 {
                sleep(ms(TICK_MS)).await;
                if now() - t > ms(STALL_MS) {
                    stalled(
                        Phase::Mix,
                        0,
                        format_args!(
                            "lost wakeup: {} timer task(s) did not finish after phase {}",
                            mix_running(),
                            phase.name()
                        ),
                    );
                }
            }
        }
        let t1 = now();
        liveness(phase, &before[..cores_online()]).await;
        println!(
            "stress: phase {} ok: {} in {} ms",
            phase.name(),
            progress::get(phase),
            ticks_to_us(t1 - t0) / 1000
        );
    }
    report::summary(now() - start);
    print_stats();
    if has_bootarg("reboot") {
        if has_bootarg("reboot_hold_stop") {
            // Negative control for the GICv2 reset scrub (irq::hold_stop_active).
            crate::irq::hold_stop_active();
        }
        crate::exit::reboot()
    }
    exit_ok()
}
