//! The QEMU boot matrix: every combination of these is booted (full mode), once per entry of
//! [`MATRIX_BOOTARGS`]; each boot must end `exit: ok` with every core online and no
//! `test ... FAILED` line.

use super::{Case, Requires};
use crate::boot::qemu::BootConfig;
use crate::boot::verdict::Expect;
use crate::dtb::DtbFixture;
use crate::suite::pool::BootJob;

pub const MATRIX_GIC: &[u32] = &[2, 3];
pub const MATRIX_EL: &[u32] = &[1, 2];
pub const MATRIX_SMP: &[u32] = &[1, 2, 4, 8];
pub const MATRIX_CPU: &[&str] = &["cortex-a53", "cortex-a72", "max"];
/// `--quick` keeps both GICs and ELs but only these.
pub const QUICK_SMP: &[u32] = &[1, 4];
pub const QUICK_CPU: &[&str] = &["max"];

/// Each matrix point is booted once per entry: (name suffix, bootargs).
pub const MATRIX_BOOTARGS: &[(&str, &str)] = &[("demo", ""), ("test", "test")];

/// A plain boot of `cfg` (bootargs added) that must succeed on all its cores.
pub fn ok_job(name: String, mut cfg: BootConfig, bootargs: &str) -> BootJob {
    if !bootargs.is_empty() {
        cfg.append.push(bootargs.into());
    }
    let smp = cfg.smp;
    BootJob {
        name,
        cfg,
        fixture: DtbFixture::None,
        expect: Expect::ok(smp),
        mutant: None,
        requires: Requires::default(),
        timeout: None,
    }
}

/// Boots beside the matrix (in `--quick` too): more cores than the matrix has, and QEMU's
/// own uncompacted `dumpdtb` file passed back with `--dtb`.
pub const EXTRA: &[Case] = &[
    // QEMU grows a 1 MiB -dtb to 2 MiB + 20000 bytes and, for an ELF, puts it below the
    // image only if it fits (else silently none: "no device tree: x0 was 0").
    Case {
        name: "dtb-raw-dump-gic3",
        options: "--gic 3",
        fixture: DtbFixture::RawDump,
        cpus_online: Some((4, 4)),
        log_contains: &["dtb at 0x40000000 (2117152 bytes)"],
        ..Case::DEFAULT
    },
    Case {
        name: "dtb-raw-dump-gic2-test",
        options: "--gic 2 --el 2",
        bootargs: "test",
        fixture: DtbFixture::RawDump,
        cpus_online: Some((4, 4)),
        ..Case::DEFAULT
    },
    // No fixed core cap: every CPU QEMU lists comes up (GICv3; its default redistributor
    // region holds 123), under TCG. Slow on a small host: a longer timeout.
    Case {
        name: "gic3-el1-smp32-max-demo",
        options: "--gic 3 --smp 32",
        cpus_online: Some((32, 32)),
        timeout_s: Some(180),
        ..Case::DEFAULT
    },
    Case {
        name: "gic3-el1-smp32-max-test",
        options: "--gic 3 --smp 32",
        bootargs: "test",
        cpus_online: Some((32, 32)),
        timeout_s: Some(180),
        ..Case::DEFAULT
    },
    Case {
        name: "gic3-el2-smp64-max-demo",
        options: "--gic 3 --el 2 --smp 64 --mem 1G",
        cpus_online: Some((64, 64)),
        timeout_s: Some(300),
        ..Case::DEFAULT
    },
    Case {
        name: "gic3-el1-smp64-max-test",
        options: "--gic 3 --smp 64 --mem 1G",
        bootargs: "test",
        cpus_online: Some((64, 64)),
        timeout_s: Some(300),
        ..Case::DEFAULT
    },
];

pub fn jobs(quick: bool) -> Vec<BootJob> {
    let (smps, cpus) = if quick {
        (QUICK_SMP, QUICK_CPU)
    } else {
        (MATRIX_SMP, MATRIX_CPU)
    };
    let mut jobs = Vec::new();
    for &gic in MATRIX_GIC {
        for &el in MATRIX_EL {
            for &smp in smps {
                for &cpu in cpus {
                    for &(suffix, bootargs) in MATRIX_BOOTARGS {
                        let cfg = BootConfig {
                            gic,
                            el,
                            smp,
                            cpu: cpu.into(),
                            cpu_explicit: true,
                            ..BootConfig::default()
                        };
                        jobs.push(ok_job(format!("{}-{suffix}", cfg.name()), cfg, bootargs));
                    }
                }
            }
        }
    }
    jobs.extend(
        EXTRA
            .iter()
            .map(|c| c.job().expect("the EXTRA table parses")),
    );
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_sizes() {
        assert_eq!(jobs(false).len(), 48 * MATRIX_BOOTARGS.len() + EXTRA.len());
        assert_eq!(jobs(true).len(), 8 * MATRIX_BOOTARGS.len() + EXTRA.len());
        let names: Vec<String> = jobs(false).into_iter().map(|j| j.name).collect();
        assert!(names.contains(&"gic2-el2-smp8-cortex-a53-test".to_string()));
    }
}
