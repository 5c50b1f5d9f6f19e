//! What `cargo xtask test` runs, one file per kind of case, each a table of short entries
//! built from defaults (`..Case::DEFAULT`, `..Step::DEFAULT`, ...):
//!
//! | file | kind |
//! | --- | --- |
//! | [`steps`] | host checks: fmt, clippy, unit tests, loom, spin |
//! | [`bench`] | `cargo xtask bench --quick` and its crate's lints (host steps) |
//! | [`dtb`] | `dtb-check` verdicts on QEMU dumps and real board DTBs |
//! | [`matrix`] | the QEMU boot matrix (GIC × EL × smp × cpu × bootargs) |
//! | [`bad_input`] | broken device trees and injected faults, each with its precise failure |
//! | [`stress`] | the wake-path stress and the kernel mutants it must catch |
//! | [`images`] | the arm64 Image: `-kernel Image`, other bases, the Raspberry Pi 4 |
//! | [`kvm`] | runs under real nested KVM (`cargo xtask kvm`) |
//! | [`soak`] | rebooting stress rounds in few processes (`cargo xtask soak`), TCG and KVM |
//! | [`firmware`] | through real U-Boot: `booti`, and distro boot of a `cargo xtask disk` image |
//! | [`uefi`] | the Image as an EFI application under edk2 (device tree and ACPI) |
//! | [`virtio`] | virtio-blk `blk-test` on a disk image (mmio; reboot persistence; mutant) |
//! | [`net`] | the `serve` service over virtio-net, checked with curl and a 64-connection load |
//!
//! Adding a boot, a bad-input case or a KVM check is one entry in one of these tables; the
//! suite (`crate::suite`) runs them all through the boot contract (`crate::boot`).

pub mod bad_input;
pub mod bench;
pub mod dtb;
pub mod firmware;
pub mod images;
pub mod kvm;
pub mod matrix;
pub mod net;
pub mod soak;
pub mod steps;
pub mod stress;
pub mod uefi;
pub mod virtio;

use std::path::PathBuf;
use std::time::Duration;

use crate::boot::qemu::BootConfig;
use crate::boot::verdict::{Expect, Verdict};
use crate::dtb::DtbFixture;
use crate::suite::pool::BootJob;
use crate::util;

/// The Pi 4's real device tree (never copied into the repository).
pub const RPI4_DTB: &str = "../shared/dtb/bcm2711-rpi-4-b.dtb";
pub const RPI3_DTB: &str = "../shared/dtb/bcm2837-rpi-3-b.dtb";

/// One QEMU boot of the suite and what it must produce. Entries set what differs from
/// [`Case::DEFAULT`] (or from a table's own default built on it).
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub name: &'static str,
    /// Boot options in `run` syntax (`--smp`, `--gic`, `--el`, `--board`, `--load-addr`,
    /// `--mem`, ...); defaults: gic 3, el 1, smp 4, cpu max.
    pub options: &'static str,
    /// Bootargs (`-append`). QEMU refuses -append without -kernel, so with `--load-addr` the
    /// boot becomes `-kernel` of an ELF holding the Image at that address and QEMU's DTB, with
    /// the bootargs added, at the start of RAM (see `suite::pool`).
    pub bootargs: &'static str,
    /// How the device tree is broken (see `dtb::DtbFixture`).
    pub fixture: DtbFixture,
    /// Boot the arm64 Image (written from the ELF by the suite) instead of the ELF.
    pub image: bool,
    /// `-dtb FILE`, relative to the workspace root; a missing file skips the boot (notice).
    pub dtb: Option<&'static str>,
    /// Lowest QEMU major version that has the machine; older skips the boot (notice).
    pub qemu_major: u32,
    /// Fail sooner than the suite's timeout (seconds).
    pub timeout_s: Option<u64>,
    /// Boot a kernel built with `--cfg aiolos_mutant="NAME"` (a negative control). A mutant
    /// case passes when the kernel fails *or hangs* (the boot timeout): either means the
    /// check caught the injected bug.
    pub mutant: Option<&'static str>,
    pub verdict: Verdict,
    /// `Some((n, m))`: require `cpus online: n/m`.
    pub cpus_online: Option<(u32, u32)>,
    /// Case-insensitive substrings of the last (`exit:`) line.
    pub exit_contains: &'static [&'static str],
    /// Case-insensitive substrings of the whole log.
    pub log_contains: &'static [&'static str],
}

