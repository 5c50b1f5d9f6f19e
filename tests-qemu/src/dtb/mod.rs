//! Device-tree fixtures for the bad-input boots: dump QEMU's DTB, break it in various ways,
//! and hand it to the kernel. Here: the blob-level edits (header, tokens, cut, corrupt);
//! [`dts`]: QEMU's dump and source-level edits through `dtc`; [`fixture`]: what each
//! bad-input case gets and how it reaches the kernel.
//!
//! QEMU validates a `-dtb` file with libfdt and refuses to start on a blob without magic or
//! with a bad header, so blobs that are invalid *for the loader* (no magic, truncated,
//! corrupt structure block) cannot go through `-dtb`. Instead they are placed at the start of
//! RAM (0x4000_0000, where QEMU puts its own DTB for an ELF kernel) as an extra PT_LOAD
//! segment of a copy of the kernel ELF. An ELF that spans the start of RAM makes QEMU skip
//! its own DTB, so the kernel finds exactly the bytes we put there.

mod dts;
mod fixture;

pub use dts::{dtb_with_bootargs, dump_dtb};
pub use fixture::{elf_with_blob, prepare, DtbFixture};

/// Where the `virt` machine's RAM (and so the DTB of an ELF kernel) starts.
pub const VIRT_RAM_START: u64 = 0x4000_0000;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

fn be32(b: &[u8], off: usize) -> Result<u32, String> {
    b.get(off..off + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("DTB too short for a word at {off:#x}"))
}

fn put_be32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

/// The header fields we need.
#[derive(Debug, Clone, Copy)]
pub struct FdtHeader {
    pub totalsize: u32,
    pub off_struct: u32,
    pub off_strings: u32,
    pub size_strings: u32,
    pub size_struct: u32,
}

pub fn header(b: &[u8]) -> Result<FdtHeader, String> {
    if be32(b, 0)? != FDT_MAGIC {
        return Err("not a DTB (bad magic)".into());
    }
    Ok(FdtHeader {
        totalsize: be32(b, 4)?,
        off_struct: be32(b, 8)?,
        off_strings: be32(b, 12)?,
        size_strings: be32(b, 32)?,
        size_struct: be32(b, 36)?,
    })
}

/// Bytes actually used by the blob (QEMU's dump is padded to 1 MiB).
pub fn used_size(h: &FdtHeader) -> usize {
    let s = h.off_struct as usize + h.size_struct as usize;
    let t = h.off_strings as usize + h.size_strings as usize;
    s.max(t)
}

/// [`used_size`] of a sane blob (blocks inside `totalsize` and inside the buffer).
fn checked_used(b: &[u8]) -> Result<usize, String> {
    let h = header(b)?;
    let used = used_size(&h);
    if used > h.totalsize as usize || used > b.len() {
        return Err(format!("DTB blocks end at {used:#x}, past its size"));
    }
    Ok(used)
}

/// Offsets (absolute) of every token in the structure block.
pub fn token_offsets(b: &[u8]) -> Result<Vec<usize>, String> {
    let h = header(b)?;
    let start = h.off_struct as usize;
    let end = start + h.size_struct as usize;
    let mut off = start;
    let mut out = Vec::new();
    while off < end {
        out.push(off);
        let tok = be32(b, off)?;
        off += 4;
        match tok {
            FDT_BEGIN_NODE => {
                let name_len = b[off..]
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or("unterminated node name")?;
                off += (name_len + 1 + 3) & !3;
            }
            FDT_PROP => {
                let len = be32(b, off)? as usize;
                off += 8 + ((len + 3) & !3);
            }
            FDT_END_NODE | FDT_NOP => {}
            FDT_END => break,
            t => return Err(format!("bad token {t:#x} at {:#x}", off - 4)),
        }
    }
    Ok(out)
}

/// A DTB whose structure block has a garbage token in the middle (after the root node's
/// properties, so any parser that walks the tree hits it).
pub fn corrupt_struct(dtb: &[u8]) -> Result<Vec<u8>, String> {
    let used = checked_used(dtb)?;
    let mut b = dtb[..used].to_vec();
    // QEMU pads its blob to 1 MiB; the cut copy's header must say how long it really is.
    put_be32(&mut b, 4, used as u32);
    let toks = token_offsets(&b)?;
    // Pick the first BEGIN_NODE at or after the middle token: a node boundary, never the root.
    let mid = toks.len() / 2;
    let off = toks[mid..]
        .iter()
        .copied()
        .find(|&o| be32(&b, o) == Ok(FDT_BEGIN_NODE))
        .unwrap_or(toks[mid]);
    put_be32(&mut b, off, 0x0bad_f00d);
    put_be32(&mut b, off + 4, 0xdead_beef);
    Ok(b)
}

/// The first half of the used part of the blob, with `totalsize` saying so: the structure
/// and strings blocks then run past the end of the blob (what libfdt calls truncated).
pub fn truncate_half(dtb: &[u8]) -> Result<Vec<u8>, String> {
    let used = checked_used(dtb)?;
    let half = (used / 2) & !7;
    let mut b = dtb[..half].to_vec();
    put_be32(&mut b, 4, half as u32);
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal hand-made DTB: root with one property and one child node.
    fn tiny_dtb() -> Vec<u8> {
        let mut s = Vec::new();
        let w = |s: &mut Vec<u8>, v: u32| s.extend_from_slice(&v.to_be_bytes());
        w(&mut s, FDT_BEGIN_NODE);
        w(&mut s, 0); // "" padded
        w(&mut s, FDT_PROP);
        w(&mut s, 4);
        w(&mut s, 0);
        w(&mut s, 0x1234);
        w(&mut s, FDT_BEGIN_NODE);
        s.extend_from_slice(b"abc\0");
        w(&mut s, FDT_END_NODE);
        w(&mut s, FDT_END_NODE);
        w(&mut s, FDT_END);
        let strings = b"x\0\0\0";
        let mut b = vec![0u8; 40];
        let off_struct = 40;
        let off_strings = off_struct + s.len();
        put_be32(&mut b, 0, FDT_MAGIC);
        put_be32(&mut b, 4, (off_strings + 4) as u32);
        put_be32(&mut b, 8, off_struct as u32);
        put_be32(&mut b, 12, off_strings as u32);
        put_be32(&mut b, 32, 4);
        put_be32(&mut b, 36, s.len() as u32);
        b.extend_from_slice(&s);
        b.extend_from_slice(strings);
        b
    }

    #[test]
    fn fdt_mutations() {
        let d = tiny_dtb();
        let toks = token_offsets(&d).unwrap();
        assert_eq!(toks.len(), 6);
        let c = corrupt_struct(&d).unwrap();
        assert!(token_offsets(&c).is_err());
        let t = truncate_half(&d).unwrap();
        let h = header(&t).unwrap();
        assert_eq!(h.totalsize as usize, t.len());
        assert!(used_size(&h) > t.len());
    }
}
