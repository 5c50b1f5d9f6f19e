//! `cargo xtask setup`: make this machine able to build and boot aiolos. Idempotent.

use std::process::Command;

use crate::util;

/// A host tool the harness needs and the Debian package that provides it. `bin` is a
/// program looked up on PATH, or an absolute path of a file that must exist.
pub struct Tool {
    pub bin: &'static str,
    pub package: &'static str,
}

pub const QEMU_TOOL: Tool = Tool {
    bin: "qemu-system-aarch64",
    package: "qemu-system-arm",
};

/// QEMU's `virt` machine loads the virtio-net option ROM at start unless given `-nic none`;
/// Debian ships it in ipxe-qemu, a Recommends that `--no-install-recommends` leaves out, and
/// without it the plain `qemu-system-aarch64 -M virt ... -kernel kernel` stops at once.
pub const QEMU_ROM: Tool = Tool {
    bin: "/usr/lib/ipxe/qemu/efi-virtio.rom",
    package: "ipxe-qemu",
};

/// What booting needs.
pub const BOOT_TOOLS: &[Tool] = &[QEMU_TOOL, QEMU_ROM];

/// Everything `test` uses.
pub const ALL_TOOLS: &[Tool] = &[
    QEMU_TOOL,
    QEMU_ROM,
    Tool {
        bin: "spin",
        package: "spin",
    },
    Tool {
        bin: "dtc",
        package: "device-tree-compiler",
    },
    Tool {
        bin: "fdtget",
        package: "device-tree-compiler",
    },
    Tool {
        bin: "gcc",
        package: "gcc",
    },
];

/// Where the backports source goes (`setup --backports`).
const BACKPORTS_SOURCES: &str = "/etc/apt/sources.list.d/aiolos-bookworm-backports.sources";
const DEBIAN_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";

fn run_printed(cmd: &mut Command) -> Result<(), String> {
    println!("setup: running: {}", util::display_command(cmd));
    let st = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed with status {}",
            util::display_command(cmd),
            util::status_code(&st)
        ))
    }
}

