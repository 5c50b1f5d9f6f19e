//! The suite's `cargo xtask sdcard` entries (`cargo xtask test --filter sdcard`). One card is
//! made from the suite's kernel with bootargs `test`, then:
//!
//! - `sdcard-rpi4-readback`: MBR (one partition, type 0x0c, bootable), FAT32, every file with
//!   the bytes that went in ([`disk::verify`]);
//! - `sdcard-rpi4-corrupt-detected`: the negative control: copies of the card with a flipped
//!   byte in the Image's data, a deleted `fixup4.dat`, a partition type 0x0b and a cleared
//!   boot flag must each fail the read-back, naming what is wrong;
//! - `sdcard-rpi4-dtb-check`: `dtb-check` on the DTB read from the card: the Pi 4 board
//!   (mini UART console, GIC-400, 4 spin-table cores), and either `bootable: yes` or a `no`
//!   that is only about the memory the firmware fills in;
//! - `sdcard-rpi4-qemu`: the Image, DTB and `cmdline.txt` read from the card boot in QEMU
//!   `raspi4b` (`cpus online: 4/4`, the in-guest tests, `exit: ok`), and the kernel's banner
//!   `image at ADDR` equals the `kernel_address` read from the card's `config.txt`; its
//!   negative control: a copy whose `config.txt` names 0x400000 must fail that check;
//! - `sdcard-missing-firmware`: the command itself, given an empty firmware directory, fails
//!   naming the package and the component, and leaves no image.
//!
//! Skipped (with the reason) when the firmware package or the DTB is absent, or QEMU < 9.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{config, disk};
use crate::boot::qemu::{Board, BootConfig};
use crate::boot::verdict::Expect;
use crate::image;
use crate::setup::RASPI_FIRMWARE_PACKAGE;
use crate::util;

pub const READBACK: &str = "sdcard-rpi4-readback";
pub const CORRUPT: &str = "sdcard-rpi4-corrupt-detected";
pub const DTB_CHECK: &str = "sdcard-rpi4-dtb-check";
pub const QEMU_BOOT: &str = "sdcard-rpi4-qemu";
pub const MISSING_FIRMWARE: &str = "sdcard-missing-firmware";

/// Every entry, in run order (`cargo xtask test --list`).
pub const NAMES: &[&str] = &[READBACK, CORRUPT, DTB_CHECK, QEMU_BOOT, MISSING_FIRMWARE];

/// The bootargs of the suite's card: run the in-guest tests.
const BOOTARGS: &str = "test";
/// A raspi4b boot takes ~2.5 s under TCG (the test bootargs a little longer).
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

pub enum Outcome {
    Pass(String),
    Skipped(String),
    Fail(String),
}

fn scratch() -> PathBuf {
    util::scratch_dir().join("sdcard-rpi4")
}

/// Runs the selected entries (printing `    NAME ... ok|FAILED|skipped`) and returns their
/// outcomes for the tally. `kernel`: the suite's `--kernel ELF`, else the release kernel
/// (built if needed: a no-op after the suite's build-kernel).
pub fn run(kernel: Option<&Path>, selected: impl Fn(&str) -> bool) -> Vec<(&'static str, Outcome)> {
    let names: Vec<&'static str> = NAMES.iter().copied().filter(|n| selected(n)).collect();
    let mut out = Vec::new();
    if names.is_empty() {
        return out;
    }
    let card = if names.iter().any(|n| *n != MISSING_FIRMWARE) {
        Some(make_card(kernel))
    } else {
        None
    };
    for name in names {
        let outcome = match (name, &card) {
            (MISSING_FIRMWARE, _) => verdict(missing_firmware()),
            (_, Some(Err(Unmet(why)))) => Outcome::Skipped(why.clone()),
            (_, Some(Ok(Err(e)))) => Outcome::Fail(format!("making the card: {e}")),
            (_, Some(Ok(Ok(c)))) => match name {
                READBACK => verdict(disk::verify(&c.img, &c.files)),
                CORRUPT => verdict(corrupt_detected(c)),
                DTB_CHECK => verdict(dtb_check(c)),
                _ => qemu_boot(c),
            },
            (_, None) => Outcome::Fail("no card".into()),
        };
        match &outcome {
            Outcome::Pass(d) => println!("    {name} ... ok ({d})"),
            Outcome::Skipped(why) => println!("    {name} ... skipped: {why}"),
            Outcome::Fail(e) => println!("    {name} ... FAILED: {}", e.trim_end()),
        }
        out.push((name, outcome));
    }
    out
}

