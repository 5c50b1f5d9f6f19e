//! `cargo xtask bench` in the suite: its crate's host lints and the command's quick mode
//! (which checks that its parts run, the I/O rows on aiolos only, and the table is written,
//! not the figures). Host steps, run like `steps`.

use super::steps::Step;

pub const BENCH_STEPS: &[Step] = &[
    Step {
        // The bench crate is host-only (tokio, embassy's std platform).
        name: "clippy-bench",
        argv: &[
            "cargo",
            "clippy",
            "-p",
            "bench",
            "--target",
            "host-tuple",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        ..Step::DEFAULT
    },
    Step {
        name: "bench-quick",
        argv: &["cargo", "xtask", "bench", "--quick"],
        timeout_s: 1800,
        ..Step::DEFAULT
    },
];
