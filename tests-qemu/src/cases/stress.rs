//! The wake-path stress (`stress` bootargs: ring, naps, fan-in, fan-out, wakes from IRQ
//! handlers, remote BHs and `co_schedule`, with timers mixed in, under a watchdog; see
//! kernel/src/selftest/stress/) on the real kernel, and the mutants it must catch BY NAME:
//! the failure line names the check (`lost wakeup`, `too slow`, `busy loop`). Kernel mutants
//! live in kernel/src/runtime/notifier.rs, executor ones in executor/src/context.rs and
//! bh.rs; all are built with `--cfg aiolos_mutant="NAME"`.

use super::Case;
use crate::boot::verdict::Verdict;

/// A stress run: must pass, with its summary line.
const STRESS: Case = Case {
    bootargs: "stress",
    log_contains: &["stress: ok: "],
    ..Case::DEFAULT
};

/// A mutant under the stress: caught when the run fails naming the check (entries set
/// `exit_contains`). A hang does not count (see `suite::pool`).
const MUTANT: Case = Case {
    bootargs: "stress",
    options: "--gic 3 --smp 4",
    verdict: Verdict::Fail,
    timeout_s: Some(40),
    ..Case::DEFAULT
};

/// Not here, because the stress passes with them (see the README's table): the executor
/// mutants `notified_before_set`, `skip_set_if_notified`, `accept_load_store` (loom and the
/// host stress catch them), `no_accept` (spin and loom catch it: since `wait` consumes a
/// latch it finds set, a missing accept costs one early return per kick, no busy loop), and
/// `sgi_no_clear` (the IRQ handler acknowledges the SGI anyway).
pub const CASES: &[Case] = &[
    Case {
        name: "stress-gic3-smp4",
        options: "--gic 3 --smp 4",
        cpus_online: Some((4, 4)),
        ..STRESS
    },
    Case {
        name: "stress-gic2-el2-smp8",
        options: "--gic 2 --el 2 --smp 8",
        cpus_online: Some((8, 8)),
        ..STRESS
    },
    Case {
        name: "stress-gic3-smp2",
        options: "--gic 3 --smp 2",
        cpus_online: Some((2, 2)),
        ..STRESS
    },
    Case {
        name: "mutant-sgi-skip",
        mutant: Some("sgi_skip"),
        exit_contains: &["lost wakeup"],
        ..MUTANT
    },
    Case {
        name: "mutant-timer-arm-unmasked",
        // Many naps: each is one chance for a timer IRQ to land between the arm and the
        // mask (about one nap in a few hundred under TCG, fewer on a fast host; the
        // default 500 per worker once let a CI run through). 50,000 take ~1.5 s if none hits.
        bootargs: "stress stress_naps=50000",
        options: "--gic 2 --smp 4",
        mutant: Some("timer_arm_unmasked"),
        exit_contains: &["lost wakeup"],
        // The software state, then the core's own CNTV_CTL (the handler disarmed it).
        log_contains: &["=> lost timer", "=> virtual timer not armed"],
        ..MUTANT
    },
    Case {
        name: "mutant-sgi-wrong-core",
        mutant: Some("sgi_wrong_core"),
        exit_contains: &["lost wakeup"],
        // The owner's own GIC view: the wake SGI never became pending at its interface.
        log_contains: &["=> wake SGI not pending here"],
        ..MUTANT
    },
    Case {
        name: "mutant-no-latch",
        mutant: Some("no_latch"),
        exit_contains: &["busy loop"],
        ..MUTANT
    },
    Case {
        name: "mutant-wait-keeps-latch",
        mutant: Some("wait_keeps_latch"),
        exit_contains: &["busy loop"],
        ..MUTANT
    },
    Case {
        name: "mutant-bh-skip-notify",
        mutant: Some("bh_skip_notify"),
        exit_contains: &["lost wakeup"],
        ..MUTANT
    },
];
