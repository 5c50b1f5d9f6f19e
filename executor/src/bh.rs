//! Bottom halves: static callbacks scheduled onto a context from any core or interrupt.
//!
//! State word of a [`Bh`]:
//!
//! | bit       | set by                         | cleared by                          |
//! |-----------|--------------------------------|-------------------------------------|
//! | `PENDING` | `schedule`                     | the owner before running it; `cancel` |
//! | `QUEUED`  | the `schedule` that pushes it  | the owner when it takes it off the list |
//!
//! - Scheduling twice before it runs runs it once (QEMU's `BH_PENDING`): the second
//!   `schedule` finds `PENDING` and does not push again.
//! - `QUEUED` guarantees a BH is on at most one list: a `schedule` after `cancel` that finds
//!   it still `QUEUED` only sets `PENDING` again, and it runs on the context it is queued on.
//! - The owner takes the whole list once per `poll`; a BH that reschedules itself from its
//!   callback is pushed onto the (new) list and runs on the next iteration.
//! - The owner reads the node's link before clearing `QUEUED` (see `raw::stack`).
//! - Like QEMU's `aio_bh_enqueue`, every non-idle `schedule` notifies the context, coalesced
//!   or not.
//! - Idle BHs (`Bh::new_idle`) do not notify and do not count as progress; while one is
//!   pending the owner sleeps at most 10 ms (QEMU's idle-BH timeout).
//!
//! - A BH belongs to no context: each `schedule` names one. Scheduling the same BH on two
//!   contexts while it runs on the first lets it run on both at once; give each context its
//!   own BH if the callback is not reentrant.
//!
//! All of `schedule` / `cancel` is lock-free: callable from interrupt handlers on any core.

use core::ptr;

use crate::context::Context;
use crate::raw::once::OnceCell;
use crate::raw::stack::{Linked, Stack};
use crate::raw::static_ref::AtomicRef;
use crate::sync::{loom_const_fn, AtomicPtr, AtomicUsize, Ordering};

const PENDING: usize = 0b01;
const QUEUED: usize = 0b10;

/// A callback object for bottom halves that need `'static` state (see [`Bh::with_handler`]).
pub trait BhHandler: Sync {
    /// Runs on the owner of `ctx`.
    fn run(&'static self, ctx: &'static Context);
}