fn verdict(r: Result<String, String>) -> Outcome {
    match r {
        Ok(d) => Outcome::Pass(d),
        Err(e) => Outcome::Fail(e),
    }
}

/// The card the entries check.
struct Card {
    img: PathBuf,
    files: Vec<(String, Vec<u8>)>,
}

/// Why the card cannot be made on this host (skipped, not failed).
struct Unmet(String);

fn make_card(kernel: Option<&Path>) -> Result<Result<Card, String>, Unmet> {
    let fw_dir = PathBuf::from(crate::setup::RASPI_FIRMWARE_DIR);
    if let Some(f) = config::FIRMWARE_FILES
        .iter()
        .map(|f| fw_dir.join(f))
        .find(|p| !p.is_file())
    {
        return Err(Unmet(format!(
            "{} does not exist (Debian's {RASPI_FIRMWARE_PACKAGE}, component non-free-firmware: \
             `cargo xtask setup --raspi-firmware`)",
            f.display()
        )));
    }
    let dtb_path = util::workspace_root().join(super::RPI4_DTB);
    if !dtb_path.is_file() {
        return Err(Unmet(format!("{} does not exist", dtb_path.display())));
    }
    Ok((|| {
        let elf = match kernel {
            Some(k) => k.to_path_buf(),
            None => image::build_release_kernel()?,
        };
        let data = std::fs::read(&elf).map_err(|e| format!("{}: {e}", elf.display()))?;
        let (img_bytes, _) = image::image_from_elf(&data)?;
        let firmware = super::firmware_files(&fw_dir)?;
        let dtb = std::fs::read(&dtb_path).map_err(|e| format!("{}: {e}", dtb_path.display()))?;
        let files = super::card_files(firmware, dtb, img_bytes, BOOTARGS)?;
        let img = scratch().join("aiolos-rpi4-sdcard.img");
        super::write_card(&img, &files)?;
        Ok(Card { img, files })
    })())
}

/// A copy of the card, mutated by `mutate`, must fail the read-back with an error
/// containing `expect`.
fn caught(
    c: &Card,
    what: &str,
    expect: &str,
    mutate: impl Fn(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let copy = scratch().join(format!("corrupt-{}.img", what.replace(' ', "-")));
    std::fs::copy(&c.img, &copy).map_err(|e| format!("{}: {e}", copy.display()))?;
    mutate(&copy).map_err(|e| format!("{what}: {e}"))?;
    let r = disk::verify(&copy, &c.files);
    let _ = std::fs::remove_file(&copy);
    match r {
        Ok(_) => Err(format!("{what}: the read-back did not notice")),
        Err(e) if e.contains(expect) => Ok(()),
        Err(e) => Err(format!("{what}: caught, but not as `{expect}`: {e}")),
    }
}

/// Overwrites bytes of `img` at `at`.
fn patch(img: &Path, at: u64, bytes: &[u8]) -> Result<(), String> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(img)
        .map_err(|e| format!("{}: {e}", img.display()))?;
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.write_all(bytes))
        .map_err(|e| format!("{}: {e}", img.display()))
}

/// Where the Image's first 512 bytes sit in the raw card (files start on a cluster, so on a
/// sector boundary).
fn find_in_card(card: &[u8], head: &[u8]) -> Option<u64> {
    (0..card.len().saturating_sub(head.len()))
        .step_by(super::layout::SECTOR as usize)
        .find(|&o| card[o..o + head.len()] == *head)
        .map(|o| o as u64)
}

