//! `cargo xtask test`: formatting, lints, host unit tests, loom, spin, DTB checks, the QEMU
//! boot matrix, the bad-input, stress and Image boots, the SD card, the U-Boot boots, and
//! the nested-KVM runs. Ends with a
//! line `N passed, M failed[, K skipped]`.
//!
//! The tables are in `crate::cases`; this module runs them in that order, phase by phase:
//! [`options`] (the command line), [`pool`] (the QEMU boots), [`report`] (the tally, times).

pub mod options;
pub mod pool;
pub mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::boot::build::{KernelBuild, Output};
use crate::cases::{self, bench::BENCH_STEPS, dtb::DTB_CHECKS, kvm::KVM_CHECKS, steps::STEPS};
use crate::sdcard::checks as sdcard;
use crate::{image, setup, util};
use options::Options;
use pool::BootJob;
use report::Tally;

pub use options::HELP;

pub fn cmd(args: &[String]) -> ExitCode {
    let o = match options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("test: {e}\noptions:\n{HELP}");
            return ExitCode::from(2);
        }
    };
    if o.list {
        list(&o);
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
    let qemu = crate::boot::qemu::version();
    steps(&o, &root, &mut tally);
    dtb_checks(&o, &root, qemu, &mut tally);
    boots(&o, qemu, &mut tally);
    cases::uefi::run(&o, &mut tally);
    cases::net::run(&o, &mut tally);
    sdcard_checks(&o, &mut tally);
    firmware_checks(&o, &mut tally);
    soak_checks(&o, &mut tally);
    kvm_checks(&o, &mut tally);
    println!("\nsuite time: {:.1}s", suite_start.elapsed().as_secs_f64());
    tally.finish()
}

/// `--list`: the selected names, in run order.
fn list(o: &Options) {
    let mut names: Vec<String> = STEPS
        .iter()
        .chain(BENCH_STEPS)
        .map(|s| s.name.to_string())
        .collect();
    names.extend(DTB_CHECKS.iter().map(|c| c.name.to_string()));
    for (_, jobs) in cases::boot_groups(o.quick) {
        for j in jobs.unwrap_or_default() {
            let extra = j
                .cfg
                .bootargs()
                .map(|b| format!(" (bootargs: {b})"))
                .unwrap_or_default();
            names.push(format!("{}{extra}", j.name));
        }
    }
    names.extend(cases::uefi::names().map(String::from));
    names.extend(cases::net::names().map(String::from));
    names.extend(sdcard::NAMES.iter().map(|n| n.to_string()));
    names.extend(cases::firmware::names().iter().map(|n| n.to_string()));
    if !o.quick {
        names.extend(cases::soak::SOAKS.iter().map(|c| c.name.to_string()));
        names.extend(KVM_CHECKS.iter().map(|k| k.name.to_string()));
    }
    // Filters match the name, not the bootargs note.
    for n in names
        .iter()
        .filter(|n| o.selected(n.split(" (bootargs: ").next().unwrap_or(n)))
    {
        println!("{n}");
    }
}

fn steps(o: &Options, root: &Path, tally: &mut Tally) {
    for step in STEPS
        .iter()
        .chain(BENCH_STEPS)
        .filter(|s| o.selected(s.name))
    {
        let (ok, detail) = cases::steps::run(step, root);
        if ok {
            println!("    {} ... ok ({detail})", step.name);
        } else {
            println!("    {} ... FAILED: {}", step.name, detail.trim_end());
        }
        tally.record(step.name, ok);
    }
}

fn dtb_checks(o: &Options, root: &Path, qemu: Option<(u32, u32)>, tally: &mut Tally) {
    for c in DTB_CHECKS.iter().filter(|c| o.selected(c.name)) {
        if let Some(why) = c.requires(root).unmet(qemu) {
            println!("    {} ... skipped: {why}", c.name);
            tally.skipped += 1;
            continue;
        }
        let r = cases::dtb::run(c, root);
        match &r {
            Ok(v) => println!("    {} ... ok ({v})", c.name),
            Err(e) => println!("    {} ... FAILED: {e}", c.name),
        }
        tally.record(c.name, r.is_ok());
    }
}

