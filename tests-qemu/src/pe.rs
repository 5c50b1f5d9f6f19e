//! The PE/COFF header that makes the arm64 Image an EFI application too (emitted by
//! `kernel/src/boot/entry.S`, as Linux's EFI stub does), and its checks for `cargo xtask
//! image`. Layout (Microsoft PE format), all little-endian:
//!
//! | offset          | field                                                         |
//! |-----------------|---------------------------------------------------------------|
//! | 0               | "MZ" (the low half of code0, which is also an instruction)    |
//! | 0x3c            | e_lfanew: offset of the PE signature                          |
//! | e_lfanew        | "PE\0\0", then the COFF header (Machine, NumberOfSections, ...)|
//! | e_lfanew + 24   | the PE32+ optional header, then the section table             |

/// `ccmp x18, #0, #0xd, pl`: "MZ" in its low half, harmless as the first instruction.
pub const CODE0: u32 = 0xfa40_5a4d;
pub const MACHINE_ARM64: u16 = 0xaa64;
pub const PE32_PLUS: u16 = 0x20b;
pub const SUBSYSTEM_EFI_APPLICATION: u16 = 10;
const SCN_MEM_EXECUTE: u32 = 0x2000_0000;
const COFF_LEN: usize = 20;
const OPT_MIN: usize = 112;
const SECTION_LEN: usize = 40;

/// What `cargo xtask image` prints and the tests look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pe {
    pub entry: u32,
    pub size_of_image: u32,
    pub sections: u16,
}

fn rd16(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(format!(
            "PE header runs past the end of the file (offset {at:#x})"
        ))
}

fn rd32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(format!(
            "PE header runs past the end of the file (offset {at:#x})"
        ))
}

