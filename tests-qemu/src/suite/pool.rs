//! The QEMU boots of the suite: one boot (fixtures, the QEMU command, the verdict through
//! `boot::verdict`) and the worker pool that runs them.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::options::Options;
use super::report::indent;
use crate::boot::build::KernelBuild;
use crate::boot::qemu::BootConfig;
use crate::boot::verdict::{check_with_stderr, Expect};
use crate::cases::Requires;
use crate::dtb::{self, DtbFixture};
use crate::{image, util};

/// One QEMU boot of the suite.
pub struct BootJob {
    pub name: String,
    pub cfg: BootConfig,
    pub fixture: DtbFixture,
    pub expect: Expect,
    /// A mutant kernel to boot instead of the suite's kernel; a hang also counts as caught.
    pub mutant: Option<&'static str>,
    /// Unmet → the boot is skipped with a notice (counted as skipped, not passed).
    pub requires: Requires,
    /// A shorter timeout than the suite's (`--timeout`) for this boot.
    pub timeout: Option<Duration>,
}

pub struct BootResult {
    pub name: String,
    pub ok: bool,
    pub elapsed: Duration,
    pub report: String,
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
        Some(m) => KernelBuild::mutant(m).elf(),
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
    let mut verdict = check_with_stderr(&log, &cap.stderr, cap.code, &job.expect);
    if cap.timed_out {
        verdict = match job.mutant {
            // A mutant that hangs the guest was caught just as well, unless the case wants
            // it caught by name (`exit_contains`): then only the named failure counts.
            Some(_) if job.expect.exit_contains.is_empty() => Ok(()),
            Some(m) => Err(format!(
                "mutant {m} hung for {}s instead of failing by name",
                timeout.as_secs()
            )),
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
pub fn relocated_with_bootargs(
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

/// Runs the boots on a pool of `jobs` threads, printing each result as it arrives.
pub fn run_pool(jobs: Vec<BootJob>, kernel: &Path, o: &Options) -> Vec<BootResult> {
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
