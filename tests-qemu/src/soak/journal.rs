//! `--journal FILE`: a soak that can stop and go on. A 3000-round soak under nested KVM takes
//! hours on a small host; the journal lets it run in several sittings and still end in one
//! summary over the same seeded schedule.
//!
//! The file starts with a header naming everything that decides what a round is (accelerator,
//! seed, rounds, rounds per process, GIC filter, a hash of the kernel file, the extra
//! bootargs); a later soak appends to it only if its header is identical, so a journal never
//! mixes kernels or schedules. After each QEMU process the soak appends one line: the slot's
//! index in the schedule, the sitting it ran in, and its outcome. On resume the recorded
//! slots are not run again; processes that were in flight when the soak stopped left no line
//! and run again from their first round.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::run::Outcome;
use super::Opts;

const MAGIC: &str = "aiolos-soak-journal 1";

/// One finished process, as recorded.
#[derive(Debug)]
pub struct Record {
    pub slot: usize,
    /// Which sitting ran it (1 = the soak's first).
    pub session: u32,
    /// Seconds from the start of its sitting to the end of this process.
    pub elapsed_s: f64,
    pub outcome: Outcome,
}

/// An open journal: what earlier sittings recorded, and the file to append to.
pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    /// Slot index → record, from earlier sittings.
    pub done: BTreeMap<usize, Record>,
    /// This sitting's number.
    pub session: u32,
}

/// FNV-1a over the kernel file: the journal refuses a different kernel.
fn hash_file(path: &Path) -> Result<u64, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(crate::util::fnv64(&bytes))
}