enum Callback {
    Fn(fn(&'static Context)),
    Handler(OnceCell<&'static dyn BhHandler>),
}

/// A bottom half. `static BH: Bh = Bh::new(callback);`
pub struct Bh {
    state: AtomicUsize,
    next: AtomicPtr<Bh>,
    /// The context whose list holds this BH while `QUEUED` (for notifying it).
    queued_on: AtomicRef<Context>,
    callback: Callback,
    idle: bool,
}

impl Linked for Bh {
    fn link(&self) -> &AtomicPtr<Bh> {
        &self.next
    }
}

impl Bh {
    loom_const_fn! {
        /// A bottom half that calls `f` on the context it was scheduled on.
        pub fn new(f: fn(&'static Context)) -> Bh {
            Bh::build(Callback::Fn(f), false)
        }
    }

    loom_const_fn! {
        /// An idle bottom half (QEMU `qemu_bh_schedule_idle`): scheduling it does not wake the
        /// owner; it runs on the owner's next iteration, which happens within 10 ms.
        pub fn new_idle(f: fn(&'static Context)) -> Bh {
            Bh::build(Callback::Fn(f), true)
        }
    }

    loom_const_fn! {
        /// A bottom half whose callback object is installed later with [`Bh::set_handler`]
        /// (for handlers that point back at the static that holds the BH).
        pub fn with_handler() -> Bh {
            Bh::build(Callback::Handler(OnceCell::new()), false)
        }
    }

    loom_const_fn! {
        fn build(callback: Callback, idle: bool) -> Bh {
            Bh {
                state: AtomicUsize::new(0),
                next: AtomicPtr::new(ptr::null_mut()),
                queued_on: AtomicRef::none(),
                callback,
                idle,
            }
        }
    }

    /// Installs the handler of a [`Bh::with_handler`] BH; returns false if one is already set
    /// (or this BH has a plain function callback).
    pub fn set_handler(&self, handler: &'static dyn BhHandler) -> bool {
        match &self.callback {
            Callback::Handler(cell) => cell.set(handler).is_ok(),
            Callback::Fn(_) => false,
        }
    }

    /// qemu_bh_schedule: run this BH once on `ctx`'s next iteration. Returns true if it was
    /// not pending yet (false: coalesced with an earlier schedule). Lock-free, IRQ-safe.
    pub fn schedule(&'static self, ctx: &'static Context) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        let (newly, target) = loop {
            if s & PENDING != 0 {
                // Coalesced. Still write (the same value) so that we take part in the
                // modification order of `state`: Release makes our prior writes visible to
                // the owner's AcqRel fetch_and in `run_list` that clears PENDING after us; if
                // it cleared PENDING before us, the CAS fails and we push anew.
                match self
                    .state
                    .compare_exchange_weak(s, s, Ordering::AcqRel, Ordering::Relaxed)
                {
                    Ok(_) => break (false, self.queued_on.load(Ordering::Acquire)),
                    Err(x) => s = x,
                }
            } else if s & QUEUED != 0 {
                // Cancelled but still on a list: re-arm in place.
                // Release: pairs with the AcqRel fetch_and in `run_list`.
                match self.state.compare_exchange_weak(
                    s,
                    s | PENDING,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break (true, self.queued_on.load(Ordering::Acquire)),
                    Err(x) => s = x,
                }
            } else {
                // Release: pairs with the AcqRel fetch_and in `run_list`.
                match self.state.compare_exchange_weak(
                    s,
                    PENDING | QUEUED,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let list = if self.idle {
                            &ctx.idle_bh_list
                        } else {
                            &ctx.bh_list
                        };
                        // Release: read (Acquire) by other schedulers that find QUEUED; a
                        // stale null only means they skip a redundant notify.
                        self.queued_on.store(ctx, Ordering::Release);
                        list.push(self);
                        break (true, Some(ctx));
                    }
                    Err(x) => s = x,
                }
            }
        };
        // Mutant `bh_skip_notify`: no notify after scheduling. Scheduled from the owner's own
        // core that is harmless (the owner is running, notify_me is 0); from another core the
        // sleeping owner never hears of the BH.
        #[cfg(aiolos_mutant = "bh_skip_notify")]
        let _ = target;
        #[cfg(not(aiolos_mutant = "bh_skip_notify"))]
        if let (false, Some(target)) = (self.idle, target) {
            target.notify();
        }
        newly
    }

    /// qemu_bh_cancel: if pending, it will not run. Returns whether it was pending.
    pub fn cancel(&self) -> bool {
        // AcqRel: orders with the owner's fetch_and in `run_list`; whoever clears PENDING
        // first wins.
        self.state.fetch_and(!PENDING, Ordering::AcqRel) & PENDING != 0
    }

    /// Whether the BH is scheduled and has not started running yet.
    pub fn is_pending(&self) -> bool {
        // Acquire: pairs with the Release RMWs in `schedule` (diagnostic; orders nothing else).
        self.state.load(Ordering::Acquire) & PENDING != 0
    }

    fn run(&'static self, ctx: &'static Context) {
        match &self.callback {
            Callback::Fn(f) => f(ctx),
            Callback::Handler(cell) => {
                if let Some(h) = cell.get() {
                    h.run(ctx)
                }
            }
        }
    }
}

/// Runs every BH on `list` once. Owner only. Returns whether a non-idle BH ran.
pub(crate) fn run_list(ctx: &'static Context, list: &Stack<Bh>, idle: bool) -> bool {
    let mut ran = false;
    for bh in list.take_all() {
        // AcqRel: Acquire pairs with the Release RMWs in `schedule` (the scheduler's writes
        // are visible to the callback); Release lets a later `schedule` push it again only
        // after we are done with the link (read by `Drain` before yielding `bh`).
        let old = bh.state.fetch_and(!(PENDING | QUEUED), Ordering::AcqRel);
        if old & PENDING != 0 {
            bh.run(ctx);
            ctx.stats.bhs_run.bump();
            ran |= !idle;
        }
    }
    ran
}
