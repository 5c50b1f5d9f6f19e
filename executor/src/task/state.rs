//! The task state word and its named transitions.
//!
//! | bit             | set by                               | cleared by                       |
//! |-----------------|--------------------------------------|----------------------------------|
//! | `ALLOCATED`     | `spawn` (0 -> ALLOCATED|…)           | `free` (state := 0)              |
//! | `SCHEDULED`     | `spawn`, a wake                      | the owner: dequeue, or `end_run` |
//! | `RUNNING`       | the owner, dequeue -> poll           | the owner after the poll         |
//! | `COMPLETE`      | the owner when the future is Ready   | `free`                           |
//! | `JOIN_INTEREST` | `spawn` (a `JoinHandle` exists)      | dropping the `JoinHandle`        |
//!
//! Invariants
//! - `SCHEDULED` without `RUNNING` <=> the task is on exactly one run queue (or about to be
//!   pushed by the one caller that set the bit). Only that caller pushes; only the owner
//!   clears it.
//! - `SCHEDULED` with `RUNNING` is a wake that came during the poll (`start_run` clears
//!   `SCHEDULED` as it sets `RUNNING`, so nothing else can set it then). It is a mark, not a
//!   queue entry: the waker neither pushes nor notifies (the owner is awake, in the poll).
//!   The owner queues the task itself after a `Pending` poll (`finish_pending` returns
//!   true), and drops the mark after a `Ready` one (`end_run`). So a completed task is never
//!   on a run queue, and its slot is free as soon as the poll that completed it returns and
//!   nobody joins (a wake that raced the last poll used to leave a queue entry that kept
//!   the slot until the owner's next poll dequeued it).
//! - The future is touched only by the owner while `RUNNING`; the output only by the owner
//!   before `COMPLETE` is published (Release) and by the `JoinHandle` after observing it
//!   (Acquire).
//! - The slot is freed by whichever RMW leaves the word at exactly `ALLOCATED | COMPLETE`
//!   (done, not queued, not being run, nobody joining): completion, dequeue of a completed
//!   task, or dropping the join handle. Exactly one party observes that.
//! - A wake of a free or completed slot is ignored (stale wakers are harmless); a wake of a
//!   slot that was freed and re-spawned is a spurious wake of the new task (allowed).

use crate::sync::{loom_const_fn, AtomicUsize, Ordering};

pub(crate) const ALLOCATED: usize = 1 << 0;
pub(crate) const SCHEDULED: usize = 1 << 1;
pub(crate) const RUNNING: usize = 1 << 2;
pub(crate) const COMPLETE: usize = 1 << 3;
pub(crate) const JOIN_INTEREST: usize = 1 << 4;

const FREEABLE: usize = ALLOCATED | COMPLETE;

/// What the waker must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WakeAction {
    /// We set SCHEDULED: push the task onto its context's run queue and notify.
    Enqueue,
    /// The task is being polled: we set SCHEDULED as a mark, and the owner queues the task
    /// after the poll (`finish_pending`). No push, no notify.
    Deferred,
    /// Already queued: it will run (the caller's writes are ordered by our RMW).
    AlreadyScheduled,
    /// Free or completed: nothing to do.
    Ignore,
}

/// What the owner must do with a dequeued task.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StartAction {
    Poll,
    Skip,
    Free,
}

pub(crate) struct State(AtomicUsize);

impl State {
    loom_const_fn! {
        pub(crate) fn new() -> State {
            State(AtomicUsize::new(0))
        }
    }

