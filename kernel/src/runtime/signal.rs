//! `Signal`: a flag one side raises (any core, any IRQ handler) and one task awaits.
//!
//! Raising is lock-free-ish: it takes a `critical_section` (IRQs masked + the cross-core
//! lock from `hal::critical_section_impl`) only to take the stored waker, so it is safe from
//! an interrupt handler that interrupted the waiting task's own core.

use core::cell::RefCell;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Poll, Waker};
use critical_section::Mutex;

/// A flag raised from anywhere and awaited by one task (see the module docs).
pub struct Signal {
    raised: AtomicBool,
    waker: Mutex<RefCell<Option<Waker>>>,
}

impl Default for Signal {
    fn default() -> Self {
        Self::new()
    }
}

impl Signal {
    /// A lowered signal.
    pub const fn new() -> Self {
        Self {
            raised: AtomicBool::new(false),
            waker: Mutex::new(RefCell::new(None)),
        }
    }

    /// Raise the signal and wake the waiter (if any).
    pub fn raise(&self) {
        // Release: pairs with the Acquire swap in `wait`: the waiter sees what we did before.
        self.raised.store(true, Ordering::Release);
        let waker = critical_section::with(|cs| self.waker.borrow_ref_mut(cs).take());
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wait until raised, then lower it.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            // Acquire: pairs with the Release store in `raise`.
            if self.raised.swap(false, Ordering::Acquire) {
                return Poll::Ready(());
            }
            critical_section::with(|cs| {
                *self.waker.borrow_ref_mut(cs) = Some(cx.waker().clone());
            });
            // Re-check after publishing the waker: a `raise` between the swap above and
            // the store would otherwise find no waker. The critical section orders both.
            if self.raised.swap(false, Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
