//! [`Signal`]: a flag that any core or interrupt handler raises and one task awaits.
//!
//! Lock-free: the flag is an atomic and the waiter's waker sits in the crate's
//! `AtomicWaker` (the algorithm of `futures::task::AtomicWaker`), so `raise` takes no lock
//! and masks no interrupts; it is safe from an interrupt handler that interrupted the
//! waiting task's own core (a `raise` that lands inside the waiter's `register` hands the
//! wake to the registrant, see `raw/atomic_waker.rs`).
//!
//! The pair that makes a wakeup impossible to lose:
//!
//! | side   | first                       | then                                   |
//! |--------|-----------------------------|----------------------------------------|
//! | raise  | `raised = true` (Release)   | claim the waker slot (`fetch_or`, AcqRel) and wake the waker in it |
//! | wait   | register the waker (CAS, AcqRel) | `raised` true → false (CAS, Acquire): ready if it was set |
//!
//! Either the raise finds the registered waker, or the waiter's re-check after registering
//! finds the flag (the loom model `signal_raise_vs_wait` in `tests/loom.rs` checks it; the
//! mutant `signal_no_recheck`, which drops the re-check, deadlocks there).

use core::future::poll_fn;
use core::task::Poll;

use crate::raw::atomic_waker::AtomicWaker;
use crate::sync::{loom_const_fn, AtomicBool, Ordering};

/// A flag raised from anywhere and awaited by one task at a time (module docs).
pub struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
}

impl core::fmt::Debug for Signal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Signal")
            // Relaxed: a diagnostic snapshot.
            .field("raised", &self.raised.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for Signal {
    fn default() -> Self {
        Self::new()
    }
}

impl Signal {
    loom_const_fn! {
        /// A lowered signal.
        pub fn new() -> Signal {
            Signal { raised: AtomicBool::new(false), waker: AtomicWaker::new() }
        }
    }

    /// Raise the signal and wake the waiter, if one is registered. Lock-free; callable from
    /// any core and from interrupt handlers.
    pub fn raise(&self) {
        // Release: pairs with the Acquire CAS in `take`: the waiter sees what we did before.
        // The waker's `take` (an AcqRel RMW on its state) comes after this store, so a
        // `register` that completes before the take is seen by it, and one that completes
        // after it is followed by the waiter's re-check, which sees this store.
        self.raised.store(true, Ordering::Release);
        // The waker stays registered: the waiter's next `wait` re-registers the same one
        // without a clone.
        self.waker.wake_keep();
    }

    /// Lower the flag if it is raised; true if it was.
    fn take(&self) -> bool {
        // A compare_exchange rather than a swap: same meaning here, and loom 0.7.3 models
        // `swap` wrongly (a store can land between its read and its write, see
        // `Context::notify_accept`; with `swap` the model `signal_raise_vs_wait` loses this
        // raise on correct code); a failing CAS also writes nothing. Acquire (success): pairs
        // with the Release store in `raise`: the waiter sees what the raiser did before.
        // Relaxed (failure): nothing was consumed, nothing to order.
        self.raised
            .compare_exchange(true, false, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Wait until raised, then lower it.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            // Relaxed: a hint only. True: `take` below (Acquire) consumes the flag. False (or
            // a raise this load misses): register, then the re-check's `take` sees it.
            if self.raised.load(Ordering::Relaxed) && self.take() {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // Re-check after publishing the waker (the table in the module docs). Mutant
            // `signal_no_recheck`: no re-check (a raise between the first look and the
            // register finds no waker, and nobody looks at the flag again: a lost wakeup).
            if !cfg!(aiolos_mutant = "signal_no_recheck") && self.take() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
