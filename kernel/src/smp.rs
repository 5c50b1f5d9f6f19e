//! Per-core identity: the one table of who each core is (floor 1, see docs/ARCHITECTURE.md).
//!
//! Core index i (0 = the boot core) is kept in TPIDR_EL1. The table (boot arena memory, as
//! many entries as cores planned: no fixed cap) maps each index to the core's MPIDR
//! (assigned by the primary from the DTB before any secondary starts, in [`install`]), its GIC SGI target (the MPIDR, and on GICv2 the CPU interface number, which
//! the core publishes itself in [`set_gicv2_interface`] during its bring-up), and whether it
//! is online ([`mark_online`]). Bringing cores up is `boot/secondaries.rs`.

use crate::boot_cell::BootCell;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use hal::gic::CoreId;

/// The address of the MPIDR table (`CoreMap::mpidr`, in the boot arena) and its length, read
/// with the MMU off by cores released from a spin table (entry.S walks it), hence
/// `#[no_mangle]` and plain u64s written during single-core boot and cleaned to the point of
/// coherency.
#[no_mangle]
static mut SPIN_TABLE_MPIDRS: u64 = 0;
#[no_mangle]
static mut SPIN_TABLE_COUNT: u64 = 0;

/// Each managed core's MPIDR by index, as the primary assigned them from the DTB.
pub struct CoreMap {
    /// MPIDR affinity bits of core index i (index 0 = the boot core, always present); boot
    /// arena memory sized for the cores planned.
    pub mpidr: &'static [u64],
}

/// Per-core flags, allocated with the map (boot arena).
pub struct CoreFlags {
    /// Whether core i finished its bring-up.
    pub online: &'static [AtomicBool],
    /// Core i's GICv2 CPU interface number (SGI target list bit), published by the core
    /// before it is marked online.
    pub gicv2_if: &'static [AtomicU8],
}

static CORES: BootCell<CoreMap> = BootCell::new();
static FLAGS: BootCell<CoreFlags> = BootCell::new();

/// Record this core's index (each core, first thing on entry).
pub fn set_core_index(index: usize) {
    hal::cpu::set_tpidr_el1(index);
}

/// The calling core's index (0 = the boot core).
pub fn core_index() -> usize {
    hal::cpu::tpidr_el1()
}

/// Install the core map and its flags, and publish the map to the spin-table pen.
///
/// # Safety
/// Single-core boot: no secondary started yet, IRQs masked.
pub unsafe fn install(map: CoreMap, flags: CoreFlags) {
    let (addr, len) = (map.mpidr.as_ptr() as usize, map.mpidr.len());
    // SAFETY: single-core boot (contract): nothing reads either concurrently.
    unsafe {
        core::ptr::write_volatile(core::ptr::addr_of_mut!(SPIN_TABLE_MPIDRS), addr as u64);
        core::ptr::write_volatile(core::ptr::addr_of_mut!(SPIN_TABLE_COUNT), len as u64);
        CORES.set(map);
        FLAGS.set(flags);
    }
    hal::cache::dcache_clean_range(addr, len * core::mem::size_of::<u64>());
    hal::cache::dcache_clean_range(core::ptr::addr_of!(SPIN_TABLE_MPIDRS) as usize, 8);
    hal::cache::dcache_clean_range(core::ptr::addr_of!(SPIN_TABLE_COUNT) as usize, 8);
}

fn online_flag(core: usize) -> Option<&'static AtomicBool> {
    FLAGS.get()?.online.get(core)
}

/// Number of cores that are online: the boot core and every secondary whose flag is set.
/// Counted from the flags themselves (not a separate counter), so a core that `is_online`
/// reports is always in the count: a counter bumped after the flag let the boot core, done
/// waiting for the last flag, print `cpus online: 7/8` with all eight up (TCG, loaded host).
pub fn online_count() -> usize {
    1 + (1..possible_count()).filter(|&c| is_online(c)).count()
}

/// Whether `core` has finished its bring-up (MMU, GIC interface, timer, context).
pub fn is_online(core: usize) -> bool {
    // Acquire pairs with the Release store in `mark_online` / `mark_primary_online`.
    online_flag(core).is_some_and(|f| f.load(Ordering::Acquire))
}

/// Number of cores the DTB describes that we manage (online or not).
pub fn possible_count() -> usize {
    CORES.get().map_or(1, |c| c.mpidr.len())
}

/// The MPIDR of core index `core`, if it is one we manage.
pub fn mpidr_of(core: usize) -> Option<u64> {
    CORES.get()?.mpidr.get(core).copied()
}

/// Publish this core's GICv2 CPU interface number (its bring-up, before `mark_online`).
pub fn set_gicv2_interface(cpu_interface: u8) {
    // Relaxed: published to other cores by the Release in `mark_online`, which every
    // sender checks (Acquire, in `gic_target`) before targeting this core.
    if let Some(f) = FLAGS.get().and_then(|f| f.gicv2_if.get(core_index())) {
        f.store(cpu_interface, Ordering::Relaxed);
    }
}

/// Where the GIC sends an SGI for `core`; `None` unless the core is online.
pub fn gic_target(core: usize) -> Option<CoreId> {
    if !is_online(core) {
        return None;
    }
    Some(CoreId {
        mpidr: hal::cpu::Mpidr::from_raw(mpidr_of(core)?),
        // Relaxed: ordered by the Acquire in `is_online` above (see `set_gicv2_interface`).
        gicv2_cpu_interface: FLAGS.get()?.gicv2_if.get(core)?.load(Ordering::Relaxed),
    })
}

/// Called by each secondary once its MMU, GIC interface and timer are ready.
pub fn mark_online(core: usize) {
    // Release pairs with the Acquire load in `is_online` (which `online_count` uses).
    if let Some(f) = online_flag(core) {
        f.store(true, Ordering::Release);
    }
}

/// The boot core is online (counted from the start; its flag is set once the map exists).
pub fn mark_primary_online() {
    // Release pairs with the Acquire in `is_online`.
    if let Some(f) = online_flag(0) {
        f.store(true, Ordering::Release);
    }
}
