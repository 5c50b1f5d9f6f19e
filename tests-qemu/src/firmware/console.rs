//! A QEMU whose serial console the harness talks to: its stdin is a pipe the harness writes
//! keys and commands into, its stdout (the serial port and the semihosting console, as in
//! the suite's captured boots) is collected into a transcript that [`Console::wait`] searches.
//! Used to stop U-Boot's autoboot and type at its prompt; every wait has a timeout, and the
//! process is killed (by its pid) when the console is dropped.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util;

/// What [`Console::wait`] saw first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Pattern `index` of the list appeared; the transcript continues at byte `end`.
    Saw { index: usize, end: usize },
    /// QEMU exited with this status before any pattern appeared.
    Exited(i32),
    /// Neither within the timeout.
    TimedOut,
}

/// The bytes QEMU printed so far, shared with the reader thread.
#[derive(Default)]
struct Shared {
    bytes: Mutex<Vec<u8>>,
    grew: Condvar,
}

pub struct Console {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Shared>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<thread::JoinHandle<()>>,
    status: Option<i32>,
    start: Instant,
    /// The command line, for reports.
    pub shown: String,
}

/// Where `needle` first occurs in `hay` at or after `from`; returns the offset after it.
pub fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p + needle.len())
}

impl Console {
    /// Starts `cmd` with its stdin, stdout and stderr piped.
    pub fn spawn(cmd: &mut Command) -> Result<Console, String> {
        Self::spawn_with_input(cmd, Stdio::piped())
    }

    /// Starts `cmd` with stdin from `/dev/null` (a console nobody types into) and its output
    /// piped. With QEMU's mux chardev on stdio, a stdin pipe (open and silent, or closed)
    /// slows QEMU's main loop, where slirp runs, about tenfold; `/dev/null` does not.
    pub fn spawn_silent(cmd: &mut Command) -> Result<Console, String> {
        Self::spawn_with_input(cmd, Stdio::null())
    }

    fn spawn_with_input(cmd: &mut Command, input: Stdio) -> Result<Console, String> {
        let shown = util::display_command(cmd);
        let mut child = cmd
            .stdin(input)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        let out = Arc::new(Shared::default());
        let err = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(mut s) = child.stdout.take() {
            let out = out.clone();
            readers.push(thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    out.bytes
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]);
                    out.grew.notify_all();
                }
            }));
        }
        if let Some(mut s) = child.stderr.take() {
            let err = err.clone();
            readers.push(thread::spawn(move || {
                let mut all = Vec::new();
                let _ = s.read_to_end(&mut all);
                err.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&all);
            }));
        }
        Ok(Console {
            stdin: child.stdin.take(),
            child,
            out,
            err,
            readers,
            status: None,
            start: Instant::now(),
            shown,
        })
    }

    /// Everything QEMU printed on the console so far.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.out.bytes.lock().unwrap_or_else(|e| e.into_inner()))
            .into_owned()
    }

    /// QEMU's stderr (complete once it exited).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// QEMU's exit status, once it exited.
    pub fn status(&mut self) -> Option<i32> {
        if self.status.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.status = Some(util::status_code(&st));
            }
        }
        self.status
    }

    /// Types `text` on the serial console.
    pub fn send(&mut self, text: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the console's input is closed")?;
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("typing {text:?}: {e}"))
    }

    /// Waits until one of `patterns` appears at or after byte `from` of the transcript, QEMU
    /// exits, or `timeout` passes, whichever is first. A pattern that appears in the last
    /// output of an exiting QEMU still counts as seen.
    pub fn wait(&mut self, patterns: &[&str], from: usize, timeout: Duration) -> Event {
        let deadline = Instant::now() + timeout;
        loop {
            let exited = self.status();
            if exited.is_some() {
                // The reader drains the pipe after the exit: let it finish first.
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
            }
            {
                let bytes = self.out.bytes.lock().unwrap_or_else(|e| e.into_inner());
                let first = patterns
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| find_from(&bytes, p.as_bytes(), from).map(|e| (e, i)))
                    .min();
                if let Some((end, index)) = first {
                    return Event::Saw { index, end };
                }
                if let Some(code) = exited {
                    return Event::Exited(code);
                }
                let now = Instant::now();
                if now >= deadline {
                    return Event::TimedOut;
                }
                // Woken by new output, or every 20 ms to look for an exit.
                let step = (deadline - now).min(Duration::from_millis(20));
                drop(self.out.grew.wait_timeout(bytes, step));
            }
        }
    }

    /// Ends QEMU if it still runs (by its pid) and returns its status (`None`: killed).
    pub fn stop(&mut self) -> Option<i32> {
        self.stdin = None;
        if self.status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            for r in self.readers.drain(..) {
                let _ = r.join();
            }
            return None;
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.status
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if self.status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_from_offsets() {
        assert_eq!(find_from(b"ab=> cd=> ", b"=> ", 0), Some(5));
        assert_eq!(find_from(b"ab=> cd=> ", b"=> ", 5), Some(10));
        assert_eq!(find_from(b"ab=> cd", b"=> ", 5), None);
        assert_eq!(find_from(b"ab", b"", 0), None);
        assert_eq!(find_from(b"ab", b"a", 9), None);
    }

    /// A real interaction with a shell standing in for QEMU: a prompt, a typed line echoed
    /// back, a timeout when nothing comes, and the exit status.
    #[test]
    fn talks_to_a_process() {
        let mut c = Console::spawn(Command::new("sh").args([
            "-c",
            "printf 'hello\\n=> '; read l; echo \"got $l\"; sleep 0.2; exit 7",
        ]))
        .unwrap();
        let Event::Saw { index: 0, end } = c.wait(&["=> "], 0, Duration::from_secs(10)) else {
            panic!("no prompt: {}", c.transcript());
        };
        assert_eq!(
            c.wait(&["got"], end, Duration::from_millis(100)),
            Event::TimedOut
        );
        c.send("x\n").unwrap();
        assert!(matches!(
            c.wait(&["never", "got x"], end, Duration::from_secs(10)),
            Event::Saw { index: 1, .. }
        ));
        assert_eq!(
            c.wait(&["never"], end, Duration::from_secs(10)),
            Event::Exited(7)
        );
        assert_eq!(c.stop(), Some(7));
    }

    #[test]
    fn stop_kills_a_hung_process() {
        let mut c = Console::spawn(Command::new("sleep").arg("30")).unwrap();
        assert_eq!(
            c.wait(&["x"], 0, Duration::from_millis(50)),
            Event::TimedOut
        );
        assert_eq!(c.stop(), None);
    }
}
