//! Worker pool: run blocking jobs on other contexts (QEMU's `thread-pool.c` path).
//!
//! Workers are ordinary [`Context`]s (on bare metal: other cores). A job occupies one of the
//! pool's `N` static slots; each slot embeds one [`Bh`] that carries the job twice:
//!
//! 1. `submit` (any core) stores the job and argument, publishes `QUEUED` (Release) and
//!    schedules the slot's BH on a worker (round robin);
//! 2. the worker's BH run claims `QUEUED -> RUNNING` (Acquire), runs the job, stores the
//!    result, publishes `DONE` (Release) and schedules the same BH on the submitter;
//! 3. the submitter's BH run (the completion BH) moves `DONE -> COMPLETED` (AcqRel) and wakes
//!    the waiting [`JobFuture`], which takes the result (Acquire) and frees the slot.
//!
//! | state       | slot owned by          | next                         |
//! |-------------|------------------------|------------------------------|
//! | `FREE`      | nobody                 | `CLAIMED` by `submit` (CAS)  |
//! | `CLAIMED`   | the submitter          | `QUEUED`                     |
//! | `QUEUED`    | published to the worker| `RUNNING` (worker BH)        |
//! | `RUNNING`   | the worker             | `DONE`                       |
//! | `DONE`      | published to submitter | `COMPLETED` (completion BH)  |
//! | `COMPLETED` | the `JobFuture`        | `FREE` once the result is taken |
//!
//! `ABANDONED` (flag): the `JobFuture` was dropped; whoever reaches `COMPLETED` with the flag
//! set drops the result and frees the slot. The future only consumes after the completion BH
//! ran, so the BH never runs on a reused slot. The BH is never pending on two contexts at
//! once: step 2 schedules it only after the worker's run cleared its `PENDING|QUEUED` bits.

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize as CoreAtomicUsize, Ordering::Relaxed};
use core::task::{Context as TaskCx, Poll};

use crate::bh::{Bh, BhHandler};
use crate::context::Context;
use crate::raw::atomic_waker::AtomicWaker;
use crate::raw::static_ref::AtomicRef;
use crate::sync::{loom_const_fn, AtomicUsize, Ordering, UnsafeCell};

const FREE: usize = 0;
const CLAIMED: usize = 1;
const QUEUED: usize = 2;
const RUNNING: usize = 3;
const DONE: usize = 4;
const COMPLETED: usize = 5;
const STAGE: usize = 0b111;
const ABANDONED: usize = 0b1000;

/// Every slot of the pool is busy (or the pool has no workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolFull;

impl core::fmt::Display for PoolFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("worker pool full")
    }
}

/// A submitted job: the function and its argument.
type Job<A, R> = (fn(A) -> R, A);

struct JobSlot<A: 'static, R: 'static> {
    state: AtomicUsize,
    job: UnsafeCell<Option<Job<A, R>>>,
    result: UnsafeCell<Option<R>>,
    submitter: AtomicRef<Context>,
    waker: AtomicWaker,
    bh: Bh,
}

// SAFETY: `job` is written by the submitter while CLAIMED and read by the worker after
// observing QUEUED (Release/Acquire); `result` is written by the worker while RUNNING and read
// after DONE/COMPLETED (Release/Acquire) by exactly one party (module table). A and R cross
// cores, hence Send.
unsafe impl<A: Send, R: Send> Sync for JobSlot<A, R> {}

impl<A: Send + 'static, R: Send + 'static> JobSlot<A, R> {
    loom_const_fn! {
        fn new() -> Self {
            JobSlot {
                state: AtomicUsize::new(FREE),
                job: UnsafeCell::new(None),
                result: UnsafeCell::new(None),
                submitter: AtomicRef::none(),
                waker: AtomicWaker::new(),
                bh: Bh::with_handler(),
            }
        }
    }

    fn take_result(&self) -> Option<R> {
        // SAFETY: callers hold COMPLETED (observed with Acquire): the worker's write is
        // visible and nobody else touches the cell.
        self.result.with_mut(|p| unsafe { (*p).take() })
    }

    fn free(&self) {
        // Release: pairs with the Acquire CAS in `submit`.
        self.state.store(FREE, Ordering::Release);
    }

    /// Step 2, on the worker.
    fn run_job(&'static self) {
        // Acquire: pairs with the Release store of QUEUED in `submit` (job and arg visible).
        let claimed = self
            .state
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |s| {
                (s & STAGE == QUEUED).then_some((s & !STAGE) | RUNNING)
            })
            .is_ok();
        if !claimed {
            return;
        }
        // SAFETY: RUNNING: the worker owns the job and result cells.
        let job = self.job.with_mut(|p| unsafe { (*p).take() });
        if let Some((f, arg)) = job {
            let r = f(arg);
            // SAFETY: RUNNING: exclusive (see above).
            self.result.with_mut(|p| unsafe { *p = Some(r) });
        }
        // Release: publishes the result; pairs with the AcqRel update in `complete`.
        let _ = self
            .state
            .fetch_update(Ordering::Release, Ordering::Relaxed, |s| {
                Some((s & !STAGE) | DONE)
            });
        // Relaxed: written before QUEUED was published (Release), read after Acquire above.
        if let Some(ctx) = self.submitter.load(Ordering::Relaxed) {
            self.bh.schedule(ctx);
        }
    }

    /// Step 3, on the submitter: the completion BH.
    fn complete(&'static self) {
        // AcqRel: Acquire pairs with the Release DONE in `run_job` (result visible);
        // Release pairs with the Acquire loads in `JobFuture::poll` / its drop.
        let old = match self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s & STAGE == DONE).then_some((s & !STAGE) | COMPLETED)
            }) {
            Ok(old) => old,
            Err(_) => return,
        };
        if old & ABANDONED != 0 {
            drop(self.take_result());
            self.free();
        } else {
            self.waker.wake();
        }
    }
}

