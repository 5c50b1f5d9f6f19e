//! Boots through real U-Boot on QEMU `virt` (`crate::firmware::uboot`): `booti` typed at its
//! prompt, and its standard distro boot of a `cargo xtask disk` image with no key pressed.
//!
//! The booti entries cover GICv2/v3 × EL1/EL2 × an Image loaded at a 2 MiB-aligned and at an
//! unaligned address (U-Boot moves it; the banner's `image at` must show where to), with the
//! demo or `test` bootargs so that every pair of these occurs. Each success is read with the
//! one verdict parser (`cpus online: N/N`, no failed test, last line `exit: ok`, QEMU status
//! 0). The negative controls must not boot: `booti` of an address holding no Image, and a
//! disk whose extlinux.conf names a kernel file that is not there.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::boot::qemu::BootConfig;
use crate::boot::verdict::{self, Expect};
use crate::firmware::disk;
use crate::firmware::uboot::{self, End, Run, Timeouts};
use crate::setup::U_BOOT;
use crate::{image, sdcard, util};

/// How the kernel reaches U-Boot.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    /// QEMU's loader puts the Image raw at this address; `booti` it from the prompt.
    Booti(u64),
    /// Nothing loaded; `booti` this address anyway (negative control).
    BootiNothing(u64),
    /// A `cargo xtask disk` image as a virtio disk, no key pressed. `kernel`: the file its
    /// extlinux.conf names (the Image is always stored as `Image`); `fdt`: put QEMU's DTB,
    /// its `/model` set to [`FDT_MODEL`], on the disk and name it (U-Boot then needs
    /// `fdt_addr_r`, [`FDT_ENV`]: its autoboot is stopped to set it, then `boot` typed).
    Disk { kernel: &'static str, fdt: bool },
}

/// One U-Boot boot of the suite.
#[derive(Clone, Copy, Debug)]
pub struct FwCase {
    pub name: &'static str,
    /// Boot options in `run` syntax (`--gic`, `--el`, `--smp`, `--mem`); defaults as `run`.
    pub options: &'static str,
    pub load: Load,
    /// `setenv bootargs` for booti, `append` in extlinux.conf for the disk.
    pub bootargs: &'static str,
    /// A negative control: the kernel must not reach `exit: ok`, and U-Boot's transcript
    /// must contain this (why U-Boot gave up).
    pub fails_with: Option<&'static str>,
    /// Shorter than the suite's timeout, from `booti` (or U-Boot's autoboot) to the end.
    pub timeout_s: Option<u64>,
}

impl FwCase {
    pub const DEFAULT: FwCase = FwCase {
        name: "",
        options: "",
        load: Load::Booti(ALIGNED),
        bootargs: "",
        fails_with: None,
        timeout_s: None,
    };
}

/// 2 MiB-aligned: booti runs the Image where it is.
const ALIGNED: u64 = 0x4040_0000;
const ALIGNED_HIGH: u64 = 0x4800_0000;
/// Not 2 MiB-aligned: booti moves the Image up to 0x40600000 / 0x48200000.
const UNALIGNED: u64 = 0x4048_0000;
const UNALIGNED_HIGH: u64 = 0x4810_0000;
/// The `/model` of the DTB the `fdt` disk carries; the kernel's banner prints it.
pub const FDT_MODEL: &str = "aiolos extlinux fdt";
/// Where U-Boot loads extlinux.conf's `fdt` (above the Image at `kernel_addr_r` 0x40400000
/// and the initrd slot at 0x44000000; QEMU's uncompacted dump is 1 MiB).
const FDT_ENV: &[(&str, &str)] = &[("fdt_addr_r", "0x46000000")];

const BOOTI: FwCase = FwCase::DEFAULT;