/// Checks the PE/COFF view of `image`, whose arm64 header says `image_size` (BSS included):
/// the "MZ" instruction, the PE signature at e_lfanew, AArch64, PE32+, an EFI application,
/// SizeOfImage covering `image_size`, sections inside the file and the image that together
/// cover everything after the headers, and an entry point in an executable section.
pub fn check(image: &[u8], image_size: u64) -> Result<Pe, String> {
    let code0 = rd32(image, 0)?;
    if code0 != CODE0 {
        return Err(format!(
            "code0 {code0:#010x}: expected {CODE0:#010x} (\"MZ\" and `ccmp x18, #0, #0xd, pl`)"
        ));
    }
    let pe = rd32(image, 0x3c)? as usize;
    if !pe.is_multiple_of(8) || image.get(pe..pe + 4) != Some(b"PE\0\0") {
        return Err(format!("no \"PE\\0\\0\" at e_lfanew {pe:#x}"));
    }
    let coff = pe + 4;
    let machine = rd16(image, coff)?;
    if machine != MACHINE_ARM64 {
        return Err(format!(
            "Machine {machine:#x}, expected {MACHINE_ARM64:#x} (AArch64)"
        ));
    }
    let nsec = rd16(image, coff + 2)?;
    let opt_len = rd16(image, coff + 16)? as usize;
    if nsec == 0 {
        return Err("NumberOfSections 0: nothing would be loaded".into());
    }
    if opt_len < OPT_MIN {
        return Err(format!("SizeOfOptionalHeader {opt_len} < {OPT_MIN}"));
    }
    let opt = coff + COFF_LEN;
    let magic = rd16(image, opt)?;
    if magic != PE32_PLUS {
        return Err(format!(
            "optional header magic {magic:#x}, expected {PE32_PLUS:#x} (PE32+)"
        ));
    }
    let entry = rd32(image, opt + 16)?;
    let sect_align = rd32(image, opt + 32)?;
    let file_align = rd32(image, opt + 36)?;
    let size_of_image = rd32(image, opt + 56)?;
    let size_of_headers = rd32(image, opt + 60)?;
    let subsystem = rd16(image, opt + 68)?;
    let ndirs = rd32(image, opt + 108)? as usize;
    if subsystem != SUBSYSTEM_EFI_APPLICATION {
        return Err(format!(
            "Subsystem {subsystem}, expected {SUBSYSTEM_EFI_APPLICATION} (EFI application)"
        ));
    }
    if OPT_MIN + 8 * ndirs != opt_len {
        return Err(format!(
            "SizeOfOptionalHeader {opt_len} does not match {ndirs} data directories"
        ));
    }
    if !file_align.is_power_of_two() || !(512..=0x10000).contains(&file_align) {
        return Err(format!(
            "FileAlignment {file_align:#x}: a power of 2 from 512 to 64 KiB"
        ));
    }
    if !sect_align.is_power_of_two() || sect_align < file_align {
        return Err(format!(
            "SectionAlignment {sect_align:#x}: a power of 2, at least FileAlignment"
        ));
    }
    if u64::from(size_of_image) < image_size {
        return Err(format!(
            "SizeOfImage {size_of_image:#x} < image_size {image_size:#x} (BSS/stacks not covered)"
        ));
    }
    if !size_of_image.is_multiple_of(sect_align) {
        return Err(format!(
            "SizeOfImage {size_of_image:#x} is not a multiple of SectionAlignment"
        ));
    }
    let table = opt + opt_len;
    let table_end = table + usize::from(nsec) * SECTION_LEN;
    if size_of_headers as usize > image.len()
        || (size_of_headers as usize) < table_end
        || !size_of_headers.is_multiple_of(file_align)
    {
        return Err(format!(
            "SizeOfHeaders {size_of_headers:#x}: must hold the section table (to {table_end:#x}), \
             be a multiple of FileAlignment and lie within the file"
        ));
    }
    // The sections, in address order, must cover [SizeOfHeaders, file end) in the file and
    // [SizeOfHeaders, SizeOfImage) in memory, with no gap.
    let mut next_va = size_of_headers;
    let mut next_raw = size_of_headers;
    let mut entry_ok = false;
    for i in 0..usize::from(nsec) {
        let s = table + i * SECTION_LEN;
        let vsize = rd32(image, s + 8)?;
        let va = rd32(image, s + 12)?;
        let raw_size = rd32(image, s + 16)?;
        let raw = rd32(image, s + 20)?;
        let flags = rd32(image, s + 36)?;
        let name = String::from_utf8_lossy(&image[s..s + 8])
            .trim_end_matches('\0')
            .to_string();
        if va != next_va || !va.is_multiple_of(sect_align) {
            return Err(format!(
                "section {name}: VirtualAddress {va:#x}, expected {next_va:#x} (no gaps, aligned)"
            ));
        }
        if raw != next_raw
            || !raw.is_multiple_of(file_align)
            || !raw_size.is_multiple_of(file_align)
        {
            return Err(format!(
                "section {name}: raw data at {raw:#x}+{raw_size:#x}, expected to start at \
                 {next_raw:#x}, both multiples of FileAlignment"
            ));
        }
        if u64::from(raw) + u64::from(raw_size) > image.len() as u64 {
            return Err(format!(
                "section {name}: raw data {raw:#x}+{raw_size:#x} runs past the file ({:#x} bytes)",
                image.len()
            ));
        }
        let vend = u64::from(va) + u64::from(vsize.max(raw_size));
        if vend > u64::from(size_of_image) {
            return Err(format!(
                "section {name}: ends at {vend:#x}, beyond SizeOfImage {size_of_image:#x}"
            ));
        }
        if flags & SCN_MEM_EXECUTE != 0 && (va..va + raw_size).contains(&entry) {
            entry_ok = true;
        }
        next_va = (vend as u32).next_multiple_of(sect_align);
        next_raw = raw + raw_size;
    }
    if next_raw as usize != image.len() {
        return Err(format!(
            "sections cover the file up to {next_raw:#x}, but it is {:#x} bytes",
            image.len()
        ));
    }
    if next_va != size_of_image {
        return Err(format!(
            "sections cover memory up to {next_va:#x}, but SizeOfImage is {size_of_image:#x}"
        ));
    }
    if !entry_ok {
        return Err(format!(
            "AddressOfEntryPoint {entry:#x} is not in an executable section's file data"
        ));
    }
    Ok(Pe {
        entry,
        size_of_image,
        sections: nsec,
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A well-formed image: arm64 header fields as `crate::image` expects, a PE header at
    /// 0x40, one RWX section from 0x1000 to the end of `file_len`, SizeOfImage `size`.
    pub fn pe_image(file_len: usize, size: u32) -> Vec<u8> {
        let mut b = vec![0u8; file_len];
        b[0..4].copy_from_slice(&CODE0.to_le_bytes());
        b[16..24].copy_from_slice(&u64::from(size).to_le_bytes());
        b[24..32].copy_from_slice(&crate::image::FLAGS.to_le_bytes());
        b[56..60].copy_from_slice(crate::image::MAGIC);
        b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        let w16 =
            |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let w32 =
            |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        b[0x40..0x44].copy_from_slice(b"PE\0\0");
        let coff = 0x44;
        w16(&mut b, coff, MACHINE_ARM64);
        w16(&mut b, coff + 2, 1);
        w16(&mut b, coff + 16, (OPT_MIN + 6 * 8) as u16);
        w16(&mut b, coff + 18, 0x206);
        let opt = coff + COFF_LEN;
        w16(&mut b, opt, PE32_PLUS);
        w32(&mut b, opt + 16, 0x1000); // entry
        w32(&mut b, opt + 32, 0x1000);
        w32(&mut b, opt + 36, 0x1000);
        w32(&mut b, opt + 56, size);
        w32(&mut b, opt + 60, 0x1000);
        w16(&mut b, opt + 68, SUBSYSTEM_EFI_APPLICATION);
        w32(&mut b, opt + 108, 6);
        let s = opt + OPT_MIN + 6 * 8;
        b[s..s + 8].copy_from_slice(b".text\0\0\0");
        w32(&mut b, s + 8, size - 0x1000);
        w32(&mut b, s + 12, 0x1000);
        w32(&mut b, s + 16, (file_len - 0x1000) as u32);
        w32(&mut b, s + 20, 0x1000);
        w32(&mut b, s + 36, 0xe000_0020);
        b
    }

    const OPT: usize = 0x44 + COFF_LEN;
    const SEC: usize = OPT + OPT_MIN + 6 * 8;

    fn err(mut f: impl FnMut(&mut Vec<u8>)) -> String {
        let mut b = pe_image(0x3000, 0x10000);
        f(&mut b);
        check(&b, 0x10000).unwrap_err()
    }

    fn put32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn good_image_passes() {
        let b = pe_image(0x3000, 0x10000);
        assert_eq!(
            check(&b, 0x10000).unwrap(),
            Pe {
                entry: 0x1000,
                size_of_image: 0x10000,
                sections: 1
            }
        );
    }

    #[test]
    fn each_broken_field_is_named() {
        assert!(err(|b| b[0] = b'X').contains("code0"));
        assert!(err(|b| b[0x40] = b'X').contains("PE"));
        assert!(err(|b| b[0x45] = 0).contains("Machine"));
        assert!(err(|b| b[OPT + 1] = 1).contains("PE32+"));
        assert!(err(|b| b[OPT + 68] = 3).contains("Subsystem"));
        assert!(err(|b| put32(b, OPT + 56, 0x8000)).contains("SizeOfImage"));
        assert!(err(|b| put32(b, OPT + 16, 0x80)).contains("AddressOfEntryPoint"));
        assert!(err(|b| put32(b, OPT + 16, 0x2fff + 0x2000)).contains("AddressOfEntryPoint"));
        assert!(err(|b| put32(b, SEC + 36, 0xc000_0040)).contains("AddressOfEntryPoint"));
        assert!(err(|b| put32(b, SEC + 16, 0x1000)).contains("cover the file"));
        assert!(err(|b| put32(b, SEC + 16, 0x3000)).contains("runs past"));
        assert!(err(|b| put32(b, SEC + 8, 0x1000)).contains("cover memory"));
        assert!(err(|b| put32(b, SEC + 8, 0x20000)).contains("beyond SizeOfImage"));
        assert!(err(|b| put32(b, SEC + 12, 0x2000)).contains("VirtualAddress"));
        assert!(err(|b| put32(b, OPT + 60, 0x40)).contains("SizeOfHeaders"));
        assert!(err(|b| put32(b, OPT + 36, 0x300)).contains("FileAlignment"));
        assert!(err(|b| put32(b, OPT + 108, 16)).contains("data directories"));
        assert!(err(|b| b[0x46] = 0).contains("NumberOfSections"));
        assert!(check(&[0x4d, 0x5a], 0).is_err());
    }
}
