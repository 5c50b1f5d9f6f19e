//! Malformed input never panics or hangs: every case returns `Err` or `Ok`, and the report
//! (which walks everything the kernel would) can always be printed.

mod common;

use hal::dtb::{dtb_slice_from_ptr, DtbError, Platform};
use proptest::prelude::*;

/// Parses and, when that works, renders the full report (bootability included).
fn exercise(b: &[u8]) -> bool {
    match Platform::parse(b) {
        Ok(p) => {
            let _ = hal::dtb::Report(&p).to_string();
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}

/// A small valid DTB: QEMU's dump recompacted by dtc (QEMU pads to 1 MiB), or our
/// synthetic DTS when QEMU is absent.
fn sample() -> Option<Vec<u8>> {
    let raw = common::qemu_virt_dtb("gic-version=3").or_else(|| common::dts("synthetic.dts"))?;
    let out = std::process::Command::new("dtc")
        .args(["-I", "dtb", "-O", "dtb", "-q", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take()?.write_all(&raw).ok()?;
            c.wait_with_output().ok()
        });
    match out {
        Some(o) if o.status.success() => Some(o.stdout),
        _ => Some(raw),
    }
}

fn synthetic() -> Option<Vec<u8>> {
    common::dts("synthetic.dts")
}

#[test]
fn empty_and_short() {
    assert!(matches!(Platform::parse(&[]), Err(DtbError::TooShort(0))));
    assert!(matches!(
        Platform::parse(&[0xd0, 0x0d]),
        Err(DtbError::TooShort(2))
    ));
    assert!(matches!(
        Platform::parse(&[0xd0, 0x0d, 0xfe, 0xed]),
        Err(DtbError::TooShort(4))
    ));
}

#[test]
fn bad_magic() {
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    let e = Platform::parse(&b).unwrap_err();
    assert_eq!(e, DtbError::BadMagic(0x7f45_4c46));
    assert!(e.to_string().contains("bad magic"));
}

#[test]
fn truncated_at_several_lengths() {
    let Some(b) = sample() else { return };
    for len in [
        0,
        3,
        4,
        39,
        40,
        41,
        64,
        b.len() / 4,
        b.len() / 2,
        b.len() - 1,
    ] {
        let e = Platform::parse(&b[..len]).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("truncated") || s.contains("bad magic"),
            "len {len}: {s}"
        );
    }
    assert!(exercise(&b));
}

#[test]
fn totalsize_larger_than_buffer_or_absurd() {
    let Some(mut b) = sample() else { return };
    let real = b.len() as u32;
    b[4..8].copy_from_slice(&(real + 8).to_be_bytes());
    assert_eq!(
        Platform::parse(&b).unwrap_err(),
        DtbError::Truncated {
            totalsize: real + 8,
            available: b.len()
        }
    );
    b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        Platform::parse(&b).unwrap_err(),
        DtbError::BadTotalsize(u32::MAX)
    );
    b[4..8].copy_from_slice(&8u32.to_be_bytes());
    assert_eq!(Platform::parse(&b).unwrap_err(), DtbError::BadTotalsize(8));
}

