//! `PerCore<T>`: one slot per core, each touched only by its own core.
//!
//! The slots are boot arena memory, as many as the per-core table has cores (no fixed
//! cap): the boot core allocates them on its own first [`PerCore::set`], after
//! `boot::secondaries::plan` installed the table and before any secondary starts. The slot
//! is chosen by [`crate::smp::core_index`] (TPIDR_EL1), so two cores never share a slot.
//! Interrupt handlers on the same core may read it, so a slot is written only during that
//! core's bring-up, with IRQs masked, and read-only afterwards.

use crate::boot_cell::BootCell;
use core::cell::UnsafeCell;

/// One `Option<T>` per core index, each written once by its own core (see the module docs).
pub struct PerCore<T: 'static> {
    slots: BootCell<&'static [UnsafeCell<Option<T>>]>,
}

// SAFETY: each slot is accessed only by the core whose index it has (module docs), so no
// slot is ever shared between cores; `T: Send` lets the value be created on that core.
unsafe impl<T: Send> Sync for PerCore<T> {}

impl<T> PerCore<T> {
    /// No slots yet (the boot core's first `set` allocates them).
    pub const fn new() -> Self {
        Self {
            slots: BootCell::new(),
        }
    }

    /// Fill this core's slot.
    ///
    /// # Safety
    /// During this core's bring-up, with IRQs masked, before any `get` on this core; the
    /// boot core's first call comes before any secondary starts (it allocates the slots).
    pub unsafe fn set(&self, value: T) {
        if self.slots.get().is_none() {
            let n = crate::smp::possible_count();
            // SAFETY: the boot core during single-core boot (contract), MMU on.
            let Some(slots) =
                (unsafe { crate::boot::arena::alloc_slice(n, |_| UnsafeCell::new(None)) })
            else {
                // Nothing can be reported from this floor: park, the boot core's verdict
                // never comes and the run times out (the arena is sized for this).
                hal::cpu::park();
            };
            // SAFETY: single-core boot (contract), no reference from `get` exists yet.
            unsafe { self.slots.set(slots) };
        }
        let Some(slot) = self
            .slots
            .get()
            .and_then(|s| s.get(crate::smp::core_index()))
        else {
            return;
        };
        // SAFETY: only this core touches its slot, and nothing holds a reference yet.
        unsafe { *slot.get() = Some(value) };
    }

    /// This core's value, if it was set.
    pub fn get(&self) -> Option<&T> {
        let slot = self.slots.get()?.get(crate::smp::core_index())?;
        // SAFETY: only this core touches its slot; after `set` it is never written again.
        unsafe { (*slot.get()).as_ref() }
    }
}
