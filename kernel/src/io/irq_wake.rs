//! [`IrqWake`]: what a device's interrupt handler signals and a task awaits (an
//! `AtomicWaker` with a latched flag), optionally also scheduling a bottom half.
//!
//! The handler calls [`IrqWake::wake`]: it sets the flag, wakes the registered task and
//! schedules the bottom half if one is attached; it never runs driver code. The task awaits
//! [`IrqWake::wait`], which completes once for every batch of interrupts since it last
//! completed (interrupts are coalesced: the task must then process all the device's work).

use super::irq_lock::IrqLock;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::task::{Poll, Waker};
use executor::{Bh, Context};

/// Latched interrupt signal with one waiting task and an optional bottom half.
pub struct IrqWake {
    fired: AtomicBool,
    waker: IrqLock<Option<Waker>>,
    bh: spin::Once<(&'static Bh, &'static Context)>,
    count: AtomicU64,
}

impl Default for IrqWake {
    fn default() -> Self {
        Self::new()
    }
}

impl IrqWake {
    /// A signal nobody has fired.
    pub const fn new() -> Self {
        IrqWake {
            fired: AtomicBool::new(false),
            waker: IrqLock::new(None),
            bh: spin::Once::new(),
            count: AtomicU64::new(0),
        }
    }

    /// Also schedule `bh` on `ctx` at every [`wake`](Self::wake) (once; later calls are
    /// ignored and return false).
    pub fn attach_bh(&self, bh: &'static Bh, ctx: &'static Context) -> bool {
        let mut fresh = false;
        self.bh.call_once(|| {
            fresh = true;
            (bh, ctx)
        });
        fresh
    }

    /// Signal: from an interrupt handler (any core) or a task. Lock-free except for the
    /// short waker-slot lock (IRQs masked).
    pub fn wake(&self) {
        // Relaxed: a statistics counter.
        self.count.fetch_add(1, Ordering::Relaxed);
        // Release pairs with the AcqRel swap in `poll_wait`: the task that sees the flag
        // sees what the device published before the interrupt (as observed by this core).
        self.fired.store(true, Ordering::Release);
        let waker = self.waker.lock().take();
        if let Some(w) = waker {
            w.wake();
        }
        if let Some((bh, ctx)) = self.bh.get() {
            bh.schedule(ctx);
        }
    }

    /// Interrupts signalled so far.
    pub fn count(&self) -> u64 {
        // Relaxed: a statistics counter.
        self.count.load(Ordering::Relaxed)
    }

    /// Consume a pending signal without waiting: true if one was pending.
    pub fn take(&self) -> bool {
        // AcqRel pairs with the Release store in `wake`.
        self.fired.swap(false, Ordering::AcqRel)
    }

    /// Ready (and consumed) if signalled since the last consumption; else registers the
    /// task's waker. The waker is registered before the flag is tested, both ordered by the
    /// slot lock against `wake`'s store-then-take, so a wake in between is never lost.
    pub fn poll_wait(&self, cx: &mut core::task::Context<'_>) -> Poll<()> {
        {
            let mut slot = self.waker.lock();
            match slot.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        if self.take() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Wait for the next signal (completes at once if one is pending).
    pub async fn wait(&self) {
        poll_fn(|cx| self.poll_wait(cx)).await
    }
}
