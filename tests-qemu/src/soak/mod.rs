//! `cargo xtask soak`: many stress rounds in few QEMU processes (the kernel reboots itself
//! with PSCI SYSTEM_RESET after each passing round, QEMU boots the same image again), over a
//! seeded random schedule of configurations, with a progress line and a summary table.
//! Under `--accel kvm` each process is one nested-KVM outer boot ([`kvm`]) carrying its
//! rounds as inner reboots; both kinds feed the same serial-stream counter ([`run::Counter`]).

mod journal;
mod kvm;
mod plan;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::boot::build::{KernelBuild, Output};
use crate::util;

pub const HELP: &str = "usage: cargo xtask soak [--boots N] [--accel tcg|kvm] [--seed S] [--jobs J]
                        [--per-process R] [--mutant NAME] [--kernel ELF] [--append ARGS]
                        [--gic 2|3] [--journal FILE] [--for MINUTES]

Runs N stress rounds (default 3000). Each QEMU process carries up to R rounds (default 25):
the kernel (bootargs `stress reboot`) ends a passing round with PSCI SYSTEM_RESET and QEMU
boots it again; the harness counts `round: ok` lines and stops the process after R rounds,
at the first failure, or after 90 s of silence (a hang; a long phase prints a `progress:`
line every 10 s). Each process gets a configuration drawn from the seed: smp 2-8 (one in ten
at 16), GICv2/v3, EL1/EL2, cpu cortex-a53/a57/a72/a76, neoverse-n1 or max, and the ELF or the
Image at a 2 MiB-aligned base. The same seed gives the same schedule. Failed processes'
serial logs are kept under target/soak/.

--accel kvm: each process is one outer arm64 Linux boot under TCG (the `cargo xtask kvm`
kit) whose inner QEMU runs the kernel under real KVM without -no-reboot, so the process's R
rounds (default 100) are inner reboots inside one outer boot. Configurations: the seed's smp
(at most 8), GICv3, EL1, -cpu host, the ELF. Exit status 77 if the arm64 packages cannot be
prepared.

options:
  --boots N         rounds in total (default 3000)
  --accel tcg|kvm   accelerator (default tcg; kvm: nested, see above)
  --seed S          schedule seed (default: from the clock; printed)
  --jobs J          QEMU processes at once (default 2; with kvm 1)
  --per-process R   rounds per QEMU process (default 25; with kvm 100)
  --mutant NAME     soak a kernel built with --cfg aiolos_mutant=\"NAME\" (must fail)
  --kernel ELF      boot this kernel ELF (e.g. a saved copy) instead of building one
  --append ARGS     extra bootargs (e.g. `stress=4` or `stress_ring=1000000`)
  --gic 2|3         only this GIC version (GICv2: smp capped at 8); the other draws unchanged
  --journal FILE    record each finished process in FILE and skip those already recorded:
                    a soak stopped part-way goes on with the same command, and its summary
                    covers every sitting (the file's header must match: same options, same
                    kernel file, so use --kernel with a saved copy)
  --for MINUTES     a sitting's budget: start no process after MINUTES (those running
                    finish and are recorded), then print the summary (with --journal, over
                    every sitting so far; `--for 0` only prints it)

Exit status: 0 if every round passed, 1 otherwise (77: kvm packages not prepared; 3: --for
ran out with rounds left and none failed).";

/// Where the rounds run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    /// Nested KVM: inner reboots under one outer Linux boot per process.
    Kvm,
}

