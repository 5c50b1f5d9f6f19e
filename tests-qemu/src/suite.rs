//! `cargo xtask test`: formatting, lints, host unit tests, loom, spin, the QEMU boot matrix
//! and the bad-input boots. Ends with a line `N passed, M failed[, K skipped]`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::dtb::{self, DtbFixture};
use crate::image;
use crate::qemu::{BootConfig, Expect, Verdict};
use crate::setup;
use crate::util;

// ---------------------------------------------------------------------------------------------
// The data: edit these tables to change what `test` does.

/// The boot matrix. Every combination of these is booted (full mode).
pub const MATRIX_GIC: &[u32] = &[2, 3];
pub const MATRIX_EL: &[u32] = &[1, 2];
pub const MATRIX_SMP: &[u32] = &[1, 2, 4, 8];
pub const MATRIX_CPU: &[&str] = &["cortex-a53", "cortex-a72", "max"];
/// `--quick` keeps both GICs and ELs but only these.
pub const QUICK_SMP: &[u32] = &[1, 4];
pub const QUICK_CPU: &[&str] = &["max"];

/// Each matrix point is booted once per entry: (name suffix, bootargs). All of them must
/// end `exit: ok` with every core online and no `test ... FAILED` line.
pub const MATRIX_BOOTARGS: &[(&str, &str)] = &[("demo", ""), ("test", "test")];

/// A boot with broken input or an injected fault, and what it must produce.
pub struct Case {
    pub name: &'static str,
    /// How the device tree is broken (see `dtb::DtbFixture`).
    pub fixture: DtbFixture,
    /// Boot options in `run` syntax (smp, gic, ...); defaults: gic 3, el 1, smp 4, cpu max.
    pub options: &'static str,
    /// Bootargs (`-append`).
    pub bootargs: &'static str,
    pub verdict: Verdict,
    /// `Some((n, m))`: require `cpus online: n/m`.
    pub cpus_online: Option<(u32, u32)>,
    /// Case-insensitive substrings of the last (`exit:`) line.
    pub exit_contains: &'static [&'static str],
    /// Case-insensitive substrings of the whole log.
    pub log_contains: &'static [&'static str],
    /// Boot a kernel built with `--cfg aiolos_mutant="NAME"` (a negative control). A mutant
    /// case passes when the kernel fails *or hangs* (the boot timeout): either means the
    /// check caught the injected bug.
    pub mutant: Option<&'static str>,
}

pub const CASES: &[Case] = &[
    Case {
        name: "bad-dtb-none",
        fixture: DtbFixture::ZerosInRam,
        options: "",
        bootargs: "",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &[],
        log_contains: &["no device tree"],
        mutant: None,
    },
    Case {
        name: "bad-dtb-truncated",
        fixture: DtbFixture::TruncatedInRam,
        options: "",
        bootargs: "",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &[],
        log_contains: &["truncated"],
        mutant: None,
    },
    Case {
        name: "bad-dtb-corrupt",
        fixture: DtbFixture::CorruptInRam,
        options: "",
        bootargs: "",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &[],
        log_contains: &["device tree"],
        mutant: None,
    },
    Case {
        name: "bad-dtb-unknown-intc",
        fixture: DtbFixture::UnknownIntc,
        options: "",
        bootargs: "",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &[],
        log_contains: &["interrupt controller"],
        mutant: None,
    },
    Case {
        name: "bad-dtb-unknown-console",
        fixture: DtbFixture::UnknownConsole,
        options: "",
        bootargs: "",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &[],
        log_contains: &["console"],
        mutant: None,
    },
    Case {
        // Expected success: cpu@3's MPIDR is 0xff00, CPU_ON fails, the rest carry on.
        name: "cpu-on-fails",
        fixture: DtbFixture::BogusCpuReg,
        options: "--smp 4",
        bootargs: "",
        verdict: Verdict::Ok,
        cpus_online: Some((3, 4)),
        exit_contains: &[],
        log_contains: &["0xff00"],
        mutant: None,
    },
    Case {
        name: "inject-panic-secondary",
        fixture: DtbFixture::None,
        options: "--smp 4",
        bootargs: "inject=panic-secondary",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &["panic"],
        log_contains: &["panicked"],
        mutant: None,
    },
    Case {
        name: "inject-fault",
        fixture: DtbFixture::None,
        options: "",
        bootargs: "inject=fault",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &[],
        log_contains: &["Data Abort", "FAR"],
        mutant: None,
    },
    Case {
        // Unbounded recursion on the main stack runs into its guard page; the report must
        // say so (the handler runs on the separate exception stack).
        name: "inject-stack-overflow",
        fixture: DtbFixture::None,
        options: "--smp 2",
        bootargs: "inject=stack-overflow",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &["Data Abort"],
        log_contains: &["stack overflow into a guard page"],
        mutant: None,
    },
    Case {
        name: "inject-pool-full",
        fixture: DtbFixture::None,
        options: "",
        bootargs: "inject=pool-full",
        verdict: Verdict::Any,
        cpus_online: None,
        exit_contains: &[],
        log_contains: &["pool full"],
        mutant: None,
    },
    // The wake-path stress (token ring across all cores, then short sleeps alone on each
    // core, with a watchdog) on the real kernel: must pass ...
    Case {
        name: "stress-gic3-smp4",
        fixture: DtbFixture::None,
        options: "--gic 3 --smp 4",
        bootargs: "stress",
        verdict: Verdict::Ok,
        cpus_online: Some((4, 4)),
        exit_contains: &[],
        log_contains: &["stress: "],
        mutant: None,
    },
    Case {
        name: "stress-gic2-el2-smp8",
        fixture: DtbFixture::None,
        options: "--gic 2 --el 2 --smp 8",
        bootargs: "stress",
        verdict: Verdict::Ok,
        cpus_online: Some((8, 8)),
        exit_contains: &[],
        log_contains: &["stress: "],
        mutant: None,
    },
    // ... and must catch each kernel mutant (kernel/src/runtime/notifier.rs).
    Case {
        name: "mutant-sgi-skip",
        fixture: DtbFixture::None,
        options: "--gic 3 --smp 4",
        bootargs: "stress",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &["lost wakeup"],
        log_contains: &[],
        mutant: Some("sgi_skip"),
    },
    Case {
        name: "mutant-timer-arm-unmasked",
        fixture: DtbFixture::None,
        options: "--gic 2 --smp 4",
        bootargs: "stress",
        verdict: Verdict::Fail,
        cpus_online: None,
        exit_contains: &["lost wakeup"],
        log_contains: &[],
        mutant: Some("timer_arm_unmasked"),
    },
];

