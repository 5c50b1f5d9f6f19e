//! Real U-Boot (Debian's `u-boot-qemu`, `qemu_arm64`) on QEMU `virt` loading aiolos, driven
//! over its serial console ([`super::console`]):
//!
//! - [`booti`]: QEMU's generic loader puts the Image at an address (`force-raw=on`: the file
//!   as it is, no CPU started there); the harness waits for `Hit any key to stop autoboot`,
//!   presses a key, waits for the `=>` prompt, sets `bootargs` and types
//!   `booti ADDR - ${fdtcontroladdr}` (U-Boot's own device tree, which it got from QEMU).
//!   U-Boot moves an Image that is not 2 MiB-aligned ([`check_load_address`]).
//! - [`distro_boot`]: a disk (`cargo xtask disk`) as a virtio block device and no key
//!   pressed: U-Boot's standard distro boot finds `extlinux/extlinux.conf` on its own. (The
//!   `fdt` line of an extlinux.conf is used only when the environment has `fdt_addr_r`,
//!   which most boards' U-Boot has and `qemu_arm64`'s lacks: that case sets it and types
//!   `boot`.)
//!
//! A run ends when QEMU exits (the kernel's verdict through semihosting), when U-Boot's
//! prompt comes back (booti returned, or distro boot gave up), or at the timeout.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::console::{Console, Event};
use crate::boot::qemu::{BootConfig, QEMU};
use crate::setup::U_BOOT;
use crate::util;

/// U-Boot's line before its autoboot countdown (the only moment a key stops it).
pub const AUTOBOOT: &str = "Hit any key to stop autoboot";
/// U-Boot's command prompt at the start of a line.
pub const PROMPT: &str = "\n=> ";
/// U-Boot's booti when it relocates an Image: `Moving Image from 0xA to 0xB, end=...`.
pub const MOVING: &str = "Moving Image from ";
/// booti puts an Image at a 2 MiB-aligned address (+ text_offset, 0 for aiolos).
const IMAGE_ALIGN: u64 = 2 << 20;

/// How long each part of a run may take.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From QEMU's start to U-Boot's autoboot line, and for each prompt after a command.
    pub firmware: Duration,
    /// From `booti` (or from the autoboot line, for distro boot) to QEMU's exit.
    pub kernel: Duration,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// QEMU exited with this status (the kernel's semihosting exit).
    Exited(i32),
    /// U-Boot's prompt came back: booti returned, or distro boot found nothing to boot.
    Prompt,
    /// Nothing of the above within [`Timeouts::kernel`].
    TimedOut,
}

/// A finished run: the whole console transcript and how it ended.
#[derive(Debug)]
pub struct Run {
    pub transcript: String,
    pub stderr: String,
    pub end: End,
    pub secs: f64,
    /// The QEMU command line.
    pub shown: String,
}

impl Run {
    /// QEMU's exit status for the verdict check (`None`: it did not exit by itself).
    pub fn code(&self) -> Option<i32> {
        match self.end {
            End::Exited(c) => Some(c),
            _ => None,
        }
    }

    /// A failure report: `problem`, the command, the end of the transcript, QEMU's stderr.
    pub fn report(&self, problem: &str) -> String {
        report(problem, &self.shown, &self.transcript, &self.stderr)
    }
}

fn report(problem: &str, shown: &str, transcript: &str, stderr: &str) -> String {
    let mut s = format!(
        "{problem}\n  command: {shown}\n  --- last 40 lines of the U-Boot console ---\n{}",
        util::tail(transcript, 40)
    );
    if !stderr.trim().is_empty() {
        s += &format!("\n  --- QEMU stderr ---\n{}", util::tail(stderr, 10));
    }
    s
}

/// QEMU `virt` (as `cfg` describes: GIC, EL, smp, cpu, memory) with U-Boot as its firmware
/// (`-bios`), its console on stdio (serial and semihosting, as the suite's boots), plus
/// `extra` arguments.
pub fn qemu_command(cfg: &BootConfig, extra: &[String]) -> Command {
    let mut cmd = Command::new(QEMU);
    cmd.args(cfg.machine_args(None));
    cmd.args(["-display", "none", "-monitor", "none"]);
    cmd.args(["-chardev", "stdio,id=con,mux=on", "-serial", "chardev:con"]);
    cmd.args(["-semihosting-config", "enable=on,target=native,chardev=con"]);
    cmd.args(["-bios", U_BOOT.bin]);
    cmd.args(extra);
    cmd
}

