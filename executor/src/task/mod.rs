//! Tasks: `async fn`s in static storage, woken from any core or interrupt.
//!
//! - `state`: the task state word and its transitions (the protocol).
//! - `header`: the type-erased header and the storage protocol (unsafe core).
//! - `pool`: [`TaskPool`] (static, no allocator) and [`task_pool!`](crate::task_pool).
//! - `waker`: the `Waker` vtable (wake = CAS + run-queue push + `Context::notify`).
//! - `join`: [`JoinHandle`].
//!
//! A task belongs to the context it was spawned onto for its whole life; only that context's
//! owner polls it. Wakers, spawns and [`co_schedule`] may come from any core.

#[cfg(all(feature = "alloc", not(loom)))]
mod boxed;
pub(crate) mod header;
mod join;
mod pool;
pub(crate) mod state;
pub(crate) mod waker;

use core::future::poll_fn;
use core::task::{Poll, Waker};

#[cfg(all(feature = "alloc", not(loom)))]
pub use boxed::{spawn_boxed, MAX_BOXED};
pub use join::JoinHandle;
#[doc(hidden)]
pub use pool::{task_size_of, TaskFn};
pub use pool::{SpawnError, TaskPool};

use crate::context::Context;
use state::{StartAction, WakeAction};

/// Runs every task queued so far once. Owner only. Returns whether a task was polled.
pub(crate) fn run_queue(ctx: &'static Context) -> bool {
    let mut ran = false;
    for task in ctx.run_queue.take_all() {
        match task.state.start_run() {
            StartAction::Poll => {
                ctx.stats.task_started(|| ctx.now(), &task.woken_at);
                // ManuallyDrop: an aiolos waker's drop does nothing (`waker::drop_waker`), so
                // the call through the vtable after every poll is skipped.
                let waker = core::mem::ManuallyDrop::new(waker::waker_for(task));
                let mut cx = core::task::Context::from_waker(&waker);
                // SAFETY: `start_run` set RUNNING; we are the owner.
                let ready = unsafe { task.poll(&mut cx) }.is_ready();
                ctx.stats.tasks_polled.bump();
                ran = true;
                if ready {
                    if task.state.complete() {
                        task.join_waker.wake();
                    }
                    if task.state.end_run() {
                        // SAFETY: `end_run` left the state at exactly ALLOCATED|COMPLETE.
                        unsafe { task.free() };
                    }
                } else if task.state.finish_pending() {
                    // Woken during the poll: we own the SCHEDULED mark, so we push. No
                    // notify: this core is awake and its next poll takes the queue.
                    task.woken_at.stamp(|| ctx.now());
                    ctx.run_queue.push(task);
                }
            }
            StartAction::Skip => {}
            // SAFETY: `start_run` left the state at exactly ALLOCATED|COMPLETE.
            StartAction::Free => unsafe { task.free() },
        }
    }
    ran
}

/// The context that owns the task behind `waker`, if it is an aiolos waker.
pub fn context_of(waker: &Waker) -> Option<&'static Context> {
    waker::header_of(waker).map(|t| t.ctx())
}

/// The context running the current task (read from the task's `Waker`; no thread-locals).
///
/// Panics if polled by a foreign executor.
pub async fn current_context() -> &'static Context {
    poll_fn(|cx| Poll::Ready(context_of(cx.waker()).expect("aiolos: not polled by an aiolos task")))
        .await
}

/// Why [`co_schedule`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleError {
    /// The task is already queued (QEMU aborts with "Co-routine was already scheduled").
    AlreadyScheduled,
    /// The task has completed (or its slot is free).
    NotRunnable,
    /// Not an aiolos waker.
    ForeignWaker,
}

/// aio_co_schedule: queue the task behind `waker` on its owning context, from any core or
/// interrupt handler, and report a double schedule instead of coalescing it. (Plain
/// `Waker::wake` coalesces silently.) Counted in the owner's `double_schedules`.
pub fn co_schedule(waker: &Waker) -> Result<(), ScheduleError> {
    let task = waker::header_of(waker).ok_or(ScheduleError::ForeignWaker)?;
    match task.wake() {
        WakeAction::Enqueue | WakeAction::Deferred => Ok(()),
        WakeAction::AlreadyScheduled => {
            task.ctx().stats.double_schedule();
            Err(ScheduleError::AlreadyScheduled)
        }
        WakeAction::Ignore => Err(ScheduleError::NotRunnable),
    }
}
