//! Host-side checks run before any boot: formatting, clippy for both targets, the host unit
//! tests, loom and its negative controls, the spin model. One entry per command line.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::suite::report::indent;
use crate::util;

/// A host-side check: (name, environment, command line). Run from the workspace root.
pub struct Step {
    pub name: &'static str,
    pub env: &'static [(&'static str, &'static str)],
    pub argv: &'static [&'static str],
    /// Files that must exist, else the step FAILS as "missing".
    pub needs: &'static [&'static str],
    pub timeout_s: u64,
}

impl Step {
    pub const DEFAULT: Step = Step {
        name: "",
        env: &[],
        argv: &[],
        needs: &[],
        timeout_s: 900,
    };
}

pub const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        argv: &["cargo", "fmt", "--all", "--check"],
        timeout_s: 300,
        ..Step::DEFAULT
    },
    Step {
        // tests-qemu is a std host binary: it cannot build for aarch64-unknown-none.
        name: "clippy-aarch64",
        argv: &[
            "cargo",
            "clippy",
            "--workspace",
            "--exclude",
            "tests-qemu",
            "--exclude",
            "bench",
            "--",
            "-D",
            "warnings",
        ],
        ..Step::DEFAULT
    },
    Step {
        // kernel is no_std/no_main and only builds for aarch64.
        name: "clippy-host",
        argv: &[
            "cargo",
            "clippy",
            "-p",
            "aiolos-hal",
            "-p",
            "aiolos-executor",
            "-p",
            "tests-qemu",
            "--features",
            "aiolos-executor/std,aiolos-executor/stats",
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
        name: "unit-hal-harness",
        argv: &[
            "cargo",
            "test",
            "-p",
            "aiolos-hal",
            "-p",
            "tests-qemu",
            "--target",
            "host-tuple",
        ],
        ..Step::DEFAULT
    },
    Step {
        // Without feature `stats`: the wake path has no statistics, the build must still be
        // clean and the work counters' assertions still hold.
        name: "clippy-nostats",
        argv: &[
            "cargo",
            "clippy",
            "-p",
            "aiolos",
            "-p",
            "aiolos-executor",
            "--no-default-features",
            "--",
            "-D",
            "warnings",
        ],
        ..Step::DEFAULT
    },
    Step {
        // The kernel's I/O features one level at a time (the defaults have all of them,
        // clippy-nostats none): an application that turns on only the heap, or virtio
        // without the TCP/IP stack, must build clean.
        name: "clippy-features-heap",
        argv: &[
            "cargo",
            "clippy",
            "-p",
            "aiolos",
            "--no-default-features",
            "--features",
            "heap",
            "--",
            "-D",
            "warnings",
        ],
        ..Step::DEFAULT
    },
    Step {
        name: "clippy-features-virtio",
        argv: &[
            "cargo",
            "clippy",
            "-p",
            "aiolos",
            "--no-default-features",
            "--features",
            "stats,virtio",
            "--",
            "-D",
            "warnings",
        ],
        ..Step::DEFAULT
    },
    Step {
        name: "unit-executor",
        argv: &[
            "cargo",
            "test",
            "-p",
            "aiolos-executor",
            "--features",
            "std,stats",
            "--target",
            "host-tuple",
        ],
        ..Step::DEFAULT
    },
    Step {
        name: "unit-executor-nostats",
        argv: &[
            "cargo",
            "test",
            "-p",
            "aiolos-executor",
            "--features",
            "std",
            "--target",
            "host-tuple",
        ],
        ..Step::DEFAULT
    },
    Step {
        // The kernel's one-way floors (docs/ARCHITECTURE.md's table): no upward import, no
        // circle, no file outside a floor.
        name: "kernel-floors",
        argv: &["bash", "kernel/check-floors.sh"],
        timeout_s: 60,
        ..Step::DEFAULT
    },
    Step {
        // Its negative control: an upward import and a circle added to a copy must fail it.
        name: "kernel-floors-mutants",
        argv: &["bash", "kernel/check-floors.sh", "--self-test"],
        timeout_s: 60,
        ..Step::DEFAULT
    },
    Step {
        name: "loom",
        env: &[
            ("RUSTFLAGS", "--cfg loom"),
            ("CARGO_TARGET_DIR", "target/loom"),
        ],
        argv: &[
            "cargo",
            "test",
            "-p",
            "aiolos-executor",
            "--features",
            "std",
            "--target",
            "host-tuple",
            "--release",
            "--test",
            "loom",
        ],
        needs: &["executor/tests/loom.rs"],
        timeout_s: 1200,
    },
    Step {
        name: "loom-mutants",
        argv: &["bash", "executor/loom-mutants.sh"],
        needs: &["executor/loom-mutants.sh"],
        timeout_s: 1200,
        ..Step::DEFAULT
    },
    Step {
        name: "spin",
        argv: &["bash", "executor/model/check.sh"],
        needs: &["executor/model/check.sh"],
        timeout_s: 600,
        ..Step::DEFAULT
    },
    // The executor used alone (issue 14): its host example with the std notifier, and the
    // one with a user-written EventNotifier and Clock (no `std` feature).
    Step {
        name: "executor-example-host",
        argv: &[
            "cargo",
            "run",
            "-p",
            "aiolos-executor",
            "--example",
            "host",
            "--features",
            "std",
            "--target",
            "host-tuple",
        ],
        needs: &["executor/examples/host.rs"],
        timeout_s: 600,
        ..Step::DEFAULT
    },
    Step {
        name: "executor-example-custom-platform",
        argv: &[
            "cargo",
            "run",
            "-p",
            "aiolos-executor",
            "--example",
            "custom_platform",
            "--target",
            "host-tuple",
        ],
        needs: &["executor/examples/custom_platform.rs"],
        timeout_s: 600,
        ..Step::DEFAULT
    },
    // API docs without warnings, each crate as docs.rs builds it (package.metadata.docs.rs):
    // the runtime and the HAL for aarch64, the executor on the host with `std`.
    Step {
        name: "doc-aarch64",
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        argv: &[
            "cargo",
            "doc",
            "--no-deps",
            "-p",
            "aiolos",
            "-p",
            "aiolos-hal",
        ],
        ..Step::DEFAULT
    },
    Step {
        name: "doc-executor",
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        argv: &[
            "cargo",
            "doc",
            "--no-deps",
            "-p",
            "aiolos-executor",
            "--features",
            "std",
            "--target",
            "host-tuple",
        ],
        ..Step::DEFAULT
    },
    // An application generated by `cargo xtask new-app` in a temporary directory outside the
    // workspace builds, boots (`exit: ok`) and `cargo run`s (tests-qemu/src/new_app.rs).
    Step {
        name: "new-app",
        argv: &["cargo", "xtask", "new-app", "--test"],
        needs: &["template/src/main.rs"],
        timeout_s: 1800,
        ..Step::DEFAULT
    },
];

/// Runs one step; `(ok, detail)`.
pub fn run(step: &Step, root: &Path) -> (bool, String) {
    for f in step.needs {
        if !root.join(f).exists() {
            return (false, format!("missing: {f} does not exist"));
        }
    }
    let mut cmd = Command::new(step.argv[0]);
    cmd.args(&step.argv[1..]).current_dir(root);
    for (k, v) in step.env {
        cmd.env(k, v);
    }
    println!("==> {}: {}", step.name, util::display_command(&cmd));
    match util::run_captured(&mut cmd, Duration::from_secs(step.timeout_s)) {
        Err(e) => (false, format!("cannot run: {e}")),
        Ok(c) if c.timed_out => (
            false,
            format!(
                "timed out after {}s\n{}",
                step.timeout_s,
                indent(&util::tail(&format!("{}{}", c.stdout, c.stderr), 60))
            ),
        ),
        Ok(c) if !c.success() => (
            false,
            format!(
                "exit status {}\n{}",
                c.code.unwrap_or(-1),
                indent(&util::tail(&format!("{}{}", c.stdout, c.stderr), 60))
            ),
        ),
        Ok(c) => (true, format!("{:.1}s", c.elapsed.as_secs_f64())),
    }
}
