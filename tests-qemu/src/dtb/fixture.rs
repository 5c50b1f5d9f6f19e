//! The bad-input fixtures: how a case's device tree is broken and handed to the kernel
//! (through `-dtb`, or at the start of RAM as an extra segment of a copy of the kernel ELF).

use std::path::{Path, PathBuf};

use super::dts::{
    compile, decompile, dts_cpu_reg, dts_unknown_console, dts_unknown_intc, dump_dtb,
};
use super::{corrupt_struct, truncate_half, VIRT_RAM_START};
use crate::boot::qemu::BootConfig;

/// A copy of ELF64 `elf` with one more PT_LOAD segment holding `blob` at physical/virtual
/// address `addr`. The new program header table is appended at the end of the file.
pub fn elf_with_blob(elf: &[u8], blob: &[u8], addr: u64) -> Result<Vec<u8>, String> {
    let (phoff, phnum) = crate::elf::program_header_table(elf)?;
    let len = blob.len() as u64;
    if let Some(p) = crate::elf::program_headers(elf)?
        .iter()
        .find(|p| p.loads_over(addr, len))
    {
        return Err(format!(
            "kernel segment {:#x}+{:#x} overlaps the blob at {addr:#x}+{len:#x}",
            p.paddr, p.memsz
        ));
    }
    let mut out = elf.to_vec();
    out.resize(out.len().next_multiple_of(4096), 0);
    let blob_off = out.len() as u64;
    out.extend_from_slice(blob);
    out.resize(out.len().next_multiple_of(8), 0);
    let new_phoff = out.len() as u64;
    out.extend_from_slice(&elf[phoff..phoff + phnum * 56]);
    out.extend_from_slice(
        &crate::elf::Phdr::load(4 /* PF_R */, blob_off, addr, len, len).to_bytes(),
    );
    out[0x20..0x28].copy_from_slice(&new_phoff.to_le_bytes());
    out[0x38..0x3a].copy_from_slice(&((phnum + 1) as u16).to_le_bytes());
    Ok(out)
}

/// How a bad-input case hands the kernel its device tree.
#[derive(Clone, Copy, Debug)]
pub enum DtbFixture {
    /// QEMU's own DTB, untouched.
    None,
    /// 4096 zero bytes at the start of RAM.
    ZerosInRam,
    /// QEMU's DTB cut in half (totalsize patched) at the start of RAM.
    TruncatedInRam,
    /// QEMU's DTB with a garbage token mid-structure, at the start of RAM.
    CorruptInRam,
    /// QEMU's DTB with the GIC's compatible changed, via `-dtb`.
    UnknownIntc,
    /// QEMU's DTB with the stdout-path UART's compatible changed, via `-dtb`.
    UnknownConsole,
    /// QEMU's DTB with the last cpu node's `reg` set to a bogus MPIDR (0xff00), via `-dtb`.
    BogusCpuReg,
    /// QEMU's own `dumpdtb` output, uncompacted (1 MiB of mostly padding), via `-dtb`: QEMU
    /// grows it to 2 × (1 MiB + 10000) bytes and, for an ELF kernel, places it below the
    /// image only if it fits there.
    RawDump,
}

/// What a prepared fixture changes in the boot.
pub struct Prepared {
    /// Boot this ELF instead of the kernel.
    pub kernel: Option<PathBuf>,
    /// Pass this `-dtb`.
    pub dtb: Option<PathBuf>,
}

