//! One nested-KVM run: the per-run initrd (`base.cpio` followed by a small archive with
//! `/init` and `/guest.elf`; the Linux initramfs loader accepts concatenated archives), the
//! outer QEMU with the console streamed live and timed, and the inner guest's verdict read
//! with `boot::verdict`.

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::base::Base;
use super::cpio::Cpio;
use super::Opts;
use crate::boot::verdict::Exit;
use crate::util;

/// The outer VM's /init.
const INIT_SCRIPT: &str = include_str!("../../../kvm/init.sh");

/// Percent-encodes everything but a conservative set, so the inner command line survives the
/// outer kernel command line as one word (/init decodes it with `printf %b`).
fn encode_append(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_.,:/+-".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02x}");
        }
    }
    out
}

/// What the outer console showed, with host timestamps.
pub(super) struct RunResult {
    lines: Vec<String>,
    outer_boot: Option<Duration>,
    inner_run: Option<Duration>,
    total: Duration,
    timed_out: bool,
    qemu_code: Option<i32>,
    stderr: String,
}

/// Reads the outer console line by line (`Some(line)`), and every half second without one
/// (`None`); returns false to stop the run (the outer QEMU is killed).
pub(super) type OnLine<'a> = &'a mut dyn FnMut(Option<&str>) -> bool;

/// Echoes the outer console (what `cargo xtask kvm` shows live).
pub(super) fn echo(line: Option<&str>) -> bool {
    if let Some(l) = line {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{l}");
        let _ = out.flush();
    }
    true
}

pub(super) fn boot(
    opts: &Opts,
    kernel: &Path,
    base: &Base,
    cache: &Path,
    on_line: OnLine,
) -> Result<RunResult, String> {
    let rundir = cache.join(format!("run-{}", std::process::id()));
    fs::create_dir_all(&rundir).map_err(|e| format!("{}: {e}", rundir.display()))?;
    let initrd = rundir.join("initrd.cpio");
    let r = (|| {
        // base.cpio followed by the per-run archive (/init, /guest.elf).
        fs::copy(&base.cpio, &initrd).map_err(|e| format!("{}: {e}", initrd.display()))?;
        let f = fs::OpenOptions::new()
            .append(true)
            .open(&initrd)
            .map_err(|e| format!("{}: {e}", initrd.display()))?;
        let mut w = Cpio::new(BufWriter::new(f));
        let io = |e: std::io::Error| format!("{}: {e}", initrd.display());
        w.file("init", 0o755, INIT_SCRIPT.as_bytes()).map_err(io)?;
        w.file("guest.elf", 0o755, &util::read(kernel)?)
            .map_err(io)?;
        w.finish().map_err(io)?;
        let inner_timeout = opts.timeout.saturating_sub(60).max(opts.timeout / 2);
        let mut bootargs = format!(
            "console=ttyAMA0 quiet panic=-1 rdinit=/init aiolos.smp={} aiolos.mem={} aiolos.timeout={}",
            opts.smp, opts.mem, inner_timeout
        );
        if let Some(a) = &opts.append {
            bootargs += &format!(" aiolos.append={}", encode_append(a));
        }
        if let Some(d) = &opts.blk {
            // /init makes the disk (zeroed, in the outer VM's RAM) and adds the device.
            bootargs += &format!(" aiolos.blk={d}");
        }
        if opts.reboot {
            // The inner QEMU without -no-reboot: a PSCI SYSTEM_RESET boots the guest again.
            bootargs += " aiolos.reboot=1";
        }
        let mut cmd = Command::new("qemu-system-aarch64");
        cmd.args(["-M", "virt,virtualization=on,gic-version=3"])
            .args(["-cpu", "max,pauth-impdef=on", "-smp", "4", "-m", "1G"])
            .args(["-nographic", "-no-reboot", "-nic", "none"])
            .arg("-kernel")
            .arg(&base.vmlinuz)
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", &bootargs]);
        on_line(Some(&format!("kvm: guest {}", kernel.display())));
        on_line(Some(&format!("kvm: {}", util::display_command(&cmd))));
        run_outer(&mut cmd, Duration::from_secs(opts.timeout), on_line)
    })();
    let _ = fs::remove_dir_all(&rundir);
    r
}

