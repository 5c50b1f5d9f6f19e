//! `cargo xtask kvm`: boot the kernel under real KVM, nested inside an arm64 Linux VM.
//!
//! This x86_64 host has no aarch64 KVM, but nested virtualization works: Debian's arm64 Linux
//! boots under TCG with `virtualization=on` (so it runs at EL2) and brings up `/dev/kvm`; an
//! arm64 `qemu-system-aarch64 -accel kvm -cpu host` inside it then runs our bare-metal guest
//! with real stage-2 translation, trapped WFI/WFE, HVC as the PSCI conduit and trapping MMIO.
//!
//! What it does:
//! 1. **Prepare (cached).** A private apt state under `target/kvm-cache/apt` (its own lists,
//!    an empty dpkg status, `APT::Architecture=arm64`, the system's sources) lets `apt-get
//!    download` fetch arm64 packages without `dpkg --add-architecture` and without touching
//!    the system's apt lists or dpkg database. `apt-get update` runs once (or with
//!    `--refresh`). Downloads: the newest `linux-image-6.1.0-N-arm64-unsigned`,
//!    `busybox-static` and `qemu-system-arm`, then the library packages its `DT_NEEDED`
//!    entries require (found by following the packages' `Depends` through the `libs`
//!    section, level by level, until every needed soname resolves). They are unpacked with
//!    `dpkg-deb -x` and written into an uncompressed newc cpio (`base.cpio`: busybox, qemu,
//!    its libraries, `/dev/console`) next to the kernel image, in
//!    `target/kvm-cache/base-<key>/`, where the key hashes the three root packages' versions.
//! 2. **Per run.** A small second cpio holds `/init` (tests-qemu/kvm/init.sh) and
//!    `/guest.elf`; the Linux initramfs loader accepts concatenated archives, so the run's
//!    initrd is `base.cpio` followed by it and the big archive is never rebuilt. The inner
//!    `-smp`, `-append` and timeout travel on the outer kernel command line (`aiolos.*=`).
//! 3. **Boot.** The outer VM (`-M virt,virtualization=on,gic-version=3 -cpu max -smp 4 -m 1G`)
//!    runs /init, which refuses to continue without `/dev/kvm`, prints the outer kernel's
//!    `kvm [1]: ... initialized` line, runs the inner QEMU with `-accel kvm` (no TCG
//!    fallback exists in that command line), brackets its console output with
//!    `=== guest start ===` / `=== guest end rc=N ===` and powers off.
//! 4. **Verdict.** The inner guest's last `exit: ok` / `exit: fail: ...` line. Exit status 0
//!    iff it is `exit: ok` (with `--mutant-expect-fail`: iff the guest ran under KVM and
//!    failed, i.e. printed `exit: fail: ...` or hung until the inner timeout).
//!
//! std only, like the rest of the harness: apt-get, apt-cache and dpkg-deb do the package
//! work, and the two things that would otherwise need tools or crates -- reading `DT_NEEDED`
//! from an ELF and writing a newc cpio (with a `/dev/console` node, which needs no root
//! here) -- are a few dozen lines each below.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::util;

/// The outer VM's /init.
const INIT_SCRIPT: &str = include_str!("../kvm/init.sh");

/// Bump when the layout of the cached base changes (part of the cache key).
const CACHE_FORMAT: u32 = 1;

/// Exit status when the arm64 packages cannot be fetched or prepared (no network, no apt):
/// the caller may treat it as a skip. 77 is the automake "skipped" convention.
pub const EXIT_SETUP: u8 = 77;

pub const HELP: &str = "\
usage: cargo xtask kvm [OPTIONS]

Boots the kernel under real KVM: an arm64 Debian Linux VM (TCG, virtualization=on) runs the
arm64 qemu-system-aarch64 with -accel kvm -cpu host on the guest ELF.

options:
  --kernel ELF          guest to run (default: build the release kernel, use its ELF)
  --smp N               inner guest cores (default 4)
  --mem SIZE            inner guest memory (default 256M)
  --append STR          inner guest command line (e.g. `test`)
  --timeout SECS        overall timeout (default 300); the outer QEMU is killed after it
  --mutant-expect-fail  succeed iff the guest fails under KVM (exit: fail: ... or a hang)
  --refresh             run `apt-get update` again and re-resolve the package versions