/// Rust side: the aarch64 target and the rustfmt/clippy components. `want_components` only
/// for `test`/`setup` (`run` needs neither).
fn rust(want_components: bool) -> Result<(), String> {
    if util::which("rustup").is_none() {
        println!(
            "setup: rustup not found; assuming the toolchain already has aarch64-unknown-none"
        );
        return Ok(());
    }
    // Idempotent and fast when already installed.
    run_printed(Command::new("rustup").args(["target", "add", "aarch64-unknown-none"]))?;
    if want_components {
        let installed = Command::new("rustup")
            .args(["component", "list", "--installed"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let missing: Vec<&str> = ["rustfmt", "clippy"]
            .into_iter()
            .filter(|c| !installed.lines().any(|l| l.starts_with(&format!("{c}-"))))
            .collect();
        if !missing.is_empty() {
            run_printed(
                Command::new("rustup")
                    .args(["component", "add"])
                    .args(&missing),
            )?;
        }
    }
    Ok(())
}

fn apt_install(packages: &[&str], backports: bool) -> Result<(), String> {
    let mut update = Command::new("apt-get");
    update
        .env("DEBIAN_FRONTEND", "noninteractive")
        .arg("update");
    run_printed(&mut update)?;
    let mut install = Command::new("apt-get");
    install.env("DEBIAN_FRONTEND", "noninteractive").args([
        "install",
        "-y",
        "--no-install-recommends",
    ]);
    if backports {
        install.args(["-t", "bookworm-backports"]);
    }
    install.args(packages);
    run_printed(&mut install)
}

fn find(bin: &str) -> Option<std::path::PathBuf> {
    if bin.starts_with('/') {
        let p = std::path::PathBuf::from(bin);
        p.exists().then_some(p)
    } else {
        util::which(bin)
    }
}

/// Host tools: install the missing ones when root, else say exactly what to run.
fn tools(needed: &[Tool]) -> Result<(), String> {
    let mut missing: Vec<&str> = Vec::new();
    for t in needed {
        match find(t.bin) {
            Some(p) => println!("setup: found {} ({})", t.bin, p.display()),
            None => {
                println!("setup: missing {}", t.bin);
                if !missing.contains(&t.package) {
                    missing.push(t.package);
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !util::is_root() {
        return Err(format!(
            "missing packages; run:\n  sudo apt-get update && sudo apt-get install -y \
             --no-install-recommends {}\nthen re-run this command",
            missing.join(" ")
        ));
    }
    apt_install(&missing, false)?;
    match needed.iter().find(|t| find(t.bin).is_none()) {
        Some(t) => Err(format!("{} still missing after apt-get install", t.bin)),
        None => Ok(()),
    }
}

/// The `.sources` stanza for bookworm-backports, derived from the stanza of `debian.sources`
/// whose `URIs:` ends in `/debian` (the security stanza has no backports suite).
pub fn backports_stanza(debian_sources: &str) -> Option<String> {
    let stanza = debian_sources.split("\n\n").find(|p| {
        p.lines().any(|l| {
            l.strip_prefix("URIs:")
                .map(|u| {
                    u.split_whitespace()
                        .any(|u| u.trim_end_matches('/').ends_with("/debian"))
                })
                .unwrap_or(false)
        })
    })?;
    let lines: Vec<String> = stanza
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            if l.starts_with("Suites:") {
                "Suites: bookworm-backports".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    Some(lines.join("\n") + "\n")
}

/// `setup --backports`: QEMU 10 from bookworm-backports (for the `raspi4b` machine).
fn backports() -> Result<(), String> {
    // Idempotent and fast: nothing to do once QEMU is new enough for raspi4b.
    if let Some((major, minor)) = crate::qemu::version().filter(|(m, _)| *m >= 9) {
        println!("setup: QEMU {major}.{minor} already has raspi4b (>= 9)");
        return Ok(());
    }
    if !util::is_root() {
        return Err("--backports needs root (it writes an apt source and installs QEMU)".into());
    }
    if std::path::Path::new(BACKPORTS_SOURCES).exists() {
        println!("setup: {BACKPORTS_SOURCES} already present");
    } else {
        let src = std::fs::read_to_string(DEBIAN_SOURCES)
            .map_err(|e| format!("{DEBIAN_SOURCES}: {e}"))?;
        let stanza = backports_stanza(&src).ok_or(format!(
            "no stanza with URIs ending in /debian in {DEBIAN_SOURCES}"
        ))?;
        println!("setup: writing {BACKPORTS_SOURCES}:\n{stanza}");
        std::fs::write(BACKPORTS_SOURCES, stanza)
            .map_err(|e| format!("{BACKPORTS_SOURCES}: {e}"))?;
    }
    apt_install(&["qemu-system-arm"], true)
}

/// Which setup a command needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// `run` / `boot`: the aarch64 target and QEMU.
    Boot,
    /// `setup` / `test`: everything.
    All,
}

pub fn ensure(need: Need, want_backports: bool) -> Result<(), String> {
    rust(need == Need::All)?;
    match need {
        Need::Boot => tools(BOOT_TOOLS)?,
        Need::All => tools(ALL_TOOLS)?,
    }
    if want_backports {
        backports()?;
    }
    Ok(())
}

pub const HELP: &str = "usage: cargo xtask setup [--backports]

Installs what is missing: the rustup target aarch64-unknown-none (and rustfmt, clippy),
qemu-system-arm, spin, device-tree-compiler and gcc with apt-get when running as root;
otherwise prints the exact `sudo apt-get install ...` line to run.

options:
  --backports   also install QEMU 10 from bookworm-backports (needed for raspi4b only;
                a no-op once QEMU is >= 9)";

/// `cargo xtask setup [--backports]`.
pub fn cmd(args: &[String]) -> std::process::ExitCode {
    let mut bp = false;
    for a in args {
        match a.as_str() {
            "--backports" => bp = true,
            other => {
                eprintln!("setup: unknown option `{other}` (only --backports)");
                return std::process::ExitCode::from(2);
            }
        }
    }
    match ensure(Need::All, bp) {
        Ok(()) => {
            println!("setup: ok");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("setup: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backports_from_deb822() {
        let src = "Types: deb\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\n\
                   Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                   Types: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\n\
                   Components: main\n";
        let s = backports_stanza(src).unwrap();
        assert!(s.contains("Suites: bookworm-backports\n"));
        assert!(s.contains("URIs: http://deb.example/debian\n"));
        assert!(!s.contains("security"));
        assert!(backports_stanza("Types: deb\nURIs: http://x/debian-security\n").is_none());
    }
}