fn corrupt_detected(c: &Card) -> Result<String, String> {
    let image = &c
        .files
        .iter()
        .find(|(n, _)| n == config::KERNEL_FILE)
        .ok_or("no Image on the card")?
        .1;
    let raw = std::fs::read(&c.img).map_err(|e| format!("{}: {e}", c.img.display()))?;
    let at = find_in_card(&raw, &image[..512]).ok_or("the Image's bytes are not in the card")?;
    // A byte in the middle of the first cluster, past the header.
    let flip = at + 300;
    let old = raw[flip as usize];
    caught(c, "flipped Image byte", "Image differs", |p| {
        patch(p, flip, &[old ^ 0x01])
    })?;
    caught(c, "deleted fixup4.dat", "fixup4.dat missing", |p| {
        disk::delete(p, "fixup4.dat")
    })?;
    // Partition entry 0 is at 446: status byte, then the type at +4.
    caught(c, "partition type 0x0b", "0x0b", |p| {
        patch(p, 446 + 4, &[0x0b])
    })?;
    caught(c, "boot flag cleared", "bootable", |p| {
        patch(p, 446, &[0x00])
    })?;
    Ok(format!(
        "4 corruptions caught (Image byte {flip:#x} flipped, fixup4.dat deleted, type 0x0b, not bootable)"
    ))
}

fn dtb_check(c: &Card) -> Result<String, String> {
    let blob = disk::read(&c.img, config::DTB_FILE)?;
    let (text, ok) = crate::dtb_check::check(&blob);
    let verdict = crate::dtb_check::verdict_line(&text).to_string();
    let mut problems = Vec::new();
    // The parts of the report that do not depend on the memory the firmware fills in.
    for want in [
        "brcm,bcm2835-aux-uart",
        "arm,gic-400",
        "cpus: 4",
        "spin-table",
    ] {
        if !text.contains(want) {
            problems.push(format!("report does not mention `{want}`"));
        }
    }
    // The file's memory@0 has size 0: `no` is right as long as memory is the only reason.
    if !ok && !verdict.to_lowercase().contains("memory") {
        problems.push(format!(
            "`{verdict}` is not about the memory the firmware fills in"
        ));
    }
    if problems.is_empty() {
        Ok(verdict)
    } else {
        Err(format!("{}: `{verdict}`", problems.join("; ")))
    }
}

fn qemu_boot(c: &Card) -> Outcome {
    match crate::boot::qemu::version() {
        Some((major, _)) if major >= 9 => {}
        Some((major, minor)) => {
            return Outcome::Skipped(format!(
                "needs QEMU >= 9, have {major}.{minor} (`cargo xtask setup --backports`)"
            ))
        }
        None => return Outcome::Skipped("cannot tell the QEMU version".into()),
    }
    verdict(boot_and_control(c))
}

/// The card boots, and a card whose config.txt names another (aligned) address does not
/// pass: the address check can fail.
fn boot_and_control(c: &Card) -> Result<String, String> {
    let good = boot_from_card(&c.img, "from-card")?;
    const OTHER: u64 = 0x40_0000;
    let copy = scratch().join("control-kernel-address.img");
    std::fs::copy(&c.img, &copy).map_err(|e| format!("{}: {e}", copy.display()))?;
    let cfg = config::config_txt(OTHER)?;
    disk::replace(
        &copy,
        config::CONFIG_FILE,
        cfg.as_bytes(),
        &scratch().join("control-files"),
    )?;
    let control = boot_from_card(&copy, "control-kernel-address");
    let _ = std::fs::remove_file(&copy);
    match control {
        Ok(_) => Err(format!(
            "{good}; but the control card with kernel_address {OTHER:#x} passed too"
        )),
        Err(e) if e.contains(&format!("image at {OTHER:#x}")) => Ok(format!(
            "{good}; control: kernel_address {OTHER:#x} in config.txt caught"
        )),
        Err(e) => Err(format!(
            "the control card (kernel_address {OTHER:#x}) failed for another reason: {e}"
        )),
    }
}

