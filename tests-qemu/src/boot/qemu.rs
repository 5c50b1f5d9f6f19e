//! Boot configuration and QEMU command lines (`run`, `boot`, the suite; the options of
//! [`BOOT_OPTIONS_HELP`]). What a boot printed is read by [`super::verdict`].

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::args::Args;

pub const QEMU: &str = "qemu-system-aarch64";

/// Which accelerator to ask QEMU for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
    Auto,
}

/// The QEMU machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// `-M virt` (GIC version, EL, cpu, smp and memory from the config).
    Virt,
    /// `-M raspi4b` (QEMU >= 9): 4 Cortex-A72, 2 GiB, GIC-400, spin-table; needs `-dtb` (the
    /// board's real DTB); its console (the mini UART) is QEMU's *second* serial port.
    Raspi4b,
}

/// One way of booting the kernel: everything `run`, `boot`, the runner and the matrix vary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootConfig {
    pub smp: u32,
    pub gic: u32,
    pub el: u32,
    pub cpu: String,
    /// True when `cpu` was given explicitly (KVM then keeps it instead of `host`).
    pub cpu_explicit: bool,
    pub mem: String,
    pub accel: Accel,
    pub interactive: bool,
    /// Extra bootargs (`-append`), space-separated.
    pub append: Vec<String>,
    /// Boot this file instead of building the kernel.
    pub kernel: Option<PathBuf>,
    /// `-dtb FILE`.
    pub dtb: Option<PathBuf>,
    /// Extra raw QEMU arguments (`--qemu-arg ARG`, repeatable).
    pub qemu_extra: Vec<String>,
    pub board: Board,
    /// Boot the arm64 Image instead of the ELF (the suite; `boot`/`run` pass the file given).
    pub image: bool,
    /// Load the kernel file with QEMU's generic loader at this address instead of `-kernel`
    /// (`-device loader,file=...,addr=...,cpu-num=0`: cpu 0 starts there, x0 = 0, no -append).
    pub load_addr: Option<u64>,
}

impl Default for BootConfig {
    fn default() -> Self {
        BootConfig {
            smp: 4,
            gic: 3,
            el: 1,
            cpu: "max".into(),
            cpu_explicit: false,
            mem: "512M".into(),
            accel: Accel::Tcg,
            interactive: false,
            append: Vec::new(),
            kernel: None,
            dtb: None,
            qemu_extra: Vec::new(),
            board: Board::Virt,
            image: false,
            load_addr: None,
        }
    }
}

pub const BOOT_OPTIONS_HELP: &str = "  --smp N             number of cores (default 4)
  --gic 2|3           GIC version (default 3)
  --el 1|2            entry exception level; 2 adds virtualization=on (default 1)
  --cpu NAME          QEMU cpu model: max, cortex-a53, cortex-a72, ... (default max)
  --mem SIZE          guest RAM (default 512M)
  --accel tcg|kvm|auto  auto = kvm with -cpu host on an aarch64 host with /dev/kvm (default tcg)
  --interactive       console echo: adds bootarg `interactive`
  --append STR        extra bootargs (repeatable)
  --kernel PATH       boot this ELF instead of building the demo kernel
  --dtb FILE          pass this device tree to QEMU (-dtb)
  --qemu-arg ARG      extra raw QEMU argument (repeatable)
  --board virt|raspi4b  QEMU machine (default virt; raspi4b needs QEMU >= 9 and --dtb)
  --load-addr ADDR    no -kernel: QEMU's generic loader puts the file at ADDR and starts cpu 0
                      there (x0 = 0; QEMU then refuses --append)";

