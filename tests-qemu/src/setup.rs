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
    SFDISK,
    MKFS_VFAT,
    MCOPY,
    // The network cases (cases/net.rs) fetch the service's endpoints with it.
    Tool {
        bin: "curl",
        package: "curl",
    },
];

/// Firmware that loads the kernel on QEMU `virt` (`-bios FILE`): U-Boot (`booti`, and its
/// distro boot of `cargo xtask disk`'s image) and edk2 (UEFI).
pub const U_BOOT: Tool = Tool {
    bin: "/usr/lib/u-boot/qemu_arm64/u-boot.bin",
    package: "u-boot-qemu",
};
pub const EDK2: Tool = Tool {
    bin: "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
    package: "qemu-efi-aarch64",
};
/// The firmware packages, in one list (`test` and `setup` install them after [`ALL_TOOLS`]).
pub const FIRMWARE: &[Tool] = &[U_BOOT, EDK2];

/// `cargo xtask sdcard`: the partition table (sfdisk), the FAT32 file system (mkfs.vfat) and
/// the files in it (mtools: mcopy, and minfo/mdir for the read-back). sfdisk and mkfs.vfat
/// live in /usr/sbin, which is not on an ordinary user's PATH: named by absolute path.
pub const SFDISK: Tool = Tool {
    bin: "/usr/sbin/sfdisk",
    package: "fdisk",
};
pub const MKFS_VFAT: Tool = Tool {
    bin: "/usr/sbin/mkfs.vfat",
    package: "dosfstools",
};
pub const MCOPY: Tool = Tool {
    bin: "mcopy",
    package: "mtools",
};
/// What `sdcard` needs.
pub const SDCARD_TOOLS: &[Tool] = &[SFDISK, MKFS_VFAT, MCOPY];

/// The Raspberry Pi GPU firmware: Debian's `raspi-firmware`, in the `non-free-firmware`
/// component (`setup --raspi-firmware` enables it).
pub const RASPI_FIRMWARE_DIR: &str = "/usr/lib/raspi-firmware";
pub const RASPI_FIRMWARE_PACKAGE: &str = "raspi-firmware";
pub const NON_FREE_FIRMWARE: &str = "non-free-firmware";

/// Where the backports source goes (`setup --backports`).
const BACKPORTS_SOURCES: &str = "/etc/apt/sources.list.d/aiolos-bookworm-backports.sources";
const DEBIAN_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";
/// Where the non-free-firmware source goes (`setup --raspi-firmware`).
const NON_FREE_FIRMWARE_SOURCES: &str = "/etc/apt/sources.list.d/aiolos-non-free-firmware.sources";

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

/// A `.sources` stanza derived from the stanza of `debian.sources` whose `URIs:` ends in
/// `/debian` (the security stanza has neither backports nor the same components), with its
/// `Suites:` and/or `Components:` lines replaced; comments dropped.
pub fn derived_stanza(
    debian_sources: &str,
    suites: Option<&str>,
    components: Option<&str>,
) -> Option<String> {
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
        .map(|l| match (suites, components) {
            (Some(s), _) if l.starts_with("Suites:") => format!("Suites: {s}"),
            (_, Some(c)) if l.starts_with("Components:") => format!("Components: {c}"),
            _ => l.to_string(),
        })
        .collect();
    Some(lines.join("\n") + "\n")
}

/// The `.sources` stanza for bookworm-backports.
pub fn backports_stanza(debian_sources: &str) -> Option<String> {
    derived_stanza(debian_sources, Some("bookworm-backports"), None)
}

/// The `.sources` stanza for the non-free-firmware component of the same suites.
pub fn non_free_firmware_stanza(debian_sources: &str) -> Option<String> {
    derived_stanza(debian_sources, None, Some(NON_FREE_FIRMWARE))
}

/// Writes `path` with the stanza `derive` makes from debian.sources, unless it exists.
fn write_source(path: &str, derive: fn(&str) -> Option<String>) -> Result<(), String> {
    if std::path::Path::new(path).exists() {
        println!("setup: {path} already present");
        return Ok(());
    }
    let src =
        std::fs::read_to_string(DEBIAN_SOURCES).map_err(|e| format!("{DEBIAN_SOURCES}: {e}"))?;
    let stanza = derive(&src).ok_or(format!(
        "no stanza with URIs ending in /debian in {DEBIAN_SOURCES}"
    ))?;
    println!("setup: writing {path}:\n{stanza}");
    std::fs::write(path, stanza).map_err(|e| format!("{path}: {e}"))
}