exit status: 0 pass, 1 fail, 2 usage, 77 the arm64 packages could not be prepared.
cache: target/kvm-cache/ (packages, base initramfs keyed by package versions).";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Opts {
    kernel: Option<PathBuf>,
    smp: u32,
    mem: String,
    append: Option<String>,
    timeout: u64,
    mutant_expect_fail: bool,
    refresh: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            kernel: None,
            smp: 4,
            mem: "256M".into(),
            append: None,
            timeout: 300,
            mutant_expect_fail: false,
            refresh: false,
        }
    }
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.iter().filter(|a| *a != "--");
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().cloned().ok_or(format!("{name} needs a value")),
            }
        };
        match flag {
            "--kernel" => o.kernel = Some(PathBuf::from(value(flag)?)),
            "--smp" => {
                let v = value(flag)?;
                o.smp = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=8).contains(n))
                    .ok_or(format!("--smp: `{v}` is not 1..=8"))?;
            }
            "--mem" => o.mem = value(flag)?,
            "--append" => o.append = Some(value(flag)?),
            "--timeout" => {
                let v = value(flag)?;
                o.timeout = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 10)
                    .ok_or(format!("--timeout: `{v}` is not a number of seconds >= 10"))?;
            }
            "--mutant-expect-fail" => o.mutant_expect_fail = true,
            "--refresh" => o.refresh = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(o)
}

