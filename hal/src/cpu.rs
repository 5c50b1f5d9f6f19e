//! CPU helpers: core identity (MPIDR_EL1, TPIDR_EL1), barriers, WFE/WFI/SEV, IRQ masking
//! (DAIF), the syndrome registers of an exception (ESR_EL1, FAR_EL1), and the "wait on a word
//! with WFE" pattern.
//!
//! Nothing here takes a lock or uses an atomic read-modify-write, so all of it is safe to call
//! before the MMU is on (exclusives on Device/non-cacheable memory are not guaranteed to work).
//!
//! Host builds: the barriers, [`wfe`]/[`sev`] and [`wfe_unless_changed`] have honest host
//! equivalents (fences, a spin hint, a load) so portable code can call them in host tests; the
//! functions that read or change CPU state (DAIF, MPIDR_EL1, TPIDR_EL1, ESR/FAR, WFI) exist only on
//! `target_arch = "aarch64"`. [`Mpidr`] is pure data and exists everywhere.

#[cfg(target_arch = "aarch64")]
use core::arch::asm;
use core::fmt;
use core::sync::atomic::AtomicU32;

/// The affinity fields of an MPIDR_EL1 value (Aff3 at bits \[39:32\], Aff2 \[23:16\], Aff1 \[15:8\],
/// Aff0 \[7:0\]); the MT, U and RES1 bits are always masked off, so two `Mpidr`s compare equal
/// exactly when they name the same core.
///
/// This is the value PSCI `CPU_ON` takes as `target_cpu`, and the one the DTB's `/cpus/cpu@N`
/// `reg` property holds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mpidr(u64);

impl Mpidr {
    /// The bits of MPIDR_EL1 that hold affinity: Aff3 \[39:32\], Aff2 \[23:16\], Aff1 \[15:8\],
    /// Aff0 \[7:0\].
    pub const AFFINITY_MASK: u64 = 0xff_00ff_ffff;

    /// From a raw MPIDR_EL1 value (or a DTB `/cpus/cpu@N/reg`): keeps the affinity bits only.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw & Self::AFFINITY_MASK)
    }

    /// From the four affinity levels.
    pub const fn from_aff(aff3: u8, aff2: u8, aff1: u8, aff0: u8) -> Self {
        Self(((aff3 as u64) << 32) | ((aff2 as u64) << 16) | ((aff1 as u64) << 8) | aff0 as u64)
    }

    /// The MPIDR of the core running this code.
    #[cfg(target_arch = "aarch64")]
    #[inline]
    pub fn current() -> Self {
        Self::from_raw(read_mpidr_el1())
    }

    /// The affinity bits, in MPIDR_EL1 positions.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Affinity level `level` (0..=3); levels above 3 read as 0.
    pub const fn aff(self, level: u8) -> u8 {
        match level {
            0 => self.0 as u8,
            1 => (self.0 >> 8) as u8,
            2 => (self.0 >> 16) as u8,
            3 => (self.0 >> 32) as u8,
            _ => 0,
        }
    }

    /// Aff3.Aff2.Aff1.Aff0 packed into 32 bits, one byte per level: the layout of
    /// GICR_TYPER.Affinity_Value (GICR_TYPER\[63:32\]).
    pub const fn packed_u32(self) -> u32 {
        ((self.aff(3) as u32) << 24)
            | ((self.aff(2) as u32) << 16)
            | ((self.aff(1) as u32) << 8)
            | self.aff(0) as u32
    }

    /// Inverse of [`Mpidr::packed_u32`].
    pub const fn from_packed_u32(packed: u32) -> Self {
        Self::from_aff(
            (packed >> 24) as u8,
            (packed >> 16) as u8,
            (packed >> 8) as u8,
            packed as u8,
        )
    }

    /// The `GICD_IROUTER<n>` value that routes an SPI to this core (Interrupt_Routing_Mode = 0):
    /// Aff3 at \[39:32\], Aff2 \[23:16\], Aff1 \[15:8\], Aff0 \[7:0\] — the MPIDR layout itself.
    pub const fn irouter(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Mpidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Mpidr({}.{}.{}.{})",
            self.aff(3),
            self.aff(2),
            self.aff(1),
            self.aff(0)
        )
    }
}

impl fmt::Display for Mpidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