/// Soak options (`--help`).
pub struct Opts {
    pub boots: u32,
    pub accel: Accel,
    pub seed: u64,
    pub jobs: usize,
    pub per_process: u32,
    pub mutant: Option<String>,
    pub kernel: Option<PathBuf>,
    pub append: String,
    /// Only this GIC version (`--gic`); the other draws of the schedule are unchanged.
    pub gic: Option<u32>,
    /// `--journal`: record finished processes, skip recorded ones.
    pub journal: Option<PathBuf>,
    /// `--for`: start no process after this long (a sitting's budget).
    pub sitting: Option<Duration>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        boots: 3000,
        accel: Accel::Tcg,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        jobs: 0,
        per_process: 0,
        mutant: None,
        kernel: None,
        append: String::new(),
        gic: None,
        journal: None,
        sitting: None,
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
            "--journal" => o.journal = Some(PathBuf::from(args.value()?)),
            "--for" => o.sitting = Some(Duration::from_secs(num(args.value()?)? * 60)),
            "--gic" => match args.value()?.as_str() {
                "2" => o.gic = Some(2),
                "3" => o.gic = Some(3),
                v => return Err(format!("--gic: `{v}` is not 2 or 3")),
            },
            "--accel" => match args.value()?.as_str() {
                "tcg" => o.accel = Accel::Tcg,
                "kvm" => o.accel = Accel::Kvm,
                v => return Err(format!("--accel: `{v}` is not tcg or kvm")),
            },
            _ => return Err(format!("unknown option `{key}` (see --help)")),
        }
    }
    if o.boots == 0 {
        return Err("--boots must be at least 1".into());
    }
    let kvm = o.accel == Accel::Kvm;
    if kvm && o.gic == Some(2) {
        return Err("--gic 2 with --accel kvm: the outer VM's KVM has no GICv2 emulation".into());
    }
    if o.jobs == 0 {
        o.jobs = if kvm { 1 } else { 2 };
    }
    if o.per_process == 0 {
        o.per_process = if kvm { 100 } else { 25 };
    }
    Ok(o)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) * p / 100).min(sorted.len() - 1)]
}

/// How a soak ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Every failed process's reason (`round N: exit: fail: ...`, or a hang).
    Failed(Vec<String>),
    /// Nested KVM could not be prepared (the arm64 packages); nothing ran.
    Skipped(String),
    /// `--for` ran out with rounds left and none failed (with `--journal`, the same command
    /// goes on).
    Incomplete,
}

/// Exit status of a soak stopped by `--for` with rounds left and no failure.
pub const EXIT_INCOMPLETE: u8 = 3;

