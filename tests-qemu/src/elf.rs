//! The little of ELF64 the harness reads and writes: program headers (to cut the Image out
//! of the kernel, to add a DTB segment to a copy of it) and a minimal one-segment file (to
//! place the Image at an arbitrary base through QEMU's ELF loader).

/// `p_type` of a loadable segment.
pub const PT_LOAD: u32 = 1;
const EHDR_LEN: usize = 64;
const PHDR_LEN: usize = 56;

/// One ELF64 program header (the fields we use; `paddr` = `vaddr` in our files).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

impl Phdr {
    /// A read/write/execute (`flags`) PT_LOAD of `filesz` bytes at file `offset`, loaded at
    /// `addr`, occupying `memsz` bytes there.
    pub fn load(flags: u32, offset: u64, addr: u64, filesz: u64, memsz: u64) -> Self {
        Phdr {
            p_type: PT_LOAD,
            flags,
            offset,
            vaddr: addr,
            paddr: addr,
            filesz,
            memsz,
            align: 0x1000,
        }
    }

    /// The 56 bytes of this header in a little-endian ELF64 file.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut b = Vec::with_capacity(PHDR_LEN);
        b.extend_from_slice(&self.p_type.to_le_bytes());
        b.extend_from_slice(&self.flags.to_le_bytes());
        for v in [
            self.offset,
            self.vaddr,
            self.paddr,
            self.filesz,
            self.memsz,
            self.align,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Whether this is a PT_LOAD whose memory overlaps `[addr, addr + len)`.
    pub fn loads_over(&self, addr: u64, len: u64) -> bool {
        self.p_type == PT_LOAD
            && self.memsz > 0
            && self.paddr < addr + len
            && addr < self.paddr + self.memsz
    }
}

fn le16(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(format!("truncated at offset {at:#x}"))
}

fn le32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
        .ok_or(format!("truncated at offset {at:#x}"))
}

pub fn le64(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
        .ok_or(format!("truncated at offset {at:#x}"))
}

/// `(e_phoff, e_phnum)` of a little-endian ELF64 file whose program headers are 56 bytes.
pub fn program_header_table(elf: &[u8]) -> Result<(usize, usize), String> {
    if elf.len() < EHDR_LEN || &elf[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if elf[4] != 2 || elf[5] != 1 {
        return Err("not a little-endian ELF64 file".into());
    }
    let phoff = le64(elf, 0x20)? as usize;
    let phentsize = le16(elf, 0x36)? as usize;
    let phnum = le16(elf, 0x38)? as usize;
    if phentsize != PHDR_LEN {
        return Err(format!("e_phentsize {phentsize}, expected {PHDR_LEN}"));
    }
    if phoff
        .checked_add(phnum * PHDR_LEN)
        .is_none_or(|end| end > elf.len())
    {
        return Err("the program header table is past the end of the file".into());
    }
    Ok((phoff, phnum))
}

/// The program headers of a little-endian ELF64 file.
pub fn program_headers(elf: &[u8]) -> Result<Vec<Phdr>, String> {
    let (phoff, phnum) = program_header_table(elf)?;
    (0..phnum)
        .map(|i| {
            let at = phoff + i * PHDR_LEN;
            Ok(Phdr {
                p_type: le32(elf, at)?,
                flags: le32(elf, at + 4)?,
                offset: le64(elf, at + 8)?,
                vaddr: le64(elf, at + 16)?,
                paddr: le64(elf, at + 24)?,
                filesz: le64(elf, at + 32)?,
                memsz: le64(elf, at + 40)?,
                align: le64(elf, at + 48)?,
            })
        })
        .collect()
}

/// A minimal ELF64 (ET_EXEC, AArch64), entered at `entry`, whose program header table holds
/// `phdrs` (their offsets must point into `data`, which follows at file offset 0x1000).
pub fn build(entry: u64, phdrs: &[Phdr], data: &[u8]) -> Vec<u8> {
    const DATA: usize = 0x1000;
    let mut b = vec![0u8; DATA];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2; // ELFCLASS64
    b[5] = 1; // little-endian
    b[6] = 1; // EV_CURRENT
    b[0x10..0x12].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b[0x12..0x14].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    b[0x14..0x18].copy_from_slice(&1u32.to_le_bytes());
    b[0x18..0x20].copy_from_slice(&entry.to_le_bytes());
    b[0x20..0x28].copy_from_slice(&(EHDR_LEN as u64).to_le_bytes()); // e_phoff
    b[0x34..0x36].copy_from_slice(&(EHDR_LEN as u16).to_le_bytes()); // e_ehsize
    b[0x36..0x38].copy_from_slice(&(PHDR_LEN as u16).to_le_bytes());
    b[0x38..0x3a].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
    for (i, p) in phdrs.iter().enumerate() {
        let at = EHDR_LEN + i * PHDR_LEN;
        b[at..at + PHDR_LEN].copy_from_slice(&p.to_bytes());
    }
    b.extend_from_slice(data);
    b
}

/// File offset where [`build`] puts `data`.
pub const BUILD_DATA_OFFSET: u64 = 0x1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_read_back() {
        let ph = Phdr::load(7, BUILD_DATA_OFFSET, 0x4020_0000, 3, 0x2000);
        let elf = build(0x4020_0000, &[ph], &[1, 2, 3]);
        assert_eq!(program_headers(&elf).unwrap(), vec![ph]);
        assert!(ph.loads_over(0x4020_1000, 0x10));
        assert!(!ph.loads_over(0x4000_0000, 0x1000));
        assert!(program_headers(b"not an elf at all, long enough to have a header.....").is_err());
    }
}
