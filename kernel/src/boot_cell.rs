//! `BootCell`: a value the primary core writes once during boot and everyone reads after.
//!
//! Not a `Once`: those are atomics, and boot fills these cells with the MMU off, where
//! exclusives do not work on real hardware. The discipline instead is temporal: `set` runs
//! on the primary before any secondary core is started and before interrupts are enabled;
//! readers come after. Secondary cores start through PSCI/spin-table, whose hand-over is
//! a barrier (DSB + the release), so they observe the values.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

pub struct BootCell<T> {
    set: UnsafeCell<bool>,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: written only by the primary core before any concurrent reader exists (see the
// module docs); read-only afterwards, so sharing `&T` across cores is sound when `T: Sync`.
unsafe impl<T: Sync> Sync for BootCell<T> {}

impl<T> BootCell<T> {
    pub const fn new() -> Self {
        Self {
            set: UnsafeCell::new(false),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Store the value.
    ///
    /// # Safety
    /// Only during single-core boot (primary, secondaries not started, IRQs masked), and
    /// no reference from an earlier `get` may be alive.
    pub unsafe fn set(&self, value: T) {
        // SAFETY: exclusive access per the contract above. Volatile so that the flag store
        // is not elided or reordered with the value store by the compiler.
        unsafe {
            (*self.value.get()).write(value);
            core::ptr::write_volatile(self.set.get(), true);
        }
    }

    pub fn get(&self) -> Option<&T> {
        // SAFETY: after `set` the value is never written again (module docs), so shared
        // references are sound; before it, the flag is false and nothing is read.
        unsafe {
            if core::ptr::read_volatile(self.set.get()) {
                Some((*self.value.get()).assume_init_ref())
            } else {
                None
            }
        }
    }
}

/// Set once the primary's MMU and caches are on: from then on locks and atomics are allowed.
static MMU_ON: BootCell<()> = BootCell::new();

/// Whether the primary has turned its MMU on (locks and atomics allowed from then on).
pub fn mmu_is_on() -> bool {
    MMU_ON.get().is_some()
}

/// Record that the MMU and caches are on.
///
/// # Safety
/// As [`BootCell::set`]: single-core boot, right after the primary's MMU is on.
pub unsafe fn set_mmu_on() {
    // SAFETY: forwarded contract.
    unsafe { MMU_ON.set(()) };
}