/// Waits for `pattern` after byte `from`; `Err` says what was awaited and what happened.
fn expect(c: &mut Console, pattern: &str, from: usize, timeout: Duration) -> Result<usize, String> {
    let shown = pattern.trim();
    let why = match c.wait(&[pattern], from, timeout) {
        Event::Saw { end, .. } => return Ok(end),
        Event::Exited(code) => format!("QEMU exited with status {code} before `{shown}`"),
        Event::TimedOut => format!("no `{shown}` within {}s", timeout.as_secs()),
    };
    c.stop();
    Err(report(&why, &c.shown, &c.transcript(), &c.stderr()))
}

/// Waits for QEMU's exit or U-Boot's prompt after `from`, then stops QEMU.
fn finish(mut c: Console, from: usize, timeout: Duration) -> Run {
    let end = match c.wait(&[PROMPT], from, timeout) {
        Event::Saw { .. } => End::Prompt,
        Event::Exited(code) => End::Exited(code),
        Event::TimedOut => End::TimedOut,
    };
    c.stop();
    Run {
        transcript: c.transcript(),
        stderr: c.stderr(),
        end,
        secs: c.elapsed().as_secs_f64(),
        shown: c.shown.clone(),
    }
}

/// U-Boot's `booti` of `image` loaded raw at `addr` (`None`: nothing loaded, the negative
/// control), with `bootargs` set first when not empty. `Err` when U-Boot never offered its
/// prompt (the report holds the transcript's tail).
pub fn booti(
    cfg: &BootConfig,
    image: Option<&Path>,
    addr: u64,
    bootargs: &str,
    t: Timeouts,
) -> Result<Run, String> {
    let mut extra = Vec::new();
    if let Some(image) = image {
        extra.push("-device".into());
        extra.push(format!(
            "loader,file={},addr={addr:#x},force-raw=on",
            image.display()
        ));
    }
    let mut c = Console::spawn(&mut qemu_command(cfg, &extra))?;
    let at = expect(&mut c, AUTOBOOT, 0, t.firmware)?;
    c.send(" ")?;
    let mut at = expect(&mut c, PROMPT, at, t.firmware)?;
    if !bootargs.is_empty() {
        c.send(&format!("setenv bootargs {bootargs}\r"))?;
        at = expect(&mut c, PROMPT, at, t.firmware)?;
    }
    c.send(&format!("booti {addr:#x} - ${{fdtcontroladdr}}\r"))?;
    Ok(finish(c, at, t.kernel))
}

/// U-Boot's standard distro boot from `disk` (raw image, a virtio-mmio block device). With
/// no `env` nothing is typed: U-Boot's autoboot finds the disk on its own. Otherwise the
/// autoboot is stopped, each `name=value` of `env` set, and `boot` typed (the same
/// `bootcmd`, with an environment like a board's). `Err` when U-Boot never started its
/// autoboot or never offered its prompt.
pub fn distro_boot(
    cfg: &BootConfig,
    disk: &Path,
    env: &[(&str, &str)],
    t: Timeouts,
) -> Result<Run, String> {
    let extra = [
        "-drive".to_string(),
        format!("if=none,file={},format=raw,id=disk", disk.display()),
        "-device".into(),
        "virtio-blk-device,drive=disk".into(),
    ];
    let mut c = Console::spawn(&mut qemu_command(cfg, &extra))?;
    let mut at = expect(&mut c, AUTOBOOT, 0, t.firmware)?;
    if !env.is_empty() {
        c.send(" ")?;
        at = expect(&mut c, PROMPT, at, t.firmware)?;
        for (name, value) in env {
            c.send(&format!("setenv {name} {value}\r"))?;
            at = expect(&mut c, PROMPT, at, t.firmware)?;
        }
        c.send("boot\r")?;
        // The echo of `boot` ends the line the prompt was on; look for the next prompt after.
        at = expect(&mut c, "boot\r\n", at, t.firmware)?;
    }
    Ok(finish(c, at, t.kernel))
}

/// The hex number at the start of `s` (`0x` optional).
fn hex_at(s: &str) -> Option<u64> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let end = s.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(s.len());
    u64::from_str_radix(&s[..end], 16).ok()
}

/// U-Boot's relocation: `Moving Image from 0xA to 0xB, end=...` → (A, B).
pub fn moved(transcript: &str) -> Option<(u64, u64)> {
    let rest = transcript.split(MOVING).nth(1)?;
    let from = hex_at(rest)?;
    let to = hex_at(rest.split(" to ").nth(1)?)?;
    Some((from, to))
}

