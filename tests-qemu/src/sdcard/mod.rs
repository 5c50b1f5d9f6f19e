//! `cargo xtask sdcard --board rpi4 [-o OUT.img] [--append BOOTARGS]`: a disk image to `dd`
//! onto an SD card that boots aiolos on a Raspberry Pi 4 with the board's real firmware.
//!
//! The image: an MBR with one bootable FAT32 partition (type 0x0c) holding `start4.elf` and
//! `fixup4.dat` (Debian's `raspi-firmware`), the board DTB, the aiolos `Image`, `cmdline.txt`
//! (the bootargs) and a commented `config.txt` ([`config`]). It is written beside its
//! destination, read back ([`disk::verify`]) and only then renamed into place, so a failure
//! never leaves a half-written image. [`checks`] are the suite's entries.

pub mod checks;
pub mod config;
pub mod disk;
pub mod layout;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::image;
use crate::setup::{self, NON_FREE_FIRMWARE, RASPI_FIRMWARE_DIR, RASPI_FIRMWARE_PACKAGE};
use crate::util;

pub const HELP: &str = "\
usage: cargo xtask sdcard --board rpi4 [-o OUT.img] [--append BOOTARGS] [OPTIONS]

Writes a disk image to dd onto an SD card: an MBR with one bootable FAT32 partition holding
the Raspberry Pi 4 firmware (start4.elf, fixup4.dat from Debian's raspi-firmware), the
board DTB (bcm2711-rpi-4-b.dtb), the aiolos Image (built as `cargo xtask image` does),
cmdline.txt (the bootargs) and a commented config.txt (64-bit, Image at 0x200000, DTB in
x0, mini UART console at 115200, GIC on, secondaries on the firmware's spin-table). The
image is read back and checked before it appears at OUT.img. Then:
  sudo dd if=OUT.img of=/dev/sdX bs=4M conv=fsync
Console: mini UART on GPIO 14 (TXD, header pin 8) / GPIO 15 (RXD, pin 10), GND pin 6,
115200 8N1.

  --board rpi4        the board (only rpi4 so far)
  -o, --output FILE   the image to write (default target/aiolos-rpi4-sdcard.img)
  --append STR        bootargs for cmdline.txt (repeatable, joined with spaces; e.g. test)
  --firmware DIR      where start4.elf and fixup4.dat are (default /usr/lib/raspi-firmware,
                      installed by `cargo xtask setup --raspi-firmware`)
  --dtb FILE          the board DTB (default ../shared/dtb/bcm2711-rpi-4-b.dtb beside the
                      repository, else Debian's arm64 kernel package's copy)
  --image FILE        use this arm64 Image instead of building the release kernel";

/// The Pi 4's real device tree beside the repository (never copied into it), as the suite
/// finds it.
pub const RPI4_DTB: &str = "../shared/dtb/bcm2711-rpi-4-b.dtb";

/// The command's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub out: PathBuf,
    pub bootargs: String,
    pub firmware: PathBuf,
    pub dtb: Option<PathBuf>,
    pub image: Option<PathBuf>,
}

/// The default output file.
pub fn default_out() -> PathBuf {
    util::target_dir().join("aiolos-rpi4-sdcard.img")
}

/// Parses the options (`--help` never reaches here: `main` answers it).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        out: default_out(),
        bootargs: String::new(),
        firmware: PathBuf::from(RASPI_FIRMWARE_DIR),
        dtb: None,
        image: None,
    };
    let mut board: Option<String> = None;
    let mut append: Vec<String> = Vec::new();
    let mut args = crate::args::Args::new(args);
    while let Some(k) = args.next_key() {
        match k {
            "--" => {}
            "--board" => board = Some(args.value()?),
            "-o" | "--output" => o.out = PathBuf::from(args.value()?),
            "--append" => append.push(args.value()?),
            "--firmware" => o.firmware = PathBuf::from(args.value()?),
            "--dtb" => o.dtb = Some(PathBuf::from(args.value()?)),
            "--image" => o.image = Some(PathBuf::from(args.value()?)),
            _ => return Err(format!("unknown option `{k}`")),
        }
    }
    match board.as_deref() {
        Some("rpi4") => {}
        Some(b) => return Err(format!("--board: unknown board `{b}` (known: rpi4)")),
        None => return Err("--board is required (known: rpi4)".into()),
    }
    o.bootargs = append
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    config::cmdline_txt(&o.bootargs)?;
    Ok(o)
}

