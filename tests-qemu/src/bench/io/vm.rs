//! One guest of the I/O rows under QEMU: aiolos (the demo kernel) or the Linux guest, both
//! on the same command line from [`crate::boot::qemu::BootConfig`] — `virt`, GICv3, `-cpu
//! max`, 512 MiB, the same smp and accel — with the same devices: virtio-net on user
//! networking with the two ports forwarded ([`crate::cases::net::net_args`]), a read-only
//! virtio-blk disk, a QMP socket. Only `-kernel`, `-initrd` and `-append` differ.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::qmp::Qmp;
use crate::boot::qemu::BootConfig;
use crate::cases::net::{free_port, get, net_args};
use crate::firmware::console::{Console, Event};
use crate::util;

/// aiolos's static address (DHCP would add its exchange to the boot); Linux takes the same.
pub const AIOLOS_IP: &str = "ip=10.0.2.15/24,gw=10.0.2.2";

/// Which guest.
#[derive(Clone, Debug)]
pub enum Os {
    Aiolos { elf: PathBuf },
    Linux { vmlinuz: PathBuf, initrd: PathBuf },
}

impl Os {
    pub fn name(&self) -> &'static str {
        match self {
            Os::Aiolos { .. } => "aiolos",
            Os::Linux { .. } => "linux",
        }
    }

    /// The console line that says the guest serves.
    fn serving(&self) -> &'static str {
        match self {
            Os::Aiolos { .. } => "serve: listening on",
            Os::Linux { .. } => "linux-httpd: serving",
        }
    }
}

/// What a boot does.
pub enum Mode {
    Serve,
    /// The block bench with this many reads per queue depth (1 and 32).
    Blk(u64),
}

pub struct Vm {
    pub con: Console,
    pub http: u16,
    qmp_path: PathBuf,
    pub started: Instant,
}

/// Where a boot's host side meets it: the forwarded HTTP and echo ports, the QMP socket.
pub struct Endpoints {
    pub http: u16,
    pub echo: u16,
    pub qmp: PathBuf,
}

/// The QEMU command line of `os` in `mode`: `smp` cores, `-icount shift=0` if `icount`.
pub fn config(
    os: &Os,
    mode: &Mode,
    smp: u32,
    icount: bool,
    disk: &Path,
    at: &Endpoints,
) -> (BootConfig, PathBuf) {
    let (http, echo, qmp) = (at.http, at.echo, &at.qmp);
    let mut cfg = BootConfig {
        smp,
        ..BootConfig::default()
    };
    cfg.qemu_extra.extend(net_args(http, echo));
    cfg.qemu_extra.extend([
        // A guest that panics or resets ends the run (Linux with panic=-1 would boot again).
        "-no-reboot".into(),
        "-drive".into(),
        format!(
            "if=none,file={},format=raw,id=d0,readonly=on",
            disk.display()
        ),
        "-device".into(),
        "virtio-blk-device,drive=d0".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", qmp.display()),
    ]);
    if icount {
        cfg.qemu_extra.extend(["-icount".into(), "shift=0".into()]);
    }
    let kernel = match os {
        Os::Aiolos { elf } => {
            cfg.append = match mode {
                Mode::Serve => vec!["serve".into(), AIOLOS_IP.into()],
                Mode::Blk(n) => vec!["blk-bench=1,32".into(), format!("blk-bench-n={n}")],
            };
            elf.clone()
        }
        Os::Linux { vmlinuz, initrd } => {
            cfg.append = vec!["console=ttyAMA0".into(), "quiet".into(), "panic=-1".into()];
            if let Mode::Blk(n) = mode {
                cfg.append.push(format!("bench.blk={n}"));
            }
            cfg.qemu_extra.push("-initrd".into());
            cfg.qemu_extra.push(initrd.display().to_string());
            vmlinuz.clone()
        }
    };
    (cfg, kernel)
}