#[cfg(target_arch = "aarch64")]
#[inline]
fn read_mpidr_el1() -> u64 {
    let v: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects and is permitted at EL1 and above.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// The affinity bits (Aff3..Aff0) of this core's MPIDR_EL1, MT/U/RES1 masked off.
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn core_mpidr() -> u64 {
    Mpidr::current().raw()
}

/// Stores `value` in TPIDR_EL1, the EL1 software thread-ID register (the kernel keeps the
/// core index there).
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn set_tpidr_el1(value: usize) {
    // SAFETY: TPIDR_EL1 is a scratch register for EL1 software; writing it has no effect on
    // the machine.
    unsafe { asm!("msr tpidr_el1, {}", in(reg) value, options(nomem, nostack, preserves_flags)) };
}

/// TPIDR_EL1, as last stored by [`set_tpidr_el1`] on this core.
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn tpidr_el1() -> usize {
    let v: usize;
    // SAFETY: reading TPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, tpidr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// ESR_EL1 and FAR_EL1: the syndrome and fault address of the exception being handled.
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn esr_far_el1() -> (u64, u64) {
    let (esr, far): (u64, u64);
    // SAFETY: reading the syndrome registers has no side effects.
    unsafe {
        asm!("mrs {}, esr_el1", "mrs {}, far_el1", out(reg) esr, out(reg) far,
             options(nomem, nostack, preserves_flags))
    };
    (esr, far)
}

/// Stops this core for good: IRQs masked, WFI forever (only a reset gets it out).
#[cfg(target_arch = "aarch64")]
pub fn park() -> ! {
    irq_disable();
    loop {
        wfi();
    }
}

/// Wait for event. Returns on an event (SEV from any core, a clear of this core's exclusive
/// monitor, the event stream), an unmasked interrupt, or spuriously. Under QEMU TCG this only
/// yields. On the host: a spin-loop hint.
#[inline(always)]
pub fn wfe() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: WFE only suspends the core until an event; it touches no memory.
    unsafe {
        asm!("wfe", options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(target_arch = "aarch64"))]
    core::hint::spin_loop();
}

/// Wait for interrupt: suspends the core until an interrupt is pending (even a masked one:
/// with PSTATE.I set WFI still returns, and the interrupt is taken once unmasked).
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub fn wfi() {
    // SAFETY: WFI only suspends the core until an interrupt is pending. No `nomem`: a compiler
    // barrier, so memory accesses are not moved across the sleep.
    unsafe { asm!("wfi", options(nostack, preserves_flags)) };
}

/// Send event to all cores. On the host: nothing.
#[inline(always)]
pub fn sev() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: SEV only sets the event register of every core.
    unsafe {
        asm!("sev", options(nostack, preserves_flags))
    };
}

/// A barrier instruction, and its stand-in on the host (where only the ordering matters).
/// The asm has no `nomem`, so each is also a compiler barrier.
macro_rules! barrier {
    ($(#[$doc:meta])* $name:ident, $insn:literal, $host:ident) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name() {
            #[cfg(target_arch = "aarch64")]
            // SAFETY: a barrier only orders or waits for memory accesses and instructions;
            // it reads and writes nothing.
            unsafe {
                asm!($insn, options(nostack, preserves_flags))
            };
            #[cfg(not(target_arch = "aarch64"))]
            core::sync::atomic::fence(core::sync::atomic::Ordering::$host);
        }
    };
}

barrier!(
    /// Instruction synchronization barrier (a full fence on the host).
    isb, "isb", SeqCst
);
barrier!(
    /// Data synchronization barrier, full system (a full fence on the host).
    dsb_sy, "dsb sy", SeqCst
);
barrier!(
    /// Data synchronization barrier, inner shareable (a full fence on the host).
    dsb_ish, "dsb ish", SeqCst
);
barrier!(
    /// Data synchronization barrier, inner shareable, stores only: prior stores complete
    /// before any later instruction, including system-register writes such as ICC_SGI1R_EL1
    /// (a release fence on the host).
    dsb_ishst, "dsb ishst", Release
);
barrier!(
    /// Data memory barrier, inner shareable (a full fence on the host). Same instruction as
    /// `fence(SeqCst)` on aarch64.
    dmb_ish, "dmb ish", SeqCst
);
barrier!(
    /// Data memory barrier, inner shareable, stores only: orders prior stores before later
    /// stores, including stores to Device memory (a release fence on the host).
    dmb_ishst, "dmb ishst", Release
);

/// The DAIF mask state saved by [`irq_mask_save`] (the raw DAIF value: D, A, I, F at bits 9..6).
pub type DaifState = u64;

