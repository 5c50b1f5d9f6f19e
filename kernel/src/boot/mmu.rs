//! Identity-mapped translation tables for EL1 and the switch that turns the MMU and caches on.
//!
//! One table tree serves every core (secondaries load the same TTBR0/TCR/MAIR). 4 KiB
//! granule, 39-bit VA (T0SZ = 25, walks start at level 1), covering 0..512 GiB:
//!
//! * the first 4 GiB at 2 MiB granularity (four level-2 tables): a block is Normal
//!   write-back inner-shareable if it overlaps RAM (from the DTB) or the image, else
//!   Device-nGnRE; boards such as the Raspberry Pi 4 have RAM and MMIO in the same GiB;
//! * the 2 MiB block holding core 0's stacks, and every 2 MiB block of the secondaries'
//!   stacks (in the boot arena, `arena.rs`), through a level-3 table that leaves each core's
//!   two guard pages unmapped (the arena's tables live in the arena, after the stacks);
//! * above 4 GiB, 1 GiB blocks: Normal if wholly RAM, else Device.
//!
//! Built by the primary core with the MMU off (plain stores, no atomics: exclusives on
//! Device memory, which is what all memory is with the MMU off, fail on real hardware).

use super::layout::{self, Span, GUARD_OFFSETS, PAGE_SIZE, STACK_STRIDE};
use core::cell::UnsafeCell;

const ENTRIES: usize = 512;
const GIB: usize = 1 << 30;
const BLOCK_2M: usize = 2 << 20;
const FINE_GIBS: usize = 4;
/// Below this the tables map at 2 MiB (and 4 KiB where guard pages are): the boot arena,
/// whose stacks need guard pages, must lie below it.
pub const FINE_LIMIT: usize = FINE_GIBS * GIB;

/// The secondaries' stack blocks and the level-3 tables (one per 2 MiB block of them,
/// 4 KiB each, from `l3_tables` on) that unmap their guard pages.
#[derive(Clone, Copy, Debug)]
pub struct SecondaryStacks {
    pub blocks: Span,
    pub l3_tables: usize,
    pub l3_count: usize,
}

impl SecondaryStacks {
    /// The level-3 table for the 2 MiB block at `addr`, if the block holds secondary stacks.
    fn table_for(&self, addr: usize) -> Option<usize> {
        let first = self.blocks.start & !(BLOCK_2M - 1);
        if self.blocks.start == self.blocks.end || addr < first || addr >= self.blocks.end {
            return None;
        }
        let i = (addr - first) / BLOCK_2M;
        (i < self.l3_count).then(|| self.l3_tables + i * PAGE_SIZE)
    }
}

// Descriptor bits (Arm ARM D8.3).
const DESC_BLOCK: u64 = 0b01;
const DESC_TABLE: u64 = 0b11; // also "page" at level 3
const ATTR_IDX_DEVICE: u64 = 0 << 2; // MAIR attr0
const ATTR_IDX_NORMAL: u64 = 1 << 2; // MAIR attr1
const SH_INNER: u64 = 0b11 << 8;
const AF: u64 = 1 << 10;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;

const NORMAL: u64 = ATTR_IDX_NORMAL | SH_INNER | AF | UXN;
const DEVICE: u64 = ATTR_IDX_DEVICE | AF | PXN | UXN;

/// MAIR_EL1: attr0 = Device-nGnRE, attr1 = Normal inner/outer write-back RW-allocate.
const MAIR: u64 = 0x04 | (0xff << 8);

#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

struct Tables {
    l1: Table,
    l2: [Table; FINE_GIBS],
    l3_stacks: Table,
}

struct TablesCell(UnsafeCell<Tables>);
// SAFETY: written only by the primary core before any secondary starts and before the MMU
// is on; afterwards only read by the table walker.
unsafe impl Sync for TablesCell {}

static TABLES: TablesCell = TablesCell(UnsafeCell::new(Tables {
    l1: Table([0; ENTRIES]),
    l2: [const { Table([0; ENTRIES]) }; FINE_GIBS],
    l3_stacks: Table([0; ENTRIES]),
}));

/// Register values every core loads to turn on the same translation regime.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct MmuConfig {
    pub ttbr0: u64,
    pub tcr: u64,
    pub mair: u64,
}

fn overlaps(a: Span, start: usize, len: usize) -> bool {
    a.start < start + len && start < a.end
}

fn covers(a: Span, start: usize, len: usize) -> bool {
    a.start <= start && start + len <= a.end
}

