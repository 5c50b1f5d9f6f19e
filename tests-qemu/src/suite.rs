//! `cargo xtask test`: formatting, lints, host unit tests, loom, spin, the QEMU boot matrix
//! and the bad-input boots. Ends with a line `N passed, M failed[, K skipped]`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::dtb::{self, DtbFixture};
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
            "hal",
            "-p",
            "executor",
            "-p",
            "tests-qemu",
            "--features",
            "executor/std",
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
            "hal",
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
            "executor",
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
            "executor",
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
            })
        })
        .collect()
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
            let _ = tx.send(run_boot(&job, &kernel, timeout));
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
    cmd.args(["build", "--release", "-p", "kernel"])
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
    cmd.args(["build", "--release", "-p", "kernel", "--config"])
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
        let mut jobs = matrix_jobs(o.quick);
        jobs.extend(case_jobs().unwrap_or_default());
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

    let mut jobs: Vec<BootJob> = matrix_jobs(o.quick);
    match case_jobs() {
        Ok(c) => jobs.extend(c),
        Err(e) => {
            println!("    cases ... FAILED: {e}");
            tally.record("cases", false);
        }
    }
    jobs.retain(|j| o.selected(&j.name));
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
