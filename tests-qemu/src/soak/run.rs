//! One QEMU process of the soak: boot, let the kernel reboot itself (PSCI SYSTEM_RESET after
//! each passing round), count banners and round verdicts on the serial stream, stop after
//! the slot's rounds or at the first failure or hang. [`Counter`] reads the stream; the TCG
//! process here and the nested-KVM one (`soak::kvm`) both feed it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::plan::Slot;

/// What one process produced.
#[derive(Default, Debug)]
pub struct Outcome {
    pub rounds_ok: u32,
    /// Wall time of each passing round (banner to `round: ok`).
    pub round_times: Vec<Duration>,
    pub wakeups: u64,
    pub kicks: u64,
    pub skipped: u64,
    pub sgis: u64,
    /// `progress:` lines seen (a long round's liveness).
    pub progress_lines: u64,
    /// `Some(why)` if a round failed or hung; the serial log is then kept.
    pub failure: Option<String>,
    pub hung: bool,
}

/// A round with no serial output for this long hangs. A long phase prints a `progress:` line
/// every 10 s of guest time (kernel `selftest/stress/progress.rs`), and every line counts.
pub const SILENCE: Duration = Duration::from_secs(90);

fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Reads one process's serial stream: counts rounds (`aiolos ` banner to `round: ok`) and
/// the stress summaries, stops at `rounds` rounds, at an `exit:` line (a failed round: a
/// passing one reboots instead) or after [`SILENCE`] without a line.
pub struct Counter {
    pub out: Outcome,
    pub log: String,
    rounds: u32,
    round_start: Instant,
    last_line: Instant,
}

/// What the stream reader should do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    More,
    Stop,
}

impl Counter {
    pub fn new(rounds: u32) -> Self {
        Counter {
            out: Outcome::default(),
            log: String::new(),
            rounds,
            round_start: Instant::now(),
            last_line: Instant::now(),
        }
    }

    /// One line of the stream.
    pub fn line(&mut self, line: &str) -> Next {
        self.log.push_str(line);
        self.log.push('\n');
        self.last_line = Instant::now();
        let l = line.trim_start();
        let out = &mut self.out;
        if l.starts_with("aiolos ") {
            self.round_start = Instant::now();
        } else if l.starts_with("progress:") {
            out.progress_lines += 1;
            // A long round's only sign of life on the host's terminal.
            println!("soak: {l}");
        } else if l.starts_with("stress: ok:") {
            out.wakeups += field(l, "wakeups");
            out.kicks += field(l, "kicks");
            out.skipped += field(l, "skipped");
            out.sgis += field(l, "sgis");
        } else if l.starts_with("round: ok") {
            out.rounds_ok += 1;
            out.round_times.push(self.round_start.elapsed());
            if out.rounds_ok >= self.rounds {
                return Next::Stop;
            }
        } else if l.starts_with("exit:") {
            out.failure = Some(format!("round {}: {l}", out.rounds_ok + 1));
            return Next::Stop;
        }
        Next::More
    }

    /// A moment without a line: a hang once the stream was silent for [`SILENCE`].
    pub fn quiet(&mut self) -> Next {
        if self.last_line.elapsed() < SILENCE {
            return Next::More;
        }
        self.out.hung = true;
        self.out.failure = Some(format!(
            "round {}: no output for {}s (hang)",
            self.out.rounds_ok + 1,
            SILENCE.as_secs()
        ));
        Next::Stop
    }

    /// The stream ended (QEMU exited) before the rounds were done.
    pub fn ended(&mut self, why: &str) {
        if self.out.failure.is_none() && self.out.rounds_ok < self.rounds {
            self.out.failure = Some(format!("round {}: {why}", self.out.rounds_ok + 1));
        }
    }

    /// The outcome; the serial log is written to `log_path` if anything failed.
    pub fn finish(self, what: &str, log_path: &Path) -> Outcome {
        if let Some(why) = &self.out.failure {
            let _ = std::fs::write(
                log_path,
                format!("{what}\n{why}\n--- serial ---\n{}", self.log),
            );
        }
        self.out
    }
}

/// Boot `kernel` with `slot`'s configuration (bootargs `stress reboot` plus `extra`), keep
/// the log at `log_path` if anything fails.
pub fn run(slot: &Slot, kernel: &Path, extra: &str, log_path: &Path) -> Outcome {
    let mut cfg = slot.cfg.clone();
    cfg.append = vec![format!("stress reboot {extra}").trim().to_string()];
    let mut elf = kernel.to_path_buf();
    if let Some(addr) = slot.load_addr {
        let dir = log_path.with_extension("d");
        let _ = std::fs::create_dir_all(&dir);
        let image = dir.join("Image");
        let made = crate::image::write_image(kernel, &image).and_then(|_| {
            crate::suite::pool::relocated_with_bootargs(
                &cfg,
                &image,
                addr,
                &cfg.append.join(" "),
                &dir,
            )
        });
        match made {
            Ok(e) => {
                elf = e;
                cfg.append.clear();
            }
            Err(e) => {
                return Outcome {
                    failure: Some(format!("image at {addr:#x}: {e}")),
                    ..Outcome::default()
                }
            }
        }
    }
    let mut cmd = cfg.command(&elf, true);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                failure: Some(format!("cannot run QEMU: {e}")),
                ..Outcome::default()
            }
        }
    };
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut counter = Counter::new(slot.rounds);
    loop {
        let next = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => counter.line(&line),
            Err(mpsc::RecvTimeoutError::Timeout) => counter.quiet(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                counter.ended("QEMU exited without a verdict");
                Next::Stop
            }
        };
        if next == Next::Stop {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    counter.finish(&slot.describe(), log_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rounds_and_stops_at_the_first_failure() {
        let mut c = Counter::new(3);
        let feed = |c: &mut Counter, lines: &[&str]| {
            lines.iter().map(|l| c.line(l)).last().unwrap_or(Next::More)
        };
        let round = [
            "aiolos 0.1.0",
            "progress: phase=ring done=10 target=20",
            "stress: ok: ring=1 wakeups=7 kicks=5 skipped=2 sgis=4 ms=1",
            "round: ok",
        ];
        assert_eq!(feed(&mut c, &round), Next::More);
        assert_eq!(
            feed(&mut c, &["aiolos 0.1.0", "exit: fail: lost wakeup: x"]),
            Next::Stop
        );
        let o = c.out;
        assert_eq!(
            (o.rounds_ok, o.wakeups, o.kicks, o.skipped, o.sgis),
            (1, 7, 5, 2, 4)
        );
        assert_eq!(o.progress_lines, 1);
        assert_eq!(
            o.failure.as_deref(),
            Some("round 2: exit: fail: lost wakeup: x")
        );
        assert!(!o.hung);

        let mut c = Counter::new(2);
        feed(&mut c, &round);
        assert_eq!(feed(&mut c, &round), Next::Stop);
        c.ended("QEMU exited");
        assert_eq!((c.out.rounds_ok, c.out.failure), (2, None));

        // A line that only mentions a verdict (the outer Linux's own lines) is not one.
        let mut c = Counter::new(1);
        assert_eq!(c.line("aiolos-kvm: inner: qemu ... exit: x"), Next::More);
        c.ended("QEMU exited without a verdict");
        assert_eq!(
            c.out.failure.as_deref(),
            Some("round 1: QEMU exited without a verdict")
        );
        assert_eq!(c.quiet(), Next::More);
    }
}
