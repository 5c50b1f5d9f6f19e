//! The boot partition's `config.txt` and `cmdline.txt` for the Raspberry Pi 4 GPU firmware
//! (`start4.elf`), and the reading-back of `config.txt` the suite does.
//!
//! Each setting is a [`Setting`] with the reason it is there; `config.txt` writes the reason
//! as a comment above the line, so the file explains itself on the card.

use crate::image::ALIGN;

/// The kernel file on the card (FAT names are case-insensitive; `kernel=` names it).
pub const KERNEL_FILE: &str = "Image";
/// The board DTB on the card, under the name the firmware looks for on a Pi 4.
pub const DTB_FILE: &str = "bcm2711-rpi-4-b.dtb";
/// The firmware files `start4.elf` (the Pi 4's GPU firmware) and `fixup4.dat` (its memory
/// split), both from Debian's `raspi-firmware`.
pub const FIRMWARE_FILES: &[&str] = &["start4.elf", "fixup4.dat"];
pub const CONFIG_FILE: &str = "config.txt";
pub const CMDLINE_FILE: &str = "cmdline.txt";

/// Where the firmware loads the Image: 2 MiB. aiolos runs only from a 2 MiB-aligned base
/// (`exit: fail: image at ... is not 2 MiB-aligned` otherwise), and 0x200000 is where QEMU's
/// `raspi4b -kernel` puts an Image, which no QEMU option moves (its generic loader would
/// leave the secondaries without the spin-table stub QEMU writes for `-kernel`): so the suite
/// boots the card's Image, DTB and bootargs at the very address this `config.txt` names, and
/// checks the read-back address against the kernel's banner.
pub const KERNEL_ADDRESS: u64 = 0x20_0000;

/// One `key=value` line of `config.txt` and why it is there.
pub struct Setting {
    pub key: &'static str,
    pub value: String,
    pub why: &'static str,
}

/// The settings, in file order. `kernel_address` must be 2 MiB-aligned.
pub fn settings(kernel_address: u64) -> Result<Vec<Setting>, String> {
    if !kernel_address.is_multiple_of(ALIGN) {
        return Err(format!(
            "kernel_address {kernel_address:#x} is not 2 MiB-aligned: aiolos refuses such a base"
        ));
    }
    let s = |key, value: &str, why| Setting {
        key,
        value: value.to_string(),
        why,
    };
    Ok(vec![
        s(
            "arm_64bit",
            "1",
            "aiolos is an AArch64 kernel: start the ARM cores in 64-bit state.",
        ),
        s(
            "kernel",
            KERNEL_FILE,
            "The file to start: the aiolos arm64 Image (`cargo xtask image`).",
        ),
        Setting {
            key: "kernel_address",
            value: format!("{kernel_address:#x}"),
            why: "Load it at 2 MiB: aiolos runs only from a 2 MiB-aligned base and refuses \
                  any other; 0x200000 is also where QEMU's raspi4b puts it.",
        },
        s(
            "device_tree",
            DTB_FILE,
            "The board's device tree: the firmware fills in /memory and /chosen/bootargs \
             (from cmdline.txt) and passes its address in x0, where aiolos looks for it.",
        ),
        s(
            "enable_uart",
            "1",
            "Console: the mini UART (uart1, the DTB's stdout-path) on GPIO 14/15; this also \
             fixes the VPU core clock its baud rate derives from. aiolos keeps the firmware's \
             setup and never programs the baud rate.",
        ),
        s(
            "init_uart_baud",
            "115200",
            "115200 baud (8N1), the rate the DTB's stdout-path names (serial1:115200n8).",
        ),
        s(
            "enable_gic",
            "1",
            "Interrupts through the GIC-400: aiolos drives a GIC and has no driver for the \
             legacy BCM2836 interrupt controller.",
        ),
    ])
}

