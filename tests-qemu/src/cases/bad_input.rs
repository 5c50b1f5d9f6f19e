//! Bad-input boots: broken device trees and injected faults, each expecting a precise failure
//! (or, for `cpu-on-fails`, a degraded success). One entry per case.

use super::Case;
use crate::boot::verdict::Verdict;
use crate::dtb::DtbFixture;

/// A bad-input case: must end `exit: fail: ...` with a non-zero exit status.
const BAD: Case = Case {
    verdict: Verdict::Fail,
    ..Case::DEFAULT
};

pub const CASES: &[Case] = &[
    Case {
        name: "bad-dtb-none",
        fixture: DtbFixture::ZerosInRam,
        log_contains: &["no device tree"],
        ..BAD
    },
    Case {
        name: "bad-dtb-truncated",
        fixture: DtbFixture::TruncatedInRam,
        log_contains: &["truncated"],
        ..BAD
    },
    Case {
        name: "bad-dtb-corrupt",
        fixture: DtbFixture::CorruptInRam,
        log_contains: &["device tree"],
        ..BAD
    },
    Case {
        name: "bad-dtb-unknown-intc",
        fixture: DtbFixture::UnknownIntc,
        log_contains: &["interrupt controller"],
        ..BAD
    },
    Case {
        name: "bad-dtb-unknown-console",
        fixture: DtbFixture::UnknownConsole,
        log_contains: &["console"],
        ..BAD
    },
    Case {
        // Expected success: cpu@3's MPIDR is 0xff00, CPU_ON fails, the rest carry on.
        name: "cpu-on-fails",
        fixture: DtbFixture::BogusCpuReg,
        options: "--smp 4",
        verdict: Verdict::Ok,
        cpus_online: Some((3, 4)),
        log_contains: &["0xff00"],
        ..BAD
    },
    Case {
        name: "inject-panic-secondary",
        options: "--smp 4",
        bootargs: "inject=panic-secondary",
        exit_contains: &["panic"],
        log_contains: &["panicked"],
        ..BAD
    },
    Case {
        name: "inject-fault",
        bootargs: "inject=fault",
        log_contains: &["Data Abort", "FAR"],
        ..BAD
    },
    Case {
        // Taken inside an interrupt handler (the light IRQ path, FP/SIMD off there): the
        // same readable report, marked as nested.
        name: "inject-fault-in-irq",
        bootargs: "inject=fault-in-irq",
        exit_contains: &["Data Abort"],
        log_contains: &["FAR", "taken while handling another exception"],
        ..BAD
    },
    Case {
        // Unbounded recursion on the main stack runs into its guard page; the report must
        // say so (the handler runs on the separate exception stack).
        name: "inject-stack-overflow",
        options: "--smp 2",
        bootargs: "inject=stack-overflow",
        exit_contains: &["Data Abort"],
        log_contains: &["stack overflow into a guard page"],
        ..BAD
    },
    Case {
        name: "inject-pool-full",
        bootargs: "inject=pool-full",
        verdict: Verdict::Any,
        log_contains: &["pool full"],
        ..BAD
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_parse() {
        let c = super::super::jobs(CASES).unwrap();
        assert_eq!(c.len(), CASES.len());
        let p = c
            .iter()
            .find(|j| j.name == "inject-panic-secondary")
            .unwrap();
        assert_eq!(p.cfg.bootargs().as_deref(), Some("inject=panic-secondary"));
    }
}
