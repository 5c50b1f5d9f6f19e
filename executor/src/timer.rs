//! Timers: per-context deadlines and the [`sleep`], [`sleep_until`], [`with_timeout`] futures.
//!
//! Each context has a fixed table of [`TIMER_SLOTS`] slots (no allocation). A sleeping future
//! claims a slot on its first pending poll, keyed by the task that polls it, and releases it
//! when it completes or is dropped. The owner's `poll` sleeps until the nearest armed
//! deadline and, after waking, wakes the task of every expired slot.
//!
//! Finding the context: timer futures must be polled by an aiolos task; they read the task
//! (and so its owning context) from the `Waker` (see [`crate::current_context`]). Polling one
//! from a foreign executor panics.
//!
//! Owner-only: slots are claimed, armed, fired and released only by the owner core (tasks are
//! polled and dropped by their owner), so the table uses `core` atomics with `Relaxed`, also
//! under loom. If the table is full the future degrades to waking itself on every poll (counted
//! in `StatsSnapshot::timer_overflows`).

use core::future::{poll_fn, Future};
use core::pin::{pin, Pin};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use core::task::{Context as TaskCx, Poll};

use crate::context::Context;
use crate::raw::static_ref::CoreAtomicRef;
use crate::task::header::TaskHeader;

/// Timer slots per context.
pub const TIMER_SLOTS: usize = 32;

const DISARMED: u64 = u64::MAX;

struct TimerSlot {
    task: CoreAtomicRef<TaskHeader>,
    deadline: AtomicU64,
}

pub(crate) struct TimerTable {
    slots: [TimerSlot; TIMER_SLOTS],
    /// Slots claimed (armed or fired-but-held); 0 lets `next_deadline` and `fire` skip the
    /// walk of all slots, which is every poll of a context without timers. Owner-only.
    claimed: AtomicUsize,
}

impl TimerTable {
    pub(crate) const fn new() -> Self {
        TimerTable {
            slots: [const {
                TimerSlot {
                    task: CoreAtomicRef::none(),
                    deadline: AtomicU64::new(DISARMED),
                }
            }; TIMER_SLOTS],
            claimed: AtomicUsize::new(0),
        }
    }

    /// No slot is claimed: no deadline can be armed.
    fn is_empty(&self) -> bool {
        self.claimed.load(Relaxed) == 0
    }

    fn claim(&self, task: &'static TaskHeader, deadline: u64) -> Option<usize> {
        let i = self.slots.iter().position(|s| s.task.claim(task))?;
        self.claimed.fetch_add(1, Relaxed);
        self.slots[i].deadline.store(deadline, Relaxed);
        Some(i)
    }

    fn arm(&self, i: usize, deadline: u64) {
        self.slots[i].deadline.store(deadline, Relaxed);
    }

    fn release(&self, i: usize) {
        self.slots[i].deadline.store(DISARMED, Relaxed);
        self.slots[i].task.clear();
        self.claimed.fetch_sub(1, Relaxed);
    }

    /// The nearest armed deadline.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        let d = self.slots.iter().map(|s| s.deadline.load(Relaxed)).min()?;
        (d != DISARMED).then_some(d)
    }

    /// Wakes the tasks whose deadline passed; returns whether any did.
    pub(crate) fn fire(&self, ctx: &'static Context) -> bool {
        // Most polls find no timer expired: say so before building (and zeroing) the
        // deadline-ordered list below. The clock is read only if a slot is armed, and the
        // slots are walked only if one is claimed.
        if self.is_empty() {
            return false;
        }
        let mut now = None;
        let any = self.slots.iter().any(|s| {
            let d = s.deadline.load(Relaxed);
            d != DISARMED && d <= *now.get_or_insert_with(|| ctx.now())
        });
        if !any {
            return false;
        }
        // Collect the expired slots first and wake them in deadline order, so that timers
        // that expire in the same pass (the owner was busy or asleep past several deadlines)
        // still run in the order of their deadlines, not of their slots.
        let mut expired = [(0u64, 0usize); TIMER_SLOTS];
        let mut n = 0;
        for (i, s) in self.slots.iter().enumerate() {
            let d = s.deadline.load(Relaxed);
            if d == DISARMED {
                continue;
            }
            let now = *now.get_or_insert_with(|| ctx.now());
            if d <= now {
                expired[n] = (d, i);
                n += 1;
            }
        }
        let expired = &mut expired[..n];
        expired.sort_unstable();
        for &(_, i) in expired.iter() {
            let s = &self.slots[i];
            s.deadline.store(DISARMED, Relaxed);
            if let Some(t) = s.task.load() {
                t.wake();
            }
            ctx.stats.timers_fired.bump();
        }
        n > 0
    }
}

/// Error of [`with_timeout`]: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl core::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("deadline elapsed")
    }
}

/// Future of [`sleep_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct SleepUntil {
    deadline: u64,
    slot: Option<(&'static Context, usize)>,
}

/// Completes once the context's clock reaches `deadline` (in clock ticks).
pub fn sleep_until(deadline: u64) -> SleepUntil {
    SleepUntil {
        deadline,
        slot: None,
    }
}

impl Future for SleepUntil {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let task = crate::task::waker::header_of(cx.waker())
            .expect("aiolos: timers must be polled by an aiolos task");
        let ctx = task.ctx();
        if ctx.now() >= self.deadline {
            if let Some((c, i)) = self.slot.take() {
                c.timers.release(i);
            }
            return Poll::Ready(());
        }
        match self.slot {
            Some((c, i)) => c.timers.arm(i, self.deadline),
            None => match ctx.timers.claim(task, self.deadline) {
                Some(i) => self.slot = Some((ctx, i)),
                None => {
                    ctx.stats.timer_overflows.bump();
                    cx.waker().wake_by_ref();
                }
            },
        }
        Poll::Pending
    }
}

impl Drop for SleepUntil {
    fn drop(&mut self) {
        if let Some((c, i)) = self.slot.take() {
            c.timers.release(i);
        }
    }
}

/// Future of [`sleep`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    ticks: u64,
    inner: Option<SleepUntil>,
}

/// Completes `ticks` clock ticks after its first poll.
pub fn sleep(ticks: u64) -> Sleep {
    Sleep { ticks, inner: None }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let this = &mut *self;
        let inner = match &mut this.inner {
            Some(s) => s,
            None => {
                let task = crate::task::waker::header_of(cx.waker())
                    .expect("aiolos: timers must be polled by an aiolos task");
                let deadline = task.ctx().now().saturating_add(this.ticks);
                this.inner.insert(sleep_until(deadline))
            }
        };
        Pin::new(inner).poll(cx)
    }
}

/// Runs `fut` for at most `ticks` clock ticks.
pub async fn with_timeout<F: Future>(ticks: u64, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = pin!(fut);
    let mut timer = pin!(sleep(ticks));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Elapsed));
        }
        Poll::Pending
    })
    .await
}
