//! `cargo xtask image`: the arm64 Linux Image beside the kernel ELF.
//!
//! The Image is the bytes of the ELF's single `PT_LOAD` segment, from its start up to its
//! file size; the BSS and the stacks (memory size beyond the file size) are covered by the
//! header's `image_size`, which a loader must leave free. The header itself is emitted by
//! `kernel/src/boot/entry.S` (the first 64 bytes of `.text`); this module checks it.
//! Layout (Documentation/arch/arm64/booting.rst), all little-endian:
//!
//! | offset | field        |
//! |--------|--------------|
//! | 0      | code0, code1 |
//! | 8      | text_offset  |
//! | 16     | image_size   |
//! | 24     | flags        |
//! | 56     | magic "ARM\x64" |
//!
//! The same bytes are a PE/COFF EFI application ("MZ" at 0, the PE header at the offset in
//! 0x3c, as Linux's EFI stub): checked by [`crate::pe::check`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::boot::build::{KernelBuild, Output};
use crate::elf::{self, le64, Phdr, PT_LOAD};

/// The header's size (the Image is at least this long).
pub const HEADER_LEN: usize = 64;
pub const MAGIC: &[u8; 4] = b"ARM\x64";
/// Flags the kernel must declare: bit 0 = 0 little-endian, bits 1-2 = 1 (4 KiB pages),
/// bit 3 = 1 (may be placed anywhere in RAM).
pub const FLAGS: u64 = 0xa;
/// The kernel's base must be 2 MiB-aligned (its `.stacks` and the MMU's 2 MiB blocks assume it).
pub const ALIGN: u64 = 2 << 20;

/// The one `PT_LOAD` segment (the linker script makes exactly one).
pub fn load_segment(elf: &[u8]) -> Result<Phdr, String> {
    let loads: Vec<Phdr> = elf::program_headers(elf)?
        .into_iter()
        .filter(|p| p.p_type == PT_LOAD)
        .collect();
    match loads.as_slice() {
        [one] => Ok(*one),
        [] => Err("no PT_LOAD segment".into()),
        more => Err(format!(
            "{} PT_LOAD segments: an Image is a flat copy of exactly one (see kernel/link/aiolos.ld)",
            more.len()
        )),
    }
}

/// The header fields of an arm64 Image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub text_offset: u64,
    pub image_size: u64,
    pub flags: u64,
    /// The PE/COFF view (EFI application).
    pub pe: crate::pe::Pe,
}

/// Reads and validates the header of `image`, which must describe at least `mem_size` bytes
/// (the segment's memory size, BSS and stacks included).
pub fn check_header(image: &[u8], mem_size: u64) -> Result<Header, String> {
    if image.len() < HEADER_LEN {
        return Err(format!(
            "{} bytes: shorter than the {HEADER_LEN}-byte header",
            image.len()
        ));
    }
    if &image[56..60] != MAGIC {
        return Err(format!(
            "no magic \"ARM\\x64\" at offset 56 (found {:02x?})",
            &image[56..60]
        ));
    }
    let text_offset = le64(image, 8)?;
    let image_size = le64(image, 16)?;
    let flags = le64(image, 24)?;
    let file_size = image.len() as u64;
    if image_size < file_size {
        return Err(format!(
            "image_size {:#x} < file size {file_size:#x}",
            image_size
        ));
    }
    if image_size < mem_size {
        return Err(format!(
            "image_size {:#x} < the segment's memory size {mem_size:#x} (BSS/stacks not covered)",
            image_size
        ));
    }
    if flags != FLAGS {
        return Err(format!(
            "flags {:#x}, expected {FLAGS:#x} (little-endian, 4 KiB pages, anywhere in RAM)",
            flags
        ));
    }
    // The kernel runs at (2 MiB-aligned base) + text_offset and needs that sum 2 MiB-aligned.
    if !text_offset.is_multiple_of(ALIGN) {
        return Err(format!(
            "text_offset {:#x} is not a multiple of 2 MiB: the kernel needs a 2 MiB-aligned base",
            text_offset
        ));
    }
    let pe = crate::pe::check(image, image_size).map_err(|e| format!("PE/COFF: {e}"))?;
    Ok(Header {
        text_offset,
        image_size,
        flags,
        pe,
    })
}

/// The Image for a kernel ELF: the load segment's file bytes, header checked.
pub fn image_from_elf(elf: &[u8]) -> Result<(Vec<u8>, Header), String> {
    let seg = load_segment(elf)?;
    let start = seg.offset as usize;
    let end = seg
        .offset
        .checked_add(seg.filesz)
        .filter(|e| *e <= elf.len() as u64)
        .ok_or(format!(
            "PT_LOAD [{:#x}, +{:#x}) runs past the end of the file",
            seg.offset, seg.filesz
        ))? as usize;
    if !seg.vaddr.is_multiple_of(ALIGN) {
        return Err(format!("PT_LOAD at {:#x} is not 2 MiB-aligned", seg.vaddr));
    }
    let bytes = elf[start..end].to_vec();
    let h = check_header(&bytes, seg.memsz)?;
    Ok((bytes, h))
}

