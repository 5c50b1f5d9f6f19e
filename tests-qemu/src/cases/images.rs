//! Boots of the arm64 Image (`cargo xtask image`'s output, written from the ELF by the
//! suite): `-kernel Image` on `virt` over the matrix's GICs and ELs, then [`IMAGE_BOOTS`]:
//! relocation at other bases and the Raspberry Pi 4.

use super::matrix::{ok_job, MATRIX_BOOTARGS, MATRIX_EL, MATRIX_GIC};
use super::{Case, RPI4_DTB};
use crate::boot::qemu::BootConfig;
use crate::boot::verdict::Verdict;
use crate::suite::pool::BootJob;

/// `-kernel Image` on `virt`: this many cores, cpu `max`, each of `MATRIX_BOOTARGS`. QEMU
/// loads an Image at RAM base + 2 MiB + text_offset (its bootloader stub owns the start of
/// RAM) and passes x0 = DTB; the banner must say so.
pub const IMAGE_SMP: u32 = 4;
pub const IMAGE_VIRT_AT: &str = "image at 0x40200000";

/// An Image boot that must succeed on four cores.
const IMAGE: Case = Case {
    image: true,
    cpus_online: Some((4, 4)),
    ..Case::DEFAULT
};

pub const IMAGE_BOOTS: &[Case] = &[
    // No -kernel: QEMU's generic loader puts the Image at the address and starts cpu 0 there
    // with x0 = 0; QEMU's DTB is at the start of RAM ("firmware" boot), which the kernel finds
    // by probing the start of the 1 GiB-aligned region holding the image. The relocation has
    // to be right for anything to print: these prove it at other bases.
    Case {
        name: "image-loader-0x60000000-gic3-el1",
        options: "--load-addr 0x60000000 --mem 1G --gic 3 --el 1",
        log_contains: &["image at 0x60000000", "dtb at 0x40000000"],
        ..IMAGE
    },
    Case {
        name: "image-loader-0x60000000-gic2-el2",
        options: "--load-addr 0x60000000 --mem 1G --gic 2 --el 2",
        log_contains: &["image at 0x60000000", "dtb at 0x40000000"],
        ..IMAGE
    },
    // Not 1 GiB-aligned: the probe still finds RAM start 0x4000_0000.
    Case {
        name: "image-loader-0x48200000-gic3-el2",
        options: "--load-addr 0x48200000 --gic 3 --el 2",
        log_contains: &["image at 0x48200000", "dtb at 0x40000000"],
        ..IMAGE
    },
    Case {
        name: "image-loader-0x44000000-gic2-el1",
        options: "--load-addr 0x44000000 --gic 2 --el 1",
        log_contains: &["image at 0x44000000", "dtb at 0x40000000"],
        ..IMAGE
    },
    // The in-guest tests at other bases (the Image and a DTB with bootargs at RAM start,
    // loaded by QEMU's ELF loader; x0 = 0 again).
    Case {
        name: "image-reloc-0x60000000-gic3-el1-test",
        options: "--load-addr 0x60000000 --mem 1G --gic 3 --el 1",
        bootargs: "test",
        log_contains: &["image at 0x60000000", "dtb at 0x40000000", " ... ok"],
        ..IMAGE
    },
    Case {
        name: "image-reloc-0x48200000-gic2-el2-test",
        options: "--load-addr 0x48200000 --gic 2 --el 2",
        bootargs: "test",
        log_contains: &["image at 0x48200000", "dtb at 0x40000000", " ... ok"],
        ..IMAGE
    },
    // A base that is not 2 MiB-aligned (the Pi's legacy 0x80000 offset) is refused.
    Case {
        name: "image-loader-misaligned-0x40280000",
        options: "--load-addr 0x40280000",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &["0x40280000", "not 2 MiB-aligned"],
        ..IMAGE
    },
    // Raspberry Pi 4 (QEMU >= 9) with the board's real DTB: spin-table, GIC-400, the mini
    // UART named by stdout-path (QEMU's second serial port). QEMU patches memory@0 and puts
    // the Image at 0 + 2 MiB + text_offset. A good boot takes ~2.5 s under TCG.
    Case {
        name: "raspi4b-demo",
        options: "--board raspi4b",
        dtb: Some(RPI4_DTB),
        qemu_major: 9,
        log_contains: &[
            "image at 0x200000",
            "console: serial@7e215040 (brcm,bcm2835-aux-uart)",
            "arm,gic-400",
        ],
        timeout_s: Some(30),
        ..IMAGE
    },
    Case {
        name: "raspi4b-test",
        options: "--board raspi4b",
        bootargs: "test",
        dtb: Some(RPI4_DTB),
        qemu_major: 9,
        log_contains: &["image at 0x200000", "arm,gic-400"],
        timeout_s: Some(30),
        ..IMAGE
    },
];

/// `-kernel Image` over the matrix's GICs and ELs, then [`IMAGE_BOOTS`].
pub fn jobs() -> Result<Vec<BootJob>, String> {
    let mut jobs = Vec::new();
    for &gic in MATRIX_GIC {
        for &el in MATRIX_EL {
            for &(suffix, bootargs) in MATRIX_BOOTARGS {
                let cfg = BootConfig {
                    gic,
                    el,
                    smp: IMAGE_SMP,
                    image: true,
                    ..BootConfig::default()
                };
                let mut job = ok_job(format!("image-{}-{suffix}", cfg.name()), cfg, bootargs);
                job.expect.log_contains.push(IMAGE_VIRT_AT.into());
                jobs.push(job);
            }
        }
    }
    jobs.extend(super::jobs(IMAGE_BOOTS)?);
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_jobs_shape() {
        let j = jobs().unwrap();
        assert_eq!(
            j.len(),
            MATRIX_GIC.len() * MATRIX_EL.len() * MATRIX_BOOTARGS.len() + IMAGE_BOOTS.len()
        );
        assert!(j.iter().all(|j| j.cfg.image));
        let v = j
            .iter()
            .find(|j| j.name == "image-gic2-el2-smp4-max-test")
            .unwrap();
        assert_eq!(v.cfg.bootargs().as_deref(), Some("test"));
        assert!(v.expect.log_contains.contains(&IMAGE_VIRT_AT.to_string()));
        let pi = j.iter().find(|j| j.name == "raspi4b-test").unwrap();
        assert_eq!(pi.requires.qemu_major, 9);
        assert!(pi
            .cfg
            .dtb
            .as_ref()
            .unwrap()
            .ends_with("bcm2711-rpi-4-b.dtb"));
        let l = j
            .iter()
            .find(|j| j.name == "image-loader-0x60000000-gic3-el1")
            .unwrap();
        assert_eq!(l.cfg.load_addr, Some(0x6000_0000));
    }
}