impl BootConfig {
    /// Parses the boot options; unknown options are an error. `--opt=value` is accepted too.
    /// A lone `--` is ignored (so `cargo xtask run -- --smp 2` works).
    pub fn parse(args: &[String]) -> Result<BootConfig, String> {
        let mut c = BootConfig::default();
        let mut args = Args::new(args);
        while let Some(key) = args.next_key() {
            match key {
                "--smp" => {
                    c.smp = parse_num(&args.value()?, "--smp")?;
                    if c.smp == 0 {
                        return Err("--smp must be at least 1".into());
                    }
                }
                "--gic" => {
                    c.gic = parse_num(&args.value()?, "--gic")?;
                    if c.gic != 2 && c.gic != 3 {
                        return Err("--gic must be 2 or 3".into());
                    }
                }
                "--el" => {
                    c.el = parse_num(&args.value()?, "--el")?;
                    if c.el != 1 && c.el != 2 {
                        return Err("--el must be 1 or 2".into());
                    }
                }
                "--cpu" => {
                    c.cpu = args.value()?;
                    c.cpu_explicit = true;
                }
                "--mem" | "-m" => c.mem = args.value()?,
                "--accel" => {
                    c.accel = match args.value()?.as_str() {
                        "tcg" => Accel::Tcg,
                        "kvm" => Accel::Kvm,
                        "auto" => Accel::Auto,
                        other => return Err(format!("--accel: unknown accelerator `{other}`")),
                    }
                }
                "--interactive" => c.interactive = true,
                "--append" => c.append.push(args.value()?),
                "--kernel" => c.kernel = Some(PathBuf::from(args.value()?)),
                "--dtb" => c.dtb = Some(PathBuf::from(args.value()?)),
                "--qemu-arg" => c.qemu_extra.push(args.value()?),
                "--board" => {
                    c.board = match args.value()?.as_str() {
                        "virt" => Board::Virt,
                        "raspi4b" => Board::Raspi4b,
                        other => return Err(format!("--board: unknown board `{other}`")),
                    }
                }
                "--load-addr" => {
                    let v = args.value()?;
                    let addr = match v.strip_prefix("0x") {
                        Some(hex) => u64::from_str_radix(hex, 16),
                        None => v.parse(),
                    }
                    .map_err(|_| format!("--load-addr: `{v}` is not an address"))?;
                    c.load_addr = Some(addr);
                }
                _ => return Err(format!("unknown option `{key}`")),
            }
        }
        Ok(c)
    }

    /// The accelerator actually used (resolves `auto`).
    pub fn resolved_accel(&self) -> Accel {
        match self.accel {
            Accel::Auto => {
                if std::env::consts::ARCH == "aarch64" && Path::new("/dev/kvm").exists() {
                    Accel::Kvm
                } else {
                    Accel::Tcg
                }
            }
            a => a,
        }
    }

    /// The bootargs string for `-append`, if any.
    pub fn bootargs(&self) -> Option<String> {
        let mut words: Vec<&str> = Vec::new();
        if self.interactive {
            words.push("interactive");
        }
        words.extend(
            self.append
                .iter()
                .map(|s| s.as_str())
                .filter(|s| !s.is_empty()),
        );
        if words.is_empty() {
            None
        } else {
            Some(words.join(" "))
        }
    }

    /// `-M`, `-cpu`, `-smp`, `-m` and `-accel`: the arguments that shape the machine (and so
    /// the DTB QEMU generates; `dumpdtb` must use the same ones).
    pub fn machine_args(&self, dumpdtb: Option<&Path>) -> Vec<String> {
        if self.board == Board::Raspi4b {
            // The board fixes cpu (cortex-a72), smp (4) and memory (2 GiB).
            let mut m = "raspi4b".to_string();
            if let Some(f) = dumpdtb {
                m.push_str(&format!(",dumpdtb={}", f.display()));
            }
            return vec!["-M".into(), m, "-accel".into(), "tcg".into()];
        }
        let kvm = self.resolved_accel() == Accel::Kvm;
        let mut m = format!("virt,gic-version={}", self.gic);
        if self.el == 2 {
            m.push_str(",virtualization=on");
        }
        if let Some(f) = dumpdtb {
            m.push_str(&format!(",dumpdtb={}", f.display()));
        }
        let cpu = if kvm && !self.cpu_explicit {
            "host".to_string()
        } else {
            self.cpu.clone()
        };
        vec![
            "-M".into(),
            m,
            "-cpu".into(),
            cpu,
            "-smp".into(),
            self.smp.to_string(),
            "-m".into(),
            self.mem.clone(),
            "-accel".into(),
            if kvm { "kvm" } else { "tcg" }.into(),
            // No NIC: the default one wants efi-virtio.rom, which a --no-install-recommends
            // QEMU lacks.
            "-nic".into(),
            "none".into(),
        ]
    }

