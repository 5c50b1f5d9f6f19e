//! What the suite prints: the tally and its closing line, the boot-time table.

use std::process::ExitCode;

use super::pool::BootResult;
use crate::cases::matrix::MATRIX_BOOTARGS;

/// Passed, failed (with names) and skipped counts of a run.
#[derive(Default)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failures: Vec<String>,
}

impl Tally {
    pub fn record(&mut self, name: &str, ok: bool) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            self.failures.push(name.to_string());
        }
    }
}

/// The per-configuration boot-time table: one row per matrix point, one column per bootargs.
pub fn print_times(results: &[BootResult]) {
    println!("\nboot times (s):");
    let cols: Vec<&str> = MATRIX_BOOTARGS.iter().map(|(s, _)| *s).collect();
    let mut rows: Vec<String> = Vec::new();
    let mut others: Vec<&BootResult> = Vec::new();
    for r in results {
        match cols.iter().find(|c| r.name.ends_with(&format!("-{c}"))) {
            Some(c) => {
                let row = r.name[..r.name.len() - c.len() - 1].to_string();
                if !rows.contains(&row) {
                    rows.push(row);
                }
            }
            None => others.push(r),
        }
    }
    rows.sort();
    print!("  {:<28}", "configuration");
    for c in &cols {
        print!(" {c:>9}");
    }
    println!();
    for row in &rows {
        print!("  {row:<28}");
        for c in &cols {
            let cell = results
                .iter()
                .find(|r| r.name == format!("{row}-{c}"))
                .map(|r| {
                    format!(
                        "{:.2}{}",
                        r.elapsed.as_secs_f64(),
                        if r.ok { "" } else { "!" }
                    )
                })
                .unwrap_or_else(|| "-".into());
            print!(" {cell:>9}");
        }
        println!();
    }
    for r in others {
        println!(
            "  {:<28} {:>9}",
            r.name,
            format!(
                "{:.2}{}",
                r.elapsed.as_secs_f64(),
                if r.ok { "" } else { "!" }
            )
        );
    }
    println!("  (! = failed)");
}

/// `s`'s first line, then the rest indented (a failure's detail under its summary).
pub fn indent_rest(s: &str) -> String {
    match s.split_once('\n') {
        Some((first, rest)) => format!("{first}\n{}", indent(rest)),
        None => s.to_string(),
    }
}

pub fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  | {l}\n")).collect()
}

impl Tally {
    /// The closing lines: the failures' names and `N passed, M failed[, K skipped]`; the
    /// suite's exit status.
    pub fn finish(&self) -> ExitCode {
        if !self.failures.is_empty() {
            println!("failed: {}", self.failures.join(", "));
        }
        let mut summary = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            summary.push_str(&format!(", {} skipped", self.skipped));
        }
        println!("{summary}");
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_and_indent() {
        let mut t = Tally::default();
        t.record("a", true);
        t.record("b", false);
        assert_eq!(
            (t.passed, t.failed, t.failures.clone()),
            (1, 1, vec!["b".to_string()])
        );
        assert_eq!(t.finish(), ExitCode::FAILURE);
        assert_eq!(indent("x\ny"), "  | x\n  | y\n");
    }
}
