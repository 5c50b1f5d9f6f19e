//! The I/O rows of `cargo xtask bench`: the network service and the block device of aiolos
//! (the demo kernel, `serve` / `blk-bench=`) against a Linux guest (Debian's arm64 kernel,
//! busybox `httpd` / `dd`, [`crate::boot::kvm::httpd`]) on the same QEMU command line
//! ([`vm`]), in the same run. Per guest: a serving boot (TCG, smp 4: boot to first
//! response, then the HTTP loads at 1, 16 and 64 connections), a block boot (TCG, smp 4:
//! 4 KiB reads at queue depth 1 and 32) and a serving boot under `-icount shift=0` (one vCPU:
//! instructions per request, read over QMP, [`qmp`]). aiolos runs first: the page it serves
//! is the page the Linux guest serves.

mod qmp;
mod rows;
mod vm;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::boot::build::{KernelBuild, Output};
use crate::boot::kvm::httpd;
use crate::cases::net::{load, ConnMode};
use crate::util;
use vm::{Mode, Os, Vm};

pub use rows::rows;

type Kv = BTreeMap<String, String>;

/// How much each boot does.
struct Sizes {
    /// (connections, requests) of each HTTP load on aiolos and on Linux (busybox httpd
    /// forks a process per connection: about 10-50 requests/s under TCG here).
    loads: [(usize, usize); 3],
    linux_loads: [(usize, usize); 3],
    /// Reads per queue depth of the block bench.
    blk: u64,
    /// Requests of the icount measurement (one connection).
    icount: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                loads: [(1, 20), (16, 64), (64, 128)],
                linux_loads: [(1, 10), (16, 32), (64, 64)],
                blk: 256,
                icount: 20,
            }
        } else {
            Sizes {
                loads: [(1, 300), (16, 1600), (64, 2048)],
                linux_loads: [(1, 100), (16, 256), (64, 512)],
                blk: 4096,
                icount: 100,
            }
        }
    }
}

/// The disk both guests read: 32 MiB of a pattern (written once).
fn disk() -> Result<std::path::PathBuf, String> {
    const SIZE: usize = 32 << 20;
    let p = util::target_dir().join("bench").join("io-disk.img");
    if std::fs::metadata(&p).map(|m| m.len() as usize).ok() != Some(SIZE) {
        let mut data = vec![0u8; SIZE];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for b in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
        }
        std::fs::write(&p, &data).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(p)
}

pub fn run(quick: bool) -> Result<Kv, String> {
    let dir = util::target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let disk = disk()?;
    let sizes = Sizes::new(quick);
    let (elf, _) = KernelBuild::release().build(Output::Captured, |c| eprintln!("{c}"))?;
    let mut kv = Kv::new();
    let aiolos = Os::Aiolos { elf };
    let page = guest(&aiolos, &sizes, &disk, &[], &mut kv)?;
    if quick {
        kv.insert(
            "io.linux.skipped".into(),
            "--quick: the Linux guest's boots (10-40 s each under TCG) are left to the full run"
                .into(),
        );
        return Ok(kv);
    }
    let l = httpd::prepare().map_err(|e| format!("the Linux guest: {e}"))?;
    kv.insert("io.linux.packages".into(), l.packages.clone());
    let initrd = dir.join("linux-initrd.cpio");
    httpd::initrd_with(&l.cpio, &[("www/index.html", &page)], &initrd)?;
    let linux = Os::Linux {
        vmlinuz: l.vmlinuz,
        initrd,
    };
    guest(&linux, &sizes, &disk, &page, &mut kv)?;
    Ok(kv)
}

fn put(kv: &mut Kv, os: &Os, key: &str, v: impl ToString) {
    kv.insert(format!("io.{}.{key}", os.name()), v.to_string());
}

/// All the figures of one guest; returns the page it served. `want`: the page it must
/// serve (empty: take what it serves).
fn guest(os: &Os, s: &Sizes, disk: &Path, want: &[u8], kv: &mut Kv) -> Result<Vec<u8>, String> {
    let name = os.name();
    eprintln!("bench: I/O rows, {name}: serving (TCG, smp 4)");
    let mut vm = Vm::start(os, &Mode::Serve, 4, false, disk)?;
    let r = (|| {
        let (boot, page) = vm.first_response(os)?;
        if !want.is_empty() && page != want {
            return Err(format!("{name} serves another page than aiolos"));
        }
        put(
            kv,
            os,
            "boot_ms",
            format!("{:.0}", boot.as_secs_f64() * 1e3),
        );
        eprintln!(
            "bench: {name}: first response {:.0} ms after QEMU's start",
            boot.as_secs_f64() * 1e3
        );
        let mut modes = vec![("pr", ConnMode::PerRequest)];
        if matches!(os, Os::Aiolos { .. }) {
            modes.push(("ka", ConnMode::KeepAlive));
        }
        for (tag, mode) in modes {
            let loads = match os {
                Os::Aiolos { .. } => s.loads,
                Os::Linux { .. } => s.linux_loads,
            };
            for (conns, n) in loads {
                let k = format!("{tag}.c{conns}");
                let l = match load(vm.http, conns, n, &page, mode) {
                    Ok(l) => l,
                    Err(e) => {
                        // A ✘ in its row, not the end of the bench.
                        eprintln!("bench: {name} {mode:?} {conns} conns failed: {e}");
                        let short: String = e.chars().take(160).collect();
                        put(kv, os, &format!("{k}.error"), short.replace('\n', " "));
                        continue;
                    }
                };
                eprintln!(
                    "bench: {name} {mode:?} {conns} conns: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} retried",
                    l.rate, l.p50_ms, l.p99_ms, l.retried
                );
                put(kv, os, &format!("{k}.rate"), format!("{:.0}", l.rate));
                put(kv, os, &format!("{k}.p50_ms"), format!("{:.2}", l.p50_ms));
                put(kv, os, &format!("{k}.p99_ms"), format!("{:.2}", l.p99_ms));
                put(kv, os, &format!("{k}.requests"), l.requests);
                put(kv, os, &format!("{k}.retried"), l.retried);
            }
        }
        Ok(page)
    })();
    vm.stop(&format!("{name}-serve"));
    let page = r?;

    eprintln!("bench: I/O rows, {name}: block reads (TCG, smp 4)");
    let mut vm = Vm::start(os, &Mode::Blk(s.blk), 4, false, disk)?;
    let r = blk(os, &mut vm, kv);
    vm.stop(&format!("{name}-blk"));
    r?;

    eprintln!("bench: I/O rows, {name}: instructions per request (-icount shift=0, smp 1)");
    let mut vm = Vm::start(os, &Mode::Serve, 1, true, disk)?;
    let r = icount(os, &mut vm, s.icount, kv);
    vm.stop(&format!("{name}-icount"));
    r?;
    Ok(page)
}

