//! `PerCore<T>`: one slot per core, each touched only by its own core.
//!
//! The slot is chosen by [`crate::smp::core_index`] (TPIDR_EL1), so two cores never share
//! a slot. Interrupt handlers on the same core may read it, so a slot is written only
//! during that core's bring-up, with IRQs masked, and read-only afterwards.

use crate::boot::layout::MAX_CPUS;
use core::cell::UnsafeCell;

/// One `Option<T>` per core index, each written once by its own core (see the module docs).
pub struct PerCore<T> {
    slots: [UnsafeCell<Option<T>>; MAX_CPUS],
}

// SAFETY: each slot is accessed only by the core whose index it has (module docs), so no
// slot is ever shared between cores; `T: Send` lets the value be created on that core.
unsafe impl<T: Send> Sync for PerCore<T> {}

impl<T> PerCore<T> {
    /// All slots empty.
    pub const fn new() -> Self {
        Self {
            slots: [const { UnsafeCell::new(None) }; MAX_CPUS],
        }
    }

    /// Fill this core's slot.
    ///
    /// # Safety
    /// During this core's bring-up, with IRQs masked, before any `get` on this core.
    pub unsafe fn set(&self, value: T) {
        let slot = &self.slots[crate::smp::core_index()];
        // SAFETY: only this core touches its slot, and nothing holds a reference yet.
        unsafe { *slot.get() = Some(value) };
    }

    /// This core's value, if it was set.
    pub fn get(&self) -> Option<&T> {
        let slot = &self.slots[crate::smp::core_index()];
        // SAFETY: only this core touches its slot; after `set` it is never written again.
        unsafe { (*slot.get()).as_ref() }
    }
}
