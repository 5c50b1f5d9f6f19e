//! A set-once cell: written at most once, then read lock-free by anyone.
//!
//! | state     | meaning                                   | who moves it on           |
//! |-----------|-------------------------------------------|---------------------------|
//! | `EMPTY`   | no value                                  | the first `set` (CAS)     |
//! | `WRITING` | one setter owns the cell and is writing   | that setter (`READY`)     |
//! | `READY`   | value written; immutable from now on      | nobody                    |
//!
//! Readers only touch the value after observing `READY` with `Acquire`, which pairs with the
//! setter's `Release` store of `READY`; the value is never written again after that.

use core::mem::MaybeUninit;

use crate::sync::{loom_const_fn, AtomicU8, Ordering, UnsafeCell};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;

pub(crate) struct OnceCell<T: Copy> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once by the single setter that won the EMPTY->WRITING CAS and
// only read after READY is published (Release/Acquire), so sharing is sound when T may be
// sent and shared between cores.
unsafe impl<T: Copy + Send + Sync> Sync for OnceCell<T> {}

impl<T: Copy> OnceCell<T> {
    loom_const_fn! {
        pub(crate) fn new() -> Self {
            Self { state: AtomicU8::new(EMPTY), value: UnsafeCell::new(MaybeUninit::uninit()) }
        }
    }

    /// Stores `value` if the cell is empty; otherwise gives it back.
    pub(crate) fn set(&self, value: T) -> Result<(), T> {
        // Acquire: nothing to pair with on success (the cell was empty); Relaxed on failure.
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // SAFETY: winning EMPTY->WRITING makes us the only writer, and readers never look at
        // the value before READY.
        self.value.with_mut(|p| unsafe { (*p).write(value) });
        // Release: publishes the value; pairs with the Acquire load in `get`.
        self.state.store(READY, Ordering::Release);
        Ok(())
    }

    pub(crate) fn get(&self) -> Option<T> {
        // Acquire: pairs with the Release store of READY in `set`.
        if self.state.load(Ordering::Acquire) == READY {
            // SAFETY: READY means the value was fully written and is never written again.
            Some(self.value.with(|p| unsafe { (*p).assume_init() }))
        } else {
            None
        }
    }
}