/// The arm64 Image (`cargo xtask image`'s output) booted with `-kernel Image` on `virt`:
/// every GIC × EL of the matrix, this many cores, cpu `max`, each of `MATRIX_BOOTARGS`.
/// QEMU loads an Image at RAM base + 2 MiB + text_offset (its bootloader stub owns the start
/// of RAM) and passes x0 = DTB; the banner must say so.
pub const IMAGE_SMP: u32 = 4;
pub const IMAGE_VIRT_AT: &str = "image at 0x40200000";

/// Other boots of the Image: relocation at other bases and the Raspberry Pi 4.
pub struct ImageBoot {
    pub name: &'static str,
    /// Boot options in `run` syntax (`--board`, `--load-addr`, `--gic`, `--mem`, ...).
    pub options: &'static str,
    /// Bootargs (`-append`). QEMU refuses -append without -kernel, so with `--load-addr` the
    /// boot becomes `-kernel` of an ELF holding the Image at that address and QEMU's DTB, with
    /// the bootargs added, at the start of RAM (see `relocated_with_bootargs`).
    pub bootargs: &'static str,
    /// `-dtb FILE`, relative to the workspace root; a missing file skips the boot (notice).
    pub dtb: Option<&'static str>,
    /// Lowest QEMU major version that has the machine; older skips the boot (notice).
    pub qemu_major: u32,
    pub verdict: Verdict,
    pub cpus_online: Option<(u32, u32)>,
    /// Case-insensitive substrings of the whole log: the banner's `image at ADDR`.
    pub log_contains: &'static [&'static str],
    pub exit_contains: &'static [&'static str],
    /// Fail sooner than the suite's timeout (seconds).
    pub timeout_s: Option<u64>,
}

/// The Pi 4's real device tree (never copied into the repository).
pub const RPI4_DTB: &str = "../shared/dtb/bcm2711-rpi-4-b.dtb";
pub const RPI3_DTB: &str = "../shared/dtb/bcm2837-rpi-3-b.dtb";

pub const IMAGE_BOOTS: &[ImageBoot] = &[
    // No -kernel: QEMU's generic loader puts the Image at the address and starts cpu 0 there
    // with x0 = 0; QEMU's DTB is at the start of RAM ("firmware" boot), which the kernel finds
    // by probing the start of the 1 GiB-aligned region holding the image. The relocation has
    // to be right for anything to print: these prove it at other bases.
    ImageBoot {
        name: "image-loader-0x60000000-gic3-el1",
        options: "--load-addr 0x60000000 --mem 1G --gic 3 --el 1",
        bootargs: "",
        dtb: None,
        qemu_major: 0,
        verdict: Verdict::Ok,
        cpus_online: Some((4, 4)),
        log_contains: &["image at 0x60000000", "dtb at 0x40000000"],
        exit_contains: &[],
        timeout_s: None,
    },
    ImageBoot {
        name: "image-loader-0x60000000-gic2-el2",
        options: "--load-addr 0x60000000 --mem 1G --gic 2 --el 2",
        bootargs: "",
        dtb: None,
        qemu_major: 0,
        verdict: Verdict::Ok,
        cpus_online: Some((4, 4)),
        log_contains: &["image at 0x60000000", "dtb at 0x40000000"],
        exit_contains: &[],
        timeout_s: None,
    },
    // Not 1 GiB-aligned: the probe still finds RAM start 0x4000_0000.
    ImageBoot {
        name: "image-loader-0x48200000-gic3-el2",
        options: "--load-addr 0x48200000 --gic 3 --el 2",
        bootargs: "",
        dtb: None,
        qemu_major: 0,
        verdict: Verdict::Ok,
        cpus_online: Some((4, 4)),
        log_contains: &["image at 0x48200000", "dtb at 0x40000000"],
        exit_contains: &[],
        timeout_s: None,
    },
    ImageBoot {
        name: "image-loader-0x44000000-gic2-el1",
        options: "--load-addr 0x44000000 --gic 2 --el 1",
        bootargs: "",
        dtb: None,
        qemu_major: 0,
        verdict: Verdict::Ok,
        cpus_online: Some((4, 4)),
        log_contains: &["image at 0x44000000", "dtb at 0x40000000"],
        exit_contains: &[],
        timeout_s: None,
    },
    // The in-guest tests at other bases (the Image and a DTB with bootargs at RAM start,
    // loaded by QEMU's ELF loader; x0 = 0 again).
    ImageBoot {
        name: "image-reloc-0x60000000-gic3-el1-test",
        options: "--load-addr 0x60000000 --mem 1G --gic 3 --el 1",
        bootargs: "test",
        dtb: None,
        qemu_major: 0,
        verdict: Verdict::Ok,
        cpus_online: Some((4, 4)),
        log_contains: &["image at 0x60000000", "dtb at 0x40000000", " ... ok"],
        exit_contains: &[],
        timeout_s: None,
    },
    ImageBoot {
        name: "image-reloc-0x48200000-gic2-el2-test",
        options: "--load-addr 0x48200000 --gic 2 --el 2",
        bootargs: "test",
        dtb: None,
        qemu_major: 0,
        verdict: Verdict::Ok,
        cpus_online: Some((4, 4)),
        log_contains: &["image at 0x48200000", "dtb at 0x40000000", " ... ok"],
        exit_contains: &[],
        timeout_s: None,
    },
    // A base that is not 2 MiB-aligned (the Pi's legacy 0x80000 offset) is refused.
    ImageBoot {
        name: "image-loader-misaligned-0x40280000",
        options: "--load-addr 0x40280000",
        bootargs: "",
        dtb: None,
        qemu_major: 0,
        verdict: Verdict::Fail,
        cpus_online: None,
        log_contains: &[],
        exit_contains: &["0x40280000", "not 2 MiB-aligned"],
        timeout_s: None,
    },
    // Raspberry Pi 4 (QEMU >= 9) with the board's real DTB: spin-table, GIC-400, the mini
    // UART named by stdout-path (QEMU's second serial port). QEMU patches memory@0 and puts
    // the Image at 0 + 2 MiB + text_offset. A good boot takes ~2.5 s under TCG.
    ImageBoot {
        name: "raspi4b-demo",
        options: "--board raspi4b",
        bootargs: "",
        dtb: Some(RPI4_DTB),
        qemu_major: 9,
        verdict: Verdict::Ok,
        cpus_online: Some((4, 4)),
        log_contains: &[
            "image at 0x200000",
            "console: serial@7e215040 (brcm,bcm2835-aux-uart)",
            "arm,gic-400",
        ],
        exit_contains: &[],
        timeout_s: Some(30),
    },
    ImageBoot {
        name: "raspi4b-test",
        options: "--board raspi4b",
        bootargs: "test",
        dtb: Some(RPI4_DTB),
        qemu_major: 9,
        verdict: Verdict::Ok,
        cpus_online: Some((4, 4)),
        log_contains: &["image at 0x200000", "arm,gic-400"],
        exit_contains: &[],
        timeout_s: Some(30),
    },
];

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