pub const CASES: &[FwCase] = &[
    FwCase {
        name: "uboot-booti-gic3-el1-aligned-demo",
        options: "--gic 3 --el 1",
        load: Load::Booti(ALIGNED),
        ..BOOTI
    },
    FwCase {
        name: "uboot-booti-gic3-el1-unaligned-test",
        options: "--gic 3 --el 1",
        load: Load::Booti(UNALIGNED),
        bootargs: "test",
        ..BOOTI
    },
    FwCase {
        name: "uboot-booti-gic3-el2-aligned-test",
        options: "--gic 3 --el 2",
        load: Load::Booti(ALIGNED_HIGH),
        bootargs: "test",
        ..BOOTI
    },
    FwCase {
        name: "uboot-booti-gic3-el2-unaligned-demo",
        options: "--gic 3 --el 2",
        load: Load::Booti(UNALIGNED_HIGH),
        ..BOOTI
    },
    FwCase {
        name: "uboot-booti-gic2-el1-aligned-test",
        options: "--gic 2 --el 1 --smp 2",
        load: Load::Booti(ALIGNED),
        bootargs: "test",
        ..BOOTI
    },
    FwCase {
        name: "uboot-booti-gic2-el1-unaligned-demo",
        options: "--gic 2 --el 1 --smp 2",
        load: Load::Booti(UNALIGNED),
        ..BOOTI
    },
    FwCase {
        name: "uboot-booti-gic2-el2-aligned-demo",
        options: "--gic 2 --el 2",
        load: Load::Booti(ALIGNED_HIGH),
        ..BOOTI
    },
    FwCase {
        name: "uboot-booti-gic2-el2-unaligned-test",
        options: "--gic 2 --el 2",
        load: Load::Booti(UNALIGNED),
        bootargs: "test",
        ..BOOTI
    },
    // Negative control: booti of memory without an Image returns to the prompt.
    FwCase {
        name: "uboot-booti-no-image",
        load: Load::BootiNothing(ALIGNED),
        bootargs: "test",
        fails_with: Some("Bad Linux ARM64 Image magic"),
        timeout_s: Some(30),
        ..BOOTI
    },
    FwCase {
        name: "uboot-disk-gic3-el1-test",
        options: "--gic 3 --el 1",
        load: Load::Disk {
            kernel: disk::KERNEL_FILE,
            fdt: false,
        },
        bootargs: "test",
        ..BOOTI
    },
    FwCase {
        name: "uboot-disk-fdt-gic2-el2-demo",
        options: "--gic 2 --el 2 --smp 2",
        load: Load::Disk {
            kernel: disk::KERNEL_FILE,
            fdt: true,
        },
        ..BOOTI
    },
    // Negative control: extlinux.conf names a missing kernel; distro boot skips the label,
    // tries the other devices (no network: -nic none) and ends at its prompt.
    FwCase {
        name: "uboot-disk-missing-kernel",
        load: Load::Disk {
            kernel: "Image-missing",
            fdt: false,
        },
        bootargs: "test",
        fails_with: Some("Skipping aiolos for failure retrieving kernel"),
        timeout_s: Some(30),
        ..BOOTI
    },
];

/// Every entry's name (`cargo xtask test --list`).
pub fn names() -> Vec<&'static str> {
    CASES.iter().map(|c| c.name).collect()
}

pub enum Outcome {
    Pass(String),
    Skipped(String),
    Fail(String),
}

fn scratch() -> PathBuf {
    util::scratch_dir().join("uboot")
}

