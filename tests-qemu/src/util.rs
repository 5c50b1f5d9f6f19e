//! Small process and path helpers shared by the subcommands (std only, no crates).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    // tests-qemu is always built from the workspace, so its manifest dir's parent is the root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory for this workspace (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let p = PathBuf::from(d);
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Scratch directory for generated DTBs, wrapped ELFs and logs.
pub fn scratch_dir() -> PathBuf {
    target_dir().join("tests-qemu")
}

/// Reads a file, naming it in the error.
pub fn read(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// Looks a program up in `PATH` (like `command -v`).
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// True when running as root (uid 0), read from /proc without libc.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Quotes one word for display as a POSIX shell command.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Renders a command (program, args and any env overrides) as a shell line.
pub fn display_command(cmd: &Command) -> String {
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| {
            v.map(|v| {
                format!(
                    "{}={}",
                    k.to_string_lossy(),
                    shell_quote(&v.to_string_lossy())
                )
            })
        })
        .collect();
    parts.push(shell_quote(&cmd.get_program().to_string_lossy()));
    parts.extend(cmd.get_args().map(|a| shell_quote(&a.to_string_lossy())));
    parts.join(" ")
}

/// The end of a command that makes a file (`disk`, `sdcard`): a bad option prints the error
/// and the command's help (exit 2); otherwise `run`'s summary (exit 0) or its error (exit 1).
pub fn finish_command<O>(
    name: &str,
    help: &str,
    parsed: Result<O, String>,
    run: impl FnOnce(&O) -> Result<String, String>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let o = match parsed {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{name}: {e}\n\n{help}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Maps an exit status to a shell-style code (128 + signal when killed).
pub fn status_code(status: &ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match status.code() {
        Some(c) => c,
        None => 128 + status.signal().unwrap_or(0),
    }
}

/// Result of [`run_captured`].
#[derive(Debug)]
pub struct Captured {
    /// Exit code, `None` when the process was killed on timeout.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub timed_out: bool,
}

impl Captured {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `cmd` with stdin closed, capturing stdout and stderr, killing it after `timeout`.
pub fn run_captured(cmd: &mut Command, timeout: Duration) -> std::io::Result<Captured> {
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    // Own process group, so that a timeout can end the whole tree (cargo -> rustc, sh -> ...).
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = Arc::new(Mutex::new(Vec::new()));
    let err = Arc::new(Mutex::new(Vec::new()));
    let readers = [
        spawn_reader(child.stdout.take().map(|s| Box::new(s) as _), out.clone()),
        spawn_reader(child.stderr.take().map(|s| Box::new(s) as _), err.clone()),
    ];
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if start.elapsed() >= timeout {
            timed_out = true;
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    for r in readers {
        let _ = r.join();
    }
    let text = |b: &Arc<Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&b.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    };
    Ok(Captured {
        code: status.map(|s| status_code(&s)),
        stdout: text(&out),
        stderr: text(&err),
        elapsed: start.elapsed(),
        timed_out,
    })
}

/// Sends SIGKILL to the process group `pgid` (a child we spawned with `process_group(0)`).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn spawn_reader(
    src: Option<Box<dyn Read + Send>>,
    sink: Arc<Mutex<Vec<u8>>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let Some(mut src) = src else { return };
        let mut buf = [0u8; 4096];
        loop {
            match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]),
            }
        }
    })
}

/// The last `n` lines of `text`, for failure reports.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

/// FNV-1a, stable across Rust releases (unlike `DefaultHasher`): cache keys, and the kernel
/// file's identity in a soak journal.
pub fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("-M"), "-M");
        assert_eq!(shell_quote("virt,gic-version=3"), "virt,gic-version=3");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }

    #[test]
    fn captured_timeout_kills() {
        let c = run_captured(
            Command::new("sh").args(["-c", "echo hi; sleep 5"]),
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(c.timed_out);
        assert_eq!(c.code, None);
        assert_eq!(c.stdout, "hi\n");
    }

    #[test]
    fn captured_exit_code() {
        let c = run_captured(
            Command::new("sh").args(["-c", "echo err >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(c.code, Some(3));
        assert_eq!(c.stderr, "err\n");
    }
}
