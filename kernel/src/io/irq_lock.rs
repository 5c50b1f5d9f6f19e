//! [`IrqLock`]: a spin lock held with this core's IRQs masked, for state that both task code
//! and interrupt handlers touch (a device's queue, a waker slot). Masking first means an
//! interrupt handler on the core holding the lock cannot spin on it forever; another core
//! waits only for the short critical section. Atomics inside: only after the MMU is on.

use core::ops::{Deref, DerefMut};

/// A spin lock whose guard keeps this core's IRQs masked.
pub struct IrqLock<T> {
    inner: spin::Mutex<T>,
}

/// Holds the lock and the saved interrupt mask; both are restored on drop.
pub struct IrqGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    daif: hal::cpu::DaifState,
}

impl<T> IrqLock<T> {
    /// A lock around `value`.
    pub const fn new(value: T) -> Self {
        IrqLock {
            inner: spin::Mutex::new(value),
        }
    }

    /// Mask IRQs on this core, then take the lock.
    pub fn lock(&self) -> IrqGuard<'_, T> {
        let daif = hal::cpu::irq_mask_save();
        IrqGuard {
            guard: Some(self.inner.lock()),
            daif,
        }
    }
}

impl<T> Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // The guard is `Some` until drop.
        self.guard.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl<T> DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    fn drop(&mut self) {
        // Release the lock before unmasking, so a pending IRQ taken at the unmask finds it free.
        self.guard = None;
        hal::cpu::irq_restore(self.daif);
    }
}