pub const DTB_CHECKS: &[DtbCheck] = &[
    DtbCheck {
        name: "dtb-check-virt-gic2-el1",
        source: DtbSource::Dump("--gic 2 --el 1"),
        needs: &[],
        qemu_major: 0,
        bootable: true,
        verdict_contains: &[],
    },
    DtbCheck {
        name: "dtb-check-virt-gic2-el2",
        source: DtbSource::Dump("--gic 2 --el 2"),
        needs: &[],
        qemu_major: 0,
        bootable: true,
        verdict_contains: &[],
    },
    DtbCheck {
        name: "dtb-check-virt-gic3-el1",
        source: DtbSource::Dump("--gic 3 --el 1"),
        needs: &[],
        qemu_major: 0,
        bootable: true,
        verdict_contains: &[],
    },
    DtbCheck {
        name: "dtb-check-virt-gic3-el2",
        source: DtbSource::Dump("--gic 3 --el 2"),
        needs: &[],
        qemu_major: 0,
        bootable: true,
        verdict_contains: &[],
    },
    // The Pi 3 has the BCM2836 local interrupt controller, no GIC: unsupported, say why.
    DtbCheck {
        name: "dtb-check-rpi3",
        source: DtbSource::File(RPI3_DTB),
        needs: &[RPI3_DTB],
        qemu_major: 0,
        bootable: false,
        verdict_contains: &["no GIC", "bcm2836-armctrl-ic"],
    },
    // The Pi 4's file has memory@0 of size 0 (the firmware fills it in) ...
    DtbCheck {
        name: "dtb-check-rpi4-file",
        source: DtbSource::File(RPI4_DTB),
        needs: &[RPI4_DTB],
        qemu_major: 0,
        bootable: false,
        verdict_contains: &["size 0"],
    },
    // ... and QEMU's raspi4b patches it.
    DtbCheck {
        name: "dtb-check-rpi4-qemu",
        source: DtbSource::Dump("--board raspi4b --dtb ../shared/dtb/bcm2711-rpi-4-b.dtb"),
        needs: &[RPI4_DTB],
        qemu_major: 9,
        bootable: true,
        verdict_contains: &[],
    },
];

/// A host-side check: (name, environment, command line). Run from the workspace root.
struct Step {
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
    argv: &'static [&'static str],
    /// Files that must exist, else the step FAILS as "missing".
    needs: &'static [&'static str],
    timeout_s: u64,
}

const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        env: &[],
        argv: &["cargo", "fmt", "--all", "--check"],
        needs: &[],
        timeout_s: 300,
    },
    Step {
        // tests-qemu is a std host binary: it cannot build for aarch64-unknown-none.
        name: "clippy-aarch64",
        env: &[],
        argv: &[
            "cargo",
            "clippy",
            "--workspace",
            "--exclude",
            "tests-qemu",
            "--",
            "-D",
            "warnings",
        ],
        needs: &[],
        timeout_s: 900,
    },
    Step {
        // kernel is no_std/no_main and only builds for aarch64.
        name: "clippy-host",
        env: &[],
        argv: &[
            "cargo",
            "clippy",
            "-p",
            "aiolos-hal",
            "-p",
            "aiolos-executor",
            "-p",
            "tests-qemu",
            "--features",
            "aiolos-executor/std",
            "--target",
            "host-tuple",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        needs: &[],
        timeout_s: 900,
    },
    Step {
        name: "unit-hal-harness",
        env: &[],
        argv: &[
            "cargo",
            "test",
            "-p",
            "aiolos-hal",
            "-p",
            "tests-qemu",
            "--target",
            "host-tuple",
        ],
        needs: &[],
        timeout_s: 900,
    },
    Step {
        name: "unit-executor",
        env: &[],
        argv: &[
            "cargo",
            "test",
            "-p",
            "aiolos-executor",
            "--features",
            "std",
            "--target",
            "host-tuple",
        ],
        needs: &[],
        timeout_s: 900,
    },
    Step {
        name: "loom",
        env: &[
            ("RUSTFLAGS", "--cfg loom"),
            ("CARGO_TARGET_DIR", "target/loom"),
        ],
        argv: &[
            "cargo",
            "test",
            "-p",
            "aiolos-executor",
            "--features",
            "std",
            "--target",
            "host-tuple",
            "--release",
            "--test",
            "loom",
        ],
        needs: &["executor/tests/loom.rs"],
        timeout_s: 1200,
    },
    Step {
        name: "loom-mutants",
        env: &[],
        argv: &["bash", "executor/loom-mutants.sh"],
        needs: &["executor/loom-mutants.sh"],
        timeout_s: 1200,
    },
    Step {
        name: "spin",
        env: &[],
        argv: &["bash", "executor/model/check.sh"],
        needs: &["executor/model/check.sh"],
        timeout_s: 600,
    },
    // The executor used alone (issue 14): its host example with the std notifier, and the
    // one with a user-written EventNotifier and Clock (no `std` feature).
    Step {
        name: "executor-example-host",
        env: &[],
        argv: &[
            "cargo",
            "run",
            "-p",
            "aiolos-executor",
            "--example",
            "host",
            "--features",
            "std",
            "--target",
            "host-tuple",
        ],
        needs: &["executor/examples/host.rs"],
        timeout_s: 600,
    },
    Step {
        name: "executor-example-custom-platform",
        env: &[],
        argv: &[
            "cargo",
            "run",
            "-p",
            "aiolos-executor",
            "--example",
            "custom_platform",
            "--target",
            "host-tuple",
        ],
        needs: &["executor/examples/custom_platform.rs"],
        timeout_s: 600,
    },
    // API docs without warnings, each crate as docs.rs builds it (package.metadata.docs.rs):
    // the runtime and the HAL for aarch64, the executor on the host with `std`.
    Step {
        name: "doc-aarch64",
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        argv: &[
            "cargo",
            "doc",
            "--no-deps",
            "-p",
            "aiolos",
            "-p",
            "aiolos-hal",
        ],
        needs: &[],
        timeout_s: 900,
    },
    Step {
        name: "doc-executor",
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        argv: &[
            "cargo",
            "doc",
            "--no-deps",
            "-p",
            "aiolos-executor",
            "--features",
            "std",
            "--target",
            "host-tuple",
        ],
        needs: &[],
        timeout_s: 900,
    },
    // An application generated by `cargo xtask new-app` in a temporary directory outside the
    // workspace builds, boots (`exit: ok`) and `cargo run`s (tests-qemu/src/new_app.rs).
    Step {
        name: "new-app",
        env: &[],
        argv: &["cargo", "xtask", "new-app", "--test"],
        needs: &["template/src/main.rs"],
        timeout_s: 1800,
    },
];

