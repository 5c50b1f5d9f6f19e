//! Device-tree fixtures for the bad-input boots: dump QEMU's DTB, break it in various ways,
//! and hand it to the kernel.
//!
//! QEMU validates a `-dtb` file with libfdt and refuses to start on a blob without magic or
//! with a bad header, so blobs that are invalid *for the loader* (no magic, truncated,
//! corrupt structure block) cannot go through `-dtb`. Instead they are placed at the start of
//! RAM (0x4000_0000, where QEMU puts its own DTB for an ELF kernel) as an extra PT_LOAD
//! segment of a copy of the kernel ELF. An ELF that spans the start of RAM makes QEMU skip
//! its own DTB, so the kernel finds exactly the bytes we put there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::qemu::{BootConfig, QEMU};
use crate::util;

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

/// Asks QEMU for the DTB it would generate for `cfg` (same machine arguments and `-dtb`).
pub fn dump_dtb(cfg: &BootConfig, out: &Path) -> Result<Vec<u8>, String> {
    let _ = std::fs::remove_file(out);
    let mut cmd = Command::new(QEMU);
    cmd.args(cfg.machine_args(Some(out)))
        .args(["-display", "none", "-monitor", "none", "-serial", "none"]);
    // A board without a generated DTB (raspi4b) dumps the one it was given, patched.
    if let Some(dtb) = &cfg.dtb {
        cmd.arg("-dtb").arg(dtb);
    }
    let r = util::run_captured(&mut cmd, Duration::from_secs(30))
        .map_err(|e| format!("cannot run {QEMU}: {e}"))?;
    std::fs::read(out).map_err(|e| {
        format!(
            "dumpdtb produced no file ({e}); {QEMU} said: {}",
            util::tail(&r.stderr, 5)
        )
    })
}

/// `dtc -I dtb -O dts`.
pub fn decompile(dtb: &Path) -> Result<String, String> {
    let mut cmd = Command::new("dtc");
    cmd.args(["-q", "-I", "dtb", "-O", "dts"]).arg(dtb);
    let r = util::run_captured(&mut cmd, Duration::from_secs(30))
        .map_err(|e| format!("cannot run dtc: {e}"))?;
    if !r.success() {
        return Err(format!("dtc failed: {}", util::tail(&r.stderr, 5)));
    }
    Ok(r.stdout)
}

/// `dtc -I dts -O dtb`.
pub fn compile(dts: &str, dts_path: &Path, out: &Path) -> Result<(), String> {
    std::fs::write(dts_path, dts).map_err(|e| format!("{}: {e}", dts_path.display()))?;
    let mut cmd = Command::new("dtc");
    cmd.args(["-q", "-I", "dts", "-O", "dtb", "-o"])
        .arg(out)
        .arg(dts_path);
    let r = util::run_captured(&mut cmd, Duration::from_secs(30))
        .map_err(|e| format!("cannot run dtc: {e}"))?;
    if !r.success() {
        return Err(format!("dtc failed: {}", util::tail(&r.stderr, 5)));
    }
    Ok(())
}

/// Line range `[open, close]` of the node whose header line is `NAME {` (or `label: NAME {`).
fn node_lines(lines: &[String], name: &str) -> Option<(usize, usize)> {
    let open = lines.iter().position(|l| {
        let t = l.trim();
        let t = t.rsplit_once(": ").map(|(_, r)| r).unwrap_or(t);
        t == format!("{name} {{")
    })?;
    let mut depth = 0i32;
    for (i, l) in lines.iter().enumerate().skip(open) {
        depth += l.matches('{').count() as i32;
        depth -= l.matches("};").count() as i32;
        if depth == 0 {
            return Some((open, i));
        }
    }
    None
}

/// Replaces the first direct property `prop = ...;` of node `name` by `prop = VALUE;`.
fn set_node_prop(dts: &str, name: &str, prop: &str, value: &str) -> Result<String, String> {
    let mut lines: Vec<String> = dts.lines().map(String::from).collect();
    let (open, close) = node_lines(&lines, name).ok_or(format!("no node `{name}` in the DTS"))?;
    let mut depth = 0;
    for i in open + 1..close {
        let t = lines[i].trim().to_string();
        if depth == 0 && (t.starts_with(&format!("{prop} =")) || t == format!("{prop};")) {
            let indent: String = lines[i].chars().take_while(|c| c.is_whitespace()).collect();
            lines[i] = format!("{indent}{prop} = {value};");
            return Ok(lines.join("\n") + "\n");
        }
        depth += t.matches('{').count() as i32;
        depth -= t.matches("};").count() as i32;
    }
    Err(format!("node `{name}` has no `{prop}` property"))
}

/// Value of a string property `prop = "v";` inside node `name` (first match).
fn get_node_string(dts: &str, name: &str, prop: &str) -> Option<String> {
    let lines: Vec<String> = dts.lines().map(String::from).collect();
    let (open, close) = node_lines(&lines, name)?;
    lines[open + 1..close].iter().find_map(|l| {
        let t = l.trim();
        let rest = t.strip_prefix(&format!("{prop} = \""))?;
        Some(rest.split('"').next()?.to_string())
    })
}