    /// spawn: claim a free slot, scheduled, with join interest.
    pub(crate) fn try_allocate(&self) -> bool {
        // Acquire: pairs with the Release in `release_slot` (the previous task's teardown is
        // complete before we write the storage).
        self.0
            .compare_exchange(
                0,
                ALLOCATED | SCHEDULED | JOIN_INTEREST,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    pub(crate) fn wake(&self) -> WakeAction {
        let mut s = self.0.load(Ordering::Relaxed);
        loop {
            if s & ALLOCATED == 0 || s & COMPLETE != 0 {
                return WakeAction::Ignore;
            }
            let (new, action) = if s & SCHEDULED != 0 {
                // Write the same value so our RMW is ordered with the owner's dequeue (see
                // `start_run`): either it reads our write (and our prior writes), or we read
                // its clearing of SCHEDULED and enqueue.
                (s, WakeAction::AlreadyScheduled)
            } else if s & RUNNING != 0 {
                // Being polled: leave a mark the owner reads in `finish_pending` / `end_run`.
                (s | SCHEDULED, WakeAction::Deferred)
            } else {
                (s | SCHEDULED, WakeAction::Enqueue)
            };
            // AcqRel: Release pairs with the Acquire of the owner's `start_run` (Enqueue,
            // AlreadyScheduled) or `finish_pending` (Deferred): our writes before the wake
            // are visible to the next poll.
            match self
                .0
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return action,
                Err(x) => s = x,
            }
        }
    }

    /// Owner, after taking the task off the run queue.
    pub(crate) fn start_run(&self) -> StartAction {
        let mut s = self.0.load(Ordering::Relaxed);
        loop {
            debug_assert!(s & SCHEDULED != 0, "dequeued task not SCHEDULED: {s:#x}");
            let (new, action) = if s & COMPLETE != 0 {
                let new = s & !SCHEDULED;
                (
                    new,
                    if new == FREEABLE {
                        StartAction::Free
                    } else {
                        StartAction::Skip
                    },
                )
            } else {
                ((s & !SCHEDULED) | RUNNING, StartAction::Poll)
            };
            // AcqRel: Acquire pairs with the Release of `wake` (writes made before waking are
            // visible to the poll); Release orders our earlier work before later wakes.
            match self
                .0
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return action,
                Err(x) => s = x,
            }
        }
    }

    /// Owner, after a poll returned Pending. Returns true if a wake came during the poll: the
    /// caller must push the task onto its run queue (it owns the SCHEDULED mark).
    pub(crate) fn finish_pending(&self) -> bool {
        // Release: the poll's writes happen before a waker's RMW that observes !RUNNING.
        // Acquire: pairs with the Release CAS of a `wake` that returned Deferred (its writes
        // before waking are visible to the next poll).
        #[cfg(not(aiolos_mutant = "deferred_wake_dropped"))]
        let old = self.0.fetch_and(!RUNNING, Ordering::AcqRel);
        // Mutant: the mark is cleared with RUNNING and the task never queued (a lost wake).
        #[cfg(aiolos_mutant = "deferred_wake_dropped")]
        let old = self.0.fetch_and(!(RUNNING | SCHEDULED), Ordering::AcqRel) & !SCHEDULED;
        old & SCHEDULED != 0
    }

    /// Owner, after the output was stored. Returns whether a joiner may be waiting.
    pub(crate) fn complete(&self) -> bool {
        // AcqRel: Release publishes the output (pairs with the Acquire in `is_complete`);
        // Acquire pairs with the Release of `drop_join`, whose clearing of JOIN_INTEREST we
        // read here. RUNNING stays set so the slot cannot be freed while we wake the joiner.
        self.0.fetch_or(COMPLETE, Ordering::AcqRel) & JOIN_INTEREST != 0
    }

    /// Owner, after `complete` and waking the joiner. Drops a wake's mark left during the
    /// poll (the task is on no queue; wakes after `complete` are ignored). Returns true if
    /// the caller must free.
    pub(crate) fn end_run(&self) -> bool {
        // Mutant: the mark is kept, so the slot stays taken (the behaviour before marks: a
        // wake during the completing poll held the slot until the owner's next poll).
        #[cfg(aiolos_mutant = "deferred_mark_kept")]
        const CLEAR: usize = RUNNING;
        #[cfg(not(aiolos_mutant = "deferred_mark_kept"))]
        const CLEAR: usize = RUNNING | SCHEDULED;
        // AcqRel: Acquire pairs with the Release in `drop_join` (the joiner is done with the
        // output before we free it) and with the Release CAS of a Deferred `wake`.
        let old = self.0.fetch_and(!CLEAR, Ordering::AcqRel);
        old & !CLEAR == FREEABLE
    }

    /// `JoinHandle` dropped. Returns true if the caller must free.
    pub(crate) fn drop_join(&self) -> bool {
        // AcqRel: Release orders our use of the output before the owner frees; Acquire pairs
        // with the owner's Release in `complete`/`end_run`.
        let old = self.0.fetch_and(!JOIN_INTEREST, Ordering::AcqRel);
        old & !JOIN_INTEREST == FREEABLE
    }

    pub(crate) fn is_complete(&self) -> bool {
        // Acquire: pairs with the Release in `complete`; the output is visible.
        self.0.load(Ordering::Acquire) & COMPLETE != 0
    }

    pub(crate) fn is_free(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }

    /// Last step of `free`: the slot may be allocated again.
    pub(crate) fn release_slot(&self) {
        // Release: pairs with the Acquire in `try_allocate`.
        self.0.store(0, Ordering::Release);
    }
}
