//! [`AtomicRef`]: an atomic `Option<&'static T>`.
//!
//! Only `&'static T` can be stored, so every non-null pointer loaded is a valid `'static`
//! reference; this keeps pointer-to-reference conversion in one audited place.

use core::ptr;

use crate::sync::{loom_const_fn, AtomicPtr, Ordering};

pub(crate) struct AtomicRef<T: 'static> {
    ptr: AtomicPtr<T>,
}

impl<T: Sync + 'static> AtomicRef<T> {
    loom_const_fn! {
        pub(crate) fn none() -> Self {
            Self { ptr: AtomicPtr::new(ptr::null_mut()) }
        }
    }

    pub(crate) fn store(&self, r: &'static T, order: Ordering) {
        self.ptr.store(r as *const T as *mut T, order);
    }

    pub(crate) fn load(&self, order: Ordering) -> Option<&'static T> {
        let p = self.ptr.load(order);
        // SAFETY: the only non-null values ever stored come from `&'static T` in `store`.
        unsafe { p.as_ref() }
    }
}

/// Like [`AtomicRef`] but always on `core` atomics, also under loom: for owner-only tables
/// (the timer table) whose accesses loom need not explore.
pub(crate) struct CoreAtomicRef<T: 'static> {
    ptr: core::sync::atomic::AtomicPtr<T>,
}

impl<T: Sync + 'static> CoreAtomicRef<T> {
    pub(crate) const fn none() -> Self {
        Self {
            ptr: core::sync::atomic::AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Stores `r` if empty; returns whether it did.
    pub(crate) fn claim(&self, r: &'static T) -> bool {
        use core::sync::atomic::Ordering::Relaxed;
        // Relaxed: owner-only table (see `timer`), nothing to order.
        self.ptr
            .compare_exchange(ptr::null_mut(), r as *const T as *mut T, Relaxed, Relaxed)
            .is_ok()
    }

    pub(crate) fn clear(&self) {
        // Relaxed: owner-only table.
        self.ptr
            .store(ptr::null_mut(), core::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn load(&self) -> Option<&'static T> {
        // Relaxed: owner-only table.
        let p = self.ptr.load(core::sync::atomic::Ordering::Relaxed);
        // SAFETY: the only non-null values ever stored come from `&'static T` in `claim`.
        unsafe { p.as_ref() }
    }
}
