//! aiolos host harness: `cargo xtask <command>` (setup, run, boot, test, image, dtb-check,
//! sdcard, disk, kvm, new-app, bench). std only, no external crates. See README.md for the commands and
//! docs/ARCHITECTURE.md for the layout.
//!
//! Adding a command is one entry in [`COMMANDS`]: its name, a one-line synopsis for the
//! overview, its `--help` text and the function that runs it (given the arguments after the
//! command name; `--help`/`-h` never reaches it).

mod args;
mod bench;
mod boot;
mod cases;
mod dtb;
mod dtb_check;
mod elf;
mod firmware;
mod image;
mod new_app;
mod pe;
mod sdcard;
mod setup;
mod soak;
mod suite;
mod util;

use std::path::PathBuf;
use std::process::ExitCode;

use boot::build::{KernelBuild, Output};
use boot::qemu::{self, BootConfig};

/// One `cargo xtask` subcommand.
struct Cmd {
    name: &'static str,
    /// `NAME ARGS` as shown in the overview.
    synopsis: &'static str,
    /// The overview's description (may span lines, indented to match).
    summary: &'static str,
    /// `cargo xtask NAME --help`.
    help: fn() -> String,
    run: fn(&[String]) -> ExitCode,
}

const COMMANDS: &[Cmd] = &[
    Cmd {
        name: "setup",
        synopsis: "setup [--backports]",
        summary: "install what is missing (rustup target, qemu, spin, dtc, gcc);\n\
                  --backports: QEMU 10 from bookworm-backports (raspi4b)",
        help: || setup::HELP.into(),
        run: setup::cmd,
    },
    Cmd {
        name: "run",
        synopsis: "run [--] [OPTIONS]",
        summary: "build the demo kernel (release) and boot it in QEMU",
        help: || {
            format!(
                "usage: cargo xtask run [--] [OPTIONS]\n\noptions:\n{}",
                qemu::BOOT_OPTIONS_HELP
            )
        },
        run: cmd_run,
    },
    Cmd {
        name: "boot",
        synopsis: "boot ELF [OPTIONS]",
        summary: "boot ELF in QEMU (the cargo runner uses this)",
        help: || {
            format!(
                "usage: cargo xtask boot ELF [OPTIONS]\n\noptions:\n{}",
                qemu::BOOT_OPTIONS_HELP
            )
        },
        run: cmd_boot,
    },
    Cmd {
        name: "test",
        synopsis: "test [TEST OPTIONS]",
        summary: "the whole suite; ends with `N passed, M failed`",
        help: || {
            format!(
                "usage: cargo xtask test [OPTIONS]\n\noptions:\n{}",
                suite::HELP
            )
        },
        run: suite::cmd,
    },
    Cmd {
        name: "image",
        synopsis: "image",
        summary: "build the release kernel and write the arm64 Linux Image beside\n\
                  it (target/aarch64-unknown-none/release/Image); prints its path last",
        help: || image::HELP.into(),
        run: image::cmd,
    },
    Cmd {
        name: "dtb-check",
        synopsis: "dtb-check FILE.dtb",
        summary: "check a device tree against what aiolos supports",
        help: || dtb_check::HELP.into(),
        run: dtb_check::run,
    },
    Cmd {
        name: "sdcard",
        synopsis: "sdcard --board rpi4 [-o OUT.img] [--append ARGS]",
        summary: "write a Raspberry Pi 4 SD-card image (firmware, DTB, Image, config.txt)\n\
                  to dd onto a card (`sdcard --help`)",
        help: || sdcard::HELP.into(),
        run: sdcard::cmd,
    },
    Cmd {
        name: "new-app",
        synopsis: "new-app [--name NAME] DIR",
        summary: "create a standalone application crate on this checkout's runtime\n\
                  in DIR (`new-app --test` generates one outside the workspace and boots it)",
        help: || new_app::HELP.into(),
        run: new_app::cmd,
    },
    Cmd {
        name: "disk",
        synopsis: "disk [OUT.img] [--append ARGS]",
        summary: "write a disk image U-Boot's distro boot starts aiolos from\n\
                  (Image, extlinux/extlinux.conf, optional DTB; `disk --help`)",
        help: || firmware::disk::HELP.into(),
        run: firmware::disk::cmd,
    },
    Cmd {
        name: "bench",
        synopsis: "bench [--quick] [--reps N]",
        summary: "aiolos vs embassy-executor and tokio on the host, instruction counts in\n\
                  the guest (icount): one table with the targets, under target/bench/",
        help: || bench::HELP.into(),
        run: bench::cmd,
    },
    Cmd {
        name: "kvm",
        synopsis: "kvm [OPTIONS]",
        summary: "boot the kernel under real KVM, nested in an arm64 Linux VM\n\
                  (downloads ~70 MB of arm64 packages once; `kvm --help`)",
        help: || boot::kvm::HELP.into(),
        run: boot::kvm::run,
    },
    Cmd {
        name: "soak",
        synopsis: "soak [--boots N] [--seed S] [--jobs J]",
        summary: "many stress rounds, the kernel rebooting itself inside each QEMU process,\n\
                  over a seeded random schedule of configurations (`soak --help`)",
        help: || soak::HELP.into(),
        run: soak::cmd,
    },
];

