//! A minimal QMP client: the guest's instruction count under `-icount`.
//!
//! QEMU's `query-replay` answers `icount` = `icount_get_raw()`, the instructions the vCPUs
//! executed (not the virtual clock, which also jumps over idle time), in any icount run,
//! record/replay or not (checked here: it stays put while the guest idles in WFI and grows
//! with each request). QEMU is started with `-qmp unix:PATH,server=on,wait=off`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Qmp {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Qmp {
    /// Connects (retrying while QEMU creates the socket) and enters command mode.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, String> {
        let t = Instant::now();
        let s = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if t.elapsed() > timeout => {
                    return Err(format!("QMP {}: {e}", path.display()))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let w = s.try_clone().map_err(|e| e.to_string())?;
        let mut q = Qmp {
            r: BufReader::new(s),
            w,
        };
        q.line()?; // the greeting
        q.command("qmp_capabilities")?;
        Ok(q)
    }

    fn line(&mut self) -> Result<String, String> {
        let mut l = String::new();
        match self.r.read_line(&mut l) {
            Ok(0) => Err("QMP: QEMU closed the socket".into()),
            Ok(_) => Ok(l),
            Err(e) => Err(format!("QMP: {e}")),
        }
    }

    /// Sends `{"execute": NAME}` and returns its `return` line (events are skipped).
    fn command(&mut self, name: &str) -> Result<String, String> {
        writeln!(self.w, "{{\"execute\":\"{name}\"}}").map_err(|e| format!("QMP: {e}"))?;
        loop {
            let l = self.line()?;
            if l.contains("\"return\"") {
                return Ok(l);
            }
            if l.contains("\"error\"") {
                return Err(format!("QMP {name}: {}", l.trim()));
            }
        }
    }

    /// The instructions executed so far (all vCPUs).
    pub fn icount(&mut self) -> Result<u64, String> {
        let l = self.command("query-replay")?;
        parse_icount(&l).ok_or_else(|| format!("QMP query-replay: no icount in {}", l.trim()))
    }
}

fn parse_icount(line: &str) -> Option<u64> {
    let rest = line.split("\"icount\":").nth(1)?.trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn icount_parses() {
        let l = r#"{"return": {"icount": 4386070, "mode": "none"}}"#;
        assert_eq!(super::parse_icount(l), Some(4386070));
        assert_eq!(super::parse_icount(r#"{"return": {}}"#), None);
    }
}