/// A minimal ELF64 (ET_EXEC, AArch64) whose one PT_LOAD segment is `image` at `base`
/// (memory size `mem_size`, so a loader leaves BSS and stacks free), entered at `base`: the
/// Image placed at an arbitrary base by QEMU's ELF loader, with x0 = 0.
pub fn elf_at(image: &[u8], base: u64, mem_size: u64) -> Vec<u8> {
    let len = image.len() as u64;
    let ph = Phdr::load(7, elf::BUILD_DATA_OFFSET, base, len, mem_size.max(len));
    elf::build(base, &[ph], image)
}

/// Writes the Image for `elf` to `out`.
pub fn write_image(elf: &Path, out: &Path) -> Result<Header, String> {
    let data = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let (bytes, h) = image_from_elf(&data).map_err(|e| format!("{}: {e}", elf.display()))?;
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(h)
}

/// Where `cargo xtask image` writes the Image: beside the release kernel ELF.
pub fn image_path() -> PathBuf {
    KernelBuild::release().elf().with_file_name("Image")
}

pub const HELP: &str = "usage: cargo xtask image

Builds the release kernel, writes the arm64 Linux Image beside the ELF
(target/aarch64-unknown-none/release/Image), checks its header (the arm64 Image fields and
the PE/COFF header that makes the same file an EFI application) and prints its path as the
last line of stdout. No options.";

/// Builds the release kernel (a no-op when up to date) and returns the ELF's path; the build
/// talks on stderr, so a command whose stdout's last line is a path stays clean.
/// `cargo xtask image` and `cargo xtask sdcard` start here.
pub fn build_release_kernel() -> Result<PathBuf, String> {
    KernelBuild::release()
        .build(Output::Captured, |c| eprintln!("{c}"))
        .map(|(elf, _)| elf)
}

