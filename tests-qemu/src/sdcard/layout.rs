//! The card's layout: an MBR with one bootable FAT32 (LBA, type 0x0c) partition at 1 MiB,
//! and the checks on what is read back (the partition entry, the FAT32 boot sector).

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
}