fn run_outer(cmd: &mut Command, timeout: Duration, on_line: OnLine) -> Result<RunResult, String> {
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run qemu-system-aarch64: {e}"))?;
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\n', '\r'])
                        .replace('\r', "");
                    if tx.send((Instant::now(), line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut lines = Vec::new();
    let (mut g_start, mut g_end) = (None, None);
    let mut timed_out = false;
    let mut stopped = false;
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() || stopped {
            timed_out = !stopped;
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(500))) {
            Ok((t, line)) => {
                if line.trim() == "=== guest start ===" {
                    g_start = Some(t);
                } else if line.trim().starts_with("=== guest end rc=") {
                    g_end = Some(t);
                }
                stopped = !on_line(Some(&line));
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => stopped = !on_line(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().ok();
    let _ = reader.join();
    // Lines that arrived between the last recv and the end.
    while let Ok((_, line)) = rx.try_recv() {
        on_line(Some(&line));
        lines.push(line);
    }
    let stderr = err_reader.join().unwrap_or_default();
    Ok(RunResult {
        lines,
        outer_boot: g_start.map(|t| t - start),
        inner_run: match (g_start, g_end) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
        total: start.elapsed(),
        timed_out,
        qemu_code: if timed_out || stopped {
            None
        } else {
            status.map(|s| util::status_code(&s))
        },
        stderr,
    })
}

impl RunResult {
    /// Whether KVM was verified (as in [`report`]), the outer boot time and the whole run's.
    pub(super) fn streamed(&self) -> super::Streamed {
        super::Streamed {
            kvm: parse_log(&self.lines).kvm,
            outer_boot: self.outer_boot,
            total: self.total,
            timed_out: self.timed_out,
        }
    }
}

/// The parsed outcome of one run.
#[derive(Debug, PartialEq, Eq)]
struct Outcome<'a> {
    /// `/dev/kvm` was present and the inner QEMU ran with `-accel kvm`.
    kvm: bool,
    /// The outer kernel's KVM init line, if /init found it.
    kvm_evidence: Option<&'a str>,
    started: bool,
    /// `rc` of the inner QEMU (137: killed by the inner timeout).
    inner_rc: Option<i32>,
    /// The inner guest's console.
    inner: Vec<&'a str>,
    /// The last `exit: ok` / `exit: fail: ...` line of the inner guest.
    verdict: Option<&'a str>,
}

fn parse_log(lines: &[String]) -> Outcome<'_> {
    let start = lines.iter().position(|l| l.trim() == "=== guest start ===");
    let end = lines
        .iter()
        .position(|l| l.trim().starts_with("=== guest end rc="));
    let inner: Vec<&str> = match start {
        Some(s) => lines[s + 1..end.unwrap_or(lines.len()).max(s + 1)]
            .iter()
            .map(String::as_str)
            .collect(),
        None => Vec::new(),
    };
    let verdict = Exit::last_line(&inner);
    let inner_rc = end.and_then(|e| {
        lines[e]
            .trim()
            .strip_prefix("=== guest end rc=")?
            .trim_end_matches(" ===")
            .parse()
            .ok()
    });
    let kvm = lines
        .iter()
        .any(|l| l.starts_with("aiolos-kvm: accel: kvm"))
        && lines
            .iter()
            .any(|l| l.starts_with("aiolos-kvm: inner: ") && l.contains("-accel kvm"));
    let kvm_evidence = lines
        .iter()
        .find_map(|l| l.strip_prefix("aiolos-kvm: dmesg: "))
        .map(str::trim);
    Outcome {
        kvm,
        kvm_evidence,
        started: start.is_some(),
        inner_rc,
        inner,
        verdict,
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1} s", d.as_secs_f64()))
        .unwrap_or_else(|| "-".into())
}

pub(super) fn report(opts: &Opts, r: &RunResult, prep: Duration, total: Duration) -> ExitCode {
    let o = parse_log(&r.lines);
    println!("----------------------------------------------------------------------");
    if !r.stderr.trim().is_empty() {
        println!("kvm: outer qemu stderr:\n{}", r.stderr.trim_end());
    }
    println!(
        "kvm: accel: {}{}",
        if o.kvm { "kvm" } else { "NOT VERIFIED" },
        o.kvm_evidence
            .map(|e| format!(" (outer dmesg: {e})"))
            .unwrap_or_default()
    );
    println!(
        "kvm: timings: prepare {:.1} s, outer boot {}, inner run {}, outer qemu total {:.1} s, overall {:.1} s",
        prep.as_secs_f64(),
        secs(r.outer_boot),
        secs(r.inner_run),
        r.total.as_secs_f64(),
        total.as_secs_f64()
    );
    let fail = |why: String| {
        println!("kvm: FAIL: {why}");
        // The console was streamed live; repeat its end only when the run did not finish.
        if r.timed_out || !o.started {
            println!(
                "kvm: last 60 lines of the console:\n{}",
                util::tail(&r.lines.join("\n"), 60)
            );
        }
        ExitCode::FAILURE
    };
    if r.timed_out {
        return fail(format!(
            "timeout after {} s: outer QEMU killed",
            opts.timeout
        ));
    }
    if !o.started {
        return fail(format!(
            "the inner guest never started (outer qemu exit {:?}){}",
            r.qemu_code,
            if o.kvm {
                ""
            } else {
                "; KVM not available in the outer VM"
            }
        ));
    }
    if !o.kvm {
        return fail("KVM use not verified (no `accel: kvm` / `-accel kvm` lines)".into());
    }
    println!(
        "kvm: inner qemu rc={} verdict: {}",
        o.inner_rc.map(|c| c.to_string()).unwrap_or("-".into()),
        o.verdict.unwrap_or("(none)")
    );
    let hung = o.inner_rc == Some(137);
    if opts.mutant_expect_fail {
        return match o.verdict {
            Some(v) if matches!(Exit::parse(v), Some(Exit::Fail(_))) => {
                println!("kvm: PASS (mutant detected: {v})");
                ExitCode::SUCCESS
            }
            None if hung => {
                println!("kvm: PASS (mutant detected: the guest hung until the inner timeout)");
                ExitCode::SUCCESS
            }
            Some(v) => fail(format!("mutant survived: the guest ended with `{v}`")),
            None => fail(format!("no verdict line (inner qemu rc={:?})", o.inner_rc)),
        };
    }
    match o.verdict {
        Some(v) if Exit::parse(v) == Some(Exit::Ok) => {
            println!("kvm: PASS");
            ExitCode::SUCCESS
        }
        Some(v) => fail(format!("the guest ended with `{v}`")),
        None if hung => fail("the guest hung: killed by the inner timeout, no verdict".into()),
        None => fail(format!("no verdict line (inner qemu rc={:?})", o.inner_rc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn append_encoding() {
        assert_eq!(encode_append("test"), "test");
        assert_eq!(encode_append("a b=\"c\""), "a%20b%3d%22c%22");
    }

    #[test]
    fn log_parsing() {
        let log = s(&[
            "aiolos-kvm: dmesg: [    0.5] kvm [1]: VHE mode initialized successfully",
            "aiolos-kvm: accel: kvm (crw------- 1 root root 10, 232 /dev/kvm)",
            "aiolos-kvm: inner: qemu-system-aarch64 -M virt,gic-version=3 -accel kvm -cpu host",
            "=== guest start ===",
            "aiolos banner",
            "exit: ok",
            "",
            "=== guest end rc=0 ===",
        ]);
        let o = parse_log(&log);
        assert!(o.kvm && o.started);
        assert_eq!(o.verdict, Some("exit: ok"));
        assert_eq!(o.inner_rc, Some(0));
        assert_eq!(o.inner, vec!["aiolos banner", "exit: ok", ""]);
        assert!(o.kvm_evidence.unwrap().contains("VHE"));

        let hung = s(&[
            "=== guest start ===",
            "exit: fail: x",
            "tick",
            "=== guest end rc=137 ===",
        ]);
        let o = parse_log(&hung);
        assert!(!o.kvm);
        assert_eq!(o.verdict, Some("exit: fail: x"));
        assert_eq!(o.inner_rc, Some(137));
        assert_eq!(parse_log(&s(&["boot"])).verdict, None);
    }
}
