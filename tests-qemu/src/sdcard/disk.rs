//! The disk image made with Debian's tools (sfdisk, mkfs.vfat, mtools' mcopy) in the layout
//! of [`super::layout`], and read back: the MBR and FAT32 boot sector checked there, the
//! files through mtools, compared with what went in.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::layout::*;
use crate::setup::{MCOPY, MKFS_VFAT, SFDISK};
use crate::util;

/// mtools' image argument: the partition inside the image file.
fn mtools_image(img: &Path) -> String {
    format!("{}@@{}", img.display(), part_offset())
}

/// An mtools command (`mcopy`, `mdir`, ...) without its geometry check (an image file has
/// no drive geometry worth checking).
fn mtools(prog: &str) -> Command {
    let mut c = Command::new(prog);
    c.env("MTOOLS_SKIP_CHECK", "1");
    c
}

/// Runs `cmd` (stdin from `input`), `Err` with its output unless it succeeds.
fn run(cmd: &mut Command, input: Option<&str>) -> Result<Vec<u8>, String> {
    let shown = util::display_command(cmd);
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("`{shown}`: writing its input: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{shown}`: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "`{shown}` failed (status {}): {}",
            util::status_code(&out.status),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Makes the disk image at `img` (a new file) holding `files` (path on the card, bytes; a
/// path may name directories, `extlinux/extlinux.conf`).
pub fn make(img: &Path, files: &[(String, Vec<u8>)], staging: &Path) -> Result<(), String> {
    let f = std::fs::File::create(img).map_err(|e| format!("{}: {e}", img.display()))?;
    f.set_len(image_len())
        .map_err(|e| format!("{}: {e}", img.display()))?;
    drop(f);
    run(
        Command::new(SFDISK.bin)
            .args(["--no-reread", "--no-tell-kernel", "--quiet"])
            .arg(img),
        Some(&sfdisk_script()),
    )?;
    run(
        Command::new(MKFS_VFAT.bin)
            .args(["-F", "32", "-n", LABEL])
            .arg("-h")
            .arg(PART_START.to_string())
            .arg(format!("--offset={PART_START}"))
            .arg(img)
            .arg((PART_SECTORS * SECTOR / 1024).to_string()),
        None,
    )?;
    std::fs::create_dir_all(staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let mut dirs: Vec<&str> = Vec::new();
    for (name, bytes) in files {
        // A name with `/` goes into a directory (`extlinux/extlinux.conf`): made first.
        let mut at = 0;
        while let Some(i) = name[at..].find('/') {
            let dir = &name[..at + i];
            if !dirs.contains(&dir) {
                run(
                    mtools("mmd")
                        .args(["-i", &mtools_image(img)])
                        .arg(format!("::/{dir}")),
                    None,
                )?;
                dirs.push(dir);
            }
            at += i + 1;
        }
        let src = staging.join(name.replace('/', "_"));
        std::fs::write(&src, bytes).map_err(|e| format!("{}: {e}", src.display()))?;
        run(
            mtools(MCOPY.bin)
                .args(["-i", &mtools_image(img)])
                .arg(&src)
                .arg(format!("::/{name}")),
            None,
        )?;
    }
    Ok(())
}

/// The paths of the files in the partition (long names, `dir/name` in directories;
/// directories themselves are not listed).
pub fn list(img: &Path) -> Result<Vec<String>, String> {
    let out = run(
        mtools("mdir").args(["-/", "-b", "-i", &mtools_image(img), "::/"]),
        None,
    )?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("::/"))
        .filter(|n| !n.is_empty() && !n.ends_with('/'))
        .map(String::from)
        .collect())
}

/// The bytes of the file `name` in the partition.
pub fn read(img: &Path, name: &str) -> Result<Vec<u8>, String> {
    run(
        mtools(MCOPY.bin)
            .args(["-n", "-i", &mtools_image(img)])
            .arg(format!("::/{name}"))
            .arg("-"),
        None,
    )
}

/// Reads the image back: the MBR, the FAT32 boot sector, and each of `files` present with
/// exactly its bytes, and no other file. `Ok` describes what was found.
pub fn verify(img: &Path, files: &[(String, Vec<u8>)]) -> Result<String, String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(img).map_err(|e| format!("{}: {e}", img.display()))?;
    let len = f
        .metadata()
        .map_err(|e| format!("{}: {e}", img.display()))?
        .len();
    let mut sector0 = [0u8; 512];
    f.read_exact(&mut sector0)
        .map_err(|e| format!("{}: reading the MBR: {e}", img.display()))?;
    let part = check_mbr(&sector0, len)?;
    let mut boot = [0u8; 512];
    f.seek(SeekFrom::Start(part.start * SECTOR))
        .and_then(|_| f.read_exact(&mut boot))
        .map_err(|e| format!("{}: reading the boot sector: {e}", img.display()))?;
    let fat = check_fat32(&boot, &part)?;
    if part.start != PART_START {
        // mtools reads at PART_START; a table pointing elsewhere is a different image.
        return Err(format!(
            "partition starts at sector {}, expected {PART_START}",
            part.start
        ));
    }
    let mut names = list(img)?;
    names.sort_by_key(|n| n.to_lowercase());
    let mut problems = Vec::new();
    for (name, bytes) in files {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            problems.push(format!("{name} missing"));
            continue;
        }
        let got = read(img, name)?;
        if got != *bytes {
            let at = got.iter().zip(bytes).position(|(a, b)| a != b);
            problems.push(match at {
                Some(i) => format!("{name} differs from what went in at byte {i}"),
                None => format!("{name} is {} bytes, {} went in", got.len(), bytes.len()),
            });
        }
    }
    for n in &names {
        if !files.iter().any(|(f, _)| f.eq_ignore_ascii_case(n)) {
            problems.push(format!("unexpected file {n}"));
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(format!(
        "MBR: 1 partition, type {TYPE_FAT32_LBA:#04x}, bootable, sectors [{}, +{}); FAT32, {} clusters of {} bytes; {} files match: {}",
        part.start,
        part.sectors,
        fat.clusters,
        fat.cluster_bytes,
        names.len(),
        names.join(", ")
    ))
}

/// A file that is removed when dropped unless [`TempFile::keep`] renamed it into place: the
/// image is written beside its destination and appears there only once complete.
pub struct TempFile {
    path: PathBuf,
    done: bool,
}

impl TempFile {
    pub fn beside(dest: &Path) -> TempFile {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        TempFile {
            path: dest.with_file_name(format!(".{name}.partial-{}", std::process::id())),
            done: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file to `dest` (atomic on one file system).
    pub fn keep(mut self, dest: &Path) -> Result<(), String> {
        std::fs::rename(&self.path, dest).map_err(|e| {
            format!(
                "renaming {} to {}: {e}",
                self.path.display(),
                dest.display()
            )
        })?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A directory removed (with its contents) when dropped: the staged copies of the files.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(path: PathBuf) -> TempDir {
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Replaces the file `name` in the partition with `bytes` (staged in `staging`).
pub fn replace(img: &Path, name: &str, bytes: &[u8], staging: &Path) -> Result<(), String> {
    std::fs::create_dir_all(staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let src = staging.join(name);
    std::fs::write(&src, bytes).map_err(|e| format!("{}: {e}", src.display()))?;
    run(
        mtools(MCOPY.bin)
            .args(["-o", "-i", &mtools_image(img)])
            .arg(&src)
            .arg(format!("::/{name}")),
        None,
    )
    .map(drop)
}

/// Deletes `name` from the partition (`mdel`; the suite's negative control).
pub fn delete(img: &Path, name: &str) -> Result<(), String> {
    run(
        mtools("mdel")
            .args(["-i", &mtools_image(img)])
            .arg(format!("::/{name}")),
        None,
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_goes_away_unless_kept() {
        let dir = util::scratch_dir().join("sdcard-unit-tempfile");
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("x.img");
        let _ = std::fs::remove_file(&dest);
        let t = TempFile::beside(&dest);
        std::fs::write(t.path(), b"half").unwrap();
        let p = t.path().to_path_buf();
        drop(t);
        assert!(!p.exists() && !dest.exists());
        let t = TempFile::beside(&dest);
        std::fs::write(t.path(), b"whole").unwrap();
        t.keep(&dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
    }
}