/// Builds the fixture's files in `dir` for a boot of `kernel` with `cfg`.
pub fn prepare(
    fixture: DtbFixture,
    cfg: &BootConfig,
    kernel: &Path,
    dir: &Path,
) -> Result<Prepared, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let in_ram = |blob: Vec<u8>| -> Result<Prepared, String> {
        let elf = std::fs::read(kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
        let wrapped = elf_with_blob(&elf, &blob, VIRT_RAM_START)?;
        let out = dir.join("kernel-with-dtb.elf");
        std::fs::write(&out, wrapped).map_err(|e| format!("{}: {e}", out.display()))?;
        std::fs::write(dir.join("blob.dtb"), &blob).map_err(|e| e.to_string())?;
        Ok(Prepared {
            kernel: Some(out),
            dtb: None,
        })
    };
    let via_dtb = |edit: &dyn Fn(&str) -> Result<String, String>| -> Result<Prepared, String> {
        let orig = dir.join("qemu.dtb");
        dump_dtb(cfg, &orig)?;
        let dts = edit(&decompile(&orig)?)?;
        let out = dir.join("edited.dtb");
        compile(&dts, &dir.join("edited.dts"), &out)?;
        Ok(Prepared {
            kernel: None,
            dtb: Some(out),
        })
    };
    match fixture {
        DtbFixture::None => Ok(Prepared {
            kernel: None,
            dtb: None,
        }),
        DtbFixture::ZerosInRam => in_ram(vec![0u8; 4096]),
        DtbFixture::TruncatedInRam => {
            in_ram(truncate_half(&dump_dtb(cfg, &dir.join("qemu.dtb"))?)?)
        }
        DtbFixture::CorruptInRam => in_ram(corrupt_struct(&dump_dtb(cfg, &dir.join("qemu.dtb"))?)?),
        DtbFixture::UnknownIntc => via_dtb(&|d| dts_unknown_intc(d, "acme,foo-intc")),
        DtbFixture::UnknownConsole => via_dtb(&|d| dts_unknown_console(d, "acme,uart")),
        DtbFixture::RawDump => {
            let out = dir.join("qemu-raw.dtb");
            dump_dtb(cfg, &out)?;
            Ok(Prepared {
                kernel: None,
                dtb: Some(out),
            })
        }
        DtbFixture::BogusCpuReg => {
            let last = format!("cpu@{}", cfg.smp.saturating_sub(1));
            via_dtb(&|d| dts_cpu_reg(d, &last, 0xff00))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    use crate::boot::qemu::QEMU;
    use crate::util;

    #[test]
    fn elf_wrap() {
        // A fake ELF64 header with one PT_LOAD at 0x40200000.
        let e = crate::image::elf_at(&[0u8; 16], 0x4020_0000, 0x1000);
        let w = elf_with_blob(&e, &[7u8; 100], VIRT_RAM_START).unwrap();
        assert_eq!(u16::from_le_bytes([w[0x38], w[0x39]]), 2);
        let phoff = u64::from_le_bytes(w[0x20..0x28].try_into().unwrap()) as usize;
        let ph = phoff + 56;
        let off = u64::from_le_bytes(w[ph + 8..ph + 16].try_into().unwrap()) as usize;
        assert_eq!(&w[off..off + 100], &[7u8; 100][..]);
        assert!(elf_with_blob(&e, &vec![0u8; 0x30_0000], VIRT_RAM_START).is_err());
    }

    /// End-to-end: real QEMU dumps, real dtc as the oracle. Skipped (passes) without the tools.
    #[test]
    fn fixtures_against_qemu_and_dtc() {
        if util::which(QEMU).is_none() || util::which("dtc").is_none() {
            eprintln!("skipping: needs {QEMU} and dtc");
            return;
        }
        let dir = std::env::temp_dir().join(format!("aiolos-fixtures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A stand-in kernel: one PT_LOAD at 0x40200000.
        let e = crate::image::elf_at(&[0u8; 16], 0x4020_0000, 0x1000);
        let kernel = dir.join("kernel.elf");
        std::fs::write(&kernel, &e).unwrap();
        let cfg = BootConfig::default();
        let dtc_err = |f: &Path| {
            let out = Command::new("dtc")
                .args(["-q", "-I", "dtb", "-O", "dts"])
                .arg(f)
                .output()
                .unwrap();
            assert!(!out.status.success(), "dtc accepted {}", f.display());
            String::from_utf8_lossy(&out.stderr).into_owned()
        };
        let sub = |n: &str| dir.join(n);

        prepare(DtbFixture::ZerosInRam, &cfg, &kernel, &sub("zeros")).unwrap();
        assert_eq!(
            std::fs::read(sub("zeros/blob.dtb")).unwrap(),
            vec![0u8; 4096]
        );
        prepare(DtbFixture::TruncatedInRam, &cfg, &kernel, &sub("trunc")).unwrap();
        assert!(dtc_err(&sub("trunc/blob.dtb")).contains("exceeds total size"));
        prepare(DtbFixture::CorruptInRam, &cfg, &kernel, &sub("corrupt")).unwrap();
        assert!(dtc_err(&sub("corrupt/blob.dtb")).contains("0badf00d"));
        for (fx, name, want) in [
            (
                DtbFixture::UnknownIntc,
                "intc",
                "compatible = \"acme,foo-intc\";",
            ),
            (
                DtbFixture::UnknownConsole,
                "console",
                "compatible = \"acme,uart\";",
            ),
            (DtbFixture::BogusCpuReg, "cpu", "reg = <0xff00>;"),
        ] {
            let p = prepare(fx, &cfg, &kernel, &sub(name)).unwrap();
            let dts = decompile(&p.dtb.unwrap()).unwrap();
            assert!(dts.contains(want), "{name}: no `{want}`");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
