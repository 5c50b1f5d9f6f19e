//! `cargo xtask bench`: the host half (the `bench` crate: aiolos vs embassy-executor vs tokio,
//! interleaved in one process) and the guest half (the kernel's `bench` binary under QEMU
//! `-icount shift=0,sleep=off`, two boots that must print the same counts), one markdown table
//! with the targets, an SVG and a key=value file under `target/bench/`.

mod figures;
mod guest;
mod io;
mod svg;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use crate::util;

pub const HELP: &str = "usage: cargo xtask bench [--quick] [--reps N] [--n ROUNDS] [--only PART]

Runs both halves and prints one markdown table (each figure, the peer's figure from the same
run, the ratio, the target with ✔/✘):
  host   the `bench` crate (release): aiolos vs embassy-executor 0.10 (platform-std) vs tokio
         current_thread, the same workloads interleaved in one process; min and median ns per
         operation over N repetitions
  guest  the kernel's `bench` binary (release, kernel/src/demo/bench.rs), booted twice under QEMU
         `-icount shift=0,sleep=off` (instruction counts; both boots must agree), once more
         without icount for the busy producer/consumer's kick share; the demo kernel's
         stress under icount; the Image sizes of the demo kernel, of the demo without
         its I/O features, and of the `new-app` template (no features), each booted
         (must end `exit: ok`)
  io     the network service and the block device, aiolos vs a Linux guest (Debian's arm64
         kernel, busybox httpd and dd) on the same QEMU command line: HTTP requests/s and
         p50/p99 at 1, 16 and 64 connections, boot to first response, 4 KiB read IOPS at
         queue depth 1 and 32, instructions per request under -icount (QMP). The Linux
         guest's packages are fetched once into target/kvm-cache/ (as `cargo xtask kvm`
         does); --quick runs aiolos only
Writes target/bench/bench.md (the table), bench.svg (wake-latency histogram per core, the
host ratios) and bench.kv (key=value; the previous run's is kept as bench.prev.kv).
Exits non-zero only when something did not run (a missed target is a ✘ in the table).

options:
  --quick      small sizes (CI: checks the command works, not the figures)
  --reps N     host repetitions per figure (default 5, at least 5)
  --n ROUNDS   guest round trips (default 1000, --quick 100; at most 1000)
  --only PART  run one part: host, guest or io (the table then has only its rows)";

struct Options {
    quick: bool,
    /// `None`: every part.
    only: Option<String>,
    reps: u32,
    n: u32,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        only: None,
        reps: 5,
        n: 0,
    };
    let mut it = args.iter().filter(|a| *a != "--");
    while let Some(a) = it.next() {
        let mut num = |what: &str, lo: u32, hi: u32| -> Result<u32, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|v| (lo..=hi).contains(v))
                .ok_or_else(|| format!("{what} needs a number in {lo}..={hi}"))
        };
        match a.as_str() {
            "--quick" => o.quick = true,
            "--reps" => o.reps = num("--reps", 5, 1000)?,
            "--n" => o.n = num("--n", 1, 1000)?,
            "--only" => match it.next().map(String::as_str) {
                Some(p @ ("host" | "guest" | "io")) => o.only = Some(p.to_string()),
                _ => return Err("--only needs host, guest or io".into()),
            },
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if o.n == 0 {
        o.n = if o.quick { 100 } else { 1000 };
    }
    Ok(o)
}

pub fn cmd(args: &[String]) -> ExitCode {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// key=value lines (`prefix` stripped) into a map.
pub fn parse_kv(text: &str, prefix: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(prefix))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn host(o: &Options) -> Result<BTreeMap<String, String>, String> {
    let mut cmd = Command::new("cargo");
    cmd.args(["run", "--quiet", "--release", "-p", "bench", "--target"])
        .arg("host-tuple")
        .args(["--", "--reps", &o.reps.to_string()]);
    if o.quick {
        cmd.arg("--quick");
    }
    cmd.current_dir(util::workspace_root());
    eprintln!("{}", util::display_command(&cmd));
    let c = util::run_captured(&mut cmd, Duration::from_secs(3600))
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !c.success() {
        return Err(format!(
            "host half failed (exit {:?}{})\n{}",
            c.code,
            if c.timed_out { ", timed out" } else { "" },
            util::tail(&c.stderr, 30)
        ));
    }
    Ok(parse_kv(&c.stdout, ""))
}

impl Options {
    fn part(&self, p: &str) -> bool {
        self.only.as_deref().is_none_or(|o| o == p)
    }
}

fn run(o: &Options) -> Result<(), String> {
    let mut kv = BTreeMap::new();
    if o.part("host") {
        kv.extend(host(o)?);
    }
    if o.part("guest") {
        kv.extend(guest::run(o.n)?);
    }
    if o.part("io") {
        kv.extend(io::run(o.quick)?);
    }
    kv.insert("quick".into(), (o.quick as u8).to_string());
    if let Ok(out) = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
    {
        let d = String::from_utf8_lossy(&out.stdout).trim().to_string();
        kv.insert("date".into(), d);
    }
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    kv.insert("host.loadavg1".into(), load);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    kv.insert("host.cpus".into(), cpus.to_string());
    let mut rows = figures::rows(&kv, o.part("host"), o.part("guest"))?;
    if o.part("io") {
        rows.extend(io::rows(&kv));
    }
    let table = figures::markdown(&kv, &rows);
    let dir = util::target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write(&dir.join("bench.md"), &table)?;
    write(&dir.join("bench.svg"), &svg::render(&kv, &rows))?;
    let kv_path = dir.join("bench.kv");
    if kv_path.exists() {
        let _ = std::fs::rename(&kv_path, dir.join("bench.prev.kv"));
    }
    let text: String = kv.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    write(&kv_path, &text)?;
    println!("{table}");
    println!(
        "wrote {0}/bench.md, {0}/bench.svg, {0}/bench.kv",
        dir.display()
    );
    Ok(())
}

fn write(p: &Path, s: &str) -> Result<(), String> {
    std::fs::write(p, s).map_err(|e| format!("{}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let a = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert!(parse(&a("--reps 4")).is_err());
        assert!(parse(&a("--n 0")).is_err());
        assert!(parse(&a("--bogus")).is_err());
        assert!(parse(&a("--only disk")).is_err());
        assert_eq!(parse(&a("--only io")).unwrap().only.as_deref(), Some("io"));
        let o = parse(&a("--quick")).unwrap();
        assert_eq!((o.quick, o.reps, o.n), (true, 5, 100));
    }

    #[test]
    fn kv() {
        let m = parse_kv("x\nbench: a.b=1\nbench: c = 2\n", "bench: ");
        assert_eq!(m.len(), 2);
        assert_eq!(m["c"], "2");
    }
}