/// The header line for these options and this kernel.
pub fn header(o: &Opts, kernel_hash: u64) -> String {
    format!(
        "{MAGIC} accel={:?} seed={} boots={} per_process={} gic={} mutant={} kernel={kernel_hash:016x} append={}",
        o.accel,
        o.seed,
        o.boots,
        o.per_process,
        o.gic.map_or("any".to_string(), |g| g.to_string()),
        o.mutant.as_deref().unwrap_or("-"),
        o.append.replace('\n', " "),
    )
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// The line recorded for a finished process.
pub fn record_line(slot: usize, session: u32, elapsed: Duration, o: &Outcome) -> String {
    let times: Vec<String> = o
        .round_times
        .iter()
        .map(|t| t.as_millis().to_string())
        .collect();
    format!(
        "slot={slot} session={session} elapsed={:.1} rounds_ok={} wakeups={} kicks={} skipped={} sgis={} progress={} hung={} times={} failure={}",
        elapsed.as_secs_f64(),
        o.rounds_ok,
        o.wakeups,
        o.kicks,
        o.skipped,
        o.sgis,
        o.progress_lines,
        u8::from(o.hung),
        if times.is_empty() { "-".to_string() } else { times.join(",") },
        o.failure.as_deref().map_or("-".to_string(), one_line),
    )
}

/// Parses a record line; `None` for anything else (a line cut short when the soak was killed
/// while writing it).
pub fn parse_record(line: &str) -> Option<Record> {
    let (fixed, failure) = line.split_once(" failure=")?;
    let mut kv = BTreeMap::new();
    for w in fixed.split(' ') {
        let (k, v) = w.split_once('=')?;
        kv.insert(k, v);
    }
    let num = |k: &str| kv.get(k)?.parse::<u64>().ok();
    let times = match *kv.get("times")? {
        "-" => Vec::new(),
        t => t
            .split(',')
            .map(|ms| ms.parse::<u64>().ok().map(Duration::from_millis))
            .collect::<Option<Vec<_>>>()?,
    };
    let outcome = Outcome {
        rounds_ok: num("rounds_ok")? as u32,
        round_times: times,
        wakeups: num("wakeups")?,
        kicks: num("kicks")?,
        skipped: num("skipped")?,
        sgis: num("sgis")?,
        progress_lines: num("progress")?,
        failure: (failure != "-").then(|| failure.to_string()),
        hung: num("hung")? == 1,
    };
    Some(Record {
        slot: num("slot")? as usize,
        session: num("session")? as u32,
        elapsed_s: kv.get("elapsed")?.parse().ok()?,
        outcome,
    })
}

impl Journal {
    /// Opens (or creates) the journal for these options and kernel. An existing journal
    /// written for anything else is an error naming both headers; nothing is changed.
    pub fn open(path: &Path, o: &Opts, kernel: &Path, slots: usize) -> Result<Journal, String> {
        let want = header(o, hash_file(kernel)?);
        let mut done = BTreeMap::new();
        let mut session = 1;
        match std::fs::read_to_string(path) {
            Ok(text) if !text.is_empty() => {
                let mut lines = text.lines();
                let have = lines.next().unwrap_or_default();
                if have != want {
                    return Err(format!(
                        "journal {} belongs to another soak (same options and the same kernel \
                         file are needed to go on; start a new journal otherwise):\n  \
                         journal: {have}\n  this:    {want}",
                        path.display()
                    ));
                }
                for (n, line) in lines.enumerate() {
                    match parse_record(line) {
                        Some(r) if r.slot < slots => {
                            session = session.max(r.session + 1);
                            done.insert(r.slot, r);
                        }
                        _ => eprintln!(
                            "soak: journal {} line {}: not a record, ignored (cut short?)",
                            path.display(),
                            n + 2
                        ),
                    }
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("journal {}: {e}", path.display())),
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("journal {}: {e}", path.display()))?;
        if done.is_empty() && file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            writeln!(file, "{want}").map_err(|e| format!("journal {}: {e}", path.display()))?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            done,
            session,
        })
    }

    /// Appends one finished process (flushed at once: the soak may be killed any time).
    pub fn record(&self, slot: usize, elapsed: Duration, o: &Outcome) {
        let line = record_line(slot, self.session, elapsed, o);
        let mut f = self.file.lock().expect("no poisoning");
        if let Err(e) = writeln!(f, "{line}").and_then(|_| f.flush()) {
            eprintln!(
                "soak: journal {}: {e} (this process is not recorded)",
                self.path.display()
            );
        }
    }

    /// Wall time of the earlier sittings: for each, when its last recorded process ended.
    pub fn earlier_wall(&self) -> Duration {
        let mut per: BTreeMap<u32, f64> = BTreeMap::new();
        for r in self.done.values() {
            let e = per.entry(r.session).or_default();
            *e = e.max(r.elapsed_s);
        }
        Duration::from_secs_f64(per.values().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::Accel;

    fn opts() -> Opts {
        Opts {
            boots: 100,
            accel: Accel::Kvm,
            seed: 9,
            jobs: 1,
            per_process: 10,
            mutant: None,
            kernel: None,
            append: "stress_ring=1000 stress_irq=0".into(),
            gic: None,
            journal: None,
            sitting: None,
        }
    }

    fn outcome(rounds: u32, failure: Option<&str>) -> Outcome {
        Outcome {
            rounds_ok: rounds,
            round_times: (0..rounds)
                .map(|i| Duration::from_millis(100 + u64::from(i)))
                .collect(),
            wakeups: 7,
            kicks: 5,
            skipped: 3,
            sgis: 2,
            progress_lines: 1,
            failure: failure.map(str::to_string),
            hung: false,
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let o = outcome(
            3,
            Some("round 4: exit: fail: lost wakeup: phase ring made no progress"),
        );
        let r = parse_record(&record_line(12, 2, Duration::from_millis(4500), &o)).unwrap();
        assert_eq!((r.slot, r.session), (12, 2));
        assert!((r.elapsed_s - 4.5).abs() < 1e-9);
        assert_eq!(r.outcome.rounds_ok, 3);
        assert_eq!(r.outcome.round_times, o.round_times);
        assert_eq!(r.outcome.failure, o.failure);
        assert_eq!(
            (
                r.outcome.wakeups,
                r.outcome.kicks,
                r.outcome.skipped,
                r.outcome.sgis
            ),
            (7, 5, 3, 2)
        );
        let none = parse_record(&record_line(0, 1, Duration::ZERO, &outcome(0, None))).unwrap();
        assert!(none.outcome.round_times.is_empty() && none.outcome.failure.is_none());
        // A line cut short is not a record.
        let line = record_line(1, 1, Duration::ZERO, &o);
        assert!(parse_record(&line[..line.len() / 2]).is_none());
    }

    #[test]
    fn resumes_the_same_soak_and_refuses_another() {
        let dir = std::env::temp_dir().join(format!("aiolos-journal-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let kernel = dir.join("kernel");
        std::fs::write(&kernel, b"kernel one").unwrap();
        let path = dir.join("soak.journal");
        let _ = std::fs::remove_file(&path);
        let o = opts();

        let j = Journal::open(&path, &o, &kernel, 10).unwrap();
        assert!(j.done.is_empty());
        assert_eq!(j.session, 1);
        j.record(3, Duration::from_secs(40), &outcome(10, None));
        j.record(0, Duration::from_secs(60), &outcome(10, None));
        drop(j);
        // Killed while writing a line: ignored on resume.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        write!(f, "slot=5 session=1 elap").unwrap();
        drop(f);

        let j = Journal::open(&path, &o, &kernel, 10).unwrap();
        assert_eq!(j.done.keys().copied().collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(j.session, 2);
        assert_eq!(j.earlier_wall(), Duration::from_secs(60));
        j.record(1, Duration::from_secs(30), &outcome(10, None));
        drop(j);
        let j = Journal::open(&path, &o, &kernel, 10).unwrap();
        assert_eq!(j.done.len(), 3);
        assert_eq!(j.earlier_wall(), Duration::from_secs(90));
        drop(j);

        // Another kernel file, another seed, other bootargs: refused, file unchanged.
        let before = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&kernel, b"kernel two").unwrap();
        let refused = Journal::open(&path, &o, &kernel, 10)
            .err()
            .unwrap_or_default();
        assert!(refused.contains("belongs to another soak"), "{refused}");
        std::fs::write(&kernel, b"kernel one").unwrap();
        let mut other = opts();
        other.seed = 10;
        assert!(Journal::open(&path, &other, &kernel, 10).is_err());
        let mut other = opts();
        other.append.push_str(" stress_naps=1");
        assert!(Journal::open(&path, &other, &kernel, 10).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