impl Vm {
    /// Starts `os`; stdin from /dev/null (a pipe slows QEMU's main loop, where slirp runs).
    pub fn start(os: &Os, mode: &Mode, smp: u32, icount: bool, disk: &Path) -> Result<Vm, String> {
        let (http, echo) = (free_port()?, free_port()?);
        let qmp_path = util::target_dir().join("bench").join(format!(
            "qmp-{}-{}.sock",
            os.name(),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&qmp_path);
        let at = Endpoints {
            http,
            echo,
            qmp: qmp_path.clone(),
        };
        let (cfg, kernel) = config(os, mode, smp, icount, disk, &at);
        let mut cmd = cfg.command(&kernel, true);
        eprintln!("{}", util::display_command(&cmd));
        let started = Instant::now();
        let con = Console::spawn_silent(&mut cmd)?;
        Ok(Vm {
            con,
            http,
            qmp_path,
            started,
        })
    }

    /// Waits for one of `patterns` (within `secs`); the error has the console's tail.
    pub fn wait(&mut self, patterns: &[&str], secs: u64) -> Result<(), String> {
        match self.con.wait(patterns, 0, Duration::from_secs(secs)) {
            Event::Saw { .. } => Ok(()),
            e => Err(format!(
                "waiting for {patterns:?}: {e:?} after {:.1} s\n{}\n--- last console lines ---\n{}",
                self.started.elapsed().as_secs_f64(),
                self.con.shown,
                util::tail(&self.con.transcript(), 25)
            )),
        }
    }

    /// Waits until the guest says it serves, then until `GET /` answers 200: the time from
    /// QEMU's start to that answer, and the body.
    pub fn first_response(&mut self, os: &Os) -> Result<(Duration, Vec<u8>), String> {
        self.wait(&[os.serving()], 180)?;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if let Ok(body) = get_once(self.http) {
                return Ok((self.started.elapsed(), body));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!(
            "{} said it serves but `GET /` got no 200 within 30 s",
            os.name()
        ))
    }

    pub fn qmp(&self) -> Result<Qmp, String> {
        Qmp::connect(&self.qmp_path, Duration::from_secs(10))
    }

    /// Ends QEMU and keeps its console in `target/bench/io-NAME.log`.
    pub fn stop(mut self, name: &str) {
        self.con.stop();
        let log = util::target_dir()
            .join("bench")
            .join(format!("io-{name}.log"));
        let _ = std::fs::write(&log, self.con.transcript());
        let _ = std::fs::remove_file(&self.qmp_path);
    }
}

/// One `GET /` on a connection of its own: the body of a 200.
fn get_once(port: u16) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    match get(&mut s, &mut Vec::new())? {
        (200, body) => Ok(body),
        (code, _) => Err(format!("status {code}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line without the words that may differ between the guests.
    fn shared(os: &Os, mode: &Mode, smp: u32) -> (Vec<String>, String) {
        let at = Endpoints {
            http: 8080,
            echo: 8081,
            qmp: PathBuf::from("q.sock"),
        };
        let (cfg, kernel) = config(os, mode, smp, false, Path::new("d.img"), &at);
        let cmd = cfg.command(&kernel, true);
        let mut out = Vec::new();
        let mut args = cmd.get_args().map(|a| a.to_string_lossy().into_owned());
        let mut append = String::new();
        while let Some(a) = args.next() {
            match a.as_str() {
                "-kernel" | "-initrd" => {
                    args.next();
                }
                "-append" => append = args.next().unwrap_or_default(),
                _ => out.push(a),
            }
        }
        (out, append)
    }

    #[test]
    fn both_guests_share_the_command_line() {
        let aiolos = Os::Aiolos {
            elf: "kernel".into(),
        };
        let linux = Os::Linux {
            vmlinuz: "vmlinuz".into(),
            initrd: "initrd".into(),
        };
        for mode in [Mode::Serve, Mode::Blk(64)] {
            let (a, a_append) = shared(&aiolos, &mode, 4);
            let (l, l_append) = shared(&linux, &mode, 4);
            assert_eq!(a, l);
            assert_ne!(a_append, l_append);
        }
        let (a, append) = shared(&aiolos, &Mode::Blk(64), 4);
        assert!(append.contains("blk-bench=1,32 blk-bench-n=64"), "{append}");
        let line = a.join(" ");
        for want in [
            "-smp 4",
            "hostfwd=tcp:127.0.0.1:8080-:80",
            "virtio-net-device",
            "virtio-blk-device,drive=d0",
            "-no-reboot",
        ] {
            assert!(line.contains(want), "{want} in {line}");
        }
        // The check can fail: another smp is another command line.
        assert_ne!(shared(&linux, &Mode::Serve, 1).0, a);
    }
}