/// Fill the tables for `ram` (the DTB's memory ranges). Primary core, MMU off.
///
/// # Safety
/// Must run once, on the primary core, before any other core runs and before the MMU is on.
pub unsafe fn build(ram: &[Span], secondary: SecondaryStacks) -> MmuConfig {
    let image = layout::image();
    let stacks = layout::stacks();
    let stacks_block = stacks.start & !(BLOCK_2M - 1);
    let is_ram = |start: usize, len: usize| {
        ram.iter().any(|r| overlaps(*r, start, len)) || overlaps(image, start, len)
    };

    // SAFETY: the caller guarantees exclusive access (single core, before the MMU).
    let t = unsafe { &mut *TABLES.0.get() };

    for (gib, l2) in t.l2.iter_mut().enumerate() {
        for (i, entry) in l2.0.iter_mut().enumerate() {
            let addr = gib * GIB + i * BLOCK_2M;
            *entry = if addr == stacks_block {
                t.l3_stacks.0.as_ptr() as u64 | DESC_TABLE
            } else if let Some(l3) = secondary.table_for(addr) {
                // SAFETY: a page of arena memory reserved for this table (caller: MMU off,
                // single core), written with plain stores.
                unsafe { fill_l3(l3 as *mut u64, addr, secondary.blocks) };
                l3 as u64 | DESC_TABLE
            } else if is_ram(addr, BLOCK_2M) {
                addr as u64 | NORMAL | DESC_BLOCK
            } else {
                addr as u64 | DEVICE | DESC_BLOCK
            };
        }
        t.l1.0[gib] = l2.0.as_ptr() as u64 | DESC_TABLE;
    }
    for gib in FINE_GIBS..ENTRIES {
        let addr = gib * GIB;
        let wholly_ram = ram.iter().any(|r| covers(*r, addr, GIB));
        t.l1.0[gib] = addr as u64 | if wholly_ram { NORMAL } else { DEVICE } | DESC_BLOCK;
    }

    // SAFETY: the static table, exclusively ours (caller's contract).
    unsafe { fill_l3(t.l3_stacks.0.as_mut_ptr(), stacks_block, stacks) };

    MmuConfig {
        ttbr0: t.l1.0.as_ptr() as u64,
        tcr: tcr(),
        mair: MAIR,
    }
}

/// Fill the level-3 table at `table` for the 2 MiB block at `block`: Normal pages, except
/// the guard pages of the stack blocks laid out from `stacks.start`.
///
/// # Safety
/// `table` is 4 KiB of memory only this core writes, MMU off.
unsafe fn fill_l3(table: *mut u64, block: usize, stacks: Span) {
    debug_assert!(STACK_STRIDE.is_multiple_of(PAGE_SIZE) && GUARD_OFFSETS.len() == 2);
    for i in 0..ENTRIES {
        let addr = block + i * PAGE_SIZE;
        let entry = if layout::is_guard_in(stacks, addr) {
            0
        } else {
            addr as u64 | NORMAL | DESC_TABLE
        };
        // SAFETY: `i < 512` entries of the caller's table.
        unsafe { table.add(i).write_volatile(entry) };
    }
}

/// TCR_EL1 for the regime above, with IPS = the CPU's physical address size.
fn tcr() -> u64 {
    const T0SZ: u64 = 25; // 2^39 bytes of VA
    const IRGN0_WBWA: u64 = 0b01 << 8;
    const ORGN0_WBWA: u64 = 0b01 << 10;
    const SH0_INNER: u64 = 0b11 << 12;
    const TG0_4K: u64 = 0b00 << 14;
    const EPD1: u64 = 1 << 23; // no TTBR1 walks
    let pa_range = hal::mmu::pa_range() & 0b111;
    T0SZ | IRGN0_WBWA | ORGN0_WBWA | SH0_INNER | TG0_4K | EPD1 | (pa_range << 32)
}

/// Invalidate the tables' cache lines on the primary: they were written with the MMU and
/// caches off, and a stale line from before boot must not shadow them once caches are on.
/// (Secondaries skip this: invalidating by VA with their MMU off could discard lines that
/// are not theirs.)
pub fn invalidate_tables(secondary: SecondaryStacks) {
    let start = TABLES.0.get() as usize;
    // SAFETY: the tables are whole pages of our own, written only by this core.
    unsafe { hal::cache::dcache_invalidate_range(start, core::mem::size_of::<Tables>()) };
    if secondary.l3_count > 0 {
        // SAFETY: as above: arena pages holding our level-3 tables.
        unsafe {
            hal::cache::dcache_invalidate_range(secondary.l3_tables, secondary.l3_count * PAGE_SIZE)
        };
    }
}

/// Turn on the MMU, the data and the instruction caches on this core.
///
/// # Safety
/// `cfg` must come from [`build`]; the code and stack in use must be identity mapped.
pub unsafe fn enable(cfg: &MmuConfig) {
    // SAFETY: per the contract above, turning translation on keeps every address we use
    // meaning the same thing (identity map).
    unsafe { hal::mmu::enable(cfg.mair, cfg.tcr, cfg.ttbr0) };
}