/// `cargo xtask kvm ...`.
pub fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kvm: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let t0 = Instant::now();
    let kernel = match &opts.kernel {
        Some(k) => k.clone(),
        None => match build_kernel() {
            Ok(k) => k,
            Err(e) => {
                eprintln!("kvm: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    if !kernel.is_file() {
        eprintln!("kvm: guest {} does not exist", kernel.display());
        return ExitCode::FAILURE;
    }
    if util::which("qemu-system-aarch64").is_none() {
        eprintln!("kvm: qemu-system-aarch64 (host) not found: run `cargo xtask setup` first");
        return ExitCode::FAILURE;
    }
    let cache = util::workspace_root().join("target").join("kvm-cache");
    let base = match prepare(&cache, opts.refresh) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("kvm: setup failed: cannot prepare the arm64 packages: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let prep = t0.elapsed();
    println!(
        "kvm: prepared in {:.1} s ({})",
        prep.as_secs_f64(),
        if base.fresh { "built now" } else { "cached" }
    );
    match boot(&opts, &kernel, &base, &cache) {
        Ok(r) => report(&opts, &r, prep, t0.elapsed()),
        Err(e) => {
            eprintln!("kvm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build_kernel() -> Result<PathBuf, String> {
    let mut build = Command::new("cargo");
    build
        .args(["build", "--release", "-p", util::KERNEL_PACKAGE])
        .current_dir(util::workspace_root());
    println!("kvm: {}", util::display_command(&build));
    let st = build
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !st.success() {
        return Err("kernel build failed".into());
    }
    Ok(util::kernel_elf())
}

// ---------------------------------------------------------------------------------------------
// Preparation: packages, libraries, the base cpio.

/// The cached outer kernel and base initramfs.
struct Base {
    vmlinuz: PathBuf,
    cpio: PathBuf,
    /// Built during this run (as opposed to found in the cache).
    fresh: bool,
}

/// One package as `apt-cache show` describes it.
#[derive(Clone, Debug, Default)]
struct Pkg {
    name: String,
    version: String,
    arch: String,
    section: String,
    depends: Vec<String>,
}

impl Pkg {
    /// The file name `apt-get download` gives it.
    fn deb_name(&self) -> String {
        format!(
            "{}_{}_{}.deb",
            self.name,
            self.version.replace(':', "%3a"),
            self.arch
        )
    }
}

/// A command of the apt family working on the private arm64 state under `cache/apt`.
fn apt(cache: &Path, prog: &str) -> Command {
    let a = cache.join("apt");
    let mut c = Command::new(prog);
    c.arg("-q");
    for (k, v) in [
        ("APT::Architecture", "arm64".to_string()),
        ("APT::Architectures", "arm64".to_string()),
        ("Dir::State", a.join("state").display().to_string()),
        ("Dir::State::Lists", a.join("lists").display().to_string()),
        ("Dir::State::status", a.join("status").display().to_string()),
        ("Dir::Cache", a.join("cache").display().to_string()),
        (
            "Dir::Cache::archives",
            a.join("archives").display().to_string(),
        ),
        ("Debug::NoLocking", "1".to_string()),
        ("APT::Sandbox::User", "root".to_string()),
    ] {
        c.arg("-o").arg(format!("{k}={v}"));
    }
    c
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;
    if !o.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            util::display_command(cmd),
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// `apt-cache show` for `names` (missing or virtual names are left out).
fn show(cache: &Path, names: &[String]) -> BTreeMap<String, Pkg> {
    let mut out = BTreeMap::new();
    if names.is_empty() {
        return out;
    }
    let o = apt(cache, "apt-cache")
        .arg("show")
        .arg("--no-all-versions")
        .args(names)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Ok(o) = o else { return out };
    for stanza in String::from_utf8_lossy(&o.stdout).split("\n\n") {
        let mut p = Pkg::default();
        for line in stanza.lines() {
            let Some((k, v)) = line.split_once(": ") else {
                continue;
            };
            match k {
                "Package" => p.name = v.trim().into(),
                "Version" => p.version = v.trim().into(),
                "Architecture" => p.arch = v.trim().into(),
                "Section" => p.section = v.trim().into(),
                "Depends" | "Pre-Depends" => p.depends.extend(parse_depends(v)),
                _ => {}
            }
        }
        if !p.name.is_empty() && !p.version.is_empty() {
            out.entry(p.name.clone()).or_insert(p);
        }
    }
    out
}

/// Package names from a `Depends` field: the first alternative of each group, without
/// version constraints or `:any` qualifiers.
fn parse_depends(field: &str) -> Vec<String> {
    field
        .split(',')
        .filter_map(|group| {
            let first = group.split('|').next()?.trim();
            let name = first.split([' ', '(']).next()?.trim();
            let name = name.split(':').next()?;
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// The newest `linux-image-6.1.0-N-arm64-unsigned` (plain flavour, not cloud/rt).
fn pick_kernel_package(search_output: &str) -> Option<String> {
    search_output
        .lines()
        .filter_map(|l| l.split(" - ").next())
        .map(str::trim)
        .filter_map(|name| {
            let abi = name
                .strip_prefix("linux-image-6.1.0-")?
                .strip_suffix("-arm64-unsigned")?;
            abi.parse::<u32>().ok().map(|n| (n, name.to_string()))
        })
        .max()
        .map(|(_, n)| n)
}

/// FNV-1a, stable across Rust releases (unlike `DefaultHasher`), for cache keys.
fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn prepare(cache: &Path, refresh: bool) -> Result<Base, String> {
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

    // The three root packages and their versions: the cache key.
    let search = output(apt(cache, "apt-cache").args([
        "search",
        "--names-only",
        r"^linux-image-6\.1\.0-[0-9]+-arm64-unsigned$",
    ]))?;
    let kpkg = pick_kernel_package(&search)
        .ok_or("no linux-image-6.1.0-N-arm64-unsigned in the arm64 package lists")?;
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
    let key = format!("{:016x}", fnv64(keytext.as_bytes()));
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
    let kver = kpkg
        .strip_prefix("linux-image-")
        .and_then(|s| s.strip_suffix("-unsigned"))
        .unwrap_or_default();
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
    for d in [
        "bin",
        "sbin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "lib",
        "lib/aarch64-linux-gnu",
        "usr",
        "usr/bin",
        "usr/sbin",
    ] {
        w.dir(d).map_err(io)?;
    }
    w.chardev("dev/console", 0o600, 5, 1).map_err(io)?;
    w.chardev("dev/null", 0o666, 1, 3).map_err(io)?;
    w.file("bin/busybox", 0o755, &read(&busybox)?).map_err(io)?;
    w.symlink("bin/sh", "busybox").map_err(io)?;
    w.file(qemu_bin, 0o755, &read(&qemu)?).map_err(io)?;
    w.file("lib/ld-linux-aarch64.so.1", 0o755, &read(&loader)?)
        .map_err(io)?;
    for (soname, path) in &libs {
        w.file(
            &format!("lib/aarch64-linux-gnu/{soname}"),
            0o644,
            &read(path)?,
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
    if let Ok(rd) = fs::read_dir(cache) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("base-") && e.path() != dir {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
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

fn read(p: &Path) -> Result<Vec<u8>, String> {
    fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// Downloads (unless already in `debs`) and unpacks `pkgs` into `root`.
fn fetch(
    cache: &Path,
    debs: &Path,
    root: &Path,
    pkgs: Vec<Pkg>,
    got: &mut BTreeMap<String, Pkg>,
) -> Result<(), String> {
    let missing: Vec<&Pkg> = pkgs
        .iter()
        .filter(|p| !debs.join(p.deb_name()).is_file())
        .collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|p| format!("{}={}", p.name, p.version))
            .collect();
        println!("kvm: downloading (arm64): {}", names.join(" "));
        let mut dl = apt(cache, "apt-get");
        dl.arg("download").args(&names).current_dir(debs);
        let o = dl
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run apt-get: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "`apt-get download` failed (no network?):\n{}",
                util::tail(&String::from_utf8_lossy(&o.stderr), 10)
            ));
        }
    }
    for p in pkgs {
        let deb = debs.join(p.deb_name());
        if !deb.is_file() {
            return Err(format!("{} missing after apt-get download", deb.display()));
        }
        output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(root))?;
        got.insert(p.name.clone(), p);
    }
    Ok(())
}

const LIB_DIRS: &[&str] = &[
    "lib/aarch64-linux-gnu",
    "usr/lib/aarch64-linux-gnu",
    "lib",
    "usr/lib",
];

/// The shared libraries `bin` needs, transitively: soname -> file (inside `root`), plus the
/// sonames not found.
#[allow(clippy::type_complexity)]
fn library_closure(
    root: &Path,
    bin: &str,
) -> Result<(BTreeMap<String, PathBuf>, BTreeSet<String>), String> {
    let start = resolve_in_root(root, bin).ok_or(format!("{bin} not found"))?;
    let mut found = BTreeMap::new();
    let mut missing = BTreeSet::new();
    let mut todo = VecDeque::from([start]);
    let mut seen = BTreeSet::new();
    while let Some(f) = todo.pop_front() {
        let data = read(&f)?;
        let needed = elf_needed(&data).map_err(|e| format!("{}: {e}", f.display()))?;
        for soname in needed {
            if !seen.insert(soname.clone()) {
                continue;
            }
            let hit = LIB_DIRS
                .iter()
                .find_map(|d| resolve_in_root(root, &format!("{d}/{soname}")));
            match hit {
                Some(p) => {
                    // The loader is packed separately; libc needs it as a soname too.
                    found.insert(soname, p.clone());
                    todo.push_back(p);
                }
                None => {
                    missing.insert(soname);
                }
            }
        }
    }
    Ok((found, missing))
}

/// Resolves `rel` inside `root`, following symlinks (absolute ones relative to `root`, never
/// into the host). `None` unless it ends at a regular file.
fn resolve_in_root(root: &Path, rel: &str) -> Option<PathBuf> {
    fn parts(s: &str) -> Vec<String> {
        s.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(String::from)
            .collect()
    }
    let mut todo: VecDeque<String> = parts(rel).into();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            cur.pop();
            continue;
        }
        cur.push(c);
        let p = cur.iter().fold(root.to_path_buf(), |p, c| p.join(c));
        let md = fs::symlink_metadata(&p).ok()?;
        if md.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = fs::read_link(&p).ok()?;
            let target = target.to_str()?;
            cur.pop();
            if target.starts_with('/') {
                cur.clear();
            }
            for t in parts(target).into_iter().rev() {
                todo.push_front(t);
            }
        }
    }
    let p = cur.iter().fold(root.to_path_buf(), |p, c| p.join(c));
    p.is_file().then_some(p)
}

/// `DT_NEEDED` entries of a little-endian ELF64 file (empty for a static executable).
fn elf_needed(d: &[u8]) -> Result<Vec<String>, String> {
    fn u16_at(d: &[u8], o: usize) -> Result<u16, String> {
        d.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated".to_string())
    }
    fn u32_at(d: &[u8], o: usize) -> Result<u32, String> {
        d.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .ok_or_else(|| "truncated".to_string())
    }
    fn u64_at(d: &[u8], o: usize) -> Result<usize, String> {
        d.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
            .ok_or_else(|| "truncated".to_string())
    }
    if d.len() < 64 || &d[..4] != b"\x7fELF" || d[4] != 2 || d[5] != 1 {
        return Err("not a little-endian ELF64 file".into());
    }
    let shoff = u64_at(d, 0x28)?;
    let shentsize = u16_at(d, 0x3a)? as usize;
    let shnum = u16_at(d, 0x3c)? as usize;
    if shentsize < 64 {
        return Err("bad section header size".into());
    }
    let sh = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let mut out = Vec::new();
    for i in 0..shnum {
        let s = sh(i).ok_or("bad section table")?;
        if u32_at(d, s + 4)? != 6 {
            continue; // not SHT_DYNAMIC
        }
        let (off, size, link) = (
            u64_at(d, s + 0x18)?,
            u64_at(d, s + 0x20)?,
            u32_at(d, s + 0x28)?,
        );
        let st = sh(link as usize).ok_or("bad sh_link")?;
        let (str_off, str_size) = (u64_at(d, st + 0x18)?, u64_at(d, st + 0x20)?);
        let strtab = d
            .get(str_off..str_off.checked_add(str_size).ok_or("bad strtab")?)
            .ok_or("strtab out of bounds")?;
        for e in 0..size / 16 {
            let tag = u64_at(d, off + e * 16)?;
            if tag == 0 {
                break; // DT_NULL
            }
            if tag == 1 {
                let v = u64_at(d, off + e * 16 + 8)?;
                let rest = strtab.get(v..).ok_or("DT_NEEDED out of strtab")?;
                let end = rest
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or("unterminated name")?;
                out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            }
        }
    }
    Ok(out)
}

/// A newc ("070701") cpio writer: what the Linux initramfs loader reads.
struct Cpio<W: Write> {
    w: W,
    off: u64,
    ino: u32,
}

impl<W: Write> Cpio<W> {
    fn new(w: W) -> Self {
        Cpio { w, off: 0, ino: 1 }
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let n = (4 - (self.off % 4) as usize) % 4;
        self.w.write_all(&[0u8; 3][..n])?;
        self.off += n as u64;
        Ok(())
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        data: &[u8],
        rdev: (u32, u32),
    ) -> std::io::Result<()> {
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let ino = self.ino;
        self.ino += 1;
        let hdr = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.w.write_all(hdr.as_bytes())?;
        self.w.write_all(name.as_bytes())?;
        self.w.write_all(&[0])?;
        self.off += (hdr.len() + name.len() + 1) as u64;
        self.pad()?;
        self.w.write_all(data)?;
        self.off += data.len() as u64;
        self.pad()
    }

    fn dir(&mut self, name: &str) -> std::io::Result<()> {
        self.entry(name, 0o040755, &[], (0, 0))
    }

    fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> std::io::Result<()> {
        self.entry(name, 0o100000 | perm, data, (0, 0))
    }

    fn symlink(&mut self, name: &str, target: &str) -> std::io::Result<()> {
        self.entry(name, 0o120777, target.as_bytes(), (0, 0))
    }

    fn chardev(&mut self, name: &str, perm: u32, major: u32, minor: u32) -> std::io::Result<()> {
        self.entry(name, 0o020000 | perm, &[], (major, minor))
    }

    fn finish(mut self) -> std::io::Result<W> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, &[], (0, 0))?;
        self.w.flush()?;
        Ok(self.w)
    }
}

// ---------------------------------------------------------------------------------------------
// The run: per-run initrd, outer QEMU, log parsing.

/// Percent-encodes everything but a conservative set, so the inner command line survives the
/// outer kernel command line as one word (/init decodes it with `printf %b`).
fn encode_append(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_.,:/+-".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02x}");
        }
    }
    out
}

/// What the outer console showed, with host timestamps.
struct RunResult {
    lines: Vec<String>,
    outer_boot: Option<Duration>,
    inner_run: Option<Duration>,
    total: Duration,
    timed_out: bool,
    qemu_code: Option<i32>,
    stderr: String,
}

fn boot(opts: &Opts, kernel: &Path, base: &Base, cache: &Path) -> Result<RunResult, String> {
    let rundir = cache.join(format!("run-{}", std::process::id()));
    fs::create_dir_all(&rundir).map_err(|e| format!("{}: {e}", rundir.display()))?;
    let initrd = rundir.join("initrd.cpio");
    let r = (|| {
        // base.cpio followed by the per-run archive (/init, /guest.elf).
        fs::copy(&base.cpio, &initrd).map_err(|e| format!("{}: {e}", initrd.display()))?;
        let f = fs::OpenOptions::new()
            .append(true)
            .open(&initrd)
            .map_err(|e| format!("{}: {e}", initrd.display()))?;
        let mut w = Cpio::new(BufWriter::new(f));
        let io = |e: std::io::Error| format!("{}: {e}", initrd.display());
        w.file("init", 0o755, INIT_SCRIPT.as_bytes()).map_err(io)?;
        w.file("guest.elf", 0o755, &read(kernel)?).map_err(io)?;
        w.finish().map_err(io)?;
        let inner_timeout = opts.timeout.saturating_sub(60).max(opts.timeout / 2);
        let mut bootargs = format!(
            "console=ttyAMA0 quiet panic=-1 rdinit=/init aiolos.smp={} aiolos.mem={} aiolos.timeout={}",
            opts.smp, opts.mem, inner_timeout
        );
        if let Some(a) = &opts.append {
            bootargs += &format!(" aiolos.append={}", encode_append(a));
        }
        let mut cmd = Command::new("qemu-system-aarch64");
        cmd.args(["-M", "virt,virtualization=on,gic-version=3"])
            .args(["-cpu", "max,pauth-impdef=on", "-smp", "4", "-m", "1G"])
            .args(["-nographic", "-no-reboot", "-nic", "none"])
            .arg("-kernel")
            .arg(&base.vmlinuz)
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", &bootargs]);
        println!("kvm: guest {}", kernel.display());
        println!("kvm: {}", util::display_command(&cmd));
        run_outer(&mut cmd, Duration::from_secs(opts.timeout))
    })();
    let _ = fs::remove_dir_all(&rundir);
    r
}

fn run_outer(cmd: &mut Command, timeout: Duration) -> Result<RunResult, String> {
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run qemu-system-aarch64: {e}"))?;
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\n', '\r'])
                        .replace('\r', "");
                    if tx.send((Instant::now(), line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut lines = Vec::new();
    let (mut g_start, mut g_end) = (None, None);
    let mut timed_out = false;
    let mut out = std::io::stdout();
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            timed_out = true;
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(500))) {
            Ok((t, line)) => {
                if line.trim() == "=== guest start ===" {
                    g_start = Some(t);
                } else if line.trim().starts_with("=== guest end rc=") {
                    g_end = Some(t);
                }
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().ok();
    let _ = reader.join();
    // Lines that arrived between the last recv and the end.
    while let Ok((_, line)) = rx.try_recv() {
        println!("{line}");
        lines.push(line);
    }
    let stderr = err_reader.join().unwrap_or_default();
    Ok(RunResult {
        lines,
        outer_boot: g_start.map(|t| t - start),
        inner_run: match (g_start, g_end) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
        total: start.elapsed(),
        timed_out,
        qemu_code: if timed_out {
            None
        } else {
            status.map(|s| util::status_code(&s))
        },
        stderr,
    })
}

/// The parsed outcome of one run.
#[derive(Debug, PartialEq, Eq)]
struct Outcome<'a> {
    /// `/dev/kvm` was present and the inner QEMU ran with `-accel kvm`.
    kvm: bool,
    /// The outer kernel's KVM init line, if /init found it.
    kvm_evidence: Option<&'a str>,
    started: bool,
    /// `rc` of the inner QEMU (137: killed by the inner timeout).
    inner_rc: Option<i32>,
    /// The inner guest's console.
    inner: Vec<&'a str>,
    /// The last `exit: ok` / `exit: fail: ...` line of the inner guest.
    verdict: Option<&'a str>,
}

fn parse_log(lines: &[String]) -> Outcome<'_> {
    let start = lines.iter().position(|l| l.trim() == "=== guest start ===");
    let end = lines
        .iter()
        .position(|l| l.trim().starts_with("=== guest end rc="));
    let inner: Vec<&str> = match start {
        Some(s) => lines[s + 1..end.unwrap_or(lines.len()).max(s + 1)]
            .iter()
            .map(String::as_str)
            .collect(),
        None => Vec::new(),
    };
    let verdict = inner
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| *l == "exit: ok" || l.starts_with("exit: fail"));
    let inner_rc = end.and_then(|e| {
        lines[e]
            .trim()
            .strip_prefix("=== guest end rc=")?
            .trim_end_matches(" ===")
            .parse()
            .ok()
    });
    let kvm = lines
        .iter()
        .any(|l| l.starts_with("aiolos-kvm: accel: kvm"))
        && lines
            .iter()
            .any(|l| l.starts_with("aiolos-kvm: inner: ") && l.contains("-accel kvm"));
    let kvm_evidence = lines
        .iter()
        .find_map(|l| l.strip_prefix("aiolos-kvm: dmesg: "))
        .map(str::trim);
    Outcome {
        kvm,
        kvm_evidence,
        started: start.is_some(),
        inner_rc,
        inner,
        verdict,
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1} s", d.as_secs_f64()))
        .unwrap_or_else(|| "-".into())
}

