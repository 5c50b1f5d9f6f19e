//! The cached part of a nested-KVM run: the outer arm64 Linux kernel and the base initramfs
//! (busybox, the arm64 QEMU, its libraries, `/dev/console`) in `target/kvm-cache/base-<key>/`,
//! where the key hashes the three root packages' versions. Built once; `--refresh` re-resolves.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::cpio::Cpio;
use super::packages::{
    apt, fetch, library_closure, output, pick_kernel_package, resolve_in_root, show, Pkg,
};
use crate::util;

/// Bump when the layout of the cached base changes (part of the cache key).
const CACHE_FORMAT: u32 = 1;

/// The cached outer kernel and base initramfs.
pub(super) struct Base {
    pub(super) vmlinuz: PathBuf,
    pub(super) cpio: PathBuf,
    /// Built during this run (as opposed to found in the cache).
    pub(super) fresh: bool,
}

/// The private arm64 apt state under `cache/apt`, made if missing; `apt-get update` when it
/// has no package lists yet or on `refresh`.
pub(super) fn apt_ready(cache: &Path, refresh: bool) -> Result<(), String> {
    for tool in ["apt-get", "apt-cache", "dpkg-deb"] {
        if util::which(tool).is_none() {
            return Err(format!(
                "`{tool}` not found (a Debian/Ubuntu host is needed)"
            ));
        }
    }
    let a = cache.join("apt");
    for d in ["lists/partial", "archives/partial", "cache", "state"] {
        fs::create_dir_all(a.join(d)).map_err(|e| format!("{}: {e}", a.join(d).display()))?;
    }
    let status = a.join("status");
    if !status.exists() {
        fs::write(&status, "").map_err(|e| format!("{}: {e}", status.display()))?;
    }
    let have_lists = fs::read_dir(a.join("lists"))
        .map(|d| {
            d.flatten().any(|e| {
                e.file_name().to_string_lossy().ends_with("_Packages.lz4")
                    || e.file_name()
                        .to_string_lossy()
                        .contains("binary-arm64_Packages")
            })
        })
        .unwrap_or(false);
    if refresh || !have_lists {
        let mut up = apt(cache, "apt-get");
        up.arg("update");
        println!(
            "kvm: apt-get update (private arm64 state in {})",
            a.display()
        );
        let o = up
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run apt-get: {e}"))?;
        let err = String::from_utf8_lossy(&o.stderr);
        if !o.status.success()
            || err.contains("Failed to fetch")
            || err.contains("Could not resolve")
        {
            return Err(format!(
                "`apt-get update` for arm64 failed (no network or no Debian mirror?):\n{}",
                util::tail(&err, 10)
            ));
        }
    }
    Ok(())
}

/// The newest `linux-image-6.1.0-N-arm64-unsigned` in the private apt lists.
pub(super) fn kernel_package(cache: &Path) -> Result<String, String> {
    let search = output(apt(cache, "apt-cache").args([
        "search",
        "--names-only",
        r"^linux-image-6\.1\.0-[0-9]+-arm64-unsigned$",
    ]))?;
    pick_kernel_package(&search)
        .ok_or_else(|| "no linux-image-6.1.0-N-arm64-unsigned in the arm64 package lists".into())
}

/// The kernel release in a `linux-image-<release>-unsigned` package name.
pub(super) fn kernel_release(package: &str) -> &str {
    package
        .strip_prefix("linux-image-")
        .and_then(|s| s.strip_suffix("-unsigned"))
        .unwrap_or_default()
}

