//! virtio-blk boots (issue 11): the demo's `blk-test` on a fresh zeroed disk image per case
//! (`target/virtio/CASE.img`, 8 MiB, made here), virtio-mmio, GICv2/v3 × smp 1/4. One QEMU
//! run covers the reboot: the first boot writes, flushes and resets (PSCI SYSTEM_RESET,
//! `round: ok`), the second reads the data back from the same image and ends `exit: ok`.
//! Negative control: the `virtio_no_wake` mutant (the interrupt's wake dropped) must fail.

use super::Case;
use crate::boot::verdict::Verdict;
use crate::suite::pool::BootJob;
use crate::util;

const DISK_BYTES: u64 = 8 << 20;

/// (name, options, mutant)
const BOOTS: &[(&str, &str, Option<&str>)] = &[
    ("virtio-blk-mmio-gic2-smp1", "--gic 2 --smp 1", None),
    ("virtio-blk-mmio-gic2-smp4", "--gic 2 --smp 4", None),
    ("virtio-blk-mmio-gic3-smp1", "--gic 3 --smp 1", None),
    ("virtio-blk-mmio-gic3-smp4", "--gic 3 --smp 4", None),
    (
        "mutant-virtio_no_wake-blk",
        "--gic 3 --smp 4",
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
        .map(|(name, options, mutant)| {
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
                log_contains: if mutant.is_some() {
                    &[]
                } else {
                    &["written and read back equal", "round: ok", "after reset"]
                },
                ..Case::DEFAULT
            }
            .job()?;
            job.cfg.qemu_extra.extend([
                "-drive".to_string(),
                format!("if=none,file={img},format=raw,id=d0"),
                "-device".to_string(),
                "virtio-blk-device,drive=d0".to_string(),
            ]);
            Ok(job)
        })
        .collect()
}