/// Runs the selected entries on `jobs` threads (printing `    NAME ... ok|FAILED|skipped`)
/// and returns their outcomes. `kernel`: the suite's `--kernel ELF`, else the release
/// kernel (built if needed: a no-op after the suite's build-kernel). `timeout`: the suite's
/// per-boot timeout.
pub fn run(
    kernel: Option<&Path>,
    selected: impl Fn(&str) -> bool,
    jobs: usize,
    timeout: Duration,
) -> Vec<(&'static str, Outcome)> {
    let cases: Vec<FwCase> = CASES.iter().copied().filter(|c| selected(c.name)).collect();
    if cases.is_empty() {
        return Vec::new();
    }
    let report = |name: &'static str, o: Outcome| {
        match &o {
            Outcome::Pass(d) => println!("    {name} ... ok ({d})"),
            Outcome::Skipped(why) => println!("    {name} ... skipped: {why}"),
            Outcome::Fail(e) => println!("    {name} ... FAILED: {}", e.trim_end()),
        }
        (name, o)
    };
    if !Path::new(U_BOOT.bin).is_file() {
        let why = format!(
            "{} does not exist (Debian's {}: `cargo xtask setup`)",
            U_BOOT.bin, U_BOOT.package
        );
        return cases
            .iter()
            .map(|c| report(c.name, Outcome::Skipped(why.clone())))
            .collect();
    }
    let image = match the_image(kernel) {
        Ok(p) => p,
        Err(e) => {
            return cases
                .iter()
                .map(|c| report(c.name, Outcome::Fail(format!("the Image: {e}"))))
                .collect()
        }
    };
    let total = cases.len();
    let queue = Arc::new(Mutex::new(VecDeque::from(cases)));
    let (tx, rx) = mpsc::channel();
    let mut workers = Vec::new();
    for _ in 0..jobs.clamp(1, total) {
        let (queue, tx, image) = (queue.clone(), tx.clone(), image.clone());
        workers.push(thread::spawn(move || loop {
            let case = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            let Some(case) = case else { break };
            let t = case
                .timeout_s
                .map_or(timeout, |s| Duration::from_secs(s).min(timeout));
            let o = match run_case(&case, &image, t) {
                Ok(d) => Outcome::Pass(d),
                Err(e) => Outcome::Fail(e),
            };
            let _ = tx.send((case.name, o));
        }));
    }
    drop(tx);
    let out: Vec<_> = rx.into_iter().map(|(n, o)| report(n, o)).collect();
    for w in workers {
        let _ = w.join();
    }
    out
}

/// The suite's kernel as an Image file in the scratch directory.
fn the_image(kernel: Option<&Path>) -> Result<PathBuf, String> {
    let elf = match kernel {
        Some(k) => k.to_path_buf(),
        None => image::build_release_kernel()?,
    };
    std::fs::create_dir_all(scratch()).map_err(|e| format!("{}: {e}", scratch().display()))?;
    let out = scratch().join("Image");
    image::write_image(&elf, &out)?;
    Ok(out)
}

/// What a good boot of `case` must show.
fn expect(case: &FwCase, cfg: &BootConfig) -> Expect {
    let mut e = Expect::ok(cfg.smp);
    e.log_contains.push(match cfg.el {
        2 => "entered at EL2".into(),
        _ => "entered at EL1,".into(),
    });
    if case.bootargs.split_whitespace().any(|w| w == "test") {
        // The bootargs reached the kernel: its tests ran.
        e.log_contains.push(" ... ok".into());
        e.log_contains.push("tests: ".into());
    }
    if let Load::Disk { fdt: true, .. } = case.load {
        // The banner names the DTB's /model: the disk's DTB, not U-Boot's own.
        e.log_contains.push(format!("aiolos 0.1.0 — {FDT_MODEL}"));
        e.log_contains.push("Retrieving file: /virt.dtb".into());
    }
    if let Load::Disk { .. } = case.load {
        // Found by distro boot, not typed.
        e.log_contains
            .push(format!("Retrieving file: /{}", disk::EXTLINUX_FILE));
    }
    e
}