/// Removes the entries of `cache` named `prefix*` other than `keep` (builds for other package
/// versions or scripts: dead weight once a new one is complete).
pub(super) fn prune_older(cache: &Path, prefix: &str, keep: &Path) {
    let Ok(rd) = fs::read_dir(cache) else { return };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(prefix) && e.path() != keep {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

pub(super) fn prepare(cache: &Path, refresh: bool) -> Result<Base, String> {
    apt_ready(cache, refresh)?;
    // The three root packages and their versions: the cache key.
    let kpkg = kernel_package(cache)?;
    let roots = [
        kpkg.clone(),
        "busybox-static".into(),
        "qemu-system-arm".into(),
    ];
    let info = show(cache, &roots);
    for r in &roots {
        if !info.contains_key(r) {
            return Err(format!("package {r}:arm64 not found in the apt lists"));
        }
    }
    let mut keytext = format!("format {CACHE_FORMAT}\n");
    for r in &roots {
        keytext += &format!("{}={}\n", r, info[r].version);
    }
    let key = format!("{:016x}", util::fnv64(keytext.as_bytes()));
    let dir = cache.join(format!("base-{key}"));
    let base = Base {
        vmlinuz: dir.join("vmlinuz"),
        cpio: dir.join("base.cpio"),
        fresh: false,
    };
    if dir.join("complete").exists() && base.vmlinuz.is_file() && base.cpio.is_file() {
        println!(
            "kvm: cached base {} ({})",
            dir.display(),
            keytext.trim().replace('\n', ", ")
        );
        return Ok(base);
    }
    println!(
        "kvm: building base {} for:\n  {}",
        dir.display(),
        keytext.trim().replace('\n', "\n  ")
    );
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let debs = cache.join("debs");
    fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    let root = dir.join("root");
    fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;

    let mut got: BTreeMap<String, Pkg> = BTreeMap::new();
    fetch(
        cache,
        &debs,
        &root,
        roots.iter().map(|r| info[r].clone()).collect(),
        &mut got,
    )?;

    // Libraries: follow Depends (libs section only) level by level until every DT_NEEDED of
    // qemu and of the libraries found so far resolves inside `root`.
    let qemu_bin = "usr/bin/qemu-system-aarch64";
    let mut expanded: BTreeSet<String> = BTreeSet::new();
    let libs = loop {
        let (libs, missing) = library_closure(&root, qemu_bin)?;
        if missing.is_empty() {
            break libs;
        }
        let mut want: BTreeSet<String> = BTreeSet::new();
        for p in got.values() {
            if p.name == kpkg || !expanded.insert(p.name.clone()) {
                continue;
            }
            want.extend(p.depends.iter().filter(|d| !got.contains_key(*d)).cloned());
        }
        let found = show(cache, &want.into_iter().collect::<Vec<_>>());
        let next: Vec<Pkg> = found
            .into_values()
            .filter(|p| p.section == "libs" || p.section == "oldlibs" || p.name.starts_with("lib"))
            .collect();
        if next.is_empty() {
            return Err(format!(
                "no package found for the libraries {} needs: {}",
                qemu_bin,
                missing.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        println!(
            "kvm: {} libraries unresolved ({}...), fetching {} dependencies",
            missing.len(),
            missing
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            next.len()
        );
        fetch(cache, &debs, &root, next, &mut got)?;
    };

    // The outer kernel image.
    let kver = kernel_release(&kpkg);
    let vmlinuz_src = root.join("boot").join(format!("vmlinuz-{kver}"));
    fs::copy(&vmlinuz_src, &base.vmlinuz).map_err(|e| format!("{}: {e}", vmlinuz_src.display()))?;

    // The base initramfs.
    let loader = resolve_in_root(&root, "lib/ld-linux-aarch64.so.1")
        .ok_or("lib/ld-linux-aarch64.so.1 not found in libc6")?;
    let busybox = resolve_in_root(&root, "bin/busybox").ok_or("bin/busybox not found")?;
    let qemu = resolve_in_root(&root, qemu_bin).ok_or("qemu-system-aarch64 not found")?;
    let f = fs::File::create(&base.cpio).map_err(|e| format!("{}: {e}", base.cpio.display()))?;
    let mut w = Cpio::new(BufWriter::new(f));
    let io = |e: std::io::Error| format!("{}: {e}", base.cpio.display());
    w.busybox_root(
        &util::read(&busybox)?,
        &["lib/aarch64-linux-gnu", "usr", "usr/bin", "usr/sbin"],
    )
    .map_err(io)?;
    w.file(qemu_bin, 0o755, &util::read(&qemu)?).map_err(io)?;
    w.file("lib/ld-linux-aarch64.so.1", 0o755, &util::read(&loader)?)
        .map_err(io)?;
    for (soname, path) in &libs {
        w.file(
            &format!("lib/aarch64-linux-gnu/{soname}"),
            0o644,
            &util::read(path)?,
        )
        .map_err(io)?;
    }
    w.finish().map_err(io)?;

    let mut manifest = keytext.clone();
    manifest += "\npackages:\n";
    for p in got.values() {
        manifest += &format!("  {}={} ({})\n", p.name, p.version, p.arch);
    }
    manifest += &format!("\nlibraries of {qemu_bin} ({}):\n", libs.len());
    for s in libs.keys() {
        manifest += &format!("  {s}\n");
    }
    fs::write(dir.join("manifest.txt"), &manifest).map_err(|e| format!("manifest: {e}"))?;
    let _ = fs::remove_dir_all(&root);
    fs::write(dir.join("complete"), "").map_err(|e| format!("complete marker: {e}"))?;
    // Older bases (other package versions) are dead weight now.
    prune_older(cache, "base-", &dir);
    let size = fs::metadata(&base.cpio).map(|m| m.len()).unwrap_or(0);
    println!(
        "kvm: base ready: {} packages, {} libraries, base.cpio {:.1} MB, manifest {}",
        got.len(),
        libs.len(),
        size as f64 / 1e6,
        dir.join("manifest.txt").display()
    );
    Ok(Base {
        fresh: true,
        ..base
    })
}