/// Masks IRQs (PSTATE.I = 1) and returns the previous DAIF, for [`irq_restore`].
///
/// A compiler barrier: memory accesses after it stay after it.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub fn irq_mask_save() -> DaifState {
    let daif: u64;
    // SAFETY: reads DAIF and sets PSTATE.I; masking interrupts cannot break memory safety. No
    // `nomem`: the compiler must not move memory accesses out of the masked region.
    unsafe {
        asm!(
            "mrs {}, daif",
            "msr daifset, #2",
            out(reg) daif,
            options(nostack, preserves_flags)
        )
    };
    daif
}

/// Restores DAIF as saved by [`irq_mask_save`] (unmasks IRQs only if they were unmasked then).
///
/// A compiler barrier: memory accesses before it stay before it.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub fn irq_restore(saved: DaifState) {
    // SAFETY: writes back a DAIF value read earlier on this core. Unmasking may run an IRQ
    // handler here, which is why this is a compiler barrier (no `nomem`).
    unsafe { asm!("msr daif, {}", in(reg) saved, options(nostack, preserves_flags)) };
}

/// Unmasks IRQs (PSTATE.I = 0). Pending IRQs are taken right after.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub fn irq_enable() {
    // SAFETY: the caller's exception vectors must be installed (VBAR_EL1 or VBAR_EL2) before
    // interrupts are unmasked; that is a kernel invariant established at boot, before any
    // interrupt source is enabled in the GIC. Compiler barrier (no `nomem`).
    unsafe { asm!("msr daifclr, #2", options(nostack, preserves_flags)) };
}

/// Masks IRQs (PSTATE.I = 1).
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub fn irq_disable() {
    // SAFETY: masking interrupts cannot break memory safety. Compiler barrier (no `nomem`).
    unsafe { asm!("msr daifset, #2", options(nostack, preserves_flags)) };
}

/// One bounded look: returns `word`'s value at once if it no longer holds `old`; otherwise
/// arms the exclusive monitor on it (LDAXR) and executes one WFE, then returns the value
/// seen before sleeping. WFE ends on a store to the word by another core (monitor clear), an
/// interrupt, an SEV or the generic timer's event stream, so callers bound their wait by
/// looping against a deadline.
///
/// How it sleeps: LDAXR reads the word and arms this core's exclusive monitor on its granule;
/// if the value still equals `old` the core executes WFE. A store by another core to that
/// granule clears the monitor, and that clear is a WFE wake-up event, so the core wakes without
/// the writer having to execute SEV. The writer needs no barrier for the wake-up itself, but
/// the usual publish rule holds: data the waiter reads after seeing the new value must be
/// stored before the word with Release (this load is an acquire, LDAXR, and pairs with it).
/// Requires the MMU on and `word` in Normal cacheable memory (the exclusive monitor is not
/// architecturally guaranteed on other memory types).
///
/// On the host: a plain acquire load.
#[inline]
pub fn wfe_unless_changed(word: &AtomicU32, old: u32) -> u32 {
    #[cfg(target_arch = "aarch64")]
    {
        let new: u32;
        // SAFETY: `word` is a valid, aligned `AtomicU32` for the duration of the call (it is a
        // reference); LDAXR is an atomic acquire load of it, sound alongside any other atomic
        // access; then at most one WFE. Nothing is written.
        unsafe {
            asm!(
                "ldaxr {new:w}, [{addr}]",
                "cmp {new:w}, {old:w}",
                "b.ne 2f",
                "wfe",
                "2:",
                addr = in(reg) word.as_ptr(),
                old = in(reg) old,
                new = out(reg) new,
                options(nostack, readonly)
            )
        };
        new
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        // No monitor to arm on the host: just look.
        let _ = old;
        // Acquire: pairs with the writer's Release store of the new value.
        word.load(core::sync::atomic::Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpidr_masks_mt_u_res1() {
        // RES1 (bit 31), U (bit 30), MT (bit 24) set: all dropped.
        let m = Mpidr::from_raw(0x8000_0000 | 0x4000_0000 | 0x0100_0000 | 0x01_0002_0304);
        assert_eq!(m.raw(), 0x01_0002_0304);
        assert_eq!((m.aff(3), m.aff(2), m.aff(1), m.aff(0)), (1, 2, 3, 4));
        assert_eq!(m, Mpidr::from_aff(1, 2, 3, 4));
        assert_eq!(m.packed_u32(), 0x0102_0304);
        assert_eq!(Mpidr::from_packed_u32(0x0102_0304), m);
        assert_eq!(m.aff(4), 0);
    }

    #[test]
    fn wfe_unless_changed_returns_new_value() {
        let w = AtomicU32::new(5);
        assert_eq!(wfe_unless_changed(&w, 4), 5);
    }
}
