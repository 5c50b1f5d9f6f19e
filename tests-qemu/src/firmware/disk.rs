//! `cargo xtask disk [OUT.img] [--append BOOTARGS] [--dtb FILE]`: a disk image that U-Boot's
//! standard distro boot starts aiolos from with no user input, on QEMU `virt` (as a virtio
//! disk) or on a board (`dd` onto an SD card or USB stick).
//!
//! The layout is the SD card's (`crate::sdcard::layout`: an MBR with one bootable FAT32
//! partition at 1 MiB, made with sfdisk, mkfs.vfat and mtools, read back before it appears):
//! distro boot scans the bootable partitions of each disk for `extlinux/extlinux.conf`
//! ([`extlinux_conf`]), which names the `Image` (and the DTB when one is given).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::sdcard;
use crate::{image, setup, util};

pub const HELP: &str = "\
usage: cargo xtask disk [OUT.img] [--append BOOTARGS] [--dtb FILE] [--image FILE]

Writes a disk image that U-Boot's standard distro boot (`bootcmd` = `run distro_bootcmd`,
the default of most U-Boot boards) starts aiolos from, with no key pressed: an MBR with one
bootable FAT32 partition holding
  Image                    the aiolos arm64 Image (built as `cargo xtask image` does)
  extlinux/extlinux.conf   one label: `kernel /Image`, `append BOOTARGS`, and `fdt /NAME`
                           when --dtb is given (without it U-Boot passes its own device
                           tree, which is right for QEMU and for boards whose U-Boot has one)
  NAME                     the --dtb file, when given (U-Boot loads it at `fdt_addr_r`;
                           an environment without that variable, like QEMU's qemu_arm64,
                           ignores the `fdt` line and passes U-Boot's own device tree)
The image is read back and checked before it appears at OUT.img. Then, on QEMU:
  qemu-system-aarch64 -M virt -cpu max -smp 4 -m 512M -nographic -nic none -semihosting \\
    -bios /usr/lib/u-boot/qemu_arm64/u-boot.bin \\
    -drive if=none,file=OUT.img,format=raw,id=d -device virtio-blk-device,drive=d
or on a board whose U-Boot boots from its SD card (all data on /dev/sdX is lost):
  sudo dd if=OUT.img of=/dev/sdX bs=4M conv=fsync

  OUT.img             the image to write (default target/aiolos-disk.img)
  --append STR        bootargs for extlinux.conf (repeatable, joined with spaces; e.g. test)
  --dtb FILE          put this device tree on the disk and name it in extlinux.conf (`fdt`)
  --image FILE        use this arm64 Image instead of building the release kernel";

/// The kernel's name on the disk, as extlinux.conf names it.
pub const KERNEL_FILE: &str = "Image";
/// Where distro boot looks (`scan_dev_for_extlinux`: `${prefix}extlinux/extlinux.conf` with
/// prefix `/` or `/boot/`).
pub const EXTLINUX_FILE: &str = "extlinux/extlinux.conf";
/// The one label.
pub const LABEL: &str = "aiolos";

/// The command's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub out: PathBuf,
    pub bootargs: String,
    pub dtb: Option<PathBuf>,
    pub image: Option<PathBuf>,
}

pub fn default_out() -> PathBuf {
    util::target_dir().join("aiolos-disk.img")
}

/// Parses the options (`--help` never reaches here).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        out: default_out(),
        bootargs: String::new(),
        dtb: None,
        image: None,
    };
    let mut out: Option<PathBuf> = None;
    let mut append: Vec<String> = Vec::new();
    let mut args = crate::args::Args::new(args);
    while let Some(k) = args.next_key() {
        match k {
            "--append" => append.push(args.value()?),
            "--dtb" => o.dtb = Some(PathBuf::from(args.value()?)),
            "--image" => o.image = Some(PathBuf::from(args.value()?)),
            _ if k.starts_with('-') => return Err(format!("unknown option `{k}`")),
            _ if out.is_some() => return Err(format!("more than one output file (`{k}`)")),
            _ => out = Some(PathBuf::from(k)),
        }
    }
    if let Some(p) = out {
        o.out = p;
    }
    o.bootargs = append
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    extlinux_conf(KERNEL_FILE, None, &o.bootargs)?;
    Ok(o)
}

/// The extlinux.conf distro boot reads: a `default` and one `label` naming `kernel` (a path
/// on the partition), the device tree `fdt` if any, and `append` with the bootargs.
pub fn extlinux_conf(kernel: &str, fdt: Option<&str>, bootargs: &str) -> Result<String, String> {
    if bootargs.contains(['\n', '\r']) {
        return Err("bootargs must be one line".into());
    }
    let mut s = format!(
        "# aiolos, for U-Boot's standard distro boot (written by `cargo xtask disk`).\n\
         # No `fdt` line: U-Boot passes its own device tree (QEMU's, on QEMU virt).\n\
         default {LABEL}\n\
         label {LABEL}\n    kernel /{kernel}\n"
    );
    if let Some(f) = fdt {
        s = s.replace(
            "# No `fdt` line: U-Boot passes its own device tree (QEMU's, on QEMU virt).\n",
            "",
        );
        s += &format!("    fdt /{f}\n");
    }
    if !bootargs.is_empty() {
        s += &format!("    append {bootargs}\n");
    }
    Ok(s)
}