impl<A: Send + 'static, R: Send + 'static> BhHandler for JobSlot<A, R> {
    fn run(&'static self, ctx: &'static Context) {
        // Relaxed peek to pick the step; each step re-checks with its own RMW.
        match self.state.load(Ordering::Relaxed) & STAGE {
            QUEUED => self.run_job(),
            DONE => self.complete(),
            _ => {
                let _ = ctx;
            }
        }
    }
}

/// A pool of `N` job slots whose jobs `fn(A) -> R` run on the `workers` contexts.
pub struct WorkerPool<A: 'static, R: 'static, const N: usize> {
    workers: &'static [&'static Context],
    next: CoreAtomicUsize,
    slots: [JobSlot<A, R>; N],
}

impl<A: Send + 'static, R: Send + 'static, const N: usize> WorkerPool<A, R, N> {
    /// A pool that runs jobs on `workers` (round robin).
    #[cfg(not(loom))]
    pub const fn new(workers: &'static [&'static Context]) -> Self {
        WorkerPool {
            workers,
            next: CoreAtomicUsize::new(0),
            slots: [const { JobSlot::new() }; N],
        }
    }

    /// A pool that runs jobs on `workers` (round robin).
    #[cfg(loom)]
    pub fn new(workers: &'static [&'static Context]) -> Self {
        WorkerPool {
            workers,
            next: CoreAtomicUsize::new(0),
            slots: core::array::from_fn(|_| JobSlot::new()),
        }
    }

    /// Submits `job(arg)`; its completion reaches `submitter` through a bottom half, where it
    /// wakes the returned future. Lock-free; callable from any core.
    pub fn submit(
        &'static self,
        submitter: &'static Context,
        job: fn(A) -> R,
        arg: A,
    ) -> Result<JobFuture<A, R>, PoolFull> {
        if self.workers.is_empty() {
            return Err(PoolFull);
        }
        // Acquire: pairs with the Release in `JobSlot::free` (the last user is done).
        let slot = self
            .slots
            .iter()
            .find(|s| {
                s.state
                    .compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            })
            .ok_or(PoolFull)?;
        let slot: &'static JobSlot<A, R> = slot;
        slot.bh.set_handler(slot);
        // SAFETY: CLAIMED: the submitter owns the job cell.
        slot.job.with_mut(|p| unsafe { *p = Some((job, arg)) });
        // Relaxed: published by the Release store of QUEUED below.
        slot.submitter.store(submitter, Ordering::Relaxed);
        // Release: publishes job, arg and submitter; pairs with the Acquire in `run_job`.
        slot.state.store(QUEUED, Ordering::Release);
        let worker = self.workers[self.next.fetch_add(1, Relaxed) % self.workers.len()];
        slot.bh.schedule(worker);
        Ok(JobFuture { slot: Some(slot) })
    }

    /// `submit` from inside a task, with the task's own context as the submitter.
    pub async fn run(&'static self, job: fn(A) -> R, arg: A) -> Result<R, PoolFull> {
        let ctx = crate::task::current_context().await;
        Ok(self.submit(ctx, job, arg)?.await)
    }
}

/// The result of a submitted job.
#[must_use = "dropping a JobFuture abandons the result"]
pub struct JobFuture<A: Send + 'static, R: Send + 'static> {
    slot: Option<&'static JobSlot<A, R>>,
}

impl<A: Send + 'static, R: Send + 'static> JobFuture<A, R> {
    fn try_take(&mut self) -> Option<R> {
        let slot = self.slot?;
        // Acquire: pairs with the Release side of the AcqRel update in `complete`.
        if slot.state.load(Ordering::Acquire) & STAGE != COMPLETED {
            return None;
        }
        let r = slot.take_result();
        slot.free();
        self.slot = None;
        r
    }
}

impl<A: Send + 'static, R: Send + 'static> Future for JobFuture<A, R> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<R> {
        let slot = self
            .slot
            .expect("aiolos: JobFuture polled after completion");
        if let Some(r) = self.try_take() {
            return Poll::Ready(r);
        }
        // Register, then re-check (the completion BH sets COMPLETED, then wakes).
        slot.waker.register(cx.waker());
        match self.try_take() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

impl<A: Send + 'static, R: Send + 'static> Drop for JobFuture<A, R> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            // AcqRel: pairs with the AcqRel update in `complete`.
            let old = slot.state.fetch_or(ABANDONED, Ordering::AcqRel);
            if old & STAGE == COMPLETED {
                drop(slot.take_result());
                slot.free();
            }
        }
    }
}
