//! The `sync` facade: `core` atomics normally, loom's under `--cfg loom`.
//!
//! Everything that takes part in a cross-core protocol (the notify_me/notified handshake, the
//! run queue, bottom-half lists, task and job state words, one-shot cells) imports its atomics,
//! `fence` and `UnsafeCell` from here, so the same source is model-checked by loom.
//!
//! Owner-only bookkeeping (the timer table, the adaptive-polling state) and statistics
//! deliberately use `core::sync::atomic` directly even under loom: they are `Relaxed` and order
//! nothing (owner-only words are written by one core; statistics are diagnostics); modelling
//! them would only grow loom's state space.
//!
//! loom's constructors are not `const`; [`loom_const_fn!`] declares a constructor that is
//! `const fn` normally and a plain `fn` under loom.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize, Ordering,
};

#[cfg(all(feature = "std", loom))]
pub(crate) use loom::sync::{Condvar, Mutex};
#[cfg(all(feature = "std", not(loom)))]
pub(crate) use std::sync::{Condvar, Mutex};

/// `UnsafeCell` with loom's closure API (`with` / `with_mut`), so loom can track accesses.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Shared access through a raw pointer; the caller's protocol excludes writers.
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Exclusive access through a raw pointer; the caller's protocol excludes everyone else.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Declares `const fn` normally and `fn` under loom (loom's atomics are not const-constructible).
macro_rules! loom_const_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident ($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        #[cfg(not(loom))]
        $(#[$m])* $vis const fn $name($($arg: $ty),*) -> $ret $body
        #[cfg(loom)]
        $(#[$m])* $vis fn $name($($arg: $ty),*) -> $ret $body
    };
}
pub(crate) use loom_const_fn;