impl Case {
    /// A normal ELF boot with QEMU's own DTB that must end `exit: ok`, nothing more required.
    pub const DEFAULT: Case = Case {
        name: "",
        options: "",
        bootargs: "",
        fixture: DtbFixture::None,
        image: false,
        dtb: None,
        qemu_major: 0,
        timeout_s: None,
        mutant: None,
        verdict: Verdict::Ok,
        cpus_online: None,
        exit_contains: &[],
        log_contains: &[],
    };

    /// The boot this entry describes (its options parsed, paths made absolute).
    pub fn job(&self) -> Result<BootJob, String> {
        let opts: Vec<String> = self.options.split_whitespace().map(String::from).collect();
        let mut cfg = BootConfig::parse(&opts).map_err(|e| format!("{}: {e}", self.name))?;
        cfg.image = self.image;
        if !self.bootargs.is_empty() {
            cfg.append.push(self.bootargs.into());
        }
        let mut requires = Requires {
            qemu_major: self.qemu_major,
            files: Vec::new(),
        };
        if let Some(d) = self.dtb {
            let path = util::workspace_root().join(d);
            requires.files.push(path.clone());
            cfg.dtb = Some(path);
        }
        Ok(BootJob {
            name: self.name.to_string(),
            cfg,
            fixture: self.fixture,
            expect: Expect {
                verdict: self.verdict,
                cpus_online: self.cpus_online,
                exit_contains: self.exit_contains.iter().map(|s| s.to_string()).collect(),
                log_contains: self.log_contains.iter().map(|s| s.to_string()).collect(),
            },
            mutant: self.mutant,
            requires,
            timeout: self.timeout_s.map(Duration::from_secs),
        })
    }
}

/// The jobs of a table of cases; the first entry that does not parse is the error.
pub fn jobs(cases: &[Case]) -> Result<Vec<BootJob>, String> {
    cases.iter().map(Case::job).collect()
}

/// Every QEMU boot of the suite, in report order, as (group, jobs): a group whose table does
/// not parse is reported as one failure named after the group.
pub fn boot_groups(quick: bool) -> Vec<(&'static str, Result<Vec<BootJob>, String>)> {
    vec![
        ("matrix", Ok(matrix::jobs(quick))),
        (
            "cases",
            jobs(bad_input::CASES).and_then(|mut j| {
                j.extend(jobs(stress::CASES)?);
                Ok(j)
            }),
        ),
        ("image-boots", images::jobs()),
        ("virtio", virtio::jobs()),
    ]
}

/// What a boot or check needs from the host beyond the default QEMU.
#[derive(Clone, Debug, Default)]
pub struct Requires {
    pub qemu_major: u32,
    /// Absolute paths.
    pub files: Vec<PathBuf>,
}

impl Requires {
    /// `Some(why)` when not met.
    pub fn unmet(&self, qemu: Option<(u32, u32)>) -> Option<String> {
        if self.qemu_major > 0 {
            match qemu {
                Some((major, _)) if major >= self.qemu_major => {}
                Some((major, minor)) => {
                    return Some(format!(
                        "needs QEMU >= {}, have {major}.{minor} (`cargo xtask setup --backports`)",
                        self.qemu_major
                    ))
                }
                None => return Some("cannot tell the QEMU version".into()),
            }
        }
        self.files
            .iter()
            .find(|f| !f.exists())
            .map(|f| format!("{} does not exist", f.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements() {
        assert_eq!(
            crate::boot::qemu::parse_version(
                "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)\n"
            ),
            Some((10, 0))
        );
        assert_eq!(
            crate::boot::qemu::parse_version("QEMU emulator version 7.2.22 (Debian)"),
            Some((7, 2))
        );
        assert_eq!(crate::boot::qemu::parse_version("nope"), None);
        let r = Requires {
            qemu_major: 9,
            files: vec![],
        };
        assert!(r.unmet(Some((10, 0))).is_none());
        assert!(r.unmet(Some((7, 2))).unwrap().contains(">= 9"));
        assert!(r.unmet(None).is_some());
        let f = Requires {
            qemu_major: 0,
            files: vec![PathBuf::from("/nonexistent/x.dtb")],
        };
        assert!(f.unmet(None).unwrap().contains("does not exist"));
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<String> = boot_groups(false)
            .into_iter()
            .flat_map(|(_, j)| j.unwrap())
            .map(|j| j.name)
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