// ---------------------------------------------------------------------------------------------

struct Options {
    quick: bool,
    filters: Vec<String>,
    jobs: usize,
    timeout: Duration,
    /// Boot this ELF instead of building the kernel.
    kernel: Option<PathBuf>,
    /// Print the selected checks and boots, run nothing.
    list: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        filters: Vec::new(),
        jobs: 3,
        timeout: Duration::from_secs(60),
        kernel: None,
        list: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (k, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut val = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{k} needs a value"))
        };
        match k {
            "--" => {}
            "--quick" => o.quick = true,
            "--list" => o.list = true,
            "--kernel" => o.kernel = Some(PathBuf::from(val()?)),
            "--filter" => o.filters.push(val()?),
            "--jobs" | "-j" => o.jobs = val()?.parse().map_err(|_| "--jobs: not a number")?,
            "--timeout" => {
                o.timeout =
                    Duration::from_secs(val()?.parse().map_err(|_| "--timeout: not a number")?)
            }
            _ => return Err(format!("unknown option `{a}`")),
        }
    }
    o.jobs = o.jobs.max(1);
    Ok(o)
}

pub const HELP: &str = "\
  --quick             reduced matrix (smp 1,4; cpu max) + all bad-input cases
  --filter SUBSTR     only checks/boots whose name contains SUBSTR (repeatable: any matches)
  --jobs N            parallel QEMU boots (default 3)
  --timeout SECS      per-boot timeout (default 60)
  --kernel PATH       boot this ELF instead of building the kernel (no build-kernel step)
  --list              print the names of the selected checks and boots, run nothing";

impl Options {
    fn selected(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}

/// One QEMU boot of the suite.
struct BootJob {
    name: String,
    cfg: BootConfig,
    fixture: DtbFixture,
    expect: Expect,
    /// A mutant kernel to boot instead of the suite's kernel; a hang also counts as caught.
    mutant: Option<&'static str>,
    /// Unmet → the boot is skipped with a notice (counted as skipped, not passed).
    requires: Requires,
    /// A shorter timeout than the suite's (`--timeout`) for this boot.
    timeout: Option<Duration>,
}

/// What a boot or check needs from the host beyond the default QEMU.
#[derive(Clone, Debug, Default)]
struct Requires {
    qemu_major: u32,
    /// Absolute paths.
    files: Vec<PathBuf>,
}

impl Requires {
    /// `Some(why)` when not met.
    fn unmet(&self, qemu: Option<(u32, u32)>) -> Option<String> {
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

struct BootResult {
    name: String,
    ok: bool,
    elapsed: Duration,
    report: String,
}

fn matrix_jobs(quick: bool) -> Vec<BootJob> {
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
                        let mut cfg = BootConfig {
                            gic,
                            el,
                            smp,
                            cpu: cpu.into(),
                            cpu_explicit: true,
                            ..BootConfig::default()
                        };
                        if !bootargs.is_empty() {
                            cfg.append.push(bootargs.into());
                        }
                        jobs.push(BootJob {
                            name: format!("{}-{suffix}", cfg.name()),
                            cfg,
                            fixture: DtbFixture::None,
                            expect: Expect::ok(smp),
                            mutant: None,
                            requires: Requires::default(),
                            timeout: None,
                        });
                    }
                }
            }
        }
    }
    jobs
}

fn case_jobs() -> Result<Vec<BootJob>, String> {
    CASES
        .iter()
        .map(|c| {
            let opts: Vec<String> = c.options.split_whitespace().map(String::from).collect();
            let mut cfg = BootConfig::parse(&opts).map_err(|e| format!("case {}: {e}", c.name))?;
            if !c.bootargs.is_empty() {
                cfg.append.push(c.bootargs.into());
            }
            Ok(BootJob {
                name: c.name.to_string(),
                cfg,
                fixture: c.fixture,
                expect: Expect {
                    verdict: c.verdict,
                    cpus_online: c.cpus_online,
                    exit_contains: c.exit_contains.iter().map(|s| s.to_string()).collect(),
                    log_contains: c.log_contains.iter().map(|s| s.to_string()).collect(),
                },
                mutant: c.mutant,
                requires: Requires::default(),
                timeout: None,
            })
        })
        .collect()
}

