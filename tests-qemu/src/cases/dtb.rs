//! `dtb-check` verdicts: on QEMU `virt` dumps (GICv2/v3 × EL1/EL2) `bootable: yes`; on real
//! board files what they lack. In process: the same `dtb_check::check` the command prints.

use std::path::Path;

use super::{Requires, RPI3_DTB, RPI4_DTB};
use crate::boot::qemu::BootConfig;
use crate::{dtb, util};

/// Where a checked device tree comes from.
#[derive(Clone, Copy, Debug)]
pub enum DtbSource {
    /// QEMU's `dumpdtb` for these boot options (`run` syntax; `--dtb` is passed along, which
    /// is how raspi4b gets its DTB patched).
    Dump(&'static str),
    /// A file, relative to the workspace root.
    File(&'static str),
}

/// `cargo xtask dtb-check` on a device tree: must it say `bootable: yes`, and what else.
pub struct DtbCheck {
    pub name: &'static str,
    pub source: DtbSource,
    /// Files (relative to the workspace root) the check needs; missing → skipped (notice).
    pub needs: &'static [&'static str],
    pub qemu_major: u32,
    pub bootable: bool,
    /// Case-insensitive substrings of the `bootable:` line.
    pub verdict_contains: &'static [&'static str],
}

impl DtbCheck {
    /// A QEMU dump that must be bootable.
    pub const DEFAULT: DtbCheck = DtbCheck {
        name: "",
        source: DtbSource::Dump(""),
        needs: &[],
        qemu_major: 0,
        bootable: true,
        verdict_contains: &[],
    };

    /// What the host must have for this check.
    pub fn requires(&self, root: &Path) -> Requires {
        Requires {
            qemu_major: self.qemu_major,
            files: self.needs.iter().map(|f| root.join(f)).collect(),
        }
    }
}

pub const DTB_CHECKS: &[DtbCheck] = &[
    DtbCheck {
        name: "dtb-check-virt-gic2-el1",
        source: DtbSource::Dump("--gic 2 --el 1"),
        ..DtbCheck::DEFAULT
    },
    DtbCheck {
        name: "dtb-check-virt-gic2-el2",
        source: DtbSource::Dump("--gic 2 --el 2"),
        ..DtbCheck::DEFAULT
    },
    DtbCheck {
        name: "dtb-check-virt-gic3-el1",
        source: DtbSource::Dump("--gic 3 --el 1"),
        ..DtbCheck::DEFAULT
    },
    DtbCheck {
        name: "dtb-check-virt-gic3-el2",
        source: DtbSource::Dump("--gic 3 --el 2"),
        ..DtbCheck::DEFAULT
    },
    // The Pi 3 has the BCM2836 local interrupt controller, no GIC: unsupported, say why.
    DtbCheck {
        name: "dtb-check-rpi3",
        source: DtbSource::File(RPI3_DTB),
        needs: &[RPI3_DTB],
        bootable: false,
        verdict_contains: &["no GIC", "bcm2836-armctrl-ic"],
        ..DtbCheck::DEFAULT
    },
    // The Pi 4's file has memory@0 of size 0: the firmware fills it in, so a yes with that
    // condition ...
    DtbCheck {
        name: "dtb-check-rpi4-file",
        source: DtbSource::File(RPI4_DTB),
        needs: &[RPI4_DTB],
        verdict_contains: &["yes, if the bootloader fills in /memory", "size 0"],
        ..DtbCheck::DEFAULT
    },
    // ... and QEMU's raspi4b patches it.
    DtbCheck {
        name: "dtb-check-rpi4-qemu",
        source: DtbSource::Dump("--board raspi4b --dtb ../shared/dtb/bcm2711-rpi-4-b.dtb"),
        needs: &[RPI4_DTB],
        qemu_major: 9,
        ..DtbCheck::DEFAULT
    },
    // Juno r0: GIC-400, PL011, six PSCI cores in two clusters.
    DtbCheck {
        name: "dtb-check-juno",
        source: DtbSource::File(JUNO_DTB),
        needs: &[JUNO_DTB],
        verdict_contains: &["bootable: yes"],
        ..DtbCheck::DEFAULT
    },
    // i.MX8M Plus EVK: GICv3 and PSCI are fine; the console (fsl,imx8mp-uart) has no driver.
    DtbCheck {
        name: "dtb-check-imx8mp-evk",
        source: DtbSource::File(IMX8MP_DTB),
        needs: &[IMX8MP_DTB],
        bootable: false,
        verdict_contains: &["console", "fsl,imx8mp-uart"],
        ..DtbCheck::DEFAULT
    },
    // FVP Base RevC: no stdout-path, so its first PL011; GICv3, eight PSCI cores.
    DtbCheck {
        name: "dtb-check-fvp",
        source: DtbSource::File(FVP_DTB),
        needs: &[FVP_DTB],
        verdict_contains: &["bootable: yes"],
        ..DtbCheck::DEFAULT
    },
];

/// Juno r0's DTB (Debian's arm64 kernel package), relative to the workspace root.
const JUNO_DTB: &str = "../shared/dtb/juno.dtb";
/// The i.MX8M Plus EVK's DTB.
const IMX8MP_DTB: &str = "../shared/dtb/imx8mp-evk.dtb";
/// Arm's FVP Base RevC model's DTB.
const FVP_DTB: &str = "../shared/dtb/fvp-base-revc.dtb";

/// Runs one DTB check: dump or read the blob, then `dtb-check`'s verdict. `Ok` = the
/// `bootable:` line, `Err` = what is wrong with it.
pub fn run(c: &DtbCheck, root: &Path) -> Result<String, String> {
    let blob = match c.source {
        DtbSource::File(f) => {
            std::fs::read(root.join(f)).map_err(|e| format!("{}: {e}", root.join(f).display()))?
        }
        DtbSource::Dump(opts) => {
            let opts: Vec<String> = opts.split_whitespace().map(String::from).collect();
            let mut cfg = BootConfig::parse(&opts)?;
            if let Some(d) = &cfg.dtb {
                cfg.dtb = Some(root.join(d));
            }
            let dir = util::scratch_dir().join(c.name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            dtb::dump_dtb(&cfg, &dir.join("qemu.dtb"))?
        }
    };
    let (text, ok) = crate::dtb_check::check(&blob);
    let verdict = crate::dtb_check::verdict_line(&text).to_string();
    let mut problems = Vec::new();
    if ok != c.bootable {
        problems.push(format!(
            "expected `bootable: {}`",
            if c.bootable { "yes" } else { "no" }
        ));
    }
    for s in c.verdict_contains {
        if !verdict.to_lowercase().contains(&s.to_lowercase()) {
            problems.push(format!("verdict does not mention `{s}`"));
        }
    }
    if problems.is_empty() {
        Ok(verdict)
    } else {
        Err(format!("{}: `{verdict}`", problems.join("; ")))
    }
}