/// `setup --raspi-firmware`: the Pi's GPU firmware (`start4.elf`, `fixup4.dat`) for
/// `cargo xtask sdcard`, from the non-free-firmware component.
fn raspi_firmware() -> Result<(), String> {
    let start4 = format!("{RASPI_FIRMWARE_DIR}/start4.elf");
    if std::path::Path::new(&start4).exists() {
        println!("setup: found {start4} ({RASPI_FIRMWARE_PACKAGE})");
        return Ok(());
    }
    if !util::is_root() {
        return Err(format!(
            "--raspi-firmware needs root (it writes an apt source for the {NON_FREE_FIRMWARE} \
             component and installs {RASPI_FIRMWARE_PACKAGE})"
        ));
    }
    write_source(NON_FREE_FIRMWARE_SOURCES, non_free_firmware_stanza)?;
    apt_install(&[RASPI_FIRMWARE_PACKAGE], false)?;
    if std::path::Path::new(&start4).exists() {
        Ok(())
    } else {
        Err(format!(
            "{start4} still missing after installing {RASPI_FIRMWARE_PACKAGE}"
        ))
    }
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
    write_source(BACKPORTS_SOURCES, backports_stanza)?;
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
        Need::All => {
            tools(ALL_TOOLS)?;
            tools(FIRMWARE)?;
        }
    }
    if want_backports {
        backports()?;
    }
    Ok(())
}

/// What `cargo xtask sdcard` needs: sfdisk, mkfs.vfat, mtools (installed when root, else the
/// `apt-get` line to run). The firmware is checked by `sdcard` itself.
pub fn ensure_sdcard() -> Result<(), String> {
    tools(SDCARD_TOOLS)
}

pub const HELP: &str = "\
usage: cargo xtask setup [--backports] [--raspi-firmware]

Installs what is missing (rustup target and components; qemu-system-arm, ipxe-qemu, spin,
device-tree-compiler, gcc, fdisk, dosfstools, mtools, and the firmware u-boot-qemu and
qemu-efi-aarch64) with apt-get when root; otherwise
prints the `sudo apt-get install` line to run. Idempotent.

  --backports        QEMU 10 from bookworm-backports (the raspi4b machine needs >= 9):
                     writes an apt source derived from debian.sources; no-op once QEMU >= 9
  --raspi-firmware   the Raspberry Pi GPU firmware (raspi-firmware, component
                     non-free-firmware) for `cargo xtask sdcard`: writes an apt source
                     derived from debian.sources; no-op once /usr/lib/raspi-firmware/start4.elf exists";

/// `cargo xtask setup [--backports] [--raspi-firmware]`.
pub fn cmd(args: &[String]) -> std::process::ExitCode {
    let mut bp = false;
    let mut fw = false;
    for a in args {
        match a.as_str() {
            "--backports" => bp = true,
            "--raspi-firmware" => fw = true,
            "--help" | "-h" => {
                println!("{HELP}");
                return std::process::ExitCode::SUCCESS;
            }
            other => {
                eprintln!("setup: unknown option `{other}`\n\n{HELP}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let r = ensure(Need::All, bp).and_then(|()| if fw { raspi_firmware() } else { Ok(()) });
    match r {
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
    fn firmware_is_named_in_the_help() {
        for f in FIRMWARE {
            assert!(f.bin.starts_with('/'), "{}", f.package);
            assert!(HELP.contains(f.package), "{}", f.package);
        }
    }

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

    #[test]
    fn non_free_firmware_from_deb822() {
        let src = "Types: deb\n# a comment\nURIs: http://deb.example/debian\n\
                   Suites: bookworm bookworm-updates\nComponents: main\n\n\
                   Types: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\n\
                   Components: main\n";
        let s = non_free_firmware_stanza(src).unwrap();
        assert_eq!(
            s,
            "Types: deb\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\n\
             Components: non-free-firmware\n"
        );
    }
}