    /// The full QEMU command. `captured` selects the harness console wiring (serial and the
    /// semihosting console multiplexed onto stdout, no monitor) instead of `-nographic`.
    pub fn command(&self, kernel: &Path, captured: bool) -> Command {
        let kvm = self.resolved_accel() == Accel::Kvm;
        let mut cmd = Command::new(QEMU);
        cmd.args(self.machine_args(None));
        // raspi4b wires the PL011 to the first serial port and the mini UART (its DTB's
        // stdout-path) to the second.
        let pi = self.board == Board::Raspi4b;
        if captured {
            cmd.args(["-display", "none", "-monitor", "none"]);
            cmd.args(["-chardev", "stdio,id=con,mux=on"]);
            if pi {
                cmd.args(["-serial", "null"]);
            }
            cmd.args(["-serial", "chardev:con"]);
            if !kvm {
                // Semihosting output (SYS_WRITE0) lands in the same stream as the serial port,
                // so a kernel without a usable UART can still report its verdict.
                cmd.args(["-semihosting-config", "enable=on,target=native,chardev=con"]);
            }
        } else {
            cmd.arg("-nographic");
            if pi {
                cmd.args(["-serial", "null", "-serial", "mon:stdio"]);
            }
            if !kvm {
                // Semihosting does not exist under KVM: the kernel's `hlt` would be undefined.
                cmd.arg("-semihosting");
            }
        }
        match self.load_addr {
            Some(addr) => {
                cmd.args(["-device"]).arg(format!(
                    "loader,file={},addr={addr:#x},cpu-num=0",
                    kernel.display()
                ));
            }
            None => {
                cmd.arg("-kernel").arg(kernel);
            }
        }
        if let Some(dtb) = &self.dtb {
            cmd.arg("-dtb").arg(dtb);
        }
        if let Some(b) = self.bootargs() {
            cmd.args(["-append", &b]);
        }
        cmd.args(&self.qemu_extra);
        cmd
    }

    /// A short name for the matrix: `gic3-el1-smp4-max`.
    pub fn name(&self) -> String {
        if self.board == Board::Raspi4b {
            return "raspi4b".into();
        }
        format!("gic{}-el{}-smp{}-{}", self.gic, self.el, self.smp, self.cpu)
    }
}

/// `qemu-system-aarch64 --version` → (major, minor).
pub fn version() -> Option<(u32, u32)> {
    let out = Command::new(QEMU).arg("--version").output().ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let rest = text.split("version ").nth(1)?;
    let mut it = rest.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

fn parse_num(s: &str, what: &str) -> Result<u32, String> {
    s.parse()
        .map_err(|_| format!("{what}: `{s}` is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parse_defaults_and_options() {
        let c = BootConfig::parse(&[]).unwrap();
        assert_eq!((c.smp, c.gic, c.el, c.cpu.as_str()), (4, 3, 1, "max"));
        let c = BootConfig::parse(&args(
            "-- --smp 2 --gic=2 --el 2 --cpu cortex-a53 --interactive --append test",
        ))
        .unwrap();
        assert_eq!(
            (c.smp, c.gic, c.el, c.cpu.as_str()),
            (2, 2, 2, "cortex-a53")
        );
        assert_eq!(c.bootargs().as_deref(), Some("interactive test"));
        assert!(BootConfig::parse(&args("--gic 4")).is_err());
        assert!(BootConfig::parse(&args("--smp")).is_err());
        assert!(BootConfig::parse(&args("--bogus")).is_err());
    }

    #[test]
    fn command_line_shape() {
        let c = BootConfig::parse(&args("--smp 2 --gic 2 --el 2 --append test")).unwrap();
        let cmd = crate::util::display_command(&c.command(Path::new("k.elf"), false));
        assert_eq!(
            cmd,
            "qemu-system-aarch64 -M virt,gic-version=2,virtualization=on -cpu max -smp 2 -m 512M \
             -accel tcg -nic none -nographic -semihosting -kernel k.elf -append test"
        );
    }

    #[test]
    fn raspi4b_and_loader_command_lines() {
        let c = BootConfig::parse(&args("--board raspi4b --dtb pi4.dtb --append test")).unwrap();
        let cmd = crate::util::display_command(&c.command(Path::new("Image"), true));
        assert_eq!(
            cmd,
            "qemu-system-aarch64 -M raspi4b -accel tcg -display none -monitor none -chardev \
             stdio,id=con,mux=on -serial null -serial chardev:con -semihosting-config \
             enable=on,target=native,chardev=con -kernel Image -dtb pi4.dtb -append test"
        );
        let c = BootConfig::parse(&args("--load-addr 0x60000000 --mem 1G")).unwrap();
        let cmd = crate::util::display_command(&c.command(Path::new("Image"), false));
        assert!(
            cmd.ends_with("-semihosting -device loader,file=Image,addr=0x60000000,cpu-num=0"),
            "{cmd}"
        );
        assert!(BootConfig::parse(&args("--board pi5")).is_err());
        assert!(BootConfig::parse(&args("--load-addr zz")).is_err());
    }
}
