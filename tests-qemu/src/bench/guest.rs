//! The guest half: the kernel package's `bench` binary booted twice under
//! `-icount shift=0,sleep=off` (its `bench: key=value` lines must agree), once without
//! icount (the busy producer/consumer: icount runs one vCPU at a time, so there the consumer
//! always sleeps before the next item), and the stress under icount, on the demo kernel; the
//! Image sizes: the demo kernel (all features), the demo without its I/O features, and the
//! smallest real application (the `new-app` template, no features), each booted to `exit: ok`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::boot::build::{KernelBuild, Output};
use crate::boot::qemu::BootConfig;
use crate::boot::verdict::Exit;
use crate::{image, util};

const ICOUNT: [&str; 2] = ["-icount", "shift=0,sleep=off"];

/// Boots `elf` (2 cores unless `smp`), returns its log; fails unless it ends `exit: ok`.
fn boot(elf: &Path, smp: u32, bootargs: &[String], icount: bool) -> Result<String, String> {
    let cfg = BootConfig {
        smp,
        append: bootargs.to_vec(),
        qemu_extra: if icount {
            ICOUNT.iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        },
        ..BootConfig::default()
    };
    let mut cmd = cfg.command(elf, true);
    eprintln!("{}", util::display_command(&cmd));
    let c = util::run_captured(&mut cmd, Duration::from_secs(300))
        .map_err(|e| format!("cannot run QEMU: {e}"))?;
    let lines: Vec<&str> = c.stdout.lines().collect();
    match Exit::last_line(&lines).and_then(Exit::parse) {
        Some(Exit::Ok) if c.success() => Ok(c.stdout),
        _ => Err(format!(
            "guest boot ({}) did not end `exit: ok` (exit {:?}{}):\n{}",
            bootargs.join(" "),
            c.code,
            if c.timed_out { ", timed out" } else { "" },
            util::tail(&c.stdout, 20)
        )),
    }
}

/// `STACK_STRIDE` (one core's stacks and guard pages) from the kernel's layout file.
fn stack_stride() -> Option<u64> {
    let src =
        std::fs::read_to_string(util::workspace_root().join("kernel/src/boot/layout.rs")).ok()?;
    let hex = src.split("STACK_STRIDE == 0x").nth(1)?;
    let hex: String = hex.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    u64::from_str_radix(&hex, 16).ok()
}

pub fn run(n: u32) -> Result<BTreeMap<String, String>, String> {
    // The demo kernel (its Image is the size figure) and the `bench` binary beside it.
    let (demo, _) = KernelBuild::release().build(Output::Captured, |c| eprintln!("{c}"))?;
    let bench = KernelBuild {
        bin: Some("bench"),
        ..KernelBuild::release()
    };
    let (elf, _) = bench.build(Output::Captured, |c| eprintln!("{c}"))?;
    let args = vec![format!("bench_n={n}")];
    let first = super::parse_kv(&boot(&elf, 2, &args, true)?, "bench: ");
    let second = super::parse_kv(&boot(&elf, 2, &args, true)?, "bench: ");
    if first != second {
        let differ: Vec<String> = first
            .iter()
            .filter(|(k, v)| second.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: {v} vs {:?}", second.get(k)))
            .collect();
        return Err(format!(
            "the two icount boots differ (not deterministic): {}",
            differ.join("; ")
        ));
    }
    if first.is_empty() {
        return Err("the guest printed no `bench:` lines".into());
    }
    let mut kv: BTreeMap<String, String> = first
        .into_iter()
        .map(|(k, v)| (format!("guest.{k}"), v))
        .collect();
    kv.insert("guest.identical_boots".into(), "2".into());
    let mttcg = super::parse_kv(&boot(&elf, 2, &args, false)?, "bench: ");
    for (k, v) in mttcg.into_iter().filter(|(k, _)| k.starts_with("busy")) {
        kv.insert(format!("guest.mttcg.{k}"), v);
    }
    let stress = boot(&demo, 4, &["stress".to_string()], true)?;
    if let Some(ms) = stress
        .lines()
        .find(|l| l.starts_with("stress:") && l.ends_with(" ms"))
        .and_then(|l| l.rsplit(' ').nth(1))
    {
        kv.insert("guest.stress.end_ms".into(), ms.to_string());
    }
    kv.insert("guest.image_bytes".into(), image_len(&demo)?.to_string());
    // What the demo's I/O (features heap, virtio, net, serve) adds: the same demo without them.
    let no_io = KernelBuild {
        features: Some("stats"),
        target_dir: Some(util::target_dir().join("no-io")),
        ..KernelBuild::release()
    };
    let (no_io, _) = no_io.build(Output::Captured, |c| eprintln!("{c}"))?;
    boot(&no_io, 2, &[], false)?;
    kv.insert(
        "guest.image_no_io_bytes".into(),
        image_len(&no_io)?.to_string(),
    );
    // The smallest real application: the template `cargo xtask new-app` writes (every core
    // runs a task, core 0 joins them), with no features. Generated outside the workspace
    // (whose .cargo/config.toml would add to the template's own), built in target/.
    let name = "aiolos-bench-app";
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let app = crate::new_app::build_template(&dir, name, &util::target_dir().join(name));
    let _ = std::fs::remove_dir_all(&dir);
    let app = app?;
    check_io_crates(&util::read(&app)?, &util::read(&demo)?)?;
    boot(&app, 2, &[], false)?;
    kv.insert("guest.image_app_bytes".into(), image_len(&app)?.to_string());
    if let Some(s) = stack_stride() {
        kv.insert("guest.footprint.stack_stride_bytes".into(), s.to_string());
    }
    Ok(kv)
}

/// The arm64 Image's length (file bytes; `.bss` is not in it) made from `elf`.
fn image_len(elf: &Path) -> Result<usize, String> {
    let bytes = util::read(elf)?;
    Ok(image::image_from_elf(&bytes)?.0.len())
}

/// The crates of the I/O features, by the names their symbols and debug info carry.
const IO_CRATES: [&str; 4] = [
    "linked_list_allocator",
    "virtio_drivers",
    "smoltcp",
    "httparse",
];

/// The template (no features) links none of [`IO_CRATES`]; the demo (all features) links
/// each of them, which shows the search finds them.
fn check_io_crates(app: &[u8], demo: &[u8]) -> Result<(), String> {
    let has = |elf: &[u8], name: &str| elf.windows(name.len()).any(|w| w == name.as_bytes());
    for c in IO_CRATES {
        if has(app, c) {
            return Err(format!(
                "the template application links `{c}` (no features asked for it)"
            ));
        }
        if !has(demo, c) {
            return Err(format!(
                "`{c}` not found in the demo kernel: the check is broken"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_crates_found_and_refused() {
        let demo = IO_CRATES.join(" ").into_bytes();
        assert!(check_io_crates(b"_ZN6kernel3api", &demo).is_ok());
        assert!(check_io_crates(b"_ZN7smoltcp5iface", &demo).is_err());
        assert!(check_io_crates(b"", b"smoltcp virtio_drivers").is_err());
    }
}