/// The selected QEMU boots, their requirements checked (unmet → skipped).
fn selected_boots(o: &Options, qemu: Option<(u32, u32)>, tally: &mut Tally) -> Vec<BootJob> {
    let mut jobs: Vec<BootJob> = Vec::new();
    for (group, j) in cases::boot_groups(o.quick) {
        match j {
            Ok(j) => jobs.extend(j),
            Err(e) => {
                println!("    {group} ... FAILED: {e}");
                tally.record(group, false);
            }
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
    jobs
}

/// The mutant kernels the selected boots and KVM checks need.
fn mutants_needed(o: &Options, jobs: &[BootJob]) -> Vec<&'static str> {
    let mut m: Vec<&'static str> = jobs.iter().filter_map(|j| j.mutant).collect();
    if !o.quick {
        m.extend(
            KVM_CHECKS
                .iter()
                .filter(|k| o.selected(k.name))
                .filter_map(|k| k.mutant),
        );
    }
    m.sort_unstable();
    m.dedup();
    m
}

fn boots(o: &Options, qemu: Option<(u32, u32)>, tally: &mut Tally) {
    let mut jobs = selected_boots(o, qemu, tally);
    let built = if jobs.is_empty() {
        None
    } else {
        Some(match &o.kernel {
            Some(k) if k.exists() => Ok(format!("using {}", k.display())),
            Some(k) => Err(format!("{} does not exist", k.display())),
            None => KernelBuild::release()
                .build(Output::Captured, |c| println!("==> build-kernel: {c}"))
                .map(|(_, t)| format!("{:.1}s", t.as_secs_f64())),
        })
    };
    if let Some(b) = &built {
        tally.record("build-kernel", b.is_ok());
    }
    for m in mutants_needed(o, &jobs) {
        let name = format!("build-mutant-{m}");
        let r = KernelBuild::mutant(m).build(Output::Captured, |c| println!("==> {name}: {c}"));
        tally.record(&name, r.is_ok());
        match r {
            Ok((_, t)) => println!("    {name} ... ok ({:.1}s)", t.as_secs_f64()),
            Err(e) => {
                println!(
                    "    {name} ... FAILED: {}",
                    report::indent_rest(&e).trim_end()
                );
                jobs.retain(|j| j.mutant != Some(m));
            }
        }
    }
    match built {
        None => {}
        Some(Ok(detail)) => {
            println!("    build-kernel ... ok ({detail})");
            run_boots(o, jobs, tally);
        }
        Some(Err(e)) => {
            println!(
                "    build-kernel ... FAILED: {}",
                report::indent_rest(&e).trim_end()
            );
            println!("    skipping {} boots: no kernel", jobs.len());
            tally.skipped += jobs.len();
        }
    }
}

/// With the kernel built: the Image (if any boot needs it), then the pool and the times.
fn run_boots(o: &Options, mut jobs: Vec<BootJob>, tally: &mut Tally) {
    println!(
        "==> {} QEMU boots on {} workers, timeout {}s each",
        jobs.len(),
        o.jobs.min(jobs.len()),
        o.timeout.as_secs()
    );
    let kernel: PathBuf = match &o.kernel {
        Some(k) => std::path::absolute(k).unwrap_or_else(|_| k.clone()),
        None => KernelBuild::release().elf(),
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
    let results = pool::run_pool(jobs, &kernel, o);
    for r in &results {
        tally.record(&r.name, r.ok);
    }
    report::print_times(&results);
}

/// The Raspberry Pi 4 SD-card checks (`sdcard/checks.rs`); they print their own lines.
fn sdcard_checks(o: &Options, tally: &mut Tally) {
    for (name, outcome) in sdcard::run(o.kernel.as_deref(), |n| o.selected(n)) {
        match outcome {
            sdcard::Outcome::Pass(_) => tally.record(name, true),
            sdcard::Outcome::Fail(_) => tally.record(name, false),
            sdcard::Outcome::Skipped(_) => tally.skipped += 1,
        }
    }
}

/// The U-Boot boots (`cases/firmware.rs`); they print their own lines.
fn firmware_checks(o: &Options, tally: &mut Tally) {
    use cases::firmware::Outcome;
    let selected = |n: &str| o.selected(n);
    for (name, outcome) in cases::firmware::run(o.kernel.as_deref(), selected, o.jobs, o.timeout) {
        match outcome {
            Outcome::Pass(_) => tally.record(name, true),
            Outcome::Fail(_) => tally.record(name, false),
            Outcome::Skipped(_) => tally.skipped += 1,
        }
    }
}

fn kvm_checks(o: &Options, tally: &mut Tally) {
    if o.quick {
        return;
    }
    for k in KVM_CHECKS.iter().filter(|k| o.selected(k.name)) {
        match cases::kvm::run(k) {
            cases::kvm::Outcome::Pass(detail) => {
                println!("    {} ... ok ({detail})", k.name);
                tally.record(k.name, true);
            }
            cases::kvm::Outcome::Skipped(why) => {
                println!("    {} ... skipped: {why}", k.name);
                tally.skipped += 1;
            }
            cases::kvm::Outcome::Fail(why) => {
                println!("    {} ... FAILED: {}", k.name, why.trim_end());
                tally.record(k.name, false);
            }
        }
    }
}

/// The soaks the suite runs (not with --quick): the table in `cases::soak`.
fn soak_checks(o: &Options, tally: &mut Tally) {
    if o.quick {
        return;
    }
    for c in cases::soak::SOAKS.iter().filter(|c| o.selected(c.name)) {
        let name = c.name;
        println!("==> {name}");
        let (ok, detail) = match (crate::soak::soak(&c.opts(o.jobs)), c.expect_failure) {
            (crate::soak::Verdict::Skipped(why), _) => {
                println!("    {name} ... skipped: {why}");
                tally.skipped += 1;
                continue;
            }
            (crate::soak::Verdict::Passed, None) => (true, String::new()),
            // The suite's soaks have no `--for`; a stop short of their rounds is a failure.
            (crate::soak::Verdict::Incomplete, _) => (false, ": stopped short".into()),
            (crate::soak::Verdict::Passed, Some(want)) => {
                (false, format!(": the mutant survived (expected `{want}`)"))
            }
            (crate::soak::Verdict::Failed(f), None) => (false, format!(": {}", f.join("; "))),
            (crate::soak::Verdict::Failed(f), Some(want)) => {
                let named = c.report.is_none_or(|r| {
                    std::fs::read_to_string(c.first_log()).is_ok_and(|l| l.contains(r))
                });
                let ok = !f.is_empty() && f.iter().all(|r| r.contains(want)) && named;
                (ok, format!(" ({})", f.join("; ")))
            }
        };
        println!(
            "    {name} ... {}{detail}",
            if ok { "ok" } else { "FAILED" }
        );
        tally.record(name, ok);
    }
}
