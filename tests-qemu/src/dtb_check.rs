//! Placeholder: the real `dtb-check` is being written by another engineer.

use std::process::ExitCode;

pub fn run(args: &[String]) -> ExitCode {
    eprintln!("dtb-check: not implemented yet (args: {args:?})");
    ExitCode::from(2)
}