/// Comment lines for text that may be long: wrapped at ~90 columns, each starting `# `.
fn comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > 90 && line != "#" {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// The whole `config.txt`.
pub fn config_txt(kernel_address: u64) -> Result<String, String> {
    let mut out = comment(
        "config.txt for aiolos on the Raspberry Pi 4, written by `cargo xtask sdcard --board \
         rpi4`. The GPU firmware (start4.elf) reads it before it starts the ARM cores.",
    );
    for s in settings(kernel_address)? {
        out.push('\n');
        out.push_str(&comment(s.why));
        out.push_str(&format!("{}={}\n", s.key, s.value));
    }
    out.push('\n');
    out.push_str(&comment(
        "Secondary cores: no armstub= line. The firmware's built-in armstub8 parks cores 1-3 \
         in a spin-table loop polling the cpu-release-addr the DTB names (0xd8, 0xe0, 0xe8, \
         0xf0) and enters the Image at EL2 on core 0; aiolos releases the others by writing \
         its entry point there.",
    ));
    Ok(out)
}

/// The `key=value` settings of a `config.txt`, in order (comments, blank lines and
/// `[section]` filters skipped; the firmware applies the last of repeated keys).
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The value the firmware uses for `key` (the last one), if any.
pub fn value(text: &str, key: &str) -> Option<String> {
    parse(text)
        .into_iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// `kernel_address` read back from a `config.txt` (hex `0x...` or decimal).
pub fn kernel_address(text: &str) -> Result<u64, String> {
    let v = value(text, "kernel_address").ok_or("config.txt has no kernel_address")?;
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    }
    .map_err(|_| format!("config.txt: kernel_address `{v}` is not a number"))
}

/// `cmdline.txt`: the bootargs on one line (the firmware reads only the first line).
pub fn cmdline_txt(bootargs: &str) -> Result<String, String> {
    if bootargs.contains(['\n', '\r']) {
        return Err(
            "bootargs must be one line (cmdline.txt is read up to its first newline)".into(),
        );
    }
    Ok(format!("{}\n", bootargs.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_its_reason_above_it() {
        let text = config_txt(KERNEL_ADDRESS).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut settings = 0;
        for (i, l) in lines.iter().enumerate() {
            if !l.is_empty() && !l.starts_with('#') {
                settings += 1;
                assert!(l.contains('='), "{l}");
                assert!(
                    i > 0 && lines[i - 1].starts_with("# "),
                    "`{l}` has no comment above it"
                );
            }
            assert!(l.len() <= 92, "long line `{l}`");
        }
        assert_eq!(settings, settings_len());
    }

    fn settings_len() -> usize {
        settings(KERNEL_ADDRESS).unwrap().len()
    }

    #[test]
    fn what_aiolos_needs_is_there() {
        let text = config_txt(KERNEL_ADDRESS).unwrap();
        for (k, v) in [
            ("arm_64bit", "1"),
            ("kernel", KERNEL_FILE),
            ("device_tree", DTB_FILE),
            ("enable_uart", "1"),
            ("init_uart_baud", "115200"),
            ("enable_gic", "1"),
        ] {
            assert_eq!(value(&text, k).as_deref(), Some(v), "{k}");
        }
        // The firmware's spin-table is the default armstub: no armstub= override.
        assert_eq!(value(&text, "armstub"), None);
        assert_eq!(kernel_address(&text).unwrap(), KERNEL_ADDRESS);
        assert!(KERNEL_ADDRESS.is_multiple_of(ALIGN));
    }

    #[test]
    fn address_round_trips_and_misaligned_is_refused() {
        let text = config_txt(0x4000_0000).unwrap();
        assert_eq!(kernel_address(&text).unwrap(), 0x4000_0000);
        // The Pi's legacy 64-bit default, 0x80000, is not 2 MiB-aligned.
        assert!(config_txt(0x8_0000).unwrap_err().contains("2 MiB"));
        assert!(config_txt(0x20_1000).is_err());
    }

    #[test]
    fn parsing_follows_the_firmware() {
        let text = "# c\n[pi4]\nkernel_address=0x200000\n\nkernel_address = 2097152\nx\n";
        assert_eq!(kernel_address(text).unwrap(), 0x20_0000);
        assert_eq!(parse(text).len(), 2);
        assert!(kernel_address("kernel_address=zz\n").is_err());
        assert!(kernel_address("# kernel_address=0x200000\n").is_err());
    }

    #[test]
    fn cmdline() {
        assert_eq!(cmdline_txt(" test ").unwrap(), "test\n");
        assert_eq!(cmdline_txt("").unwrap(), "\n");
        assert!(cmdline_txt("a\nb").is_err());
    }
}
