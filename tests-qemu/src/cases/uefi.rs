//! The Image as an EFI application under edk2 on QEMU `virt` (`crate::firmware::uefi`):
//! loaded from a FAT disk with no user input, with a device tree (`acpi=off`) over GICv2/v3,
//! EL1/EL2, smp 1 and 4, the demo (`EFI/BOOT/BOOTAA64.EFI`, empty load options) and `test`
//! (through `startup.nsh`: the load options are the bootargs), and a negative control whose
//! load options inject a panic: the one verdict parser must see it fail; and ACPI only (no
//! device tree: QEMU's default under edk2) over GICv2/v3, EL1/EL2, smp 1 and 4, demo and
//! `test`, where the platform comes from the MADT, SPCR, FADT and GTDT.
//!
//! Each entry is a [`Case`] (its options, bootargs and expectations; `image` and `dtb` are
//! not used: the firmware loads the Image and hands over its own tables) plus what the
//! firmware describes.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::Case;
use crate::boot::build::{KernelBuild, Output};
use crate::boot::verdict::Verdict;
use crate::firmware::uefi::{self, Describe};
use crate::suite::options::Options;
use crate::suite::report::Tally;
use crate::{image, util};

/// One UEFI boot.
#[derive(Clone, Copy, Debug)]
pub struct UefiCase {
    pub describe: Describe,
    pub case: Case,
}

/// Every UEFI boot proves it came through the EFI entry (the banner's `efi:` line).
const EFI_BANNER: &str = "efi: started at EL";
/// A DT boot that must succeed; edk2 under TCG takes ~5 s to reach the kernel, plus the
/// shell's 5 s `startup.nsh` countdown for bootargs.
const DT: Case = Case {
    timeout_s: Some(60),
    log_contains: &[EFI_BANNER, "ACPI RSDP 0x0", "load options \"\""],
    ..Case::DEFAULT
};
/// The console the SPCR names on QEMU virt, as the device tree made from it calls it.
const ACPI_CONSOLE: &str = "console: uart@9000000 (arm,pl011)";
const DT_TEST: Case = Case {
    bootargs: "test",
    log_contains: &[EFI_BANNER, "load options \"test\"", " ... ok"],
    ..DT
};

pub const UEFI_CASES: &[UefiCase] = &[
    UefiCase {
        describe: Describe::DeviceTree,
        case: Case {
            name: "uefi-dt-gic3-el1-smp4",
            options: "--gic 3 --el 1 --smp 4",
            cpus_online: Some((4, 4)),
            ..DT
        },
    },
    UefiCase {
        describe: Describe::DeviceTree,
        case: Case {
            name: "uefi-dt-gic2-el2-smp1",
            options: "--gic 2 --el 2 --smp 1",
            cpus_online: Some((1, 1)),
            ..DT
        },
    },
    UefiCase {
        describe: Describe::DeviceTree,
        case: Case {
            name: "uefi-dt-gic2-el1-smp4-test",
            options: "--gic 2 --el 1 --smp 4",
            cpus_online: Some((4, 4)),
            ..DT_TEST
        },
    },
    UefiCase {
        describe: Describe::DeviceTree,
        case: Case {
            name: "uefi-dt-gic3-el2-smp1-test",
            options: "--gic 3 --el 2 --smp 1",
            cpus_online: Some((1, 1)),
            ..DT_TEST
        },
    },
    // Negative control: the load options reach the kernel and its failure reaches the verdict.
    UefiCase {
        describe: Describe::DeviceTree,
        case: Case {
            name: "uefi-dt-inject-panic-secondary",
            options: "--gic 3 --el 1 --smp 4",
            bootargs: "inject=panic-secondary",
            verdict: Verdict::Fail,
            exit_contains: &["panic"],
            log_contains: &[EFI_BANNER, "load options \"inject=panic-secondary\""],
            ..DT
        },
    },
    // ACPI only (QEMU virt's default under edk2): the EFI entry turns MADT, SPCR, FADT and
    // GTDT into a device tree; the banner's model, console, GIC and PSCI conduit must be the
    // tables' (the conduit differs by EL: HVC at EL1, SMC at EL2).
    UefiCase {
        describe: Describe::Acpi,
        case: Case {
            name: "uefi-acpi-gic3-el1-smp4",
            options: "--gic 3 --el 1 --smp 4",
            cpus_online: Some((4, 4)),
            log_contains: &[
                EFI_BANNER,
                "— ACPI: ",
                ACPI_CONSOLE,
                "gic: v3",
                "psci: V1_0 via Hvc",
            ],
            ..DT
        },
    },
    UefiCase {
        describe: Describe::Acpi,
        case: Case {
            name: "uefi-acpi-gic2-el2-smp4-test",
            options: "--gic 2 --el 2 --smp 4",
            cpus_online: Some((4, 4)),
            bootargs: "test",
            log_contains: &[
                EFI_BANNER,
                "— ACPI: ",
                ACPI_CONSOLE,
                "gic: v2",
                "psci: V1_0 via Smc",
                "load options \"test\"",
                " ... ok",
            ],
            ..DT
        },
    },
    UefiCase {
        describe: Describe::Acpi,
        case: Case {
            name: "uefi-acpi-gic2-el1-smp1",
            options: "--gic 2 --el 1 --smp 1",
            cpus_online: Some((1, 1)),
            log_contains: &[EFI_BANNER, "— ACPI: ", ACPI_CONSOLE, "gic: v2"],
            ..DT
        },
    },
    UefiCase {
        describe: Describe::Acpi,
        case: Case {
            name: "uefi-acpi-gic3-el2-smp1-test",
            options: "--gic 3 --el 2 --smp 1",
            cpus_online: Some((1, 1)),
            bootargs: "test",
            log_contains: &[
                EFI_BANNER,
                "— ACPI: ",
                "gic: v3",
                "psci: V1_0 via Smc",
                " ... ok",
            ],
            ..DT
        },
    },
];

