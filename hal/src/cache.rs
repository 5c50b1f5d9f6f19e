//! Data cache maintenance by virtual address, to the point of coherency (DC CVAC / IVAC / CIVAC):
//! what a core running with its MMU and caches off (a secondary being started, the firmware's
//! spin-table pen) needs to see our writes, and what fresh translation tables need.

#[cfg(target_arch = "aarch64")]
use core::arch::asm;

/// Smallest data cache line size in bytes (CTR_EL0.DminLine).
#[cfg(target_arch = "aarch64")]
fn dcache_line() -> usize {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    4 << ((ctr >> 16) & 0xf)
}

/// Invalidates `[start, start + len)` in the data cache to the point of coherency, then DSB SY.
///
/// # Safety
/// Dirty data in these lines is discarded: the caller must own every line the range touches
/// (no data of others may share them; whole pages are safe).
#[cfg(target_arch = "aarch64")]
pub unsafe fn dcache_invalidate_range(start: usize, len: usize) {
    let line = dcache_line();
    let mut addr = start & !(line - 1);
    while addr < start + len {
        // SAFETY: DC IVAC on lines the caller owns (see the function's contract).
        unsafe { asm!("dc ivac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    crate::cpu::dsb_sy();
}

/// Cleans `[start, start + len)` to the point of coherency, then DSB SY, so that a core
/// running with its MMU and caches off reads what we wrote.
#[cfg(target_arch = "aarch64")]
pub fn dcache_clean_range(start: usize, len: usize) {
    let line = dcache_line();
    let mut addr = start & !(line - 1);
    while addr < start + len {
        // SAFETY: DC CVAC only writes back dirty lines; it never changes memory contents.
        unsafe { asm!("dc cvac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    crate::cpu::dsb_sy();
}

/// Cleans and invalidates `[start, start + len)` to the point of coherency (DC CIVAC), then
/// DSB SY: memory that code running with the caches off will read *and* write, and then read
/// again with the caches on, must have no line left in the cache, clean or dirty.
#[cfg(target_arch = "aarch64")]
pub fn dcache_clean_invalidate_range(start: usize, len: usize) {
    let line = dcache_line();
    let mut addr = start & !(line - 1);
    while addr < start + len {
        // SAFETY: DC CIVAC writes dirty lines back before dropping them: memory contents as
        // seen by any observer do not change.
        unsafe { asm!("dc civac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    crate::cpu::dsb_sy();
}