/// `start4.elf` and `fixup4.dat` from `dir`; a missing one names the package and the
/// component to enable.
pub fn firmware_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    config::FIRMWARE_FILES
        .iter()
        .map(|name| {
            let p = dir.join(name);
            match std::fs::read(&p) {
                Ok(b) => Ok((name.to_string(), b)),
                Err(e) => Err(format!(
                    "{}: {e}: the Raspberry Pi firmware is Debian's `{RASPI_FIRMWARE_PACKAGE}` \
                     package, in the `{NON_FREE_FIRMWARE}` component (not enabled by default). \
                     Install it with `cargo xtask setup --raspi-firmware` (as root: it adds an \
                     apt source with `Components: {NON_FREE_FIRMWARE}` derived from \
                     debian.sources, then `apt-get install {RASPI_FIRMWARE_PACKAGE}`), or pass \
                     --firmware DIR",
                    p.display()
                )),
            }
        })
        .collect()
}

/// Where the Pi 4 DTB is looked for when `--dtb` is not given: beside the repository (as
/// the suite does), then in Debian's arm64 kernel packages (`linux-image-*-arm64`).
pub fn dtb_candidates() -> Vec<PathBuf> {
    let mut c = vec![util::workspace_root().join(RPI4_DTB)];
    if let Ok(dirs) = std::fs::read_dir("/usr/lib") {
        let mut found: Vec<PathBuf> = dirs
            .filter_map(|d| d.ok())
            .filter(|d| d.file_name().to_string_lossy().starts_with("linux-image-"))
            .map(|d| d.path().join("broadcom").join(config::DTB_FILE))
            .collect();
        found.sort();
        c.extend(found.into_iter().rev());
    }
    c
}

