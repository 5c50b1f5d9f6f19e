//! Platform discovery from a flattened device tree (DTB), shared by the kernel (before its
//! MMU is on) and the host `dtb-check` tool.
//!
//! - [`fdt`]: raw structure walking (header, tokens, nodes, paths, phandles, `ranges`).
//! - [`platform`]: [`Platform::parse`], the description the kernel needs.
//! - [`interrupts`]: interrupt specifiers to GIC INTIDs, controllers found once.
//! - [`check`]: [`bootability`] (what the kernel requires) and the [`Report`] text.
//! - [`error`]: [`DtbError`], what can be wrong with a blob.
//! - [`devices`], [`pci`]: virtio-mmio transports and generic PCIe host bridges.
//!
//! # Constraints
//!
//! `no_std`, no allocation, no atomics, locks or statics (this runs with caches and MMU off,
//! where exclusives on Device memory fault). Big-endian fields are read from byte slices
//! (`u32::from_be_bytes`), never through cast pointers (`+strict-align`). No input can make
//! this code panic or loop forever: offsets are checked, every loop advances through a
//! bounded block, nesting is capped at [`fdt::MAX_DEPTH`], and the lints below forbid
//! indexing, `unwrap` and `panic!`.
//!
//! # Why our own parser and not an FDT crate
//!
//! The project prefers a well-kept crate. We tried the candidates with a byte-flip loop
//! (every byte of a `dtc`-compacted QEMU `virt` DTB XORed with 0xff, 0x01, 0x80 — 24066
//! inputs — then walking all nodes, properties, `reg`, chosen, cpus, memory):
//!
//! - `fdt` 0.1.5: panics on 11878 of the 24066 inputs; the first one is byte 8
//!   (`off_dt_struct`) XOR 0xff: "range start index 4278190136 out of range for slice of
//!   length 8022" in `Fdt::all_nodes`. It also uses `expect`/`assert_eq!` on malformed nodes
//!   by design ("bad node", "/cpus is a required node").
//! - `flat_device_tree` 3.1.1: panics on 1 input, byte 6399 XOR 0xff: "index out of bounds:
//!   the len is 64 but the index is 18446744073709551615" (node.rs:474).
//! - `fdt` 0.2.0-alpha3 and `fdt-parser` 0.5.1 are pre-release / allocate (`fdt-parser`
//!   uses `alloc`).
//!
//! None does `ranges` translation or interrupt-parent resolution either, so what we would
//! keep from a crate is the token walk, which is ~300 lines here, bounds-checked, and
//! covered by a proptest, a byte-flip test over every byte of a QEMU DTB, and cargo-fuzz
//! (`hal/fuzz`: `cargo +nightly fuzz run --target x86_64-unknown-linux-gnu dtb_parse`;
//! first run: 1,318,660 executions in 300 s from a corpus of the board, QEMU and DTS blobs,
//! no panic, no timeout).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod check;
pub mod devices;
pub mod error;
pub mod fdt;
pub mod interrupts;
pub mod pci;
pub mod platform;

pub use check::{
    assumed_boot_mpidr, bootability, bootability_on, cpu_plan, gic_core_limit, start_method,
    Bootable, CpuPlan, CpuProblem, NotBootable, Ram, Report, StartMethod, Unstartable,
};
pub use devices::{virtio_mmio, VirtioMmio, VirtioMmioList};
pub use error::DtbError;
pub use pci::{pci_hosts, IntxRoute, PciError, PciHost, PciHosts, PciSpace, PciWindow};
pub use platform::{
    Conduit, Console, Cpu, Cpus, EnableMethod, Gic, GicKind, Interrupt, Memory, Platform, Psci,
    PsciVersion, Region, Regions, Timer, UartKind, FIRST_UART, GICV2_COMPATIBLES, GICV3_COMPATIBLE,
};

/// Largest DTB we accept (`totalsize`). QEMU's dumps are 1 MiB (padded), and QEMU grows a
/// `-dtb` file to 2 × (its size + 10000) bytes before placing it, so a 1 MiB dump arrives
/// as 2,117,152 bytes; board DTBs are < 100 KiB.
pub const MAX_TOTALSIZE: usize = 4 * 1024 * 1024;

/// Validates the header of the DTB at physical address `ptr` (as handed over in x0) and
/// returns the whole blob as a slice of `totalsize` bytes.
///
/// Reads the 40-byte header first and nothing past it until magic, version, `totalsize`
/// (≤ [`MAX_TOTALSIZE`]) and the block offsets are known to be sane.
///
/// # Safety
///
/// `ptr` must be readable for 40 bytes and, if the header is valid, for `totalsize` bytes,
/// and that memory must not change or be reused for as long as the returned slice (or
/// anything borrowed from it, such as a [`Platform`]) is alive.
pub unsafe fn dtb_slice_from_ptr(ptr: usize) -> Result<&'static [u8], DtbError<'static>> {
    if ptr == 0 || !ptr.is_multiple_of(8) {
        return Err(DtbError::BadPointer(ptr));
    }
    // SAFETY: the caller guarantees 40 readable bytes at `ptr` (u8 needs no alignment).
    let header = unsafe { core::slice::from_raw_parts(ptr as *const u8, fdt::HEADER_SIZE) };
    let h = fdt::Header::parse(header)?;
    // SAFETY: the header is valid, so the caller guarantees `totalsize` readable bytes.
    Ok(unsafe { core::slice::from_raw_parts(ptr as *const u8, h.totalsize as usize) })
}
