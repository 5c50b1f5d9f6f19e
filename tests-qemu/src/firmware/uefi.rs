//! Booting the Image as an EFI application under edk2 (Debian's `qemu-efi-aarch64`) on QEMU
//! `virt`, from a FAT disk, with no user input.
//!
//! The disk is a directory QEMU presents as a FAT drive (`-drive if=virtio,format=raw,
//! file=fat:rw:DIR`):
//! - no bootargs: `EFI/BOOT/BOOTAA64.EFI` = the Image. edk2's boot manager starts the
//!   removable-media path on its own, with empty load options.
//! - bootargs: `aiolos.efi` = the Image and a `startup.nsh` running `fs0:\aiolos.efi ARGS`.
//!   With no `BOOTAA64.EFI` the boot manager falls through to the UEFI shell, which runs
//!   `startup.nsh` after its 5-second countdown; the shell passes the command line as the
//!   load options, which the kernel reads as its bootargs (see `kernel/src/boot/efi`).
//!
//! `-M virt,acpi=off` makes edk2 hand over QEMU's device tree through the EFI configuration
//! table; by default it hands over ACPI tables only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::boot::qemu::BootConfig;
use crate::boot::verdict::{check_with_stderr, Expect};
use crate::util;

/// edk2 for QEMU's arm64 `virt` (Debian package `qemu-efi-aarch64`).
pub const EDK2: &str = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";
/// The image's name on the disk when the shell starts it.
const SHELL_NAME: &str = "aiolos.efi";

/// How the firmware describes the machine to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Describe {
    /// `-M virt,acpi=off`: a device tree in the configuration table.
    DeviceTree,
    /// QEMU's default under edk2: ACPI tables only.
    Acpi,
}

/// Why the UEFI boots cannot run here, if they cannot.
pub fn unmet() -> Option<String> {
    (!Path::new(EDK2).exists()).then(|| {
        format!("{EDK2} does not exist (apt-get install qemu-efi-aarch64, or `bash .ci/run`)")
    })
}

/// Writes the FAT directory for `image` and `bootargs` under `dir` (replacing any old one)
/// and returns it.
pub fn prepare_disk(image: &Path, bootargs: Option<&str>, dir: &Path) -> Result<PathBuf, String> {
    let fat = dir.join("fat");
    if fat.exists() {
        std::fs::remove_dir_all(&fat).map_err(|e| format!("{}: {e}", fat.display()))?;
    }
    let copy = |to: &Path| -> Result<(), String> {
        std::fs::create_dir_all(to.parent().unwrap_or(&fat))
            .and_then(|()| std::fs::copy(image, to).map(|_| ()))
            .map_err(|e| format!("{} -> {}: {e}", image.display(), to.display()))
    };
    match bootargs {
        None => copy(&fat.join("EFI/BOOT/BOOTAA64.EFI"))?,
        Some(args) => {
            copy(&fat.join(SHELL_NAME))?;
            let nsh = fat.join("startup.nsh");
            std::fs::write(&nsh, startup_nsh(args))
                .map_err(|e| format!("{}: {e}", nsh.display()))?;
        }
    }
    Ok(fat)
}

/// The shell script that starts the image with `args` as its load options.
pub fn startup_nsh(args: &str) -> String {
    format!("fs0:\\{SHELL_NAME} {args}\r\n")
}

/// The QEMU command: the machine of `cfg` (GIC, EL, smp, cpu, memory), edk2 as `-bios`,
/// the FAT directory as a virtio disk; serial and semihosting captured as the suite does.
pub fn command(cfg: &BootConfig, describe: Describe, fat: &Path) -> Command {
    let mut machine = cfg.machine_args(None);
    if describe == Describe::DeviceTree {
        if let Some(m) = machine.iter().position(|a| a == "-M").map(|i| i + 1) {
            machine[m].push_str(",acpi=off");
        }
    }
    let mut cmd = Command::new(crate::boot::qemu::QEMU);
    cmd.args(machine);
    cmd.args(["-display", "none", "-monitor", "none"]);
    cmd.args(["-chardev", "stdio,id=con,mux=on", "-serial", "chardev:con"]);
    cmd.args(["-semihosting-config", "enable=on,target=native,chardev=con"]);
    cmd.args(["-bios", EDK2, "-drive"]);
    cmd.arg(format!(
        "if=virtio,format=raw,file=fat:rw:{}",
        fat.display()
    ));
    cmd
}

/// Boots `image` under edk2 and checks the log with the suite's verdict parser. `dir` keeps
/// the disk and `serial.log`. Ok(seconds) or Err(report).
pub fn boot(
    cfg: &BootConfig,
    describe: Describe,
    image: &Path,
    expect: &Expect,
    dir: &Path,
    timeout: Duration,
) -> Result<f64, String> {
    let fat = prepare_disk(image, cfg.bootargs().as_deref(), dir)?;
    let mut cmd = command(cfg, describe, &fat);
    let cmdline = util::display_command(&cmd);
    let cap = util::run_captured(&mut cmd, timeout)
        .map_err(|e| format!("cannot run QEMU: {e}\n  {cmdline}"))?;
    let log_path = dir.join("serial.log");
    let _ = std::fs::write(&log_path, &cap.stdout);
    let verdict = if cap.timed_out {
        Err(format!("timed out after {}s", timeout.as_secs()))
    } else {
        check_with_stderr(&cap.stdout, &cap.stderr, cap.code, expect)
    };
    verdict.map(|()| cap.elapsed.as_secs_f64()).map_err(|why| {
        format!(
            "{why}\n  command: {cmdline}\n  --- last 40 lines of {} ---\n{}",
            log_path.display(),
            crate::suite::report::indent(&util::tail(&cap.stdout, 40))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_layouts() {
        let dir = std::env::temp_dir().join(format!("aiolos-uefi-test-{}", std::process::id()));
        let img = dir.join("Image");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&img, b"MZ").unwrap();
        let fat = prepare_disk(&img, None, &dir).unwrap();
        assert_eq!(
            std::fs::read(fat.join("EFI/BOOT/BOOTAA64.EFI")).unwrap(),
            b"MZ"
        );
        assert!(!fat.join("startup.nsh").exists());
        let fat = prepare_disk(&img, Some("test"), &dir).unwrap();
        // The old layout is gone: the boot manager must not find BOOTAA64.EFI first.
        assert!(!fat.join("EFI/BOOT/BOOTAA64.EFI").exists());
        assert_eq!(std::fs::read(fat.join("aiolos.efi")).unwrap(), b"MZ");
        assert_eq!(
            std::fs::read_to_string(fat.join("startup.nsh")).unwrap(),
            "fs0:\\aiolos.efi test\r\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn command_lines() {
        let cfg = BootConfig::parse(&["--gic".into(), "2".into()]).unwrap();
        let dt = util::display_command(&command(&cfg, Describe::DeviceTree, Path::new("F")));
        assert!(dt.contains("-M virt,gic-version=2,acpi=off "), "{dt}");
        assert!(dt.ends_with(&format!(
            "-bios {EDK2} -drive if=virtio,format=raw,file=fat:rw:F"
        )));
        assert!(!dt.contains("-kernel"));
        let acpi = util::display_command(&command(&cfg, Describe::Acpi, Path::new("F")));
        assert!(!acpi.contains("acpi=off"), "{acpi}");
    }
}
