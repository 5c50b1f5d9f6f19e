//! aiolos host harness: `cargo xtask <command>` (setup, run, boot, test, dtb-check, new-app).
//!
//! std only, no external crates. See README.md for the commands.

mod dtb;
mod dtb_check;
mod elf;
mod image;
mod kvm;
mod new_app;
mod qemu;
mod setup;
mod suite;
mod util;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use qemu::BootConfig;

fn usage() -> String {
    format!(
        "usage: cargo xtask <command>

commands:
  setup [--backports]     install what is missing (rustup target, qemu, spin, dtc, gcc);
                          --backports: QEMU 10 from bookworm-backports (raspi4b)
  run [--] [OPTIONS]      build the demo kernel (release) and boot it in QEMU
  boot ELF [OPTIONS]      boot ELF in QEMU (the cargo runner uses this)
  test [TEST OPTIONS]     the whole suite; ends with `N passed, M failed`
  image                   build the release kernel and write the arm64 Linux Image beside
                          it (target/aarch64-unknown-none/release/Image); prints its path last
  dtb-check FILE.dtb      check a device tree against what aiolos supports
  kvm [OPTIONS]           boot the kernel under real KVM, nested in an arm64 Linux VM
                          (downloads ~70 MB of arm64 packages once; `kvm --help`)
  new-app DIR             create a standalone application crate on this checkout's
                          runtime in DIR (`new-app --help`; `new-app --test` checks it)

boot options (run, boot):
{}

test options:
{}",
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
        None => {
            let mut build = Command::new("cargo");
            build
                .args(["build", "--release", "-p", util::KERNEL_PACKAGE])
                .current_dir(util::workspace_root());
            println!("{}", util::display_command(&build));
            match build.status() {
                Ok(st) if st.success() => {}
                Ok(_) => {
                    eprintln!("run: kernel build failed");
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("run: cannot run cargo: {e}");
                    return ExitCode::FAILURE;
                }
            }
            util::kernel_elf()
        }
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
    match command.as_str() {
        "setup" => setup::cmd(rest),
        "run" => cmd_run(rest),
        "boot" => cmd_boot(rest),
        "test" => suite::cmd(rest),
        "image" => image::cmd(rest),
        "dtb-check" => dtb_check::run(rest),
        "kvm" => kvm::run(rest),
        "new-app" => new_app::cmd(rest),
        "help" | "--help" | "-h" => {
            println!("{}", usage());
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unknown command `{other}`\n\n{}", usage());
            ExitCode::from(2)
        }
    }
}
