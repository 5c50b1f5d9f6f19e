//! The small unsafe core that the rest of the crate is built on.
//!
//! - [`once::OnceCell`]: a set-once, lock-free cell for `Copy` values (a context's notifier and
//!   clock, a bottom half's handler).
//! - [`stack::Stack`]: an intrusive, lock-free multi-producer stack whose single consumer takes
//!   the whole list at once (run queues, bottom-half lists).
//! - [`static_ref::AtomicRef`]: an atomic `Option<&'static T>`.
//! - [`atomic_waker::AtomicWaker`]: a lock-free waker slot (join handles, worker jobs).
//!
//! Together with `task::raw` (task storage) these are the only places with `unsafe`; every
//! block carries a `// SAFETY:` comment that names the protocol step that makes it sound.

pub(crate) mod atomic_waker;
pub(crate) mod once;
pub(crate) mod stack;
pub(crate) mod static_ref;
