//! Wakers: the data pointer is the `&'static TaskHeader`; clone/drop are free (no refcount,
//! the slot is static and stale wakes are ignored or spurious, see `state.rs`).
//!
//! `wake` is lock-free and callable from any core or interrupt handler: a CAS on the state
//! word, a push onto the owner's run queue, and `Context::notify`.

use core::task::{RawWaker, RawWakerVTable, Waker};

use super::header::TaskHeader;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);

fn header(p: *const ()) -> &'static TaskHeader {
    // SAFETY: every RawWaker with our VTABLE is built in `waker_for` from a
    // `&'static TaskHeader`.
    unsafe { &*(p as *const TaskHeader) }
}

fn clone(p: *const ()) -> RawWaker {
    RawWaker::new(p, &VTABLE)
}

fn wake(p: *const ()) {
    header(p).wake();
}

// A no-op, and `run_queue` relies on it: the waker it polls each task with is never dropped
// (ManuallyDrop). Give this a body and that waker must be dropped again.
fn drop_waker(_: *const ()) {}

pub(crate) fn waker_for(task: &'static TaskHeader) -> Waker {
    let raw = RawWaker::new(task as *const TaskHeader as *const (), &VTABLE);
    // SAFETY: the vtable functions uphold the RawWaker contract: the data pointer is a
    // `'static` header that is Sync, so it may be cloned, woken and dropped from any thread.
    unsafe { Waker::from_raw(raw) }
}

/// The task behind `waker`, if it is an aiolos waker.
pub(crate) fn header_of(waker: &Waker) -> Option<&'static TaskHeader> {
    if core::ptr::eq(waker.vtable(), &VTABLE) {
        Some(header(waker.data()))
    } else {
        None
    }
}