/// The selected names, in run order.
pub fn names() -> impl Iterator<Item = &'static str> {
    UEFI_CASES.iter().map(|u| u.case.name)
}

/// Runs the selected UEFI boots on `o.jobs` threads; prints one line each and records it.
pub fn run(o: &Options, tally: &mut Tally) {
    let cases: Vec<&UefiCase> = UEFI_CASES
        .iter()
        .filter(|u| o.selected(u.case.name))
        .collect();
    if cases.is_empty() {
        return;
    }
    if let Some(why) = uefi::unmet() {
        for u in &cases {
            println!("    {} ... skipped: {why}", u.case.name);
            tally.skipped += 1;
        }
        return;
    }
    let img = match uefi_image(o) {
        Ok(p) => p,
        Err(e) => {
            println!("    uefi-image ... FAILED: {e}");
            tally.record("uefi-image", false);
            return;
        }
    };
    let queue = Mutex::new(cases.into_iter().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..o.jobs.max(1) {
            s.spawn(|| loop {
                let Some(u) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let r = boot_one(u, &img, o.timeout);
                match &r {
                    Ok(secs) => println!("    {} ... ok ({secs:.1}s)", u.case.name),
                    Err(e) => println!("    {} ... FAILED: {}", u.case.name, e.trim_end()),
                }
                results.lock().unwrap().push((u.case.name, r.is_ok()));
            });
        }
    });
    for (name, ok) in results.into_inner().unwrap() {
        tally.record(name, ok);
    }
}

fn boot_one(u: &UefiCase, img: &std::path::Path, suite_timeout: Duration) -> Result<f64, String> {
    let job = u.case.job()?;
    let timeout = job.timeout.unwrap_or(suite_timeout).max(suite_timeout);
    let dir = util::scratch_dir().join(u.case.name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    uefi::boot(&job.cfg, u.describe, img, &job.expect, &dir, timeout)
}

/// The Image of the kernel under test (`--kernel`, else the release kernel, built if needed),
/// written and header-checked (arm64 and PE/COFF) as `cargo xtask image` does.
fn uefi_image(o: &Options) -> Result<PathBuf, String> {
    let elf = match &o.kernel {
        Some(k) => k.clone(),
        None => {
            KernelBuild::release()
                .build(Output::Captured, |c| println!("==> uefi build-kernel: {c}"))?
                .0
        }
    };
    let dir = util::scratch_dir().join("uefi");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = dir.join("Image");
    image::write_image(&elf, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_is_unique() {
        let mut names: Vec<&str> = names().collect();
        for u in UEFI_CASES {
            let j = u.case.job().unwrap();
            assert!(!j.cfg.image && j.cfg.dtb.is_none(), "{}", u.case.name);
        }
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(UEFI_CASES
            .iter()
            .any(|u| matches!(u.case.verdict, Verdict::Fail)));
    }
}