/// The DTB to put on the card.
pub fn find_dtb(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("--dtb {}: no such file", p.display()))
        };
    }
    let cands = dtb_candidates();
    cands.iter().find(|p| p.is_file()).cloned().ok_or(format!(
        "no {} found (looked at {}); pass --dtb FILE",
        config::DTB_FILE,
        cands
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Everything that goes on the card, in the order it is copied.
pub fn card_files(
    firmware: Vec<(String, Vec<u8>)>,
    dtb: Vec<u8>,
    image: Vec<u8>,
    bootargs: &str,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    image::check_header(&image, 0).map_err(|e| format!("the Image: {e}"))?;
    let mut files = firmware;
    files.push((config::DTB_FILE.into(), dtb));
    files.push((config::KERNEL_FILE.into(), image));
    files.push((
        config::CMDLINE_FILE.into(),
        config::cmdline_txt(bootargs)?.into_bytes(),
    ));
    files.push((
        config::CONFIG_FILE.into(),
        config::config_txt(config::KERNEL_ADDRESS)?.into_bytes(),
    ));
    Ok(files)
}

/// Writes the card image to `out`: made and read back under a temporary name beside it, then
/// renamed. On any error nothing is left at `out` (an older file there stays untouched).
pub fn write_card(out: &Path, files: &[(String, Vec<u8>)]) -> Result<String, String> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = disk::TempFile::beside(out);
    let mut staging = tmp.path().as_os_str().to_owned();
    staging.push(".files");
    let staging = disk::TempDir::new(PathBuf::from(staging));
    disk::make(tmp.path(), files, staging.path())?;
    let report = disk::verify(tmp.path(), files)
        .map_err(|e| format!("the image read back does not match: {e}"))?;
    tmp.keep(out)?;
    Ok(report)
}

/// The Image: `--image FILE`, or the release kernel built and converted as `cargo xtask
/// image` does (`cargo xtask disk` too).
pub fn the_image(explicit: Option<&Path>) -> Result<Vec<u8>, String> {
    match explicit {
        Some(p) => std::fs::read(p).map_err(|e| format!("--image {}: {e}", p.display())),
        None => {
            let elf = image::build_release_kernel()?;
            let data = std::fs::read(&elf).map_err(|e| format!("{}: {e}", elf.display()))?;
            image::image_from_elf(&data)
                .map(|(bytes, _)| bytes)
                .map_err(|e| format!("{}: {e}", elf.display()))
        }
    }
}

/// All of `cargo xtask sdcard` after parsing: `Ok` is the summary to print.
pub fn run(o: &Options) -> Result<String, String> {
    // Cheap checks first: a missing firmware or DTB fails before the kernel build.
    let firmware = firmware_files(&o.firmware)?;
    let dtb_path = find_dtb(o.dtb.as_deref())?;
    let dtb = std::fs::read(&dtb_path).map_err(|e| format!("{}: {e}", dtb_path.display()))?;
    setup::ensure_sdcard()?;
    let image = the_image(o.image.as_deref())?;
    let files = card_files(firmware, dtb, image, &o.bootargs)?;
    let report = write_card(&o.out, &files)?;
    Ok(format!(
        "sdcard: {report}\nsdcard: DTB from {}\nsdcard: bootargs: `{}`\n\
         write it to the card (all data on /dev/sdX is lost; check the name with lsblk):\n  \
         sudo dd if={} of=/dev/sdX bs=4M conv=fsync\n\
         serial console: mini UART, GPIO 14 = TXD (header pin 8), GPIO 15 = RXD (pin 10), \
         GND pin 6, 115200 8N1\n{}",
        dtb_path.display(),
        o.bootargs,
        util::shell_quote(&o.out.display().to_string()),
        o.out.display()
    ))
}

/// `cargo xtask sdcard ...` (`--help` is answered by `main`).
pub fn cmd(args: &[String]) -> ExitCode {
    util::finish_command("sdcard", HELP, parse(args), run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options() {
        let o = parse(&args("--board rpi4 -o x.img --append test --append=a=b")).unwrap();
        assert_eq!(o.out, PathBuf::from("x.img"));
        assert_eq!(o.bootargs, "test a=b");
        assert_eq!(o.firmware, PathBuf::from(RASPI_FIRMWARE_DIR));
        assert!(parse(&args("-o x.img")).unwrap_err().contains("--board"));
        assert!(parse(&args("--board rpi5")).unwrap_err().contains("rpi5"));
        assert!(parse(&args("--board rpi4 --bogus")).is_err());
        assert!(parse(&args("--board rpi4 -o"))
            .unwrap_err()
            .contains("value"));
    }

    /// Missing firmware: the message names the package and the component, and nothing is
    /// written (the check comes before the build and the image).
    #[test]
    fn missing_firmware_is_explained_and_writes_nothing() {
        let dir = util::scratch_dir().join("sdcard-unit-nofw");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("card.img");
        let o = Options {
            out: out.clone(),
            bootargs: String::new(),
            firmware: dir.join("empty"),
            dtb: None,
            image: None,
        };
        let e = run(&o).unwrap_err();
        assert!(e.contains("raspi-firmware"), "{e}");
        assert!(e.contains("non-free-firmware"), "{e}");
        assert!(e.contains("start4.elf"), "{e}");
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn card_files_refuse_a_non_image() {
        let fw = vec![("start4.elf".to_string(), vec![1])];
        let e = card_files(fw, vec![0xd0], b"not an Image".to_vec(), "").unwrap_err();
        assert!(e.contains("the Image"), "{e}");
    }

    #[test]
    fn explicit_dtb_must_exist() {
        assert!(find_dtb(Some(Path::new("/nonexistent/x.dtb")))
            .unwrap_err()
            .contains("no such file"));
    }
}