/// A DTB's name on the disk: its file name, if extlinux.conf and FAT can carry it as is.
pub fn dtb_name(path: &Path) -> Result<String, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,+".contains(c));
    if plain && name != KERNEL_FILE {
        Ok(name)
    } else {
        Err(format!(
            "--dtb {}: the file name must be plain ASCII (letters, digits, -_.,+) and not `{KERNEL_FILE}`",
            path.display()
        ))
    }
}

/// Everything that goes on the disk: the Image, the DTB (name, bytes) if any, and an
/// extlinux.conf naming `kernel_name` (the Image's own name, except in the suite's negative
/// control) and the DTB.
pub fn disk_files(
    image_bytes: Vec<u8>,
    dtb: Option<(String, Vec<u8>)>,
    bootargs: &str,
    kernel_name: &str,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    image::check_header(&image_bytes, 0).map_err(|e| format!("the Image: {e}"))?;
    let conf = extlinux_conf(kernel_name, dtb.as_ref().map(|d| d.0.as_str()), bootargs)?;
    let mut files = vec![(KERNEL_FILE.to_string(), image_bytes)];
    if let Some((name, bytes)) = dtb {
        if bytes.get(..4) != Some(&[0xd0, 0x0d, 0xfe, 0xed][..]) {
            return Err(format!(
                "{name}: not a device tree blob (no magic 0xd00dfeed)"
            ));
        }
        files.push((name, bytes));
    }
    files.push((EXTLINUX_FILE.to_string(), conf.into_bytes()));
    Ok(files)
}

/// All of `cargo xtask disk` after parsing: `Ok` is the summary to print.
pub fn run(o: &Options) -> Result<String, String> {
    let dtb = match &o.dtb {
        Some(p) => Some((
            dtb_name(p)?,
            util::read(p).map_err(|e| format!("--dtb {e}"))?,
        )),
        None => None,
    };
    setup::ensure_sdcard()?;
    let image_bytes = sdcard::the_image(o.image.as_deref())?;
    let files = disk_files(image_bytes, dtb, &o.bootargs, KERNEL_FILE)?;
    let report = sdcard::write_card(&o.out, &files)?;
    let out = util::shell_quote(&o.out.display().to_string());
    Ok(format!(
        "disk: {report}\ndisk: bootargs: `{}`{}\n\
         boot it in QEMU with U-Boot (no key needed; U-Boot's distro boot finds {EXTLINUX_FILE}):\n  \
         qemu-system-aarch64 -M virt -cpu max -smp 4 -m 512M -nographic -nic none -semihosting \
         -bios {} -drive if=none,file={out},format=raw,id=d -device virtio-blk-device,drive=d\n\
         or write it to an SD card for a U-Boot board (all data on /dev/sdX is lost; check the \
         name with lsblk):\n  sudo dd if={out} of=/dev/sdX bs=4M conv=fsync\n{}",
        o.bootargs,
        o.dtb
            .as_ref()
            .map(|d| format!("\ndisk: DTB {}", d.display()))
            .unwrap_or_default(),
        setup::U_BOOT.bin,
        o.out.display()
    ))
}

/// `cargo xtask disk ...`.
pub fn cmd(args: &[String]) -> ExitCode {
    util::finish_command("disk", HELP, parse(args), run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options() {
        let o = parse(&args("x.img --append test --append=a=b --dtb v.dtb")).unwrap();
        assert_eq!(o.out, PathBuf::from("x.img"));
        assert_eq!(o.bootargs, "test a=b");
        assert_eq!(o.dtb, Some(PathBuf::from("v.dtb")));
        assert_eq!(parse(&[]).unwrap().out, default_out());
        assert!(parse(&args("a.img b.img"))
            .unwrap_err()
            .contains("more than one"));
        assert!(parse(&args("--bogus")).unwrap_err().contains("--bogus"));
        assert!(parse(&args("--dtb")).unwrap_err().contains("value"));
    }

    #[test]
    fn extlinux() {
        let c = extlinux_conf("Image", None, "test").unwrap();
        assert!(
            c.contains("default aiolos\nlabel aiolos\n    kernel /Image\n"),
            "{c}"
        );
        assert!(c.ends_with("    append test\n"), "{c}");
        assert!(!c.contains("fdt /"), "{c}");
        let c = extlinux_conf("Image", Some("board.dtb"), "").unwrap();
        assert!(
            c.contains("    fdt /board.dtb\n") && !c.contains("append"),
            "{c}"
        );
        assert!(!c.contains("No `fdt` line"), "{c}");
        assert!(extlinux_conf("Image", None, "a\nb").is_err());
    }

    #[test]
    fn files_are_checked() {
        assert!(disk_files(b"not an Image".to_vec(), None, "", KERNEL_FILE)
            .unwrap_err()
            .contains("the Image"));
        assert!(dtb_name(Path::new("/x/virt gic2.dtb")).is_err());
        assert!(dtb_name(Path::new("/x/Image")).is_err());
        assert_eq!(dtb_name(Path::new("/x/virt.dtb")).unwrap(), "virt.dtb");
    }
}
