//! Shared helpers for the DTB tests: board DTBs from ../shared/dtb, QEMU-dumped DTBs and
//! DTS files compiled with dtc at test time. Absent inputs print `SKIPPED:` and return None.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// A board DTB from `<workspace>/../shared/dtb/NAME`, or None (with a SKIPPED notice).
pub fn shared_dtb(name: &str) -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/dtb")
        .join(name);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(_) => {
            eprintln!("SKIPPED: {} not found", path.display());
            println!("SKIPPED: {} not found", path.display());
            None
        }
    }
}

/// The DTB QEMU `virt` would pass, with `machine_opts` appended to `-M virt` (e.g.
/// `gic-version=3,virtualization=on`), 4 cortex-a72 CPUs and 256 MiB.
pub fn qemu_virt_dtb(machine_opts: &str) -> Option<Vec<u8>> {
    let out = std::env::temp_dir().join(format!(
        "aiolos-dtb-{}-{}.dtb",
        std::process::id(),
        machine_opts.replace([',', '='], "_")
    ));
    let m = format!("virt,{machine_opts},dumpdtb={}", out.display());
    let status = Command::new("qemu-system-aarch64")
        .args([
            "-M",
            &m,
            "-cpu",
            "cortex-a72",
            "-smp",
            "4",
            "-m",
            "256M",
            "-nographic",
            "-nic",
            "none",
        ])
        .output();
    match status {
        Ok(o) if o.status.success() => {
            let b = std::fs::read(&out).ok();
            let _ = std::fs::remove_file(&out);
            b
        }
        Ok(o) => panic!("qemu -M {m} failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => {
            eprintln!("SKIPPED: qemu-system-aarch64 not found");
            println!("SKIPPED: qemu-system-aarch64 not found");
            None
        }
    }
}

/// `hal/tests/dts/NAME` compiled with dtc, or None when dtc is absent.
pub fn dts(name: &str) -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/dts")
        .join(name);
    match Command::new("dtc")
        .args(["-I", "dts", "-O", "dtb", "-q"])
        .arg(&path)
        .output()
    {
        Ok(o) if o.status.success() => Some(o.stdout),
        Ok(o) => panic!(
            "dtc {}: {}",
            path.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => {
            eprintln!("SKIPPED: dtc not found");
            println!("SKIPPED: dtc not found");
            None
        }
    }
}

/// The report text for a blob (what dtb-check prints).
pub fn report(blob: &[u8]) -> String {
    match hal::dtb::Platform::parse(blob) {
        Ok(p) => hal::dtb::Report(&p).to_string(),
        Err(e) => format!("bootable: no: {e}\n"),
    }
}

/// DTS source text compiled with dtc, or None (SKIPPED notice) when dtc is absent.
pub fn dts_src(src: &str) -> Option<Vec<u8>> {
    use std::io::Write;
    let child = Command::new("dtc")
        .args(["-I", "dts", "-O", "dtb", "-q", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) => {
            eprintln!("SKIPPED: dtc not found");
            println!("SKIPPED: dtc not found");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(src.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "dtc: {}\n{src}",
        String::from_utf8_lossy(&o.stderr)
    );
    // To run another checker over the fixtures (e.g. an older `dtb-check`, to see a test
    // fail before its fix): AIOLOS_DTS_DUMP=DIR keeps each compiled blob there.
    if let Some(dir) = std::env::var_os("AIOLOS_DTS_DUMP") {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        // Relaxed: only a unique file name per fixture is needed.
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("{:?}-{n}.dtb", std::thread::current().name().unwrap_or("t"));
        std::fs::write(
            PathBuf::from(dir).join(name.replace(['"', ':'], "")),
            &o.stdout,
        )
        .unwrap();
    }
    Some(o.stdout)
}

/// The `bootable:` line of the report for `blob`.
pub fn verdict(blob: &[u8]) -> String {
    report(blob)
        .lines()
        .find(|l| l.starts_with("bootable:"))
        .unwrap_or("(no bootable: line)")
        .to_string()
}