/// The Image boots: `-kernel Image` over the matrix's GICs and ELs, then `IMAGE_BOOTS`.
fn image_jobs() -> Result<Vec<BootJob>, String> {
    let mut jobs = Vec::new();
    for &gic in MATRIX_GIC {
        for &el in MATRIX_EL {
            for &(suffix, bootargs) in MATRIX_BOOTARGS {
                let mut cfg = BootConfig {
                    gic,
                    el,
                    smp: IMAGE_SMP,
                    image: true,
                    ..BootConfig::default()
                };
                if !bootargs.is_empty() {
                    cfg.append.push(bootargs.into());
                }
                let mut expect = Expect::ok(IMAGE_SMP);
                expect.log_contains.push(IMAGE_VIRT_AT.into());
                jobs.push(BootJob {
                    name: format!("image-{}-{suffix}", cfg.name()),
                    cfg,
                    fixture: DtbFixture::None,
                    expect,
                    mutant: None,
                    requires: Requires::default(),
                    timeout: None,
                });
            }
        }
    }
    let root = util::workspace_root();
    for b in IMAGE_BOOTS {
        let opts: Vec<String> = b.options.split_whitespace().map(String::from).collect();
        let mut cfg =
            BootConfig::parse(&opts).map_err(|e| format!("image boot {}: {e}", b.name))?;
        cfg.image = true;
        if !b.bootargs.is_empty() {
            cfg.append.push(b.bootargs.into());
        }
        let mut requires = Requires {
            qemu_major: b.qemu_major,
            files: Vec::new(),
        };
        if let Some(d) = b.dtb {
            let path = root.join(d);
            requires.files.push(path.clone());
            cfg.dtb = Some(path);
        }
        jobs.push(BootJob {
            name: b.name.to_string(),
            cfg,
            fixture: DtbFixture::None,
            expect: Expect {
                verdict: b.verdict,
                cpus_online: b.cpus_online,
                exit_contains: b.exit_contains.iter().map(|s| s.to_string()).collect(),
                log_contains: b.log_contains.iter().map(|s| s.to_string()).collect(),
            },
            mutant: None,
            requires,
            timeout: b.timeout_s.map(Duration::from_secs),
        });
    }
    Ok(jobs)
}

/// Runs one DTB check: dump or read the blob, then `dtb-check`'s verdict (in process: the
/// same `dtb_check::check` the command prints). `Err` = failed.
fn run_dtb_check(c: &DtbCheck, root: &Path) -> Result<String, String> {
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
    let verdict = text
        .lines()
        .find(|l| l.starts_with("bootable:"))
        .unwrap_or("(no bootable: line)")
        .to_string();
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

/// Runs one boot: prepare fixtures, boot with a timeout, check the log.
fn run_boot(job: &BootJob, kernel: &Path, timeout: Duration) -> BootResult {
    let start = Instant::now();
    let dir = util::scratch_dir().join(&job.name);
    let fail = |report: String| BootResult {
        name: job.name.clone(),
        ok: false,
        elapsed: start.elapsed(),
        report,
    };
    let prepared = match dtb::prepare(job.fixture, &job.cfg, kernel, &dir) {
        Ok(p) => p,
        Err(e) => return fail(format!("fixture: {e}")),
    };
    let mut cfg = job.cfg.clone();
    if prepared.dtb.is_some() {
        cfg.dtb = prepared.dtb;
    }
    let base = match job.mutant {
        Some(m) => mutant_elf(m),
        None => kernel.to_path_buf(),
    };
    // Image boots: the suite put the Image's path in cfg.kernel.
    let mut base = match (&job.cfg.kernel, job.mutant) {
        (Some(k), None) => k.clone(),
        _ => base,
    };
    if let (Some(addr), Some(args)) = (cfg.load_addr, cfg.bootargs()) {
        match relocated_with_bootargs(&cfg, &base, addr, &args, &dir) {
            Ok(elf) => {
                base = elf;
                cfg.load_addr = None;
                cfg.append.clear();
            }
            Err(e) => return fail(format!("relocated image with bootargs: {e}")),
        }
    }
    let elf = prepared.kernel.unwrap_or(base);
    let mut cmd = cfg.command(&elf, true);
    let cmdline = util::display_command(&cmd);
    let cap = match util::run_captured(&mut cmd, timeout) {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot run QEMU: {e}\n  {cmdline}")),
    };
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("serial.log"), &cap.stdout);
    // The serial log (stdout) alone decides the "last line"; QEMU's stderr is kept apart.
    let log = cap.stdout.clone();
    let mut verdict = check_with_stderr(&log, &cap, &job.expect);
    if cap.timed_out {
        verdict = match job.mutant {
            // A mutant that hangs the guest was caught just as well.
            Some(_) => Ok(()),
            None => Err(format!("timed out after {}s", timeout.as_secs())),
        };
    }
    BootResult {
        name: job.name.clone(),
        ok: verdict.is_ok(),
        elapsed: start.elapsed(),
        report: match verdict {
            Ok(()) => String::new(),
            Err(why) => {
                format!(
                "{why}\n  command: {cmdline}\n  --- last 60 lines of the serial log ({}) ---\n{}{}",
                dir.join("serial.log").display(),
                indent(&util::tail(&log, 60)),
                if cap.stderr.trim().is_empty() {
                    String::new()
                } else {
                    format!("\n  --- QEMU stderr ---\n{}", indent(&util::tail(&cap.stderr, 20)))
                }
            )
            }
        },
    }
}