/// Changes the GIC's compatible (the node with `interrupt-controller;` and a GIC compatible).
pub fn dts_unknown_intc(dts: &str, new_compat: &str) -> Result<String, String> {
    let known = [
        "\"arm,gic-v3\"",
        "\"arm,cortex-a15-gic\"",
        "\"arm,gic-400\"",
    ];
    let mut hits = 0;
    let out: Vec<String> = dts
        .lines()
        .map(|l| {
            let t = l.trim();
            if known.iter().any(|k| t == format!("compatible = {k};")) {
                hits += 1;
                let indent: String = l.chars().take_while(|c| c.is_whitespace()).collect();
                format!("{indent}compatible = \"{new_compat}\";")
            } else {
                l.to_string()
            }
        })
        .collect();
    if hits != 1 {
        return Err(format!(
            "expected exactly one GIC compatible in the DTS, found {hits}"
        ));
    }
    Ok(out.join("\n") + "\n")
}

/// Changes the compatible of the node `/chosen/stdout-path` refers to.
pub fn dts_unknown_console(dts: &str, new_compat: &str) -> Result<String, String> {
    let mut path =
        get_node_string(dts, "chosen", "stdout-path").ok_or("no /chosen/stdout-path in the DTS")?;
    if let Some((p, _opts)) = path.split_once(':') {
        path = p.to_string();
    }
    if !path.starts_with('/') {
        path = get_node_string(dts, "aliases", &path)
            .ok_or(format!("stdout-path alias `{path}` not found"))?;
    }
    let node = path.rsplit('/').next().unwrap_or(&path).to_string();
    set_node_prop(dts, &node, "compatible", &format!("\"{new_compat}\""))
}

/// Sets the `reg` (MPIDR) of cpu node `cpu@N`.
pub fn dts_cpu_reg(dts: &str, cpu_node: &str, mpidr: u64) -> Result<String, String> {
    set_node_prop(dts, cpu_node, "reg", &format!("<{mpidr:#x}>"))
}

/// Adds `bootargs = "ARGS";` to `/chosen` (QEMU's dump has none: it adds them only with -append).
pub fn dts_with_bootargs(dts: &str, args: &str) -> Result<String, String> {
    if args.contains('"') || args.contains('\\') {
        return Err(format!("bootargs `{args}`: no quotes or backslashes"));
    }
    let mut lines: Vec<String> = dts.lines().map(String::from).collect();
    let (open, _close) = node_lines(&lines, "chosen").ok_or("no node `chosen` in the DTS")?;
    if get_node_string(dts, "chosen", "bootargs").is_some() {
        return set_node_prop(dts, "chosen", "bootargs", &format!("\"{args}\""));
    }
    lines.insert(open + 1, format!("\t\tbootargs = \"{args}\";"));
    Ok(lines.join("\n") + "\n")
}

/// QEMU's DTB for `cfg` with `/chosen/bootargs` set, written to `dir/bootargs.dtb`.
pub fn dtb_with_bootargs(cfg: &BootConfig, args: &str, dir: &Path) -> Result<Vec<u8>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let orig = dir.join("qemu.dtb");
    dump_dtb(cfg, &orig)?;
    let dts = dts_with_bootargs(&decompile(&orig)?, args)?;
    let out = dir.join("bootargs.dtb");
    compile(&dts, &dir.join("bootargs.dts"), &out)?;
    std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))
}

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
        DtbFixture::BogusCpuReg => {
            let last = format!("cpu@{}", cfg.smp.saturating_sub(1));
            via_dtb(&|d| dts_cpu_reg(d, &last, 0xff00))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootargs_into_chosen() {
        let dts = "/ {\n\tchosen {\n\t\tstdout-path = \"/pl011@9000000\";\n\t};\n};\n";
        let out = dts_with_bootargs(dts, "test").unwrap();
        assert!(
            out.contains("\tchosen {\n\t\tbootargs = \"test\";\n"),
            "{out}"
        );
        let again = dts_with_bootargs(&out, "stress").unwrap();
        assert!(again.contains("bootargs = \"stress\";") && !again.contains("\"test\""));
        assert!(dts_with_bootargs(dts, "a\"b").is_err());
        assert!(dts_with_bootargs("/ {\n};\n", "test").is_err());
    }

    const DTS: &str = r#"/dts-v1/;

/ {
	#address-cells = <0x02>;
	compatible = "linux,dummy-virt";

	pl011@9000000 {
		clock-names = "uartclk\0apb_pclk";
		compatible = "arm,pl011\0arm,primecell";
		reg = <0x00 0x9000000 0x00 0x1000>;
	};

	intc@8000000 {
		compatible = "arm,gic-v3";
		interrupt-controller;

		its@8080000 {
			compatible = "arm,gic-v3-its";
		};
	};

	cpus {
		cpu@0 {
			compatible = "arm,arm-v8";
			reg = <0x00>;
		};

		cpu@1 {
			compatible = "arm,arm-v8";
			reg = <0x01>;
		};
	};

	chosen {
		stdout-path = "/pl011@9000000";
	};
};
"#;

    #[test]
    fn dts_edits() {
        let d = dts_unknown_intc(DTS, "acme,foo-intc").unwrap();
        assert!(d.contains("\t\tcompatible = \"acme,foo-intc\";"));
        assert!(d.contains("\"arm,gic-v3-its\""));
        let d = dts_unknown_console(DTS, "acme,uart").unwrap();
        assert!(d.contains("compatible = \"acme,uart\";"));
        assert!(!d.contains("arm,pl011"));
        let d = dts_cpu_reg(DTS, "cpu@1", 0xff00).unwrap();
        assert!(d.contains("reg = <0xff00>;"));
        assert!(d.contains("reg = <0x00>;"));
        assert!(dts_cpu_reg(DTS, "cpu@7", 1).is_err());
    }

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