#[test]
fn old_version_and_offsets_outside() {
    let Some(b) = sample() else { return };
    let mut v = b.clone();
    v[20..24].copy_from_slice(&15u32.to_be_bytes());
    assert!(matches!(
        Platform::parse(&v),
        Err(DtbError::UnsupportedVersion { version: 15, .. })
    ));
    let mut v = b.clone();
    v[8..12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    assert!(matches!(
        Platform::parse(&v),
        Err(DtbError::BadHeaderField(_))
    ));
    let mut v = b.clone();
    v[36..40].copy_from_slice(&0xffff_fff0u32.to_be_bytes()); // size_dt_struct
    assert!(matches!(
        Platform::parse(&v),
        Err(DtbError::BadHeaderField(_))
    ));
}

/// XOR every byte with several masks; each must come back Ok or Err.
#[test]
fn every_byte_flipped() {
    for (name, b) in [("qemu virt", sample()), ("synthetic", synthetic())] {
        let Some(b) = b else { continue };
        let (mut ok, mut err) = (0, 0);
        let mut v = b.clone();
        for i in 0..b.len() {
            for mask in [0xff, 0x01, 0x80, 0x10] {
                v[i] = b[i] ^ mask;
                if exercise(&v) {
                    ok += 1;
                } else {
                    err += 1;
                }
            }
            v[i] = b[i];
        }
        println!(
            "{name}: {} bytes, {} flips: {ok} Ok, {err} Err, no panic",
            b.len(),
            ok + err
        );
    }
}

/// Nesting deeper than MAX_DEPTH is an error, not a stack overflow.
#[test]
fn too_deep() {
    let mut dts = String::from("/dts-v1/;\n/ {\n");
    for i in 0..40 {
        dts += &format!("n{i} {{\n");
    }
    dts += &"};\n".repeat(40);
    dts += "};\n";
    let path = std::env::temp_dir().join(format!("aiolos-deep-{}.dts", std::process::id()));
    std::fs::write(&path, dts).unwrap();
    let out = std::process::Command::new("dtc")
        .args(["-I", "dts", "-O", "dtb", "-q"])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let Ok(out) = out else {
        return println!("SKIPPED: dtc not found");
    };
    assert_eq!(Platform::parse(&out.stdout).unwrap_err(), DtbError::TooDeep);
}

#[test]
fn from_pointer() {
    let Some(b) = sample() else { return };
    // u64 backing store: 8-byte aligned like a boot loader's DTB.
    let mut words = vec![0u64; b.len().div_ceil(8) + 2];
    let bytes: &mut [u8] =
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), words.len() * 8) };
    bytes[..b.len()].copy_from_slice(&b);
    let ptr = bytes.as_ptr() as usize;
    let s = unsafe { dtb_slice_from_ptr(ptr) }.unwrap();
    assert_eq!(s, &b[..]);
    assert!(Platform::parse(s).is_ok());
    assert_eq!(
        unsafe { dtb_slice_from_ptr(0) }.unwrap_err(),
        DtbError::BadPointer(0)
    );
    assert_eq!(
        unsafe { dtb_slice_from_ptr(ptr + 4) }.unwrap_err(),
        DtbError::BadPointer(ptr + 4)
    );
    bytes[0] = 0;
    assert!(matches!(
        unsafe { dtb_slice_from_ptr(ptr) },
        Err(DtbError::BadMagic(_))
    ));
}

fn base() -> Vec<u8> {
    // Proptest strategies need a value even when dtc is missing: a header-only blob.
    synthetic().unwrap_or_else(|| {
        let mut h = vec![0u8; 56];
        for (i, w) in [0xd00d_feedu32, 56, 40, 56, 40, 17, 16, 0, 0, 0]
            .iter()
            .enumerate()
        {
            h[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        h
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes behind a valid magic and version.
    #[test]
    fn random_after_magic(tail in proptest::collection::vec(any::<u8>(), 0..512),
                          totalsize in 0u32..600, off in proptest::array::uniform3(0u32..600)) {
        let mut b = Vec::new();
        for w in [0xd00d_feed, totalsize, off[0], off[1], off[2] & !7, 17, 16, 0, 64, 256] {
            b.extend_from_slice(&u32::to_be_bytes(w));
        }
        b.extend_from_slice(&tail);
        exercise(&b);
    }

    /// A valid DTB with up to 8 bytes overwritten and an optional truncation.
    #[test]
    fn mutated_valid(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                     cut in proptest::option::of(any::<prop::sample::Index>())) {
        let mut b = base();
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        if let Some(c) = cut {
            let c = c.index(b.len());
            b.truncate(c);
        }
        exercise(&b);
    }

    /// Words in the structure block replaced by token values (the most confusing edits).
    #[test]
    fn token_swaps(edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u32..12), 1..6)) {
        let mut b = base();
        let words = b.len() / 4;
        for (i, tok) in edits {
            let w = i.index(words);
            b[w * 4..w * 4 + 4].copy_from_slice(&tok.to_be_bytes());
        }
        exercise(&b);
    }
}
