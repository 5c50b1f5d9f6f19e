//! Building a kernel: the one place that runs `cargo build` for the guest.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util;

/// The bare-metal target every guest is built for (`.cargo/config.toml`'s default).
pub const TARGET: &str = "aarch64-unknown-none";

/// A guest kernel build: `cargo build -p PACKAGE [--bin BIN] --profile PROFILE` for
/// [`TARGET`], optionally with a mutant cfg and in its own target directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelBuild {
    pub package: &'static str,
    /// The binary to build (`--bin`); `None` = the package's own binary, named like it.
    pub bin: Option<&'static str>,
    /// Cargo profile: `release`, `dev` (its directory is `debug`), or a custom one.
    pub profile: &'static str,
    /// `--cfg aiolos_mutant="NAME"` (a negative control). It is added with `--config` so that
    /// it is appended to `.cargo/config.toml`'s rustflags (RUSTFLAGS would replace them,
    /// linker script included).
    pub mutant: Option<String>,
    /// `CARGO_TARGET_DIR` for this build; `None` = the workspace's target directory.
    pub target_dir: Option<PathBuf>,
    /// `--no-default-features --features LIST`: only these package features (`""` = none);
    /// `None` = the package's defaults. Give such a build its own `target_dir` (the ELF's
    /// path does not name the features).
    pub features: Option<&'static str>,
}

/// How a build shows itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Cargo's output on the terminal (interactive commands).
    Live,
    /// Captured, with a timeout; the end of cargo's stderr is in the error.
    Captured,
}

impl KernelBuild {
    /// The demo kernel, release profile: what `run`, `image`, `kvm` and the suite boot.
    pub fn release() -> Self {
        KernelBuild {
            package: "aiolos",
            bin: Some("kernel"),
            profile: "release",
            mutant: None,
            target_dir: None,
            features: None,
        }
    }

    /// The release kernel built with one mutant, in `target/mutants/NAME` (so that the
    /// normal kernel is not rebuilt).
    pub fn mutant(name: &str) -> Self {
        KernelBuild {
            mutant: Some(name.to_string()),
            target_dir: Some(util::target_dir().join("mutants").join(name)),
            ..KernelBuild::release()
        }
    }

    /// Where the ELF lands.
    pub fn elf(&self) -> PathBuf {
        let dir = match self.profile {
            "dev" => "debug",
            p => p,
        };
        self.target_dir
            .clone()
            .unwrap_or_else(util::target_dir)
            .join(TARGET)
            .join(dir)
            .join(self.bin.unwrap_or(self.package))
    }

    /// The cargo command line, run from the workspace root.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("cargo");
        cmd.arg("build");
        match self.profile {
            "release" => cmd.arg("--release"),
            p => cmd.args(["--profile", p]),
        };
        cmd.args(["-p", self.package]);
        if let Some(b) = self.bin {
            cmd.args(["--bin", b]);
        }
        if let Some(f) = self.features {
            cmd.arg("--no-default-features");
            if !f.is_empty() {
                cmd.args(["--features", f]);
            }
        }
        if let Some(m) = &self.mutant {
            cmd.arg("--config").arg(format!(
                "target.{TARGET}.rustflags=['--cfg','aiolos_mutant=\"{m}\"']"
            ));
        }
        if let Some(d) = &self.target_dir {
            cmd.env("CARGO_TARGET_DIR", d);
        }
        cmd.current_dir(util::workspace_root());
        cmd
    }

    /// Builds; `echo` is shown the command line first. Returns the ELF's path and the time
    /// the build took.
    pub fn build(
        &self,
        output: Output,
        echo: impl FnOnce(&str),
    ) -> Result<(PathBuf, Duration), String> {
        let mut cmd = self.command();
        echo(&util::display_command(&cmd));
        let start = Instant::now();
        match output {
            Output::Live => {
                let st = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
                if !st.success() {
                    return Err("kernel build failed".into());
                }
            }
            Output::Captured => {
                let c = util::run_captured(&mut cmd, Duration::from_secs(900))
                    .map_err(|e| format!("cannot run cargo: {e}"))?;
                if !c.success() {
                    return Err(format!(
                        "exit status {}\n{}",
                        c.code.unwrap_or(-1),
                        util::tail(&c.stderr, 60)
                    ));
                }
            }
        }
        let elf = self.elf();
        if !elf.exists() {
            return Err(format!("{} was not produced", elf.display()));
        }
        Ok((elf, start.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_and_paths() {
        let r = KernelBuild::release();
        assert_eq!(
            util::display_command(&r.command()),
            "cargo build --release -p aiolos --bin kernel"
        );
        assert_eq!(
            r.elf(),
            util::target_dir().join("aarch64-unknown-none/release/kernel")
        );
        let m = KernelBuild::mutant("sgi_skip");
        let line = util::display_command(&m.command());
        assert!(line.starts_with("CARGO_TARGET_DIR="), "{line}");
        assert!(
            line.ends_with(
                "cargo build --release -p aiolos --bin kernel --config \
                 'target.aarch64-unknown-none.rustflags=['\\''--cfg'\\'','\\''aiolos_mutant=\"sgi_skip\"'\\'']'"
            ),
            "{line}"
        );
        assert!(m
            .elf()
            .ends_with("mutants/sgi_skip/aarch64-unknown-none/release/kernel"));
        let d = KernelBuild {
            profile: "dev",
            bin: Some("app"),
            ..KernelBuild::release()
        };
        assert!(d.elf().ends_with("aarch64-unknown-none/debug/app"));
        assert_eq!(
            util::display_command(&d.command()),
            "cargo build --profile dev -p aiolos --bin app"
        );
        let f = KernelBuild {
            features: Some("stats"),
            ..KernelBuild::release()
        };
        assert_eq!(
            util::display_command(&f.command()),
            "cargo build --release -p aiolos --bin kernel --no-default-features --features stats"
        );
        let none = KernelBuild {
            features: Some(""),
            ..KernelBuild::release()
        };
        assert!(
            util::display_command(&none.command()).ends_with("--bin kernel --no-default-features")
        );
    }
}