/// QEMU refuses -append without -kernel, and with -kernel Image it picks the base itself. So
/// to run an Image at `addr` with bootargs: an ELF with the Image at `addr` (entry there, x0 =
/// 0) and QEMU's DTB for `cfg`, bootargs added, at the start of RAM, where the kernel's probe
/// finds it (QEMU loads no DTB of its own over an ELF segment there).
fn relocated_with_bootargs(
    cfg: &BootConfig,
    image_file: &Path,
    addr: u64,
    args: &str,
    dir: &Path,
) -> Result<PathBuf, String> {
    let img = std::fs::read(image_file).map_err(|e| format!("{}: {e}", image_file.display()))?;
    let h = image::check_header(&img, 0)?;
    let blob = dtb::dtb_with_bootargs(cfg, args, dir)?;
    let elf = dtb::elf_with_blob(
        &image::elf_at(&img, addr, h.image_size),
        &blob,
        dtb::VIRT_RAM_START,
    )?;
    let out = dir.join(format!("image-at-{addr:#x}.elf"));
    std::fs::write(&out, elf).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

/// `qemu::check`, with QEMU's stderr also searched for the expected substrings (a kernel may
/// print through semihosting when it has no console; those go to the same stream, but an
/// older QEMU without the chardev wiring would put them on stderr).
fn check_with_stderr(log: &str, cap: &util::Captured, expect: &Expect) -> Result<(), String> {
    match crate::qemu::check(log, cap.code, expect) {
        Ok(()) => Ok(()),
        Err(e) => {
            let both = format!("{log}\n{}", cap.stderr);
            let mut relaxed = expect.clone();
            relaxed.log_contains.clear();
            let missing: Vec<&String> = expect
                .log_contains
                .iter()
                .filter(|s| !both.to_lowercase().contains(&s.to_lowercase()))
                .collect();
            if missing.is_empty() && crate::qemu::check(log, cap.code, &relaxed).is_ok() {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  | {l}\n")).collect()
}

/// Runs the boots on a pool of `jobs` threads, printing each result as it arrives.
fn run_pool(jobs: Vec<BootJob>, kernel: &Path, o: &Options) -> Vec<BootResult> {
    let total = jobs.len();
    let order: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    let queue = Arc::new(Mutex::new(jobs.into_iter().collect::<VecDeque<_>>()));
    let (tx, rx) = mpsc::channel();
    let mut workers = Vec::new();
    for _ in 0..o.jobs.min(total) {
        let queue = queue.clone();
        let tx = tx.clone();
        let kernel = kernel.to_path_buf();
        let timeout = o.timeout;
        workers.push(thread::spawn(move || loop {
            let job = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            let Some(job) = job else { break };
            let t = job.timeout.map_or(timeout, |t| t.min(timeout));
            let _ = tx.send(run_boot(&job, &kernel, t));
        }));
    }
    drop(tx);
    let mut results = Vec::new();
    for r in rx {
        let n = results.len() + 1;
        println!(
            "[{n:>3}/{total}] {} {:<32} {:>6.2}s",
            if r.ok { "ok    " } else { "FAILED" },
            r.name,
            r.elapsed.as_secs_f64()
        );
        if !r.ok {
            println!("  {}", r.report.trim_end());
        }
        results.push(r);
    }
    for w in workers {
        let _ = w.join();
    }
    // Completion order is random; report in job order.
    results.sort_by_key(|r| order.iter().position(|n| *n == r.name));
    results
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, name: &str, ok: bool) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            self.failures.push(name.to_string());
        }
    }
}

fn run_step(step: &Step, root: &Path) -> (bool, String) {
    for f in step.needs {
        if !root.join(f).exists() {
            return (false, format!("missing: {f} does not exist"));
        }
    }
    let mut cmd = Command::new(step.argv[0]);
    cmd.args(&step.argv[1..]).current_dir(root);
    for (k, v) in step.env {
        cmd.env(k, v);
    }
    println!("==> {}: {}", step.name, util::display_command(&cmd));
    match util::run_captured(&mut cmd, Duration::from_secs(step.timeout_s)) {
        Err(e) => (false, format!("cannot run: {e}")),
        Ok(c) if c.timed_out => (
            false,
            format!(
                "timed out after {}s\n{}",
                step.timeout_s,
                indent(&util::tail(&format!("{}{}", c.stdout, c.stderr), 60))
            ),
        ),
        Ok(c) if !c.success() => (
            false,
            format!(
                "exit status {}\n{}",
                c.code.unwrap_or(-1),
                indent(&util::tail(&format!("{}{}", c.stdout, c.stderr), 60))
            ),
        ),
        Ok(c) => (true, format!("{:.1}s", c.elapsed.as_secs_f64())),
    }
}

fn build_kernel(root: &Path) -> (bool, String) {
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--release", "-p", util::KERNEL_PACKAGE])
        .current_dir(root);
    println!("==> build-kernel: {}", util::display_command(&cmd));
    match util::run_captured(&mut cmd, Duration::from_secs(900)) {
        Ok(c) if c.success() && util::kernel_elf().exists() => {
            (true, format!("{:.1}s", c.elapsed.as_secs_f64()))
        }
        Ok(c) if c.success() => (
            false,
            format!("{} was not produced", util::kernel_elf().display()),
        ),
        Ok(c) => (
            false,
            format!(
                "exit status {}\n{}",
                c.code.unwrap_or(-1),
                indent(&util::tail(&c.stderr, 60))
            ),
        ),
        Err(e) => (false, format!("cannot run cargo: {e}")),
    }
}

/// A run under real (nested) KVM through `cargo xtask kvm` (tests-qemu/src/kvm.rs).
struct KvmCheck {
    name: &'static str,
    /// Arguments to `kvm`; `{mutant:NAME}` is replaced by that mutant's ELF.
    args: &'static [&'static str],
}

/// Under KVM trapped WFI really blocks, interrupts are injected at once and every GIC MMIO
/// access exits to the VMM: the in-guest tests must pass there too, and the stress must
/// still catch the timer-arming mutant.
const KVM_CHECKS: &[KvmCheck] = &[
    KvmCheck {
        name: "kvm-test-smp4",
        args: &["--smp", "4", "--append", "test"],
    },
    KvmCheck {
        name: "kvm-stress-smp4",
        args: &["--smp", "4", "--append", "stress"],
    },
    KvmCheck {
        name: "kvm-mutant-timer-arm-unmasked",
        args: &[
            "--kernel",
            "{mutant:timer_arm_unmasked}",
            "--smp",
            "4",
            "--append",
            "stress",
            "--mutant-expect-fail",
        ],
    },
];

enum KvmOutcome {
    Pass(String),
    Skipped(String),
    Fail(String),
}