/// Reads config.txt, cmdline.txt, the kernel and the DTB it names back from the card `img`
/// and boots them in QEMU `raspi4b` (files and serial log in scratch/`tag`).
fn boot_from_card(img: &Path, tag: &str) -> Result<String, String> {
    let dir = scratch().join(tag);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = |name: &str| -> Result<String, String> {
        String::from_utf8(disk::read(img, name)?).map_err(|_| format!("{name}: not UTF-8"))
    };
    let cfg_txt = text(config::CONFIG_FILE)?;
    let cmdline = text(config::CMDLINE_FILE)?;
    let addr = config::kernel_address(&cfg_txt)?;
    let kernel_name = config::value(&cfg_txt, "kernel").ok_or("config.txt: no kernel=")?;
    let dtb_name = config::value(&cfg_txt, "device_tree").ok_or("config.txt: no device_tree=")?;
    let kernel = dir.join(&kernel_name);
    let dtb = dir.join(&dtb_name);
    for (name, path) in [(&kernel_name, &kernel), (&dtb_name, &dtb)] {
        std::fs::write(path, disk::read(img, name)?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut cfg = BootConfig {
        board: Board::Raspi4b,
        image: true,
        dtb: Some(dtb),
        ..BootConfig::default()
    };
    // The firmware reads cmdline.txt's first line into /chosen/bootargs; QEMU's -append too.
    let first_line = cmdline.lines().next().unwrap_or("").trim().to_string();
    if !first_line.is_empty() {
        cfg.append.push(first_line.clone());
    }
    // QEMU's raspi4b `-kernel` puts an Image at 0x200000 and nowhere else: the kernel's
    // banner `image at ADDR` must show the address config.txt names (see
    // config::KERNEL_ADDRESS), or the card would load it somewhere QEMU never tested.
    let mut expect = Expect::ok(4);
    expect.log_contains.push(format!("image at {addr:#x}"));
    if first_line.split_whitespace().any(|w| w == "test") {
        // The bootargs reached the kernel: its tests ran.
        expect.log_contains.push(" ... ok".into());
    }
    let mut cmd: Command = cfg.command(&kernel, true);
    let shown = util::display_command(&cmd);
    let cap = util::run_captured(&mut cmd, BOOT_TIMEOUT)
        .map_err(|e| format!("cannot run QEMU: {e}\n  {shown}"))?;
    let log_path = dir.join("serial.log");
    let _ = std::fs::write(&log_path, &cap.stdout);
    crate::boot::verdict::check(&cap.stdout, cap.code, &expect).map_err(|e| {
        format!(
            "{e}\n  command: {shown}\n  --- last 40 lines of {} ---\n{}\n  --- QEMU stderr ---\n{}",
            log_path.display(),
            util::tail(&cap.stdout, 40),
            util::tail(&cap.stderr, 10)
        )
    })?;
    Ok(format!(
        "kernel_address {addr:#x} from config.txt = the banner's `image at {addr:#x}`, \
         bootargs `{first_line}`, cpus online: 4/4, exit: ok, {:.1}s",
        cap.elapsed.as_secs_f64()
    ))
}

/// The command run as a user would, with an empty firmware directory: a failure exit, a
/// message naming the package and the component, and no image.
fn missing_firmware() -> Result<String, String> {
    let dir = util::scratch_dir().join("sdcard-missing-firmware");
    let _ = std::fs::remove_dir_all(&dir);
    let empty = dir.join("firmware");
    std::fs::create_dir_all(&empty).map_err(|e| format!("{}: {e}", empty.display()))?;
    let out = dir.join("card.img");
    let exe = std::env::current_exe().map_err(|e| format!("the harness binary: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["sdcard", "--board", "rpi4", "--firmware"])
        .arg(&empty)
        .arg("-o")
        .arg(&out);
    let cap = util::run_captured(&mut cmd, Duration::from_secs(60))
        .map_err(|e| format!("cannot run: {e}"))?;
    let msg = cap.stderr.trim().to_string();
    let mut problems = Vec::new();
    if cap.success() || cap.timed_out {
        problems.push(format!("exit {:?}, expected a failure", cap.code));
    }
    for want in [RASPI_FIRMWARE_PACKAGE, "non-free-firmware", "start4.elf"] {
        if !msg.contains(want) {
            problems.push(format!("message does not name `{want}`"));
        }
    }
    let left: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "firmware")
                .collect()
        })
        .unwrap_or_default();
    if !left.is_empty() {
        problems.push(format!("left behind: {}", left.join(", ")));
    }
    if problems.is_empty() {
        Ok(format!("exit {}, no image", cap.code.unwrap_or(-1)))
    } else {
        Err(format!("{}\n  stderr: {msg}", problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_in_card_is_sector_aligned() {
        let mut card = vec![0u8; 4096];
        card[1024..1536].fill(7);
        assert_eq!(find_in_card(&card, &[7u8; 512]), Some(1024));
        card[1024] = 0;
        assert_eq!(find_in_card(&card, &[7u8; 512]), None);
    }
}
