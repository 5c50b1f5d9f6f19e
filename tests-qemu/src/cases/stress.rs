//! The wake-path stress (`stress` bootargs: a token ring across all cores, then short sleeps
//! alone on each core, under a watchdog) on the real kernel, and the kernel mutants it must
//! catch (`kernel/src/runtime/notifier.rs`; built with `--cfg aiolos_mutant="NAME"`).

use super::Case;
use crate::boot::verdict::Verdict;

/// A stress run: must pass, with its summary line.
const STRESS: Case = Case {
    bootargs: "stress",
    log_contains: &["stress: "],
    ..Case::DEFAULT
};

/// A mutant under the stress: caught when the run fails with `lost wakeup` (or hangs).
const MUTANT: Case = Case {
    bootargs: "stress",
    verdict: Verdict::Fail,
    exit_contains: &["lost wakeup"],
    ..Case::DEFAULT
};

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
        name: "mutant-sgi-skip",
        options: "--gic 3 --smp 4",
        mutant: Some("sgi_skip"),
        ..MUTANT
    },
    Case {
        name: "mutant-timer-arm-unmasked",
        options: "--gic 2 --smp 4",
        mutant: Some("timer_arm_unmasked"),
        ..MUTANT
    },
];