fn run_kvm_check(k: &KvmCheck) -> KvmOutcome {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return KvmOutcome::Fail(format!("cannot find the harness binary: {e}")),
    };
    let mut cmd = Command::new(exe);
    cmd.arg("kvm").current_dir(util::workspace_root());
    for a in k.args {
        match a.strip_prefix("{mutant:").and_then(|m| m.strip_suffix('}')) {
            Some(m) if !mutant_elf(m).exists() => {
                return KvmOutcome::Fail(format!("mutant {m} was not built"))
            }
            Some(m) => cmd.arg(mutant_elf(m)),
            None => cmd.arg(a),
        };
    }
    println!("==> {}: {}", k.name, util::display_command(&cmd));
    match util::run_captured(&mut cmd, Duration::from_secs(600)) {
        Err(e) => KvmOutcome::Fail(format!("cannot run: {e}")),
        Ok(c) if c.timed_out => KvmOutcome::Fail("timed out after 600s".into()),
        Ok(c) if c.code == Some(i32::from(crate::kvm::EXIT_SETUP)) => {
            KvmOutcome::Skipped("the nested-KVM packages could not be prepared".into())
        }
        Ok(c) if c.success() => KvmOutcome::Pass(format!("{:.1}s", c.elapsed.as_secs_f64())),
        Ok(c) => KvmOutcome::Fail(format!(
            "exit status {}\n{}",
            c.code.unwrap_or(-1),
            indent(&util::tail(&format!("{}{}", c.stdout, c.stderr), 60))
        )),
    }
}

/// Where the kernel built with `--cfg aiolos_mutant="NAME"` lands.
fn mutant_elf(name: &str) -> PathBuf {
    util::workspace_root()
        .join("target/mutants")
        .join(name)
        .join("aarch64-unknown-none/release/kernel")
}

/// Build the kernel with one mutant enabled, in its own target directory. The cfg is added
/// with `--config` so that it is appended to `.cargo/config.toml`'s rustflags (RUSTFLAGS
/// would replace them, linker script included).
fn build_mutant(root: &Path, name: &str) -> (bool, String) {
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--release", "-p", util::KERNEL_PACKAGE, "--config"])
        .arg(format!(
            "target.aarch64-unknown-none.rustflags=['--cfg','aiolos_mutant=\"{name}\"']"
        ))
        .env("CARGO_TARGET_DIR", root.join("target/mutants").join(name))
        .current_dir(root);
    println!("==> build-mutant-{name}: {}", util::display_command(&cmd));
    match util::run_captured(&mut cmd, Duration::from_secs(900)) {
        Ok(c) if c.success() && mutant_elf(name).exists() => {
            (true, format!("{:.1}s", c.elapsed.as_secs_f64()))
        }
        Ok(c) => (
            false,
            format!(
                "exit status {}\n{}",
                c.code.unwrap_or(-1),
                indent(&util::tail(&c.stderr, 60))
            ),
        ),
        Err(e) => (false, format!("cannot run cargo: {e}")),
    }
}

/// The per-configuration boot-time table: one row per matrix point, one column per bootargs.
fn print_times(results: &[BootResult]) {
    println!("\nboot times (s):");
    let cols: Vec<&str> = MATRIX_BOOTARGS.iter().map(|(s, _)| *s).collect();
    let mut rows: Vec<String> = Vec::new();
    let mut others: Vec<&BootResult> = Vec::new();
    for r in results {
        match cols.iter().find(|c| r.name.ends_with(&format!("-{c}"))) {
            Some(c) => {
                let row = r.name[..r.name.len() - c.len() - 1].to_string();
                if !rows.contains(&row) {
                    rows.push(row);
                }
            }
            None => others.push(r),
        }
    }
    rows.sort();
    print!("  {:<28}", "configuration");
    for c in &cols {
        print!(" {c:>9}");
    }
    println!();
    for row in &rows {
        print!("  {row:<28}");
        for c in &cols {
            let cell = results
                .iter()
                .find(|r| r.name == format!("{row}-{c}"))
                .map(|r| {
                    format!(
                        "{:.2}{}",
                        r.elapsed.as_secs_f64(),
                        if r.ok { "" } else { "!" }
                    )
                })
                .unwrap_or_else(|| "-".into());
            print!(" {cell:>9}");
        }
        println!();
    }
    for r in others {
        println!(
            "  {:<28} {:>9}",
            r.name,
            format!(
                "{:.2}{}",
                r.elapsed.as_secs_f64(),
                if r.ok { "" } else { "!" }
            )
        );
    }
    println!("  (! = failed)");
}