fn report(opts: &Opts, r: &RunResult, prep: Duration, total: Duration) -> ExitCode {
    let o = parse_log(&r.lines);
    println!("----------------------------------------------------------------------");
    if !r.stderr.trim().is_empty() {
        println!("kvm: outer qemu stderr:\n{}", r.stderr.trim_end());
    }
    println!(
        "kvm: accel: {}{}",
        if o.kvm { "kvm" } else { "NOT VERIFIED" },
        o.kvm_evidence
            .map(|e| format!(" (outer dmesg: {e})"))
            .unwrap_or_default()
    );
    println!(
        "kvm: timings: prepare {:.1} s, outer boot {}, inner run {}, outer qemu total {:.1} s, overall {:.1} s",
        prep.as_secs_f64(),
        secs(r.outer_boot),
        secs(r.inner_run),
        r.total.as_secs_f64(),
        total.as_secs_f64()
    );
    let fail = |why: String| {
        println!("kvm: FAIL: {why}");
        // The console was streamed live; repeat its end only when the run did not finish.
        if r.timed_out || !o.started {
            println!(
                "kvm: last 60 lines of the console:\n{}",
                util::tail(&r.lines.join("\n"), 60)
            );
        }
        ExitCode::FAILURE
    };
    if r.timed_out {
        return fail(format!(
            "timeout after {} s: outer QEMU killed",
            opts.timeout
        ));
    }
    if !o.started {
        return fail(format!(
            "the inner guest never started (outer qemu exit {:?}){}",
            r.qemu_code,
            if o.kvm {
                ""
            } else {
                "; KVM not available in the outer VM"
            }
        ));
    }
    if !o.kvm {
        return fail("KVM use not verified (no `accel: kvm` / `-accel kvm` lines)".into());
    }
    println!(
        "kvm: inner qemu rc={} verdict: {}",
        o.inner_rc.map(|c| c.to_string()).unwrap_or("-".into()),
        o.verdict.unwrap_or("(none)")
    );
    let hung = o.inner_rc == Some(137);
    if opts.mutant_expect_fail {
        return match o.verdict {
            Some(v) if v.starts_with("exit: fail") => {
                println!("kvm: PASS (mutant detected: {v})");
                ExitCode::SUCCESS
            }
            None if hung => {
                println!("kvm: PASS (mutant detected: the guest hung until the inner timeout)");
                ExitCode::SUCCESS
            }
            Some(v) => fail(format!("mutant survived: the guest ended with `{v}`")),
            None => fail(format!("no verdict line (inner qemu rc={:?})", o.inner_rc)),
        };
    }
    match o.verdict {
        Some("exit: ok") => {
            println!("kvm: PASS");
            ExitCode::SUCCESS
        }
        Some(v) => fail(format!("the guest ended with `{v}`")),
        None if hung => fail("the guest hung: killed by the inner timeout, no verdict".into()),
        None => fail(format!("no verdict line (inner qemu rc={:?})", o.inner_rc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse(&s(&[
            "--smp",
            "2",
            "--append=test",
            "--timeout",
            "60",
            "--mutant-expect-fail",
        ]))
        .unwrap();
        assert_eq!(
            (o.smp, o.append.as_deref(), o.timeout, o.mutant_expect_fail),
            (2, Some("test"), 60, true)
        );
        assert!(parse(&s(&["--smp", "0"])).is_err());
        assert!(parse(&s(&["--bogus"])).is_err());
        assert!(parse(&s(&["--kernel"])).is_err());
        assert_eq!(parse(&s(&[])).unwrap(), Opts::default());
    }

    #[test]
    fn depends_and_kernel_pick() {
        assert_eq!(
            parse_depends("libc6 (>= 2.34), libfoo1 | libbar1, zlib1g:any (>= 1:1.2)"),
            s(&["libc6", "libfoo1", "zlib1g"])
        );
        let search = "linux-image-6.1.0-9-arm64-unsigned - x\n\
                      linux-image-6.1.0-47-arm64-unsigned - x\n\
                      linux-image-6.1.0-50-cloud-arm64-unsigned - x\n\
                      linux-image-6.1.0-12-rt-arm64-unsigned - x\n";
        assert_eq!(
            pick_kernel_package(search).as_deref(),
            Some("linux-image-6.1.0-47-arm64-unsigned")
        );
    }

    #[test]
    fn append_encoding() {
        assert_eq!(encode_append("test"), "test");
        assert_eq!(encode_append("a b=\"c\""), "a%20b%3d%22c%22");
    }

    #[test]
    fn log_parsing() {
        let log = s(&[
            "aiolos-kvm: dmesg: [    0.5] kvm [1]: VHE mode initialized successfully",
            "aiolos-kvm: accel: kvm (crw------- 1 root root 10, 232 /dev/kvm)",
            "aiolos-kvm: inner: qemu-system-aarch64 -M virt,gic-version=3 -accel kvm -cpu host",
            "=== guest start ===",
            "aiolos banner",
            "exit: ok",
            "",
            "=== guest end rc=0 ===",
        ]);
        let o = parse_log(&log);
        assert!(o.kvm && o.started);
        assert_eq!(o.verdict, Some("exit: ok"));
        assert_eq!(o.inner_rc, Some(0));
        assert_eq!(o.inner, vec!["aiolos banner", "exit: ok", ""]);
        assert!(o.kvm_evidence.unwrap().contains("VHE"));

        let hung = s(&[
            "=== guest start ===",
            "exit: fail: x",
            "tick",
            "=== guest end rc=137 ===",
        ]);
        let o = parse_log(&hung);
        assert!(!o.kvm);
        assert_eq!(o.verdict, Some("exit: fail: x"));
        assert_eq!(o.inner_rc, Some(137));
        assert_eq!(parse_log(&s(&["boot"])).verdict, None);
    }

    #[test]
    fn cpio_layout() {
        let mut w = Cpio::new(Vec::new());
        w.file("init", 0o755, b"abcde").unwrap();
        let v = w.finish().unwrap();
        assert_eq!(v.len() % 4, 0);
        assert!(v.starts_with(b"070701"));
        // 110-byte header + "init\0" padded to 116, data 5 padded to 8.
        assert_eq!(&v[110..115], b"init\0");
        assert_eq!(&v[116..121], b"abcde");
        assert_eq!(&v[124..130], b"070701");
    }

    #[test]
    fn elf_needed_of_a_host_binary() {
        // Any dynamically linked host executable will do; the test binary itself usually is.
        let me = std::env::current_exe().unwrap();
        let needed = elf_needed(&fs::read(me).unwrap()).unwrap();
        assert!(
            needed.iter().any(|n| n.starts_with("libc.so")),
            "{needed:?}"
        );
        assert!(elf_needed(b"not an elf").is_err());
    }

    #[test]
    fn symlinks_stay_in_root() {
        let root = std::env::temp_dir().join(format!("kvm-resolve-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("lib/aarch64-linux-gnu")).unwrap();
        fs::write(root.join("lib/aarch64-linux-gnu/libx.so.1.2"), b"x").unwrap();
        std::os::unix::fs::symlink("libx.so.1.2", root.join("lib/aarch64-linux-gnu/libx.so.1"))
            .unwrap();
        std::os::unix::fs::symlink("/lib/aarch64-linux-gnu/libx.so.1", root.join("lib/abs.so"))
            .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("lib/host")).unwrap();
        let want = Some(root.join("lib/aarch64-linux-gnu/libx.so.1.2"));
        assert_eq!(
            resolve_in_root(&root, "lib/aarch64-linux-gnu/libx.so.1"),
            want
        );
        assert_eq!(resolve_in_root(&root, "lib/abs.so"), want);
        assert_eq!(resolve_in_root(&root, "lib/host"), None);
        let _ = fs::remove_dir_all(&root);
    }
}
