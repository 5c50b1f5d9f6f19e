//! `cargo xtask kvm`: boot the kernel under real KVM, nested inside an arm64 Linux VM.
//!
//! This x86_64 host has no aarch64 KVM, but nested virtualization works: Debian's arm64 Linux
//! boots under TCG with `virtualization=on` (so it runs at EL2) and brings up `/dev/kvm`; an
//! arm64 `qemu-system-aarch64 -accel kvm -cpu host` inside it then runs our bare-metal guest
//! with real stage-2 translation, trapped WFI/WFE, HVC as the PSCI conduit and trapping MMIO.
//!
//! What it does:
//! 1. **Prepare (cached).** A private apt state under `target/kvm-cache/apt` (its own lists,
//!    an empty dpkg status, `APT::Architecture=arm64`, the system's sources) lets `apt-get
//!    download` fetch arm64 packages without `dpkg --add-architecture` and without touching
//!    the system's apt lists or dpkg database. `apt-get update` runs once (or with
//!    `--refresh`). Downloads: the newest `linux-image-6.1.0-N-arm64-unsigned`,
//!    `busybox-static` and `qemu-system-arm`, then the library packages its `DT_NEEDED`
//!    entries require (found by following the packages' `Depends` through the `libs`
//!    section, level by level, until every needed soname resolves). They are unpacked with
//!    `dpkg-deb -x` and written into an uncompressed newc cpio (`base.cpio`: busybox, qemu,
//!    its libraries, `/dev/console`) next to the kernel image, in
//!    `target/kvm-cache/base-<key>/`, where the key hashes the three root packages' versions.
//! 2. **Per run.** A small second cpio holds `/init` (tests-qemu/kvm/init.sh) and
//!    `/guest.elf`; the Linux initramfs loader accepts concatenated archives, so the run's
//!    initrd is `base.cpio` followed by it and the big archive is never rebuilt. The inner
//!    `-smp`, `-append` and timeout travel on the outer kernel command line (`aiolos.*=`).
//! 3. **Boot.** The outer VM (`-M virt,virtualization=on,gic-version=3 -cpu max -smp 4 -m 1G`)
//!    runs /init, which refuses to continue without `/dev/kvm`, prints the outer kernel's
//!    `kvm [1]: ... initialized` line, runs the inner QEMU with `-accel kvm` (no TCG
//!    fallback exists in that command line), brackets its console output with
//!    `=== guest start ===` / `=== guest end rc=N ===` and powers off.
//! 4. **Verdict.** The inner guest's last `exit: ok` / `exit: fail: ...` line. Exit status 0
//!    iff it is `exit: ok` (with `--mutant-expect-fail`: iff the guest ran under KVM and
//!    failed, i.e. printed `exit: fail: ...` or hung until the inner timeout).
//!
//! std only, like the rest of the harness: apt-get, apt-cache and dpkg-deb do the package
//! work, and the two things that would otherwise need tools or crates -- reading `DT_NEEDED`
//! from an ELF (`crate::elf::dt_needed`) and writing a newc cpio (with a `/dev/console` node,
//! which needs no root here) -- are a few dozen lines each.
//!
//! Parts: [`packages`] (the private arm64 apt state, package and library resolution),
//! [`base`] (the cached outer kernel and base initramfs), [`cpio`] (the newc writer),
//! [`runner`] (the per-run initrd, the outer QEMU, reading the inner verdict with
//! `boot::verdict`), and here the `kvm` command's options.

mod base;
mod cpio;
pub mod httpd;
mod packages;
mod runner;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::boot::build::{KernelBuild, Output};
use crate::util;

/// Exit status when the arm64 packages cannot be fetched or prepared (no network, no apt):
/// the caller may treat it as a skip. 77 is the automake "skipped" convention.
pub const EXIT_SETUP: u8 = 77;

pub const HELP: &str = "\
usage: cargo xtask kvm [OPTIONS]

Boots the kernel under real KVM: an arm64 Debian Linux VM (TCG, virtualization=on) runs the
arm64 qemu-system-aarch64 with -accel kvm -cpu host on the guest ELF.

options:
  --kernel ELF          guest to run (default: build the release kernel, use its ELF)
  --smp N               inner guest cores (default 4)
  --mem SIZE            inner guest memory (default 256M)
  --append STR          inner guest command line (e.g. `test`)
  --timeout SECS        overall timeout (default 300); the outer QEMU is killed after it
  --blk DEVICE          give the inner guest a fresh zeroed 8 MiB disk on QEMU device DEVICE
                        (virtio-blk-pci or virtio-blk-device) and run its QEMU without
                        -no-reboot (the block test `--append blk-test` resets once)
  --mutant-expect-fail  succeed iff the guest fails under KVM (exit: fail: ... or a hang)
  --refresh             run `apt-get update` again and re-resolve the package versions

