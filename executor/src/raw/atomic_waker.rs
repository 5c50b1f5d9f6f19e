//! A lock-free single-waker slot (the algorithm of `futures::task::AtomicWaker`).
//!
//! | state         | meaning                                                   |
//! |---------------|-----------------------------------------------------------|
//! | `WAITING`     | idle; the slot may hold a waker                           |
//! | `REGISTERING` | `register` owns the slot and is replacing the waker       |
//! | `WAKING`      | `wake`/`take` owns the slot (or asked the registrant to wake) |
//!
//! Contract: a consumer calls `register(w)` and then re-checks its condition; a producer makes
//! the condition true and then calls `wake()`. Either the producer finds the waker, or the
//! registrant sees `WAKING` and wakes itself. Lock-free: safe from interrupt handlers (a
//! `wake` racing a `register` on the same core just hands the wake to the registrant).

use core::task::Waker;

use crate::sync::{loom_const_fn, AtomicUsize, Ordering, UnsafeCell};

const WAITING: usize = 0;
const REGISTERING: usize = 0b01;
const WAKING: usize = 0b10;

pub(crate) struct AtomicWaker {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the waker cell is only accessed by whoever owns the slot through the state word
// (REGISTERING for `register`, WAKING for `take`), and `Waker` is Send + Sync.
unsafe impl Sync for AtomicWaker {}
// SAFETY: see above; the cell holds a `Waker`, which is Send.
unsafe impl Send for AtomicWaker {}

impl AtomicWaker {
    loom_const_fn! {
        pub(crate) fn new() -> Self {
            Self { state: AtomicUsize::new(WAITING), waker: UnsafeCell::new(None) }
        }
    }

    pub(crate) fn register(&self, waker: &Waker) {
        // Acquire: pairs with the Release stores that hand the slot back (below and in `take`).
        match self.state.compare_exchange(
            WAITING,
            REGISTERING,
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // SAFETY: REGISTERING gives us exclusive access to the cell.
                self.waker.with_mut(|p| unsafe {
                    match &*p {
                        Some(old) if old.will_wake(waker) => {}
                        _ => *p = Some(waker.clone()),
                    }
                });
                // AcqRel: Release publishes the new waker to `take` (pairs with its Acquire
                // fetch_or); on failure a `wake` arrived meanwhile.
                match self.state.compare_exchange(
                    REGISTERING,
                    WAITING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {}
                    Err(_) => {
                        // State is REGISTERING|WAKING: a waker asked us to wake; we still own
                        // the cell, so take the waker out, give the slot back and wake.
                        // SAFETY: still exclusive (the waker saw REGISTERING and backed off).
                        let w = self.waker.with_mut(|p| unsafe { (*p).take() });
                        // Release: pairs with the Acquire in the next register/take.
                        self.state.swap(WAITING, Ordering::AcqRel);
                        if let Some(w) = w {
                            w.wake();
                        }
                    }
                }
            }
            Err(WAKING) => waker.wake_by_ref(),
            Err(_) => {
                // Another register is running concurrently (misuse: single consumer). Be
                // conservative and wake.
                waker.wake_by_ref();
            }
        }
    }

    /// Takes the registered waker, if any (so the caller can wake it outside any state).
    pub(crate) fn take(&self) -> Option<Waker> {
        // AcqRel: Acquire pairs with the Release in `register` (the waker is visible);
        // Release orders the producer's condition store before our claim.
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            WAITING => {
                // SAFETY: WAITING -> WAKING gives us exclusive access to the cell.
                let w = self.waker.with_mut(|p| unsafe { (*p).take() });
                // Release: pairs with the Acquire in `register`.
                self.state.fetch_and(!WAKING, Ordering::Release);
                w
            }
            // A register is in progress (it will see WAKING and wake itself) or another
            // wake is in progress.
            _ => None,
        }
    }

    pub(crate) fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }

    /// Wakes the registered waker, if any, and leaves it registered, so that the next
    /// `register` of the same waker finds it (`will_wake`) and clones nothing. The slot is
    /// held (WAKING) while waking: a `register` meanwhile wakes its own waker, as it does
    /// during a `take`. For wakers that may be woken again later (a stale wake is a spurious
    /// one) and that hold nothing worth freeing early (aiolos task wakers hold nothing).
    pub(crate) fn wake_keep(&self) {
        // AcqRel: as in `take` (Acquire: the registered waker is visible; Release: the
        // producer's condition store comes before our claim).
        if self.state.fetch_or(WAKING, Ordering::AcqRel) == WAITING {
            // SAFETY: WAITING -> WAKING gives us exclusive access to the cell.
            self.waker.with(|p| unsafe {
                if let Some(w) = &*p {
                    w.wake_by_ref();
                }
            });
            // Release: pairs with the Acquire in `register`.
            self.state.fetch_and(!WAKING, Ordering::Release);
        }
    }
}
