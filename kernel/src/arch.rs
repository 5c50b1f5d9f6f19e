//! The few system-register and cache operations that boot needs (drivers live in `hal`).

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    ReadWriteable, Readable, Writeable, ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1,
};

/// ID_AA64MMFR0_EL1 (PARange in bits 3:0).
pub fn id_aa64mmfr0() -> u64 {
    ID_AA64MMFR0_EL1.get()
}

/// Smallest data cache line size in bytes (CTR_EL0.DminLine).
fn dcache_line() -> usize {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << ((ctr >> 16) & 0xf)
}

/// Invalidate `[start, start + len)` in the data cache to the point of coherency.
pub fn dcache_invalidate_range(start: usize, len: usize) {
    let line = dcache_line();
    let mut addr = start & !(line - 1);
    while addr < start + len {
        // SAFETY: DC IVAC on memory we own; callers make sure no dirty data of others
        // shares these lines (the ranges are whole pages).
        unsafe { core::arch::asm!("dc ivac, {}", in(reg) addr, options(nostack)) };
        addr += line;
    }
    barrier::dsb(barrier::SY);
}

/// Clean `[start, start + len)` to the point of coherency, so that a core running with
/// its MMU and caches off (a secondary being started) reads what we wrote.
pub fn dcache_clean_range(start: usize, len: usize) {
    let line = dcache_line();
    let mut addr = start & !(line - 1);
    while addr < start + len {
        // SAFETY: DC CVAC only writes back dirty lines; it never changes memory contents.
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) addr, options(nostack)) };
        addr += line;
    }
    barrier::dsb(barrier::SY);
}

/// Load the translation registers and set SCTLR_EL1.{M, C, I}.
///
/// # Safety
/// The tables at `ttbr0` must identity-map all code, data and stacks in use.
pub unsafe fn mmu_on(mair: u64, tcr: u64, ttbr0: u64) {
    MAIR_EL1.set(mair);
    TCR_EL1.set(tcr);
    TTBR0_EL1.set(ttbr0);
    barrier::isb(barrier::SY);
    // SAFETY: drop any TLB entries left from firmware before translation starts.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "tlbi vmalle1",
            "dsb ish",
            "isb",
            options(nostack)
        )
    };
    SCTLR_EL1.modify(
        SCTLR_EL1::M::Enable
            + SCTLR_EL1::C::Cacheable
            + SCTLR_EL1::I::Cacheable
            + SCTLR_EL1::A::Disable
            + SCTLR_EL1::WXN::Disable,
    );
    barrier::isb(barrier::SY);
}