exit status: 0 pass, 1 fail, 2 usage, 77 the arm64 packages could not be prepared.
cache: target/kvm-cache/ (packages, base initramfs keyed by package versions).";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Opts {
    kernel: Option<PathBuf>,
    smp: u32,
    mem: String,
    append: Option<String>,
    timeout: u64,
    mutant_expect_fail: bool,
    refresh: bool,
    /// The inner QEMU without `-no-reboot` (the nested-KVM soak, [`run_streamed`], and
    /// `--blk`).
    reboot: bool,
    /// `--blk`: the inner guest's disk device (a zeroed disk made by /init).
    blk: Option<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            kernel: None,
            smp: 4,
            mem: "256M".into(),
            append: None,
            timeout: 300,
            mutant_expect_fail: false,
            refresh: false,
            reboot: false,
            blk: None,
        }
    }
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut args = crate::args::Args::new(args);
    while let Some(flag) = args.next_key() {
        match flag {
            "--kernel" => o.kernel = Some(PathBuf::from(args.value()?)),
            "--smp" => {
                let v = args.value()?;
                o.smp = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=8).contains(n))
                    .ok_or(format!("--smp: `{v}` is not 1..=8"))?;
            }
            "--mem" => o.mem = args.value()?,
            "--append" => o.append = Some(args.value()?),
            "--timeout" => {
                let v = args.value()?;
                o.timeout = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 10)
                    .ok_or(format!("--timeout: `{v}` is not a number of seconds >= 10"))?;
            }
            "--blk" => {
                let v = args.value()?;
                if !matches!(v.as_str(), "virtio-blk-pci" | "virtio-blk-device") {
                    return Err(format!(
                        "--blk: `{v}` is not virtio-blk-pci or virtio-blk-device"
                    ));
                }
                o.blk = Some(v);
                o.reboot = true;
            }
            "--mutant-expect-fail" => o.mutant_expect_fail = true,
            "--refresh" => o.refresh = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(o)
}

/// `cargo xtask kvm ...`.
pub fn run(args: &[String]) -> ExitCode {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kvm: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let t0 = Instant::now();
    let kernel = match &opts.kernel {
        Some(k) => k.clone(),
        None => match KernelBuild::release().build(Output::Live, |c| println!("kvm: {c}")) {
            Ok((k, _)) => k,
            Err(e) => {
                eprintln!("kvm: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    if !kernel.is_file() {
        eprintln!("kvm: guest {} does not exist", kernel.display());
        return ExitCode::FAILURE;
    }
    if util::which("qemu-system-aarch64").is_none() {
        eprintln!("kvm: qemu-system-aarch64 (host) not found: run `cargo xtask setup` first");
        return ExitCode::FAILURE;
    }
    let cache = util::target_dir().join("kvm-cache");
    let base = match base::prepare(&cache, opts.refresh) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("kvm: setup failed: cannot prepare the arm64 packages: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let prep = t0.elapsed();
    println!(
        "kvm: prepared in {:.1} s ({})",
        prep.as_secs_f64(),
        if base.fresh { "built now" } else { "cached" }
    );
    match runner::boot(&opts, &kernel, &base, &cache, &mut runner::echo) {
        Ok(r) => runner::report(&opts, &r, prep, t0.elapsed()),
        Err(e) => {
            eprintln!("kvm: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How a streamed run ([`run_streamed`]) ended, as far as the kit can tell.
pub struct Streamed {
    /// KVM was verified: `/dev/kvm` present and the inner QEMU ran with `-accel kvm`.
    pub kvm: bool,
    /// Host time from the outer QEMU's start to `=== guest start ===`.
    pub outer_boot: Option<Duration>,
    pub total: Duration,
    /// The outer QEMU was killed at `timeout`.
    pub timed_out: bool,
}

/// Why a streamed run did not run.
pub enum StreamError {
    /// The arm64 packages could not be prepared (a caller may skip).
    Setup(String),
    Run(String),
}

/// One outer boot whose inner guest (`kernel`, `smp` cores, command line `append`) runs
/// under KVM without `-no-reboot`, so a PSCI SYSTEM_RESET boots it again: the nested-KVM
/// soak's process. Every console line goes to `on_line` (and `None` every half second
/// without one); it returns false to stop the run. `timeout` bounds the whole outer run.
pub fn run_streamed(
    kernel: &Path,
    smp: u32,
    append: &str,
    timeout: Duration,
    on_line: &mut dyn FnMut(Option<&str>) -> bool,
) -> Result<Streamed, StreamError> {
    let opts = Opts {
        kernel: Some(kernel.to_path_buf()),
        smp,
        append: Some(append.to_string()),
        timeout: timeout.as_secs().max(10),
        reboot: true,
        ..Opts::default()
    };
    if util::which("qemu-system-aarch64").is_none() {
        return Err(StreamError::Run(
            "qemu-system-aarch64 (host) not found: run `cargo xtask setup` first".into(),
        ));
    }
    let cache = util::target_dir().join("kvm-cache");
    let base = base::prepare(&cache, false).map_err(StreamError::Setup)?;
    runner::boot(&opts, kernel, &base, &cache, on_line)
        .map(|r| r.streamed())
        .map_err(StreamError::Run)
}

#[cfg(test)]
mod tests {
    use super::*;
    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn blk_option() {
        let o = parse(&s(&["--blk", "virtio-blk-pci"])).unwrap();
        assert_eq!((o.blk.as_deref(), o.reboot), (Some("virtio-blk-pci"), true));
        assert!(!parse(&[]).unwrap().reboot);
        let e = parse(&s(&["--blk", "nvme"])).unwrap_err();
        assert!(e.contains("not virtio-blk-pci"), "{e}");
    }

    #[test]
    fn options() {
        let o = parse(&s(&[
            "--smp",
            "2",
            "--append=test",
            "--timeout",
            "60",
            "--mutant-expect-fail",
        ]))
        .unwrap();
        assert_eq!(
            (o.smp, o.append.as_deref(), o.timeout, o.mutant_expect_fail),
            (2, Some("test"), 60, true)
        );
        assert!(parse(&s(&["--smp", "0"])).is_err());
        assert!(parse(&s(&["--bogus"])).is_err());
        assert!(parse(&s(&["--kernel"])).is_err());
        assert_eq!(parse(&s(&[])).unwrap(), Opts::default());
    }
}
