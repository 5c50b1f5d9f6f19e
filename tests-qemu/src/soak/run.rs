//! One QEMU process of the soak: boot, let the kernel reboot itself (PSCI SYSTEM_RESET after
//! each passing round), count banners and round verdicts on the serial stream, stop after
//! the slot's rounds or at the first failure or hang.

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
    /// `Some(why)` if a round failed or hung; the serial log is then kept.
    pub failure: Option<String>,
    pub hung: bool,
}

/// A round with no serial output for this long hangs.
const SILENCE: Duration = Duration::from_secs(90);

fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Boot `kernel` with `slot`'s configuration (bootargs `stress reboot` plus `extra`), keep
/// the log under `log_dir` if anything fails.
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
    let mut out = Outcome::default();
    let mut log = String::new();
    let mut round_start = Instant::now();
    loop {
        match rx.recv_timeout(SILENCE) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                let l = line.trim_start();
                if l.starts_with("aiolos ") {
                    round_start = Instant::now();
                } else if l.starts_with("stress: ok:") {
                    out.wakeups += field(l, "wakeups");
                    out.kicks += field(l, "kicks");
                    out.skipped += field(l, "skipped");
                    out.sgis += field(l, "sgis");
                } else if l.starts_with("round: ok") {
                    out.rounds_ok += 1;
                    out.round_times.push(round_start.elapsed());
                    if out.rounds_ok >= slot.rounds {
                        break;
                    }
                } else if l.starts_with("exit:") {
                    out.failure = Some(format!("round {}: {l}", out.rounds_ok + 1));
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                out.hung = true;
                out.failure = Some(format!(
                    "round {}: no output for {}s (hang)",
                    out.rounds_ok + 1,
                    SILENCE.as_secs()
                ));
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                out.failure = Some(format!(
                    "round {}: QEMU exited without a verdict",
                    out.rounds_ok + 1
                ));
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Some(why) = &out.failure {
        let _ = std::fs::write(
            log_path,
            format!("{}\n{why}\n--- serial ---\n{log}", slot.describe()),
        );
    }
    out
}