fn run_case(case: &FwCase, image: &Path, kernel_timeout: Duration) -> Result<String, String> {
    let opts: Vec<String> = case.options.split_whitespace().map(String::from).collect();
    let cfg = BootConfig::parse(&opts)?;
    let dir = scratch().join(case.name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let t = Timeouts {
        firmware: Duration::from_secs(60),
        kernel: kernel_timeout,
    };
    let run = match case.load {
        Load::Booti(addr) => uboot::booti(&cfg, Some(image), addr, case.bootargs, t)?,
        Load::BootiNothing(addr) => uboot::booti(&cfg, None, addr, case.bootargs, t)?,
        Load::Disk { kernel, fdt } => {
            let img = make_disk(&cfg, image, case.bootargs, kernel, fdt, &dir)?;
            // U-Boot reads extlinux.conf's `fdt` into `fdt_addr_r`, which qemu_arm64's
            // default environment lacks (boards have it): set it as a board's would be.
            let env: &[(&str, &str)] = if fdt { FDT_ENV } else { &[] };
            uboot::distro_boot(&cfg, &img, env, t)?
        }
    };
    let _ = std::fs::write(dir.join("serial.log"), &run.transcript);
    let ended = ended(&run);
    let checked = verdict::check(&run.transcript, run.code(), &expect(case, &cfg));
    match (case.fails_with, checked) {
        (None, Ok(())) => {
            let at = match case.load {
                Load::Booti(addr) => {
                    uboot::check_load_address(&run.transcript, addr).map_err(|e| run.report(&e))?
                }
                _ => uboot::image_at(&run.transcript)
                    .map(|a| format!("image at {a:#x}"))
                    .unwrap_or_default(),
            };
            Ok(format!(
                "{at}, cpus online: {n}/{n}, exit: ok, {:.1}s",
                run.secs,
                n = cfg.smp
            ))
        }
        (None, Err(e)) => Err(run.report(&format!("{e} ({ended})"))),
        (Some(why), Err(_)) if run.transcript.contains(why) => {
            Ok(format!("did not boot: `{why}`, {ended}"))
        }
        (Some(why), Err(e)) => Err(run.report(&format!(
            "did not boot ({e}; {ended}), but U-Boot never said `{why}`"
        ))),
        (Some(why), Ok(())) => Err(run.report(&format!(
            "booted with `exit: ok`, expected U-Boot to fail with `{why}`"
        ))),
    }
}

fn ended(run: &Run) -> String {
    match run.end {
        End::Exited(c) => format!("QEMU exited with status {c} after {:.1}s", run.secs),
        End::Prompt => format!("back at U-Boot's prompt after {:.1}s", run.secs),
        End::TimedOut => format!("timed out after {:.1}s", run.secs),
    }
}

/// The disk of a `Load::Disk` entry, made as `cargo xtask disk` makes it.
fn make_disk(
    cfg: &BootConfig,
    image_path: &Path,
    bootargs: &str,
    kernel: &str,
    fdt: bool,
    dir: &Path,
) -> Result<PathBuf, String> {
    let dtb = if fdt {
        let path = dir.join("virt.dtb");
        crate::dtb::dump_dtb(cfg, &path)?;
        let mut put = Command::new("fdtput");
        put.args(["-t", "s"])
            .arg(&path)
            .args(["/", "model", FDT_MODEL]);
        let r = util::run_captured(&mut put, Duration::from_secs(30))
            .map_err(|e| format!("cannot run fdtput: {e}"))?;
        if !r.success() {
            return Err(format!("fdtput failed: {}", r.stderr.trim()));
        }
        Some((disk::dtb_name(&path)?, util::read(&path)?))
    } else {
        None
    };
    let files = disk::disk_files(util::read(image_path)?, dtb, bootargs, kernel)?;
    let img = dir.join("disk.img");
    sdcard::write_card(&img, &files)?;
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gic, el, aligned, test.
    type Row = (u32, u32, bool, bool);

    #[test]
    fn table_covers_every_pair() {
        let booti: Vec<Row> = CASES
            .iter()
            .filter_map(|c| match c.load {
                Load::Booti(addr) => {
                    let cfg = BootConfig::parse(
                        &c.options
                            .split_whitespace()
                            .map(String::from)
                            .collect::<Vec<_>>(),
                    )
                    .unwrap();
                    Some((
                        cfg.gic,
                        cfg.el,
                        addr.is_multiple_of(2 << 20),
                        c.bootargs == "test",
                    ))
                }
                _ => None,
            })
            .collect();
        for gic in [2, 3] {
            for el in [1, 2] {
                for aligned in [true, false] {
                    for test in [true, false] {
                        let has = |f: &dyn Fn(&Row) -> bool| booti.iter().any(f);
                        assert!(has(&|b| b.0 == gic && b.1 == el && b.2 == aligned));
                        assert!(has(&|b| b.0 == gic && b.3 == test));
                        assert!(has(&|b| b.1 == el && b.3 == test));
                        assert!(has(&|b| b.2 == aligned && b.3 == test));
                    }
                }
            }
        }
        let mut names = names();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(CASES.iter().filter(|c| c.fails_with.is_some()).count() >= 2);
    }
}