pub fn cmd(args: &[String]) -> ExitCode {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("test: {e}\noptions:\n{HELP}");
            return ExitCode::from(2);
        }
    };
    if o.list {
        for s in STEPS.iter().filter(|s| o.selected(s.name)) {
            println!("{}", s.name);
        }
        for c in DTB_CHECKS.iter().filter(|c| o.selected(c.name)) {
            println!("{}", c.name);
        }
        let mut jobs = matrix_jobs(o.quick);
        jobs.extend(case_jobs().unwrap_or_default());
        jobs.extend(image_jobs().unwrap_or_default());
        for j in jobs.iter().filter(|j| o.selected(&j.name)) {
            let extra = j
                .cfg
                .bootargs()
                .map(|b| format!(" (bootargs: {b})"))
                .unwrap_or_default();
            println!("{}{extra}", j.name);
        }
        return ExitCode::SUCCESS;
    }
    if let Err(e) = setup::ensure(setup::Need::All, false) {
        eprintln!("test: setup failed: {e}");
        println!("0 passed, 1 failed");
        return ExitCode::FAILURE;
    }
    let root = util::workspace_root();
    let suite_start = Instant::now();
    let mut tally = Tally::default();

    for step in STEPS.iter().filter(|s| o.selected(s.name)) {
        let (ok, detail) = run_step(step, &root);
        if ok {
            println!("    {} ... ok ({detail})", step.name);
        } else {
            println!("    {} ... FAILED: {}", step.name, detail.trim_end());
        }
        tally.record(step.name, ok);
    }

    let qemu = crate::qemu::version();
    for c in DTB_CHECKS.iter().filter(|c| o.selected(c.name)) {
        let requires = Requires {
            qemu_major: c.qemu_major,
            files: c.needs.iter().map(|f| root.join(f)).collect(),
        };
        if let Some(why) = requires.unmet(qemu) {
            println!("    {} ... skipped: {why}", c.name);
            tally.skipped += 1;
            continue;
        }
        let r = run_dtb_check(c, &root);
        match &r {
            Ok(v) => println!("    {} ... ok ({v})", c.name),
            Err(e) => println!("    {} ... FAILED: {e}", c.name),
        }
        tally.record(c.name, r.is_ok());
    }

    let mut jobs: Vec<BootJob> = matrix_jobs(o.quick);
    match case_jobs() {
        Ok(c) => jobs.extend(c),
        Err(e) => {
            println!("    cases ... FAILED: {e}");
            tally.record("cases", false);
        }
    }
    match image_jobs() {
        Ok(c) => jobs.extend(c),
        Err(e) => {
            println!("    image-boots ... FAILED: {e}");
            tally.record("image-boots", false);
        }
    }
    jobs.retain(|j| o.selected(&j.name));
    jobs.retain(|j| match j.requires.unmet(qemu) {
        Some(why) => {
            println!("    {} ... skipped: {why}", j.name);
            tally.skipped += 1;
            false
        }
        None => true,
    });
    if !jobs.is_empty() {
        let (ok, detail) = match &o.kernel {
            Some(k) if k.exists() => (true, format!("using {}", k.display())),
            Some(k) => (false, format!("{} does not exist", k.display())),
            None => build_kernel(&root),
        };
        tally.record("build-kernel", ok);
        let mut mutants: Vec<&'static str> = jobs.iter().filter_map(|j| j.mutant).collect();
        mutants.sort_unstable();
        mutants.dedup();
        for m in mutants {
            let (built, detail) = build_mutant(&root, m);
            tally.record(&format!("build-mutant-{m}"), built);
            if built {
                println!("    build-mutant-{m} ... ok ({detail})");
            } else {
                println!("    build-mutant-{m} ... FAILED: {}", detail.trim_end());
                jobs.retain(|j| j.mutant != Some(m));
            }
        }
        if ok {
            println!("    build-kernel ... ok ({detail})");
            println!(
                "==> {} QEMU boots on {} workers, timeout {}s each",
                jobs.len(),
                o.jobs.min(jobs.len()),
                o.timeout.as_secs()
            );
            let kernel: PathBuf = match &o.kernel {
                Some(k) => std::path::absolute(k).unwrap_or_else(|_| k.clone()),
                None => util::kernel_elf(),
            };
            if jobs.iter().any(|j| j.cfg.image) {
                // The Image is derived from the ELF being booted (as `cargo xtask image` does).
                let out = util::scratch_dir().join("Image");
                let made = std::fs::create_dir_all(util::scratch_dir())
                    .map_err(|e| e.to_string())
                    .and_then(|()| image::write_image(&kernel, &out));
                match made {
                    Ok(h) => {
                        println!(
                            "    build-image ... ok ({}, image_size {:#x}, text_offset {:#x})",
                            out.display(),
                            h.image_size,
                            h.text_offset
                        );
                        tally.record("build-image", true);
                        for j in jobs.iter_mut().filter(|j| j.cfg.image) {
                            j.cfg.kernel = Some(out.clone());
                        }
                    }
                    Err(e) => {
                        println!("    build-image ... FAILED: {e}");
                        tally.record("build-image", false);
                        let n = jobs.iter().filter(|j| j.cfg.image).count();
                        println!("    skipping {n} Image boots: no Image");
                        tally.skipped += n;
                        jobs.retain(|j| !j.cfg.image);
                    }
                }
            }
            let results = run_pool(jobs, &kernel, &o);
            for r in &results {
                tally.record(&r.name, r.ok);
            }
            print_times(&results);
        } else {
            println!("    build-kernel ... FAILED: {}", detail.trim_end());
            println!("    skipping {} boots: no kernel", jobs.len());
            tally.skipped += jobs.len();
        }
    }

    for k in KVM_CHECKS.iter().filter(|k| o.selected(k.name)) {
        if o.quick {
            break;
        }
        match run_kvm_check(k) {
            KvmOutcome::Pass(detail) => {
                println!("    {} ... ok ({detail})", k.name);
                tally.record(k.name, true);
            }
            KvmOutcome::Skipped(why) => {
                println!("    {} ... skipped: {why}", k.name);
                tally.skipped += 1;
            }
            KvmOutcome::Fail(why) => {
                println!("    {} ... FAILED: {}", k.name, why.trim_end());
                tally.record(k.name, false);
            }
        }
    }

    println!("\nsuite time: {:.1}s", suite_start.elapsed().as_secs_f64());
    if !tally.failures.is_empty() {
        println!("failed: {}", tally.failures.join(", "));
    }
    let mut summary = format!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.skipped > 0 {
        summary.push_str(&format!(", {} skipped", tally.skipped));
    }
    println!("{summary}");
    if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_sizes() {
        assert_eq!(matrix_jobs(false).len(), 48 * MATRIX_BOOTARGS.len());
        assert_eq!(matrix_jobs(true).len(), 8 * MATRIX_BOOTARGS.len());
        let names: Vec<String> = matrix_jobs(false).into_iter().map(|j| j.name).collect();
        assert!(names.contains(&"gic2-el2-smp8-cortex-a53-test".to_string()));
    }

    #[test]
    fn cases_parse() {
        let c = case_jobs().unwrap();
        assert_eq!(c.len(), CASES.len());
        let p = c
            .iter()
            .find(|j| j.name == "inject-panic-secondary")
            .unwrap();
        assert_eq!(p.cfg.bootargs().as_deref(), Some("inject=panic-secondary"));
    }

    #[test]
    fn image_jobs_shape() {
        let j = image_jobs().unwrap();
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

    #[test]
    fn requirements() {
        assert_eq!(
            crate::qemu::parse_version("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)\n"),
            Some((10, 0))
        );
        assert_eq!(
            crate::qemu::parse_version("QEMU emulator version 7.2.22 (Debian)"),
            Some((7, 2))
        );
        assert_eq!(crate::qemu::parse_version("nope"), None);
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
    fn options() {
        let o = parse(&[
            "--quick".into(),
            "--filter=gic2".into(),
            "-j".into(),
            "2".into(),
        ])
        .unwrap();
        assert!(o.quick && o.jobs == 2);
        assert!(o.selected("gic2-el1") && !o.selected("gic3-el1"));
        assert!(parse(&["--nope".into()]).is_err());
    }
}
