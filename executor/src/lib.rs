//! aiolos executor: one QEMU-`AioContext`-style event loop per core.
//!
//! Portable `no_std` code with no architecture-specific parts and no allocator; the platform
//! supplies an [`EventNotifier`] per context and a [`Clock`]. Feature `std` adds host
//! implementations ([`HostNotifier`], [`HostClock`]) so everything runs in host tests and loom.
//! Feature `stats` adds the wake-path statistics (see [`stats`]); without it a notify, a wake
//! and an accept do nothing but the wake itself.
//!
//! | module        | holds                                                           |
//! |---------------|-----------------------------------------------------------------|
//! | `sync`        | core-vs-loom atomics facade                                     |
//! | `raw`         | the unsafe core: once-cell, lock-free stack, atomic waker        |
//! | [`context`]   | [`Context`]: the notify_me/notified handshake and the poll loop |
//! | [`notifier`]  | [`EventNotifier`] and [`Clock`] traits; host versions           |
//! | [`task`]      | tasks in static pools, wakers, join handles                     |
//! | [`bh`]        | bottom halves                                                   |
//! | [`signal`]    | [`Signal`]: a lock-free flag raised anywhere, awaited by a task |
//! | [`timer`]     | per-context timers, `sleep`, `with_timeout`                     |
//! | [`wake_gate`] | the latch/sleep handshake inside a sleeping EventNotifier       |
//! | [`worker`]    | worker pool with completion through a bottom half               |
//! | [`stats`]     | per-context counters; wake-path ones with feature `stats`       |
//! | `poll_policy` | adaptive polling before sleeping                                |
//!
//! # Example (what the kernel does, with host stand-ins for the notifier and clock)
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use executor::{sleep, Bh, Context, HostClock, HostNotifier, WorkerPool};
//!
//! // One context per core, and the platform's notifier per core.
//! static CONTEXTS: [Context; 3] = Context::array();
//! static NOTIFIERS: [HostNotifier; 3] = [const { HostNotifier::new() }; 3];
//! static CLOCK: HostClock = HostClock::new();
//!
//! // A static task pool sized for an async fn (2 slots).
//! async fn work(x: u32) -> u32 {
//!     sleep(1_000).await; // clock ticks, on the context that runs this task
//!     x * 2
//! }
//! executor::task_pool!(static WORK: work, 2);
//!
//! // A bottom half, e.g. scheduled from an interrupt handler.
//! static RX_BH: Bh = Bh::new(|_ctx| { /* drain the device */ });
//!
//! // Blocking jobs run on core 2; completions come back through a BH on the submitter.
//! fn checksum(n: u32) -> u32 { (0..n).fold(0, |a, b| a ^ b) }
//! static WORKERS: [&Context; 1] = [&CONTEXTS[2]];
//! static JOBS: WorkerPool<u32, u32, 4> = WorkerPool::new(&WORKERS);
//!
//! // Each core attaches its notifier and clock once, before its first poll.
//! for (ctx, n) in CONTEXTS.iter().zip(NOTIFIERS.iter()) {
//!     ctx.attach(n, &CLOCK).unwrap();
//! }
//! // Cores 1 and 2 run their loops.
//! for core in 1..3 {
//!     std::thread::spawn(move || CONTEXTS[core].run());
//! }
//! // Core 0: spawn onto core 1, schedule a BH on itself, submit a job, join.
//! let on_core_1 = WORK.spawn(&CONTEXTS[1], work(21)).unwrap();
//! RX_BH.schedule(&CONTEXTS[0]);
//! static MAIN: executor::TaskPool<1024, 1> = executor::TaskPool::new();
//! let mut main = MAIN
//!     .spawn(&CONTEXTS[0], async move {
//!         let a = on_core_1.await; // woken across contexts
//!         let b = JOBS.run(checksum, 8).await.unwrap();
//!         a + b
//!     })
//!     .unwrap();
//! CONTEXTS[0].run_until(|| main.is_finished());
//! assert_eq!(main.try_take(), Some(42));
//! let s = CONTEXTS[0].stats();
//! assert!(s.bhs_run >= 2); // RX_BH and the job's completion BH
//! # }
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod sync;

pub mod bh;
pub mod context;
pub mod notifier;
mod poll_policy;
mod raw;
pub mod signal;
pub mod stats;
pub mod task;
pub mod timer;
pub mod wake_gate;
pub mod worker;

pub use bh::{Bh, BhHandler};
pub use context::{AlreadyAttached, Context, HandshakeState};
pub use notifier::{Clock, EventNotifier};
#[cfg(feature = "std")]
pub use notifier::{HostClock, HostNotifier, HostNotifierCounts};
pub use poll_policy::PollParams;
pub use signal::Signal;
pub use stats::StatsSnapshot;
#[cfg(all(feature = "alloc", not(loom)))]
pub use task::spawn_boxed;
pub use task::{
    co_schedule, context_of, current_context, JoinHandle, ScheduleError, SpawnError, TaskPool,
};
pub use timer::{sleep, sleep_until, with_timeout, Elapsed, Sleep, SleepUntil, TIMER_SLOTS};
pub use wake_gate::WakeGate;
pub use worker::{JobFuture, PoolFull, WorkerPool};