fn usage() -> String {
    let mut s = String::from(
        "usage: cargo xtask <command> (`cargo xtask <command> --help`)\n\ncommands:\n",
    );
    for c in COMMANDS {
        let mut lines = c.summary.lines();
        s += &format!("  {:<22}  {}\n", c.synopsis, lines.next().unwrap_or(""));
        for l in lines {
            s += &format!("  {:<22}  {}\n", "", l.trim_start());
        }
    }
    format!(
        "{s}\nboot options (run, boot):\n{}\n\ntest options:\n{}",
        qemu::BOOT_OPTIONS_HELP,
        suite::HELP
    )
}

/// Boots `cfg` interactively (console on the terminal); QEMU's exit status becomes ours.
fn boot(cfg: &BootConfig, kernel: &std::path::Path) -> ExitCode {
    if !kernel.exists() {
        eprintln!("boot: {} does not exist", kernel.display());
        return ExitCode::FAILURE;
    }
    let mut cfg = cfg.clone();
    let serve = cfg
        .bootargs()
        .is_some_and(|b| b.split_whitespace().any(|w| w == "serve"));
    if serve && !cfg.qemu_extra.iter().any(|a| a == "-netdev") {
        // `--append serve`: a virtio-net device on user networking, ports forwarded from the
        // host's loopback (SERVE_PORT and SERVE_PORT + 1 for the echo; 8080 by default).
        let http = std::env::var("SERVE_PORT")
            .ok()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(8080);
        cfg.qemu_extra
            .extend(cases::net::net_args(http, http.wrapping_add(1)));
        println!(
            "serve: open http://127.0.0.1:{http}/ (also /stats, /blk/N; echo: nc 127.0.0.1 {}) once the guest prints `serve: listening`; quit with Ctrl-A x",
            http.wrapping_add(1)
        );
    }
    let mut cmd = cfg.command(kernel, false);
    println!("{}", util::display_command(&cmd));
    match cmd.status() {
        Ok(st) => ExitCode::from(util::status_code(&st).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("boot: cannot run {}: {e}", qemu::QEMU);
            ExitCode::FAILURE
        }
    }
}

fn parse_or_exit(args: &[String]) -> Result<BootConfig, ExitCode> {
    BootConfig::parse(args).map_err(|e| {
        eprintln!("error: {e}\n\n{}", usage());
        ExitCode::from(2)
    })
}

fn cmd_run(args: &[String]) -> ExitCode {
    let cfg = match parse_or_exit(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = setup::ensure(setup::Need::Boot, false) {
        eprintln!("run: setup: {e}");
        return ExitCode::FAILURE;
    }
    let kernel = match &cfg.kernel {
        Some(k) => k.clone(),
        None => match KernelBuild::release().build(Output::Live, |c| println!("{c}")) {
            Ok((elf, _)) => elf,
            Err(e) => {
                eprintln!("run: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    boot(&cfg, &kernel)
}

fn cmd_boot(args: &[String]) -> ExitCode {
    let args: Vec<String> = args.iter().filter(|a| *a != "--").cloned().collect();
    let Some((elf, rest)) = args.split_first() else {
        eprintln!("boot: missing ELF\n\n{}", usage());
        return ExitCode::from(2);
    };
    let cfg = match parse_or_exit(rest) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if util::which(qemu::QEMU).is_none() {
        if let Err(e) = setup::ensure(setup::Need::Boot, false) {
            eprintln!("boot: setup: {e}");
            return ExitCode::FAILURE;
        }
    }
    let kernel = cfg.kernel.clone().unwrap_or_else(|| PathBuf::from(elf));
    boot(&cfg, &kernel)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    };
    if matches!(command.as_str(), "help" | "--help" | "-h") {
        println!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let Some(c) = COMMANDS.iter().find(|c| c.name == command) else {
        eprintln!("unknown command `{command}`\n\n{}", usage());
        return ExitCode::from(2);
    };
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", (c.help)());
        return ExitCode::SUCCESS;
    }
    (c.run)(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_help_and_a_line() {
        let u = usage();
        for c in COMMANDS {
            assert!((c.help)().contains("usage:"), "{}", c.name);
            assert!(u.contains(&format!("  {}", c.synopsis)), "{}", c.name);
        }
        let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
    }
}