/// `cargo xtask soak`.
pub fn cmd(args: &[String]) -> ExitCode {
    match parse(args) {
        Ok(o) => match soak(&o) {
            Verdict::Passed => ExitCode::SUCCESS,
            Verdict::Failed(_) => ExitCode::FAILURE,
            Verdict::Incomplete => ExitCode::from(EXIT_INCOMPLETE),
            Verdict::Skipped(why) => {
                eprintln!("soak: setup failed: {why}");
                ExitCode::from(crate::boot::kvm::EXIT_SETUP)
            }
        },
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Run the soak (prints progress and the summary).
pub fn soak(o: &Opts) -> Verdict {
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
            return Verdict::Failed(vec![format!("kernel: {e}")]);
        }
    };
    let slots = match o.accel {
        Accel::Tcg => plan::schedule(o.seed, o.boots, o.per_process, o.gic),
        Accel::Kvm => plan::schedule_kvm(o.seed, o.boots, o.per_process),
    };
    let journal = match &o.journal {
        Some(path) => match journal::Journal::open(path, o, &kernel, slots.len()) {
            Ok(j) => Some(j),
            Err(e) => {
                eprintln!("soak: {e}");
                return Verdict::Failed(vec![e]);
            }
        },
        None => None,
    };
    let earlier: Vec<&journal::Record> = journal.iter().flat_map(|j| j.done.values()).collect();
    let earlier_rounds: usize = earlier.iter().map(|r| slots[r.slot].rounds as usize).sum();
    // Slots still to run (all of them without a journal).
    let pending: Vec<usize> = (0..slots.len())
        .filter(|i| !journal.as_ref().is_some_and(|j| j.done.contains_key(i)))
        .collect();
    let dir = util::target_dir().join("soak");
    let _ = std::fs::create_dir_all(&dir);
    if let Some(j) = &journal {
        println!(
            "soak: journal {}: sitting {}, {} of {} processes ({earlier_rounds} rounds) recorded by earlier sittings",
            o.journal.as_ref().map_or(String::new(), |p| p.display().to_string()),
            j.session,
            earlier.len(),
            slots.len()
        );
    }
    println!(
        "soak: {} rounds in {} {}, {} at once, seed {}",
        o.boots,
        slots.len(),
        match o.accel {
            Accel::Tcg => "QEMU processes",
            Accel::Kvm => "nested-KVM outer boots",
        },
        o.jobs,
        o.seed
    );
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let setup_failed = Mutex::new(None::<String>);
    let done_rounds = AtomicUsize::new(earlier_rounds);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..o.jobs.min(pending.len()) {
            s.spawn(|| loop {
                // The sitting's budget: no new process once it is spent (those running
                // finish and are recorded).
                if o.sitting.is_some_and(|t| start.elapsed() >= t) {
                    break;
                }
                // Relaxed: only hands out indices into `pending`; results travel through
                // the Mutex.
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = pending.get(k) else { break };
                let slot = &slots[i];
                // Named for what ran, so that a later soak (a negative control) does not
                // overwrite a failed one's log.
                let log: PathBuf = dir.join(format!(
                    "{}{}seed{}-proc{i}.log",
                    if o.accel == Accel::Kvm { "kvm-" } else { "" },
                    o.mutant.as_ref().map_or(String::new(), |m| format!("{m}-")),
                    o.seed
                ));
                let out = match o.accel {
                    Accel::Tcg => run::run(slot, &kernel, &o.append, &log),
                    Accel::Kvm => match kvm::run(slot, &kernel, &o.append, &log) {
                        kvm::Ran::Done(out) => out,
                        kvm::Ran::Setup(e) => {
                            *setup_failed.lock().expect("no poisoning") = Some(e);
                            // No further process can run either. Relaxed: as above.
                            next.store(pending.len(), Ordering::Relaxed);
                            break;
                        }
                    },
                };
                let done = done_rounds.fetch_add(slot.rounds as usize, Ordering::Relaxed)
                    + slot.rounds as usize;
                let el = start.elapsed().as_secs_f64();
                if let Some(j) = &journal {
                    j.record(i, start.elapsed(), &out);
                }
                // This sitting's rate (earlier sittings' rounds are not in `el`).
                let rate = (done - earlier_rounds) as f64 / el.max(0.001);
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
    if let Some(e) = setup_failed.into_inner().expect("no poisoning") {
        return Verdict::Skipped(format!(
            "the nested-KVM packages could not be prepared: {e}"
        ));
    }
    let mut results = results.into_inner().expect("no poisoning");
    // Relaxed: the workers are joined (scope).
    let ran = next.load(Ordering::Relaxed).min(pending.len());
    let incomplete = ran < pending.len();
    if incomplete {
        println!(
            "\nsoak: --for {} min spent: {} of {} processes not started{}",
            o.sitting.map_or(0, |t| t.as_secs() / 60),
            pending.len() - ran,
            slots.len(),
            if o.journal.is_some() {
                "; the same command goes on with them"
            } else {
                ""
            }
        );
    }
    let earlier_wall = journal
        .as_ref()
        .map_or(Duration::ZERO, |j| j.earlier_wall());
    // Sittings that ran something: the earlier ones recorded, and this one if it ran a
    // process (`--for 0` only reads).
    let sittings = journal.as_ref().map(|j| {
        let earlier: std::collections::BTreeSet<u32> = j.done.values().map(|r| r.session).collect();
        earlier.len() + usize::from(ran > 0)
    });
    if let Some(j) = journal {
        results.extend(j.done.into_values().map(|r| r.outcome));
    }
    let mut times: Vec<Duration> = results.iter().flat_map(|r| r.round_times.clone()).collect();
    times.sort();
    let sum = |f: fn(&run::Outcome) -> u64| results.iter().map(f).sum::<u64>();
    let rounds = sum(|r| r.rounds_ok as u64);
    let hangs = results.iter().filter(|r| r.hung).count();
    let failures = results.iter().filter(|r| r.failure.is_some()).count() - hangs;
    println!("\nsoak summary (seed {}, {:?}):", o.seed, o.accel);
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
        (start.elapsed() + earlier_wall).as_secs_f64()
    );
    if let Some(n) = sittings {
        println!("  {:<28} {n} (journal)", "sittings");
    }
    if hangs + failures > 0 {
        println!("  failed processes' serial logs: {}", dir.display());
        Verdict::Failed(results.into_iter().filter_map(|r| r.failure).collect())
    } else if incomplete {
        Verdict::Incomplete
    } else {
        Verdict::Passed
    }
}
