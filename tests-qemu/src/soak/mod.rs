//! `cargo xtask soak`: many stress rounds in few QEMU processes (the kernel reboots itself
//! with PSCI SYSTEM_RESET after each passing round, QEMU boots the same image again), over a
//! seeded random schedule of configurations, with a progress line and a summary table.

mod plan;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::boot::build::{KernelBuild, Output};
use crate::util;

pub const HELP: &str = "usage: cargo xtask soak [--boots N] [--accel tcg] [--seed S] [--jobs J]
                        [--per-process R] [--mutant NAME] [--kernel ELF] [--append ARGS]
                        [--gic 2|3]

Runs N stress rounds (default 3000). Each QEMU process carries up to R rounds (default 25):
the kernel (bootargs `stress reboot`) ends a passing round with PSCI SYSTEM_RESET and QEMU
boots it again; the harness counts `round: ok` lines and stops the process after R rounds,
at the first failure, or after 90 s of silence (a hang). Each process gets a configuration
drawn from the seed: smp 2-8 (one in ten at 16), GICv2/v3, EL1/EL2, cpu cortex-a53/a57/a72/
a76, neoverse-n1 or max, and the ELF or the Image at a 2 MiB-aligned base. The same seed gives
the same schedule. Failed processes' serial logs are kept under target/soak/.

options:
  --boots N         rounds in total (default 3000)
  --accel tcg       accelerator (only tcg here; the nested-KVM soak is not wired yet)
  --seed S          schedule seed (default: from the clock; printed)
  --jobs J          QEMU processes at once (default 2)
  --per-process R   rounds per QEMU process (default 25)
  --mutant NAME     soak a kernel built with --cfg aiolos_mutant=\"NAME\" (must fail)
  --kernel ELF      boot this kernel ELF (e.g. a saved copy) instead of building one
  --append ARGS     extra bootargs (e.g. `stress=4` or `stress_ring=1000000`)
  --gic 2|3         only this GIC version (GICv2: smp capped at 8); the other draws unchanged

Exit status: 0 if every round passed, 1 otherwise.";

/// Soak options (`--help`).
pub struct Opts {
    pub boots: u32,
    pub seed: u64,
    pub jobs: usize,
    pub per_process: u32,
    pub mutant: Option<String>,
    pub kernel: Option<PathBuf>,
    pub append: String,
    /// Only this GIC version (`--gic`); the other draws of the schedule are unchanged.
    pub gic: Option<u32>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        boots: 3000,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        jobs: 2,
        per_process: 25,
        mutant: None,
        kernel: None,
        append: String::new(),
        gic: None,
    };
    let mut args = crate::args::Args::new(args);
    while let Some(key) = args.next_key() {
        let num = |v: String| -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("{key}: `{v}` is not a number"))
        };
        match key {
            "--boots" => o.boots = num(args.value()?)? as u32,
            "--seed" => o.seed = num(args.value()?)?,
            "--jobs" => o.jobs = num(args.value()?)?.max(1) as usize,
            "--per-process" => o.per_process = num(args.value()?)?.max(1) as u32,
            "--mutant" => o.mutant = Some(args.value()?),
            "--append" => o.append = args.value()?,
            "--kernel" => o.kernel = Some(PathBuf::from(args.value()?)),
            "--gic" => match args.value()?.as_str() {
                "2" => o.gic = Some(2),
                "3" => o.gic = Some(3),
                v => return Err(format!("--gic: `{v}` is not 2 or 3")),
            },
            "--accel" => match args.value()?.as_str() {
                "tcg" => {}
                "kvm" => {
                    return Err(
                        "--accel kvm: the nested-KVM soak is not wired yet (see README)".into(),
                    )
                }
                v => return Err(format!("--accel: `{v}` is not tcg or kvm")),
            },
            _ => return Err(format!("unknown option `{key}` (see --help)")),
        }
    }
    if o.boots == 0 {
        return Err("--boots must be at least 1".into());
    }
    Ok(o)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) * p / 100).min(sorted.len() - 1)]
}