/// `cargo xtask image`: build the release kernel, write and check the Image, print its path
/// as the last line.
pub fn cmd(args: &[String]) -> ExitCode {
    if let Some(a) = args.iter().find(|a| *a != "--") {
        eprintln!("image: unknown argument `{a}` (usage: cargo xtask image)");
        return ExitCode::from(2);
    }
    let elf = match build_release_kernel() {
        Ok(elf) => elf,
        Err(e) => {
            eprintln!("image: kernel build failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = image_path();
    match write_image(&elf, &out) {
        Ok(h) => {
            let len = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            println!(
                "Image: {len} bytes, image_size {:#x}, text_offset {:#x}, flags {:#x}; \
                 PE/COFF EFI application: entry {:#x}, SizeOfImage {:#x}, {} section(s)",
                h.image_size, h.text_offset, h.flags, h.pe.entry, h.pe.size_of_image, h.pe.sections
            );
            println!("{}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("image: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with the given program headers (type, offset, vaddr, filesz, memsz),
    /// followed by `payload` at offset 0x1000.
    fn elf(phdrs: &[(u32, u64, u64, u64, u64)], payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 0x1000];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, &(t, off, va, fs, ms)) in phdrs.iter().enumerate() {
            let at = 64 + i * 56;
            b[at..at + 4].copy_from_slice(&t.to_le_bytes());
            b[at + 4..at + 8].copy_from_slice(&7u32.to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
            b[at + 16..at + 24].copy_from_slice(&va.to_le_bytes());
            b[at + 32..at + 40].copy_from_slice(&fs.to_le_bytes());
            b[at + 40..at + 48].copy_from_slice(&ms.to_le_bytes());
        }
        b.extend_from_slice(payload);
        b
    }

    /// An Image of `len` bytes with these arm64 header fields; when `len` is a multiple of
    /// 4 KiB, at least 8 KiB, also a well-formed PE/COFF header (SizeOfImage = `image_size`
    /// rounded up), else none (for checks that fail before the PE view is looked at).
    fn header(text_offset: u64, image_size: u64, flags: u64, len: usize) -> Vec<u8> {
        let size = (image_size.max(len as u64)).next_multiple_of(0x1000) as u32;
        let mut h = if len >= 0x2000 && len.is_multiple_of(0x1000) {
            crate::pe::tests::pe_image(len, size)
        } else {
            let mut h = vec![0u8; len];
            h[56..60].copy_from_slice(MAGIC);
            h
        };
        h[8..16].copy_from_slice(&text_offset.to_le_bytes());
        h[16..24].copy_from_slice(&image_size.to_le_bytes());
        h[24..32].copy_from_slice(&flags.to_le_bytes());
        h
    }

    #[test]
    fn image_is_the_load_segment() {
        let payload = header(0, 0x10000, FLAGS, 0x2000);
        let e = elf(
            &[
                (1, 0x1000, 0x4020_0000, 0x2000, 0x8000),
                (2, 0x1100, 0, 0x10, 0x10),
            ],
            &payload,
        );
        let (img, h) = image_from_elf(&e).unwrap();
        assert_eq!(img, payload);
        assert_eq!(
            h,
            Header {
                text_offset: 0,
                image_size: 0x10000,
                flags: FLAGS,
                pe: crate::pe::Pe {
                    entry: 0x1000,
                    size_of_image: 0x10000,
                    sections: 1
                }
            }
        );
    }

    #[test]
    fn rejects_bad_elves() {
        let payload = header(0, 0x10000, FLAGS, 0x200);
        assert!(image_from_elf(b"not an elf").is_err());
        let none = elf(&[(2, 0x1000, 0, 0x10, 0x10)], &payload);
        assert!(image_from_elf(&none).unwrap_err().contains("no PT_LOAD"));
        let two = elf(
            &[
                (1, 0x1000, 0x4020_0000, 0x100, 0x100),
                (1, 0x1100, 0x4030_0000, 0x100, 0x100),
            ],
            &payload,
        );
        assert!(image_from_elf(&two).unwrap_err().contains("2 PT_LOAD"));
        let past = elf(&[(1, 0x1000, 0x4020_0000, 0x10_0000, 0x10_0000)], &payload);
        assert!(image_from_elf(&past).unwrap_err().contains("past the end"));
        let misaligned = elf(&[(1, 0x1000, 0x4008_0000, 0x200, 0x200)], &payload);
        assert!(image_from_elf(&misaligned).unwrap_err().contains("2 MiB"));
        let mut short_ph = elf(&[(1, 0x1000, 0x4020_0000, 0x200, 0x200)], &payload);
        short_ph[0x38..0x3a].copy_from_slice(&200u16.to_le_bytes());
        short_ph.truncate(0x1000);
        assert!(image_from_elf(&short_ph).is_err());
    }

    #[test]
    fn header_checks() {
        let ok = header(0, 0x4000, FLAGS, 0x2000);
        assert!(check_header(&ok, 0x4000).is_ok());
        assert!(check_header(&ok[..32], 0).unwrap_err().contains("shorter"));
        let mut no_magic = ok.clone();
        no_magic[56] = b'X';
        assert!(check_header(&no_magic, 0).unwrap_err().contains("magic"));
        // image_size must cover the file and the BSS.
        assert!(check_header(&header(0, 0x400, FLAGS, 0x800), 0)
            .unwrap_err()
            .contains("file size"));
        assert!(check_header(&ok, 0x5000).unwrap_err().contains("BSS"));
        // The arm64 fields are right but the PE view is not: an Image no UEFI would start.
        let mut no_pe = ok.clone();
        no_pe[0x40] = 0;
        assert!(check_header(&no_pe, 0).unwrap_err().contains("PE/COFF"));
        assert!(check_header(&header(0, 0x1000, 0x2, 0x800), 0)
            .unwrap_err()
            .contains("flags"));
        assert!(check_header(&header(0x80000, 0x1000, FLAGS, 0x800), 0)
            .unwrap_err()
            .contains("text_offset"));
        assert!(check_header(&header(0x20_0000, 0x4000, FLAGS, 0x2000), 0).is_ok());
    }

    #[test]
    fn elf_at_round_trips() {
        let img = header(0, 0x8000, FLAGS, 0x2000);
        let e = elf_at(&img, 0x6000_0000, 0x8000);
        let seg = load_segment(&e).unwrap();
        assert_eq!(
            (seg.vaddr, seg.filesz, seg.memsz),
            (0x6000_0000, 0x2000, 0x8000)
        );
        let (back, h) = image_from_elf(&e).unwrap();
        assert_eq!(back, img);
        assert_eq!(h.image_size, 0x8000);
        assert_eq!(le64(&e, 0x18).unwrap(), 0x6000_0000);
    }

    /// The real kernel, when it has been built (the suite builds it before the host tests
    /// only sometimes, so this is skipped when absent).
    #[test]
    fn real_kernel_if_built() {
        let elf = KernelBuild::release().elf();
        let Ok(data) = std::fs::read(&elf) else {
            return;
        };
        let (img, h) = image_from_elf(&data).unwrap();
        assert!(h.image_size >= img.len() as u64);
        assert_eq!(&img[56..60], MAGIC);
        assert_eq!(u64::from(h.pe.size_of_image), h.image_size);
    }
}
