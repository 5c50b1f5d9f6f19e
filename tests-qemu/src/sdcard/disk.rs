//! The disk image: an MBR with one bootable FAT32 (LBA, type 0x0c) partition, made with
//! Debian's tools (sfdisk, mkfs.vfat, mtools' mcopy), and read back (the partition entry and
//! FAT32 boot sector parsed here, the files through mtools) to check what went in.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::setup::{MCOPY, MKFS_VFAT, SFDISK};
use crate::util;

pub const SECTOR: u64 = 512;
/// The partition starts at 1 MiB (sector 2048), the usual alignment for SD cards.
pub const PART_START: u64 = 2048;
/// 64 MiB: room for the ~3 MB of files, and enough 512-byte clusters (> 65524) for FAT32.
pub const PART_SECTORS: u64 = 64 << 11;
/// MBR partition type: FAT32 with LBA addressing (what the Pi's boot ROM and firmware read).
pub const TYPE_FAT32_LBA: u8 = 0x0c;
pub const BOOTABLE: u8 = 0x80;
/// The FAT volume label.
pub const LABEL: &str = "AIOLOS";
/// FAT32 needs at least this many clusters (fewer make it FAT16 by definition).
const FAT32_MIN_CLUSTERS: u64 = 65525;

/// The image's total size: the partition plus the 1 MiB before it.
pub fn image_len() -> u64 {
    (PART_START + PART_SECTORS) * SECTOR
}

/// Byte offset of the partition (mtools' `IMG@@OFFSET`).
pub fn part_offset() -> u64 {
    PART_START * SECTOR
}

/// sfdisk's script for the partition table.
pub fn sfdisk_script() -> String {
    format!(
        "label: dos\nunit: sectors\nstart={PART_START}, size={PART_SECTORS}, type={TYPE_FAT32_LBA:x}, bootable\n"
    )
}

/// One primary partition entry of an MBR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub status: u8,
    pub kind: u8,
    pub start: u64,
    pub sectors: u64,
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

/// The four primary entries of the MBR in `sector0` (512 bytes ending in 0x55 0xaa).
pub fn mbr_partitions(sector0: &[u8]) -> Result<[Partition; 4], String> {
    if sector0.len() < 512 || sector0[510..512] != [0x55, 0xaa] {
        return Err("no MBR: sector 0 does not end in 0x55 0xaa".into());
    }
    Ok(std::array::from_fn(|i| {
        let e = 446 + 16 * i;
        Partition {
            status: sector0[e],
            kind: sector0[e + 4],
            start: le32(sector0, e + 8),
            sectors: le32(sector0, e + 12),
        }
    }))
}

/// Checks the MBR: exactly one partition, bootable, type 0x0c, inside an image of
/// `image_len` bytes. Returns it.
pub fn check_mbr(sector0: &[u8], image_len: u64) -> Result<Partition, String> {
    let parts = mbr_partitions(sector0)?;
    let used: Vec<&Partition> = parts.iter().filter(|p| p.kind != 0).collect();
    let [p] = used.as_slice() else {
        return Err(format!(
            "{} partitions in the MBR, expected exactly one",
            used.len()
        ));
    };
    let mut problems = Vec::new();
    if p.kind != TYPE_FAT32_LBA {
        problems.push(format!(
            "partition type {:#04x}, expected {TYPE_FAT32_LBA:#04x} (FAT32 LBA)",
            p.kind
        ));
    }
    if p.status != BOOTABLE {
        problems.push(format!(
            "partition status {:#04x}, expected {BOOTABLE:#04x} (bootable)",
            p.status
        ));
    }
    if p.start == 0 || (p.start + p.sectors) * SECTOR > image_len {
        problems.push(format!(
            "partition [{}, +{}) sectors does not fit the {image_len}-byte image",
            p.start, p.sectors
        ));
    }
    if problems.is_empty() {
        Ok(**p)
    } else {
        Err(problems.join("; "))
    }
}

/// What the FAT boot sector says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fat32 {
    pub cluster_bytes: u64,
    pub clusters: u64,
}

/// Checks that `boot` (the partition's first sector) is a FAT32 boot sector filling `part`:
/// no fixed root directory, 16-bit sizes zero, `FAT32   ` type string, enough clusters to be
/// FAT32 by the specification's rule, hidden sectors = the partition's start.
pub fn check_fat32(boot: &[u8], part: &Partition) -> Result<Fat32, String> {
    if boot.len() < 512 || boot[510..512] != [0x55, 0xaa] {
        return Err("partition has no boot sector signature 0x55 0xaa".into());
    }
    let bytes_per_sector = le16(boot, 11);
    let per_cluster = u64::from(boot[13]);
    let reserved = le16(boot, 14);
    let fats = u64::from(boot[16]);
    let root_entries = le16(boot, 17);
    let total16 = le16(boot, 19);
    let fat16_size = le16(boot, 22);
    let hidden = le32(boot, 28);
    let total32 = le32(boot, 32);
    let fat32_size = le32(boot, 36);
    let mut problems = Vec::new();
    if bytes_per_sector != SECTOR {
        problems.push(format!("{bytes_per_sector} bytes per sector"));
    }
    if per_cluster == 0 {
        problems.push("0 sectors per cluster".to_string());
    }
    if root_entries != 0 || total16 != 0 || fat16_size != 0 {
        problems.push(format!(
            "FAT12/16 fields set (root entries {root_entries}, sectors16 {total16}, FAT16 size {fat16_size})"
        ));
    }
    if &boot[82..90] != b"FAT32   " {
        problems.push(format!(
            "type string {:?}, expected \"FAT32   \"",
            String::from_utf8_lossy(&boot[82..90])
        ));
    }
    if total32 == 0 || total32 > part.sectors {
        problems.push(format!(
            "{total32} sectors, the partition has {}",
            part.sectors
        ));
    }
    if hidden != part.start {
        problems.push(format!(
            "hidden sectors {hidden}, the partition starts at {}",
            part.start
        ));
    }
    let meta = reserved + fats * fat32_size;
    let clusters = if per_cluster == 0 || meta >= total32 {
        0
    } else {
        (total32 - meta) / per_cluster
    };
    if clusters < FAT32_MIN_CLUSTERS {
        problems.push(format!(
            "{clusters} clusters: FAT32 needs at least {FAT32_MIN_CLUSTERS}"
        ));
    }
    if problems.is_empty() {
        Ok(Fat32 {
            cluster_bytes: per_cluster * bytes_per_sector,
            clusters,
        })
    } else {
        Err(format!("not a FAT32 file system: {}", problems.join("; ")))
    }
}

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

