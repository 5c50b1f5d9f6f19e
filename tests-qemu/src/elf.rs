//! The little of ELF64 the harness reads and writes: program headers (to cut the Image out
//! of the kernel, to add a DTB segment to a copy of it), a minimal one-segment file (to
//! place the Image at an arbitrary base through QEMU's ELF loader), and the `DT_NEEDED`
//! entries of a dynamically linked program (the nested-KVM kit's library closure).

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

/// `sh_type` of the dynamic section.
const SHT_DYNAMIC: u32 = 6;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;

/// The `DT_NEEDED` entries (sonames) of a little-endian ELF64 file, read through its section
/// headers (empty for a static executable).
pub fn dt_needed(d: &[u8]) -> Result<Vec<String>, String> {
    if d.len() < EHDR_LEN || &d[..4] != b"\x7fELF" || d[4] != 2 || d[5] != 1 {
        return Err("not a little-endian ELF64 file".into());
    }
    let shoff = le64(d, 0x28)? as usize;
    let shentsize = le16(d, 0x3a)? as usize;
    let shnum = le16(d, 0x3c)? as usize;
    if shentsize < 64 {
        return Err("bad section header size".into());
    }
    let sh = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let mut out = Vec::new();
    for i in 0..shnum {
        let s = sh(i).ok_or("bad section table")?;
        if le32(d, s + 4)? != SHT_DYNAMIC {
            continue;
        }
        let (off, size, link) = (
            le64(d, s + 0x18)? as usize,
            le64(d, s + 0x20)? as usize,
            le32(d, s + 0x28)?,
        );
        let st = sh(link as usize).ok_or("bad sh_link")?;
        let (str_off, str_size) = (le64(d, st + 0x18)? as usize, le64(d, st + 0x20)? as usize);
        let strtab = d
            .get(str_off..str_off.checked_add(str_size).ok_or("bad strtab")?)
            .ok_or("strtab out of bounds")?;
        for e in 0..size / 16 {
            let tag = le64(d, off + e * 16)?;
            if tag == DT_NULL {
                break;
            }
            if tag == DT_NEEDED {
                let v = le64(d, off + e * 16 + 8)? as usize;
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

    #[test]
    fn dt_needed_of_a_host_binary() {
        // Any dynamically linked host executable will do; the test binary itself usually is.
        let me = std::env::current_exe().unwrap();
        let needed = dt_needed(&std::fs::read(me).unwrap()).unwrap();
        assert!(
            needed.iter().any(|n| n.starts_with("libc.so")),
            "{needed:?}"
        );
        assert!(dt_needed(b"not an elf").is_err());
    }
}
