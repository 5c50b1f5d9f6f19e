//! Package resolution for the nested-KVM kit: a private arm64 apt state under
//! `target/kvm-cache/apt` (its own lists, an empty dpkg status, `APT::Architecture=arm64`,
//! the system's sources), so `apt-get download` fetches arm64 packages without
//! `dpkg --add-architecture` and without touching the system's apt lists or dpkg database;
//! and the shared libraries a binary needs, found by its `DT_NEEDED` entries.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util;

/// One package as `apt-cache show` describes it.
#[derive(Clone, Debug, Default)]
pub(super) struct Pkg {
    pub(super) name: String,
    pub(super) version: String,
    pub(super) arch: String,
    pub(super) section: String,
    pub(super) depends: Vec<String>,
}

impl Pkg {
    /// The file name `apt-get download` gives it.
    pub(super) fn deb_name(&self) -> String {
        format!(
            "{}_{}_{}.deb",
            self.name,
            self.version.replace(':', "%3a"),
            self.arch
        )
    }
}

/// A command of the apt family working on the private arm64 state under `cache/apt`.
pub(super) fn apt(cache: &Path, prog: &str) -> Command {
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

pub(super) fn output(cmd: &mut Command) -> Result<String, String> {
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
pub(super) fn show(cache: &Path, names: &[String]) -> BTreeMap<String, Pkg> {
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
pub(super) fn parse_depends(field: &str) -> Vec<String> {
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
pub(super) fn pick_kernel_package(search_output: &str) -> Option<String> {
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

/// Downloads (unless already in `debs`) and unpacks `pkgs` into `root`.
pub(super) fn fetch(
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
pub(super) fn library_closure(
    root: &Path,
    bin: &str,
) -> Result<(BTreeMap<String, PathBuf>, BTreeSet<String>), String> {
    let start = resolve_in_root(root, bin).ok_or(format!("{bin} not found"))?;
    let mut found = BTreeMap::new();
    let mut missing = BTreeSet::new();
    let mut todo = VecDeque::from([start]);
    let mut seen = BTreeSet::new();
    while let Some(f) = todo.pop_front() {
        let data = util::read(&f)?;
        let needed = crate::elf::dt_needed(&data).map_err(|e| format!("{}: {e}", f.display()))?;
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
pub(super) fn resolve_in_root(root: &Path, rel: &str) -> Option<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
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