/// The block bench's lines: `blk-bench: qd=Q n=N ... ticks=T ticks_per_s=F` (aiolos) or
/// `linux-blk: qd=Q n=N ns=NS` (Linux).
fn blk(os: &Os, vm: &mut Vm, kv: &mut Kv) -> Result<(), String> {
    let (prefix, last) = match os {
        Os::Aiolos { .. } => ("blk-bench: ", "exit: "),
        // Complete lines only: the transcript is read as soon as the pattern shows.
        Os::Linux { .. } => ("linux-blk: ", "linux-blk: done"),
    };
    vm.wait(&[last], 300)?;
    let text = vm.con.transcript();
    if let Some(bad) = text.lines().find(|l| l.contains("linux-blk: dd failed")) {
        return Err(format!("linux: {bad}"));
    }
    let lines = text.lines().filter_map(|l| l.trim().strip_prefix(prefix));
    for line in lines.filter(|l| l.starts_with("qd=")) {
        let f = crate::bench::parse_kv(&line.replace(' ', "\n"), "");
        let num = |k: &str| f.get(k).and_then(|v| v.parse::<f64>().ok());
        let (Some(qd), Some(n)) = (num("qd"), num("n")) else {
            return Err(format!("{}: bad line `{line}`", os.name()));
        };
        let secs = match (num("ns"), num("ticks"), num("ticks_per_s")) {
            (Some(ns), _, _) => ns / 1e9,
            (None, Some(t), Some(f)) => t / f,
            _ => return Err(format!("{}: no time in `{line}`", os.name())),
        };
        put(
            kv,
            os,
            &format!("blk.qd{qd}.iops"),
            format!("{:.0}", n / secs),
        );
        put(kv, os, &format!("blk.qd{qd}.n"), n);
    }
    for qd in [1, 32] {
        if !kv.contains_key(&format!("io.{}.blk.qd{qd}.iops", os.name())) {
            return Err(format!(
                "{}: no block figure at depth {qd}:\n{}",
                os.name(),
                util::tail(&text, 20)
            ));
        }
    }
    Ok(())
}

/// Instructions per request over QMP: the count before and after `n` requests on one
/// connection, less what the idle guest executes in the same time (measured just before,
/// over one second).
fn icount(os: &Os, vm: &mut Vm, n: usize, kv: &mut Kv) -> Result<(), String> {
    // Its own page: aiolos's names the cores online.
    let (_, page) = vm.first_response(os)?;
    let mut q = vm.qmp()?;
    let (i0, t0) = (q.icount()?, Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let idle_per_s = (q.icount()? - i0) as f64 / t0.elapsed().as_secs_f64();
    put(kv, os, "icount.idle_per_s", format!("{idle_per_s:.0}"));
    let mut modes = vec![("pr", ConnMode::PerRequest)];
    if matches!(os, Os::Aiolos { .. }) {
        modes.push(("ka", ConnMode::KeepAlive));
    }
    for (tag, mode) in modes {
        let (i1, t1) = (q.icount()?, Instant::now());
        let l = load(vm.http, 1, n, &page, mode)
            .map_err(|e| format!("{} under icount, {mode:?}: {e}", os.name()))?;
        let d = (q.icount()? - i1) as f64;
        let idle = idle_per_s * t1.elapsed().as_secs_f64();
        let per = (d - idle).max(0.0) / l.requests as f64;
        eprintln!(
            "bench: {} {mode:?}: {:.0} instructions per request ({:.0} raw, idle {:.0}/s)",
            os.name(),
            per,
            d / l.requests as f64,
            idle_per_s
        );
        put(
            kv,
            os,
            &format!("icount.{tag}.per_request"),
            format!("{per:.0}"),
        );
        put(
            kv,
            os,
            &format!("icount.{tag}.raw_per_request"),
            format!("{:.0}", d / l.requests as f64),
        );
        put(kv, os, &format!("icount.{tag}.requests"), l.requests);
    }
    Ok(())
}
