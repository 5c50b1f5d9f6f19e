//! The Linux guest of `cargo xtask bench`'s I/O rows: the nested-KVM kit's Debian arm64
//! kernel and busybox-static (fetched with the same private apt state, [`super::packages`])
//! in a small initramfs of their own — busybox, the five virtio modules the kernel builds as
//! modules (`virtio_mmio`, `failover`, `net_failover`, `virtio_net`, `virtio_blk`), `/dev`
//! nodes and `/init` (tests-qemu/kvm/httpd-init.sh: busybox `httpd`, or a `dd` block bench).
//! Cached in `target/kvm-cache/httpd-<key>/` (the key hashes the packages' versions and the
//! init script); [`initrd_with`] appends the per-run files (the page) as a second archive.

use std::collections::BTreeMap;
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::base::{apt_ready, kernel_package, kernel_release, prune_older};
use super::cpio::Cpio;
use super::packages::{fetch, resolve_in_root, show, Pkg};
use crate::util;

const INIT: &str = include_str!("../../../kvm/httpd-init.sh");
/// Bump when the layout of the cached initramfs changes (part of the cache key).
const FORMAT: u32 = 1;
/// The modules /init loads, in dependency order.
const MODULES: &[&str] = &[
    "drivers/virtio/virtio_mmio.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
    "drivers/block/virtio_blk.ko",
];

/// The cached kernel and initramfs.
pub struct LinuxHttpd {
    pub vmlinuz: PathBuf,
    pub cpio: PathBuf,
    /// `name=version` of the two packages.
    pub packages: String,
}

/// Fetches (once) and writes the kernel and initramfs.
pub fn prepare() -> Result<LinuxHttpd, String> {
    let cache = util::target_dir().join("kvm-cache");
    apt_ready(&cache, false)?;
    let kpkg = kernel_package(&cache)?;
    let roots = [kpkg.clone(), "busybox-static".to_string()];
    let info = show(&cache, &roots);
    let mut key = format!("format {FORMAT}\n{INIT}\n");
    let mut packages = Vec::new();
    for r in &roots {
        let p = info
            .get(r)
            .ok_or(format!("package {r}:arm64 not found in the apt lists"))?;
        key += &format!("{r}={}\n", p.version);
        packages.push(format!("{r}={}", p.version));
    }
    let dir = cache.join(format!("httpd-{:016x}", util::fnv64(key.as_bytes())));
    let out = LinuxHttpd {
        vmlinuz: dir.join("vmlinuz"),
        cpio: dir.join("initrd.cpio"),
        packages: packages.join(", "),
    };
    if dir.join("complete").exists() && out.vmlinuz.is_file() && out.cpio.is_file() {
        return Ok(out);
    }
    eprintln!("bench: building the Linux guest in {}", dir.display());
    let _ = fs::remove_dir_all(&dir);
    let root = dir.join("root");
    let debs = cache.join("debs");
    for d in [&root, &debs] {
        fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut got: BTreeMap<String, Pkg> = BTreeMap::new();
    let pkgs = roots.iter().map(|r| info[r].clone()).collect();
    fetch(&cache, &debs, &root, pkgs, &mut got)?;
    let kver = kernel_release(&kpkg);
    let src = root.join("boot").join(format!("vmlinuz-{kver}"));
    fs::copy(&src, &out.vmlinuz).map_err(|e| format!("{}: {e}", src.display()))?;
    let busybox = resolve_in_root(&root, "bin/busybox").ok_or("bin/busybox not found")?;
    let f = fs::File::create(&out.cpio).map_err(|e| format!("{}: {e}", out.cpio.display()))?;
    let mut w = Cpio::new(BufWriter::new(f));
    let io = |e: std::io::Error| format!("{}: {e}", out.cpio.display());
    w.busybox_root(&util::read(&busybox)?, &["lib/modules", "www"])
        .map_err(io)?;
    w.file("init", 0o755, INIT.as_bytes()).map_err(io)?;
    for m in MODULES {
        let rel = format!("lib/modules/{kver}/kernel/{m}");
        let p = resolve_in_root(&root, &rel).ok_or(format!("{rel} not in {kpkg}"))?;
        let name = Path::new(m)
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        w.file(&format!("lib/modules/{name}"), 0o644, &util::read(&p)?)
            .map_err(io)?;
    }
    w.finish().map_err(io)?;
    let _ = fs::remove_dir_all(&root);
    fs::write(dir.join("complete"), &key).map_err(|e| format!("complete marker: {e}"))?;
    // Older ones (other package versions or init script) are dead weight now.
    prune_older(&cache, "httpd-", &dir);
    Ok(out)
}

/// `base` followed by a second archive holding `files` (path, bytes), written to `out`: the
/// Linux initramfs loader unpacks concatenated archives in order.
pub fn initrd_with(base: &Path, files: &[(&str, &[u8])], out: &Path) -> Result<(), String> {
    fs::copy(base, out).map_err(|e| format!("{}: {e}", out.display()))?;
    let f = fs::OpenOptions::new()
        .append(true)
        .open(out)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let mut w = Cpio::new(BufWriter::new(f));
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    for (path, data) in files {
        w.file(path, 0o644, data).map_err(io)?;
    }
    w.finish().map_err(io)?;
    Ok(())
}
