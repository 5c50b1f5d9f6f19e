//! What the UEFI entry ([`super`]) leaves for the normal boot path: a block in the image's
//! `.data`, so it travels with the image when the EFI entry copies it to a 2 MiB-aligned
//! base, and stays all zero (no magic) when the image was started any other way.
//!
//! Written by the EFI entry with the firmware's MMU and caches on, into the copy that is then
//! cleaned to the point of coherency; read by the normal boot path with the MMU off (plain
//! memory, no atomics) and afterwards, read-only, by everyone.

use core::cell::UnsafeCell;

/// "aiolEFI1": the block was filled by the EFI entry.
pub const MAGIC: u64 = u64::from_le_bytes(*b"aiolEFI1");
/// Longest bootargs string kept (from the EFI load options).
pub const BOOTARGS_MAX: usize = 256;
/// Most RAM ranges kept from the EFI memory map (adjacent ranges are merged).
pub const MAX_RAM: usize = 32;

/// One range of RAM `[base, base + size)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    pub base: u64,
    pub size: u64,
}

/// The hand-over block.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Handoff {
    /// [`MAGIC`] when filled in.
    pub magic: u64,
    /// The device tree from the EFI configuration table, or 0.
    pub dtb: u64,
    /// The ACPI 2.0 RSDP from the EFI configuration table, or 0.
    pub acpi_rsdp: u64,
    /// The exception level the firmware started the EFI entry at.
    pub efi_el: u64,
    /// Where the firmware loaded the image (before any copy).
    pub loaded_at: u64,
    /// Number of valid entries in `ram`.
    pub ram_count: u64,
    /// RAM from the EFI memory map (write-back cacheable, not MMIO or reserved).
    pub ram: [Range; MAX_RAM],
    /// Number of valid bytes in `bootargs`.
    pub bootargs_len: u64,
    /// The EFI load options as ASCII, the image's own name dropped.
    pub bootargs: [u8; BOOTARGS_MAX],
}

impl Handoff {
    pub const EMPTY: Handoff = Handoff {
        magic: 0,
        dtb: 0,
        acpi_rsdp: 0,
        efi_el: 0,
        loaded_at: 0,
        ram_count: 0,
        ram: [Range { base: 0, size: 0 }; MAX_RAM],
        bootargs_len: 0,
        bootargs: [0; BOOTARGS_MAX],
    };

    /// The RAM ranges from the memory map.
    pub fn ram(&self) -> &[Range] {
        &self.ram[..(self.ram_count as usize).min(MAX_RAM)]
    }

    /// The bootargs from the load options (empty when none).
    pub fn bootargs(&self) -> &str {
        let len = (self.bootargs_len as usize).min(BOOTARGS_MAX);
        // The EFI entry stores only ASCII; anything else means a corrupt block: no bootargs.
        core::str::from_utf8(&self.bootargs[..len]).unwrap_or("")
    }
}

struct Cell(UnsafeCell<Handoff>);
// SAFETY: written only by the EFI entry (into the image copy, before the normal boot path
// runs on any core); read-only afterwards.
unsafe impl Sync for Cell {}

// In `.data`, not `.bss`: the block must be part of the file's bytes that the EFI entry
// copies, and `zero_bss` (entry.S) must not clear it.
#[link_section = ".data.efi_handoff"]
static HANDOFF: Cell = Cell(UnsafeCell::new(Handoff::EMPTY));

/// The block's address in the running image (the EFI entry computes the copy's from it).
pub fn addr() -> usize {
    HANDOFF.0.get() as usize
}

/// The hand-over block, if the image was started through its EFI entry.
pub fn get() -> Option<&'static Handoff> {
    // SAFETY: the block is only written before the normal boot path starts (see `Cell`); a
    // volatile read of the magic because the compiler cannot know the EFI entry wrote it.
    let magic = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*HANDOFF.0.get()).magic)) };
    // SAFETY: as above: no writer exists any more, so a shared reference is sound.
    (magic == MAGIC).then(|| unsafe { &*HANDOFF.0.get() })
}
