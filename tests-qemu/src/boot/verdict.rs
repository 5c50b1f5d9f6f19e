//! The kernel's output contract, read in one place: the `exit:` verdict line, the
//! `cpus online: N/M` line, `test NAME ... FAILED` lines, and what a boot is expected to show.
//! Every kind of run (QEMU TCG boots of the suite, the nested-KVM runner) parses its log here.

/// The verdict a kernel states on its last line, through [`Exit::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit<'a> {
    /// `exit: ok`.
    Ok,
    /// `exit: fail: REASON` (the reason, trimmed).
    Fail(&'a str),
}

impl<'a> Exit<'a> {
    /// The one parser of the `exit:` line: `exit: ok` or `exit: fail: REASON` (surrounding
    /// whitespace and `\r` ignored); anything else is not a verdict.
    pub fn parse(line: &'a str) -> Option<Exit<'a>> {
        let l = line.trim();
        if l == "exit: ok" {
            Some(Exit::Ok)
        } else {
            l.strip_prefix("exit: fail:").map(|r| Exit::Fail(r.trim()))
        }
    }

    /// The last verdict line among `lines` (output may follow it, e.g. a hung guest's
    /// console after an inner timeout), as written.
    pub fn last_line<'l>(lines: &[&'l str]) -> Option<&'l str> {
        lines
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| Exit::parse(l).is_some())
    }
}

/// What a boot is expected to end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// QEMU exits 0 and the last line is `exit: ok`.
    Ok,
    /// QEMU exits non-zero and the last line starts with `exit: fail:`.
    Fail,
    /// Either, as long as exit status and last line agree.
    Any,
}

/// Expectations for one boot's serial log.
#[derive(Clone, Debug)]
pub struct Expect {
    pub verdict: Verdict,
    /// Require `cpus online: N/M` with exactly these numbers.
    pub cpus_online: Option<(u32, u32)>,
    /// Case-insensitive substrings the `exit:` line must contain.
    pub exit_contains: Vec<String>,
    /// Case-insensitive substrings that must occur somewhere in the log.
    pub log_contains: Vec<String>,
}

impl Expect {
    /// A normal boot on `smp` cores: exit 0, all cores online, `exit: ok`, no failed test.
    pub fn ok(smp: u32) -> Expect {
        Expect {
            verdict: Verdict::Ok,
            cpus_online: Some((smp, smp)),
            exit_contains: Vec::new(),
            log_contains: Vec::new(),
        }
    }
}

/// The last non-empty line of the log (trailing `\r` and spaces removed).
pub fn last_line(log: &str) -> Option<&str> {
    log.lines().map(|l| l.trim_end()).rfind(|l| !l.is_empty())
}

/// Lines reporting an in-guest test failure: `test NAME ... FAILED[...]`.
pub fn failed_tests(log: &str) -> Vec<&str> {
    log.lines()
        .map(|l| l.trim_end())
        .filter(|l| l.starts_with("test ") && l.contains(" ... FAILED"))
        .collect()
}