/// The kernel banner's `image at ADDR`.
pub fn image_at(transcript: &str) -> Option<u64> {
    hex_at(transcript.split("image at ").nth(1)?)
}

/// The Image loaded at `loaded_at` ran where booti should have put it: at `loaded_at` when
/// that is 2 MiB-aligned (and no move), else where U-Boot says it moved it (from
/// `loaded_at` to a 2 MiB-aligned address). The kernel's banner `image at` must agree.
pub fn check_load_address(transcript: &str, loaded_at: u64) -> Result<String, String> {
    let aligned = loaded_at.is_multiple_of(IMAGE_ALIGN);
    let (want, how) = match moved(transcript) {
        Some((from, to)) if aligned => {
            return Err(format!(
                "U-Boot moved the 2 MiB-aligned Image from {from:#x} to {to:#x}"
            ))
        }
        Some((from, _)) if from != loaded_at => {
            return Err(format!(
                "U-Boot moved an Image from {from:#x}, it was loaded at {loaded_at:#x}"
            ))
        }
        Some((_, to)) if !to.is_multiple_of(IMAGE_ALIGN) => {
            return Err(format!(
                "U-Boot moved the Image to {to:#x}, not 2 MiB-aligned"
            ))
        }
        Some((_, to)) => (to, format!("moved by U-Boot from {loaded_at:#x}")),
        None if !aligned => {
            return Err(format!(
                "no `{}` line: U-Boot did not move the Image loaded at {loaded_at:#x}",
                MOVING.trim()
            ))
        }
        None => (loaded_at, "not moved".to_string()),
    };
    match image_at(transcript) {
        Some(got) if got == want => Ok(format!("image at {got:#x} ({how})")),
        Some(got) => Err(format!(
            "the banner says `image at {got:#x}`, U-Boot put the Image at {want:#x} ({how})"
        )),
        None => Err("no `image at` in the kernel's banner".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOVED: &str = "=> booti 0x40480000 - ${fdtcontroladdr}\r\n\
                         Moving Image from 0x40480000 to 0x40600000, end=40960000\r\n\
                         Starting kernel ...\r\n\r\naiolos 0.1.0\r\n\
                         boot: entered at EL1, image at 0x40600000 (3456 KiB), dtb at 0x5dcaf000\r\n";

    #[test]
    fn parses_the_move_and_the_banner() {
        assert_eq!(moved(MOVED), Some((0x4048_0000, 0x4060_0000)));
        assert_eq!(image_at(MOVED), Some(0x4060_0000));
        assert_eq!(moved("Starting kernel"), None);
        assert_eq!(image_at("boot: entered at EL1"), None);
    }

    #[test]
    fn load_address_checks_can_fail() {
        assert!(check_load_address(MOVED, 0x4048_0000)
            .unwrap()
            .contains("moved by U-Boot"));
        // The kernel running where the Image was loaded, not where U-Boot moved it.
        let stale = MOVED.replace("image at 0x40600000", "image at 0x40480000");
        assert!(check_load_address(&stale, 0x4048_0000)
            .unwrap_err()
            .contains("banner says"));
        // An unaligned load that U-Boot did not move, and an aligned one it did.
        let unmoved = "boot: entered at EL1, image at 0x40480000 (";
        assert!(check_load_address(unmoved, 0x4048_0000)
            .unwrap_err()
            .contains("did not move"));
        assert!(check_load_address(MOVED, 0x4060_0000)
            .unwrap_err()
            .contains("2 MiB-aligned Image"));
        let aligned = "boot: entered at EL2 (dropped to EL1), image at 0x40400000 (";
        assert!(check_load_address(aligned, 0x4040_0000).is_ok());
        assert!(check_load_address(aligned, 0x4060_0000).is_err());
        assert!(check_load_address("nothing", 0x4040_0000)
            .unwrap_err()
            .contains("no `image at`"));
    }

    #[test]
    fn command_line() {
        let cfg = BootConfig {
            gic: 2,
            el: 2,
            ..BootConfig::default()
        };
        let s = util::display_command(&qemu_command(&cfg, &["-x".into()]));
        assert!(
            s.starts_with("qemu-system-aarch64 -M virt,gic-version=2,virtualization=on"),
            "{s}"
        );
        assert!(
            s.ends_with("-bios /usr/lib/u-boot/qemu_arm64/u-boot.bin -x"),
            "{s}"
        );
        assert!(s.contains("-nic none"), "{s}");
    }
}
