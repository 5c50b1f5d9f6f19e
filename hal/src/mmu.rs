//! The EL1 translation-regime registers: what the PA range is (ID_AA64MMFR0_EL1.PARange) and
//! turning stage 1 translation and the caches on (MAIR_EL1, TCR_EL1, TTBR0_EL1, SCTLR_EL1).
//! The tables themselves are the kernel's.

#[cfg(target_arch = "aarch64")]
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1};
#[cfg(target_arch = "aarch64")]
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

/// ID_AA64MMFR0_EL1.PARange (bits 3:0): the implemented physical address size.
#[cfg(target_arch = "aarch64")]
pub fn pa_range() -> u64 {
    ID_AA64MMFR0_EL1.get() & 0b1111
}

/// Loads MAIR_EL1, TCR_EL1 and TTBR0_EL1, drops stale TLB entries, and sets
/// SCTLR_EL1.{M, C, I} (alignment checks and WXN off).
///
/// # Safety
/// The tables at `ttbr0` must map all code, data and stacks in use at their current
/// addresses (an identity map while the MMU was off).
#[cfg(target_arch = "aarch64")]
pub unsafe fn enable(mair: u64, tcr: u64, ttbr0: u64) {
    MAIR_EL1.set(mair);
    TCR_EL1.set(tcr);
    TTBR0_EL1.set(ttbr0);
    crate::cpu::isb();
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
    crate::cpu::isb();
}