/// `cargo xtask soak`.
pub fn cmd(args: &[String]) -> ExitCode {
    match parse(args) {
        Ok(o) if soak(&o) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

impl Opts {
    /// A short soak for the suite: `boots` rounds from a fixed seed, `append` as bootargs.
    pub fn short(boots: u32, seed: u64, jobs: usize, append: &str) -> Opts {
        Opts {
            boots,
            seed,
            jobs,
            per_process: 25,
            mutant: None,
            kernel: None,
            append: append.into(),
            gic: None,
        }
    }
}

/// Run the soak; true if every round passed (prints progress and the summary).
pub fn soak(o: &Opts) -> bool {
    let build = match &o.mutant {
        Some(m) => KernelBuild::mutant(m),
        None => KernelBuild::release(),
    };
    let built = match &o.kernel {
        Some(k) if k.is_file() => Ok(k.clone()),
        Some(k) => Err(format!("--kernel {}: no such file", k.display())),
        None => build
            .build(Output::Captured, |c| println!("==> build: {c}"))
            .map(|(k, _)| k),
    };
    let kernel = match built {
        Ok(k) => k,
        Err(e) => {
            eprintln!("soak: kernel: {e}");
            return false;
        }
    };
    let slots = plan::schedule(o.seed, o.boots, o.per_process, o.gic);
    let dir = util::target_dir().join("soak");
    let _ = std::fs::create_dir_all(&dir);
    println!(
        "soak: {} rounds in {} QEMU processes, {} at once, seed {}",
        o.boots,
        slots.len(),
        o.jobs,
        o.seed
    );
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let done_rounds = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..o.jobs.min(slots.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = slots.get(i) else { break };
                let log: PathBuf = dir.join(format!("seed{}-proc{i}.log", o.seed));
                let out = run::run(slot, &kernel, &o.append, &log);
                let done = done_rounds.fetch_add(slot.rounds as usize, Ordering::Relaxed)
                    + slot.rounds as usize;
                let el = start.elapsed().as_secs_f64();
                let rate = done as f64 / el.max(0.001);
                let eta = (o.boots as f64 - done as f64).max(0.0) / rate.max(1e-9);
                println!(
                    "soak: {done}/{} rounds, {rate:.2}/s, ETA {:.0}s | proc {i} {} {}/{} ok{}",
                    o.boots,
                    eta,
                    slot.describe(),
                    out.rounds_ok,
                    slot.rounds,
                    out.failure.as_ref().map_or(String::new(), |f| format!(
                        " FAILED: {f} (log {})",
                        log.display()
                    ))
                );
                results.lock().expect("no poisoning").push(out);
            });
        }
    });
    let results = results.into_inner().expect("no poisoning");
    let mut times: Vec<Duration> = results.iter().flat_map(|r| r.round_times.clone()).collect();
    times.sort();
    let sum = |f: fn(&run::Outcome) -> u64| results.iter().map(f).sum::<u64>();
    let rounds = sum(|r| r.rounds_ok as u64);
    let hangs = results.iter().filter(|r| r.hung).count();
    let failures = results.iter().filter(|r| r.failure.is_some()).count() - hangs;
    println!("\nsoak summary (seed {}):", o.seed);
    println!("  {:<28} {}", "rounds passed", rounds);
    println!("  {:<28} {}", "rounds requested", o.boots);
    println!("  {:<28} {}", "cross-core wakeups", sum(|r| r.wakeups));
    println!("  {:<28} {}", "kicks", sum(|r| r.kicks));
    println!("  {:<28} {}", "skipped notifies", sum(|r| r.skipped));
    println!("  {:<28} {}", "SGIs", sum(|r| r.sgis));
    println!("  {:<28} {}", "hangs", hangs);
    println!("  {:<28} {}", "failures", failures);
    println!(
        "  {:<28} {:.2}s",
        "round time p50",
        percentile(&times, 50).as_secs_f64()
    );
    println!(
        "  {:<28} {:.2}s",
        "round time p99",
        percentile(&times, 99).as_secs_f64()
    );
    println!(
        "  {:<28} {:.0}s",
        "wall time",
        start.elapsed().as_secs_f64()
    );
    if hangs + failures > 0 {
        println!("  failed processes' serial logs: {}", dir.display());
        false
    } else {
        true
    }
}
