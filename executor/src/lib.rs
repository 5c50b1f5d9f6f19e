//! aiolos executor: one QEMU-`AioContext`-style event loop per core.
//!
//! Portable `no_std` code with no architecture-specific parts and no allocator; the platform
//! supplies an [`EventNotifier`] per context and a [`Clock`]. Feature `std` adds host
//! implementations ([`HostNotifier`], [`HostClock`]) so everything runs in host tests and loom.
//!
//! | module        | holds                                                           |
//! |---------------|-----------------------------------------------------------------|
//! | `sync`        | core-vs-loom atomics facade                                     |
//! | `raw`         | the unsafe core: once-cell, lock-free stack, atomic waker        |
//! | [`context`]   | [`Context`]: the notify_me/notified handshake and the poll loop |
//! | [`notifier`]  | [`EventNotifier`] and [`Clock`] traits; host versions           |
//! | [`task`]      | tasks in static pools, wakers, join handles                     |
//! | [`bh`]        | bottom halves                                                   |
//! | [`timer`]     | per-context timers, `sleep`, `with_timeout`                     |
//! | [`worker`]    | worker pool with completion through a bottom half               |
//! | [`stats`]     | per-context counters and the wake-to-run latency histogram      |
//! | `poll_policy` | adaptive polling before sleeping                                |
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod sync;

pub mod bh;
pub mod context;
pub mod notifier;
mod poll_policy;
mod raw;
pub mod stats;
pub mod task;
pub mod timer;
pub mod worker;

pub use bh::{Bh, BhHandler};
pub use context::{AlreadyAttached, Context};
pub use notifier::{Clock, EventNotifier};
#[cfg(feature = "std")]
pub use notifier::{HostClock, HostNotifier};
pub use poll_policy::PollParams;
pub use stats::StatsSnapshot;
#[cfg(all(feature = "alloc", not(loom)))]
pub use task::spawn_boxed;
pub use task::{
    co_schedule, context_of, current_context, JoinHandle, ScheduleError, SpawnError, TaskPool,
};
pub use timer::{sleep, sleep_until, with_timeout, Elapsed, Sleep, SleepUntil, TIMER_SLOTS};
pub use worker::{JobFuture, PoolFull, WorkerPool};