/// Checks a finished boot against `expect`. `code` is QEMU's exit status (None = killed).
pub fn check(log: &str, code: Option<i32>, expect: &Expect) -> Result<(), String> {
    let mut problems = Vec::new();
    let last = last_line(log).unwrap_or("");
    let exit = Exit::parse(last);
    let lower_log = log.to_lowercase();
    match code {
        None => problems.push("QEMU was killed (timeout)".to_string()),
        Some(c) => match expect.verdict {
            Verdict::Ok if c != 0 => problems.push(format!("QEMU exit status {c}, expected 0")),
            Verdict::Fail if c == 0 => {
                problems.push("QEMU exit status 0, expected non-zero".into())
            }
            Verdict::Any if (c == 0) != (exit == Some(Exit::Ok)) => problems.push(format!(
                "QEMU exit status {c} does not agree with the last line `{last}`"
            )),
            _ => {}
        },
    }
    match expect.verdict {
        Verdict::Ok if exit != Some(Exit::Ok) => {
            problems.push(format!("last line is `{last}`, expected `exit: ok`"))
        }
        Verdict::Fail if !matches!(exit, Some(Exit::Fail(_))) => {
            problems.push(format!("last line is `{last}`, expected `exit: fail: ...`"))
        }
        Verdict::Any if exit.is_none() => {
            problems.push(format!("last line is `{last}`, expected `exit: ...`"))
        }
        _ => {}
    }
    if let Some((n, m)) = expect.cpus_online {
        let want = format!("cpus online: {n}/{m}");
        if !log.lines().any(|l| l.trim_end().ends_with(&want)) {
            let seen = log
                .lines()
                .find(|l| l.contains("cpus online:"))
                .map(|l| format!(" (saw `{}`)", l.trim_end()))
                .unwrap_or_default();
            problems.push(format!("no line `{want}`{seen}"));
        }
    }
    if expect.verdict != Verdict::Fail {
        for l in failed_tests(log) {
            problems.push(format!("in-guest test failed: `{l}`"));
        }
    }
    for s in &expect.exit_contains {
        if !last.to_lowercase().contains(&s.to_lowercase()) {
            problems.push(format!("exit line does not mention `{s}`"));
        }
    }
    for s in &expect.log_contains {
        if !lower_log.contains(&s.to_lowercase()) {
            problems.push(format!("log does not contain `{s}`"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// [`check`], with QEMU's `stderr` also searched for the expected substrings (a kernel may
/// print through semihosting when it has no console; those go to the same stream, but an
/// older QEMU without the chardev wiring would put them on stderr). The verdict itself is
/// still read from `log` alone.
pub fn check_with_stderr(
    log: &str,
    stderr: &str,
    code: Option<i32>,
    expect: &Expect,
) -> Result<(), String> {
    match check(log, code, expect) {
        Ok(()) => Ok(()),
        Err(e) => {
            let both = format!("{log}\n{stderr}").to_lowercase();
            let mut relaxed = expect.clone();
            relaxed.log_contains.clear();
            let missing = expect
                .log_contains
                .iter()
                .any(|s| !both.contains(&s.to_lowercase()));
            if !missing && check(log, code, &relaxed).is_ok() {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "aiolos\r\ncpus online: 4/4\r\ntest a ... ok\r\nexit: ok\r\n\r\n";

    #[test]
    fn exit_line() {
        assert_eq!(Exit::parse("exit: ok\r"), Some(Exit::Ok));
        assert_eq!(Exit::parse("exit: fail: x y "), Some(Exit::Fail("x y")));
        assert_eq!(Exit::parse("exit: okay"), None);
        assert_eq!(Exit::parse("exit: failed"), None);
        assert_eq!(Exit::parse("boot"), None);
        assert_eq!(
            Exit::last_line(&["exit: fail: a", "tick", ""]),
            Some("exit: fail: a")
        );
        assert_eq!(Exit::last_line(&["boot"]), None);
    }

    #[test]
    fn check_ok() {
        assert!(check(GOOD, Some(0), &Expect::ok(4)).is_ok());
        assert!(check(GOOD, Some(0), &Expect::ok(2)).is_err());
        assert!(check(GOOD, Some(1), &Expect::ok(4)).is_err());
        assert!(check(GOOD, None, &Expect::ok(4)).is_err());
        let bad = GOOD.replace("test a ... ok", "test a ... FAILED: boom");
        assert!(check(&bad, Some(0), &Expect::ok(4)).is_err());
        let trailing = format!("{GOOD}junk\n");
        assert!(check(&trailing, Some(0), &Expect::ok(4)).is_err());
    }

    #[test]
    fn check_fail() {
        let log = "boot\nexit: fail: no device tree at 0x40000000\n";
        let mut e = Expect {
            verdict: Verdict::Fail,
            cpus_online: None,
            exit_contains: vec![],
            log_contains: vec!["No Device Tree".into()],
        };
        assert!(check(log, Some(1), &e).is_ok());
        assert!(check(log, Some(0), &e).is_err());
        e.exit_contains = vec!["panic".into()];
        assert!(check(log, Some(1), &e).is_err());
        e.verdict = Verdict::Any;
        e.exit_contains.clear();
        assert!(check(log, Some(1), &e).is_ok());
        assert!(check(log, Some(0), &e).is_err());
    }

    #[test]
    fn stderr_counts_for_log_contains_only() {
        let e = Expect {
            log_contains: vec!["semihosted".into()],
            ..Expect::ok(4)
        };
        assert!(check(GOOD, Some(0), &e).is_err());
        assert!(check_with_stderr(GOOD, "semihosted line", Some(0), &e).is_ok());
        assert!(check_with_stderr(GOOD, "other", Some(0), &e).is_err());
    }
}
