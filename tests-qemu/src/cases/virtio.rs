//! virtio-blk boots (issue 11): the demo's `blk-test` on a fresh zeroed disk image per case
//! (`target/virtio/CASE.img`, 8 MiB, made here), both transports (virtio-mmio
//! `virtio-blk-device`, virtio-pci `virtio-blk-pci` behind QEMU's PCIe host bridge),
//! GICv2/v3 × smp 1/4. One QEMU
//! run covers the reboot: the first boot writes, flushes and resets (PSCI SYSTEM_RESET,
//! `round: ok`), the second reads the data back from the same image and ends `exit: ok`.
//! Negative control: the `virtio_no_wake` mutant (the interrupt's wake dropped) must fail,
//! on each transport.

use super::Case;
use crate::boot::verdict::Verdict;
use crate::suite::pool::BootJob;
use crate::util;

const DISK_BYTES: u64 = 8 << 20;

/// The QEMU device of each transport.
const MMIO: &str = "virtio-blk-device";
const PCI: &str = "virtio-blk-pci";

/// (name, options, QEMU device, mutant)
const BOOTS: &[(&str, &str, &str, Option<&str>)] = &[
    ("virtio-blk-mmio-gic2-smp1", "--gic 2 --smp 1", MMIO, None),
    ("virtio-blk-mmio-gic2-smp4", "--gic 2 --smp 4", MMIO, None),
    ("virtio-blk-mmio-gic3-smp1", "--gic 3 --smp 1", MMIO, None),
    ("virtio-blk-mmio-gic3-smp4", "--gic 3 --smp 4", MMIO, None),
    ("virtio-blk-pci-gic2-smp1", "--gic 2 --smp 1", PCI, None),
    ("virtio-blk-pci-gic2-smp4", "--gic 2 --smp 4", PCI, None),
    ("virtio-blk-pci-gic3-smp1", "--gic 3 --smp 1", PCI, None),
    ("virtio-blk-pci-gic3-smp4", "--gic 3 --smp 4", PCI, None),
    (
        "mutant-virtio_no_wake-blk",
        "--gic 3 --smp 4",
        MMIO,
        Some("virtio_no_wake"),
    ),
    (
        "mutant-virtio_no_wake-blk-pci",
        "--gic 3 --smp 4",
        PCI,
        Some("virtio_no_wake"),
    ),
];

/// A zeroed disk image for `name` (replacing an old one).
fn disk(name: &str) -> Result<String, String> {
    let dir = util::target_dir().join("virtio");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.img"));
    let f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.set_len(DISK_BYTES)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// The virtio boots, their disk images made.
pub fn jobs() -> Result<Vec<BootJob>, String> {
    BOOTS
        .iter()
        .map(|(name, options, device, mutant)| {
            let img = disk(name)?;
            let mut job = Case {
                name,
                options,
                bootargs: "blk-test",
                mutant: *mutant,
                timeout_s: Some(40),
                // The mutant must fail naming the watchdog: a completion never noticed.
                verdict: if mutant.is_some() {
                    Verdict::Fail
                } else {
                    Verdict::Ok
                },
                exit_contains: if mutant.is_some() {
                    &["blk-test: timed out", "0 interrupt wakes"]
                } else {
                    &[]
                },
                // The banner names the transport the disk was found on.
                log_contains: match (mutant, *device) {
                    (Some(_), PCI) => &["virtio: Block on pci"],
                    (Some(_), _) => &["virtio: Block on mmio"],
                    (None, PCI) => &[
                        "virtio: Block on pci",
                        "written and read back equal",
                        "round: ok",
                        "after reset",
                    ],
                    (None, _) => &[
                        "virtio: Block on mmio",
                        "written and read back equal",
                        "round: ok",
                        "after reset",
                    ],
                },
                ..Case::DEFAULT
            }
            .job()?;
            job.cfg.qemu_extra.extend([
                "-drive".to_string(),
                format!("if=none,file={img},format=raw,id=d0"),
                "-device".to_string(),
                format!("{device},drive=d0"),
            ]);
            Ok(job)
        })
        .collect()
}