/// Makes the disk image at `img` (a new file) holding `files` (name on the card, bytes).
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
    for (name, bytes) in files {
        let src = staging.join(name);
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

/// The names of the files in the partition's root directory (long names).
pub fn list(img: &Path) -> Result<Vec<String>, String> {
    let out = run(
        mtools("mdir").args(["-b", "-i", &mtools_image(img), "::/"]),
        None,
    )?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("::/"))
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

    /// An MBR with the given (status, type, start, sectors) entries.
    fn mbr(entries: &[(u8, u8, u32, u32)]) -> Vec<u8> {
        let mut s = vec![0u8; 512];
        for (i, &(st, ty, start, n)) in entries.iter().enumerate() {
            let e = 446 + 16 * i;
            s[e] = st;
            s[e + 4] = ty;
            s[e + 8..e + 12].copy_from_slice(&start.to_le_bytes());
            s[e + 12..e + 16].copy_from_slice(&n.to_le_bytes());
        }
        s[510] = 0x55;
        s[511] = 0xaa;
        s
    }

    const LEN: u64 = (PART_START + PART_SECTORS) * SECTOR;

    #[test]
    fn mbr_checks() {
        let good = mbr(&[(0x80, 0x0c, 2048, PART_SECTORS as u32)]);
        let p = check_mbr(&good, LEN).unwrap();
        assert_eq!((p.start, p.sectors), (2048, PART_SECTORS));
        let e = check_mbr(&mbr(&[(0x00, 0x0c, 2048, 100)]), LEN).unwrap_err();
        assert!(e.contains("bootable"), "{e}");
        let e = check_mbr(&mbr(&[(0x80, 0x0b, 2048, 100)]), LEN).unwrap_err();
        assert!(e.contains("0x0b") && e.contains("FAT32 LBA"), "{e}");
        let e = check_mbr(&mbr(&[(0x80, 0x0c, 2048, PART_SECTORS as u32 + 1)]), LEN).unwrap_err();
        assert!(e.contains("does not fit"), "{e}");
        let e = check_mbr(&mbr(&[(0x80, 0x0c, 2048, 10), (0, 0x83, 4096, 10)]), LEN).unwrap_err();
        assert!(e.contains("2 partitions"), "{e}");
        assert!(check_mbr(&mbr(&[]), LEN)
            .unwrap_err()
            .contains("0 partitions"));
        let mut unsigned = good.clone();
        unsigned[511] = 0;
        assert!(check_mbr(&unsigned, LEN).unwrap_err().contains("0x55"));
    }

    #[test]
    fn sfdisk_script_matches_the_checks() {
        let s = sfdisk_script();
        assert!(s.contains("label: dos"));
        assert!(
            s.contains("start=2048, size=131072, type=c, bootable"),
            "{s}"
        );
        assert_eq!(image_len(), 65 << 20);
    }

    /// A FAT32 boot sector like mkfs.vfat's for the partition.
    fn fat32_boot(per_cluster: u8, fat_size: u32) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = per_cluster;
        b[14..16].copy_from_slice(&32u16.to_le_bytes());
        b[16] = 2;
        b[28..32].copy_from_slice(&(PART_START as u32).to_le_bytes());
        b[32..36].copy_from_slice(&(PART_SECTORS as u32).to_le_bytes());
        b[36..40].copy_from_slice(&fat_size.to_le_bytes());
        b[82..90].copy_from_slice(b"FAT32   ");
        b[510] = 0x55;
        b[511] = 0xaa;
        b
    }

    #[test]
    fn fat32_checks() {
        let part = Partition {
            status: 0x80,
            kind: 0x0c,
            start: PART_START,
            sectors: PART_SECTORS,
        };
        let f = check_fat32(&fat32_boot(1, 1016), &part).unwrap();
        assert_eq!(f.cluster_bytes, 512);
        assert_eq!(f.clusters, PART_SECTORS - 32 - 2 * 1016);
        // 8 sectors per cluster leave too few clusters for FAT32.
        assert!(check_fat32(&fat32_boot(8, 128), &part)
            .unwrap_err()
            .contains("clusters"));
        let mut fat16 = fat32_boot(1, 1016);
        fat16[82..90].copy_from_slice(b"FAT16   ");
        fat16[18] = 0x02; // 512 root entries
        let e = check_fat32(&fat16, &part).unwrap_err();
        assert!(e.contains("FAT16") && e.contains("root entries"), "{e}");
        let mut hidden = fat32_boot(1, 1016);
        hidden[29] = 0; // 2048 -> 0
        assert!(check_fat32(&hidden, &part)
            .unwrap_err()
            .contains("hidden sectors"));
    }

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
