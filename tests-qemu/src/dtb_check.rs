//! `cargo xtask dtb-check FILE.dtb`: prints what the kernel would discover from a DTB and
//! whether it can boot there. The discovery and the verdict are `hal::dtb`'s — the same code
//! the kernel runs — so this tool cannot disagree with the kernel.
//!
//! Output: the [`hal::dtb::Report`] lines, ending with `bootable: yes` (exit 0; possibly
//! `yes, if the bootloader fills in /memory ...` and `; warning: N of M CPUs cannot be
//! started: ...`, the kernel's own verdict from `hal::dtb::bootability`) or
//! `bootable: no: <reason>` (exit 1). An unreadable file or a broken blob is also
//! `bootable: no: <error>` (exit 1); a usage error exits 2.

use std::process::ExitCode;

use hal::dtb::{bootability, Platform, Report};

pub const HELP: &str = "usage: cargo xtask dtb-check FILE.dtb

Prints what the kernel would discover from the device tree (hal::dtb, the kernel's own
parser and its verdict function) and ends with the verdict line:
  bootable: yes                                          exit 0
  bootable: yes, if the bootloader fills in /memory ...  exit 0 (/memory of size 0 or none)
  bootable: yes; warning: N of M CPUs cannot be started: ...   exit 0 (the kernel boots
                                                         on the CPUs it can start)
  bootable: no: <reason>                                 exit 1
exit 2 on a usage error.";

/// Entry point; `args` are the arguments after `dtb-check` (one DTB path).
pub fn run(args: &[String]) -> ExitCode {
    let [path] = args else {
        eprintln!("{HELP}");
        return ExitCode::from(2);
    };
    let blob = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            println!("file: {path}");
            println!("bootable: no: cannot read {path}: {e}");
            return ExitCode::from(1);
        }
    };
    let (text, ok) = check(&blob);
    println!("file: {path}");
    print!("{text}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The `bootable: ...` line of a [`check`] report (the verdict alone).
// hal/tests includes this file by path and has no use for it.
#[allow(dead_code)]
pub fn verdict_line(report: &str) -> &str {
    report
        .lines()
        .find(|l| l.starts_with("bootable:"))
        .unwrap_or("(no bootable: line)")
}

/// The report for `blob` and whether the kernel can boot with it.
pub fn check(blob: &[u8]) -> (String, bool) {
    match Platform::parse(blob) {
        Ok(p) => (Report(&p).to_string(), bootability(&p).is_ok()),
        Err(e) => (format!("bootable: no: {e}\n"), false),
    }
}
