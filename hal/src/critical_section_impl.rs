//! A `critical_section::Impl` for aiolos (feature `critical-section-impl`, aarch64 only):
//! masks IRQs on this core (saving DAIF) and takes one system-wide spin lock, reentrant on the
//! same core. Uses atomic read-modify-write: only after the MMU and caches are on.
//!
//! The restore state (u64, feature `restore-state-u64` of `critical-section`) is the saved
//! DAIF, with bit 63 set when the acquire was nested (this core already held the lock), in
//! which case the matching release leaves the lock held.

use crate::cpu::{self, Mpidr};
use core::sync::atomic::{AtomicU64, Ordering};

/// 0 = free, else the owner's MPIDR affinity + 1.
static OWNER: AtomicU64 = AtomicU64::new(0);

/// Set in the restore state of a nested acquire.
const NESTED: u64 = 1 << 63;

struct AiolosCriticalSection;
critical_section::set_impl!(AiolosCriticalSection);

// SAFETY: `acquire` masks IRQs on this core and then holds `OWNER` until the matching
// outermost `release`, so no other core and no interrupt handler on this core runs a critical
// section meanwhile; nested acquires on the same core return a marker so only the outermost
// release frees the lock. Restores are in reverse order, as `critical_section` guarantees.
unsafe impl critical_section::Impl for AiolosCriticalSection {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        let daif = cpu::irq_mask_save();
        let me = Mpidr::current().raw() + 1;
        // Relaxed: only this core ever stores `me`, so reading it back means this core holds
        // the lock (program order); any other value means it does not.
        if OWNER.load(Ordering::Relaxed) == me {
            return daif | NESTED;
        }
        // Acquire pairs with the Release store in `release` on the previous owner: its
        // critical-section writes are visible to us.
        while OWNER
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        daif
    }

    unsafe fn release(state: critical_section::RawRestoreState) {
        if state & NESTED == 0 {
            // Release pairs with the Acquire compare_exchange of the next owner.
            OWNER.store(0, Ordering::Release);
        }
        cpu::irq_restore(state & !NESTED);
    }
}
