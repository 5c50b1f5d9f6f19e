//! `stress` on the command line: every way a wake can reach a core, in phases, under a
//! watchdog on core 0. Each phase has its own progress counter (`progress.rs`):
//!
//! | phase  | what wakes whom                                                                   |
//! |--------|-----------------------------------------------------------------------------------|
//! | ring   | a token around a ring of tasks, one per core (one notify in flight per core)     |
//! | naps   | short sleeps (1–32 us) alone on each worker core: the timer-arm-then-WFI window   |
//! | fanin  | every worker wakes one consumer (many notifies racing one owner, mostly skipped) |
//! | fanout | one worker wakes a task on every other worker, which all sleep in between         |
//! | irq    | a device interrupt (physical timer, or the soft SPI via GICD_ISPENDR) on one core  |
//! |        | wakes a task or schedules a BH on the next worker                                 |
//! | bh     | BHs scheduled from another core while the owner sleeps, and `co_schedule` of a    |
//! |        | parked task onto a sleeping core                                                  |
//!
//! During fanout and irq every worker also runs a napper, so timer wakeups and notifies
//! race in `wait` on the same contexts (not in bh: a timer on the BH's owner would hide a
//! schedule that lost its notify). Workers are cores 1.. (all cores with only 2): core 0
//! keeps the watchdog's timer, the only periodic timer, so no tick can hide a lost wakeup on
//! a worker.
//!
//! Counts: `stress=ROUNDS` multiplies every phase's default count; `stress_PHASE=N` sets one
//! phase's count (per worker). `reboot` (bare word): a passing run ends with PSCI
//! SYSTEM_RESET instead of exiting (the harness counts the rounds).
//!
//! The watchdog (`watchdog.rs`) fails the boot with `lost wakeup` (no progress for
//! [`watchdog::STALL_MS`], with a report of every context), `too slow` (a phase far slower
//! than its own calibration) or `busy loop` (after a phase an idle worker does not settle
//! into WFI). Kernel and executor mutants must make it fail (tests-qemu/src/cases/stress.rs).

mod phases;
mod progress;
mod report;
mod watchdog;

use crate::api::*;
use crate::println;

/// Whether the command line asks for the stress.
pub fn requested() -> bool {
    has_bootarg("stress") || bootarg("stress").is_some()
}

task_pool!(static WATCHDOG: watchdog::run, 1);

pub fn start() {
    if cores_online() < 2 {
        println!("stress: needs at least 2 cores; nothing to do");
        exit_ok();
    }
    if WATCHDOG.spawn(this_context(), watchdog::run()).is_err() {
        exit_fail(format_args!("stress: cannot spawn the watchdog"));
    }
}
