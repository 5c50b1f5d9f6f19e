//! The type-erased task header and the storage protocol (the unsafe core of tasks).
//!
//! A task lives in a `'static` slot: a [`TaskHeader`] plus raw storage holding a
//! `Stage<F>` (the future, then its output). The header knows the storage through an
//! [`Erased`] pointer + vtable written once at spawn, while the spawner exclusively owns the
//! slot (after `try_allocate`, before the first push onto a run queue, which publishes it).
//!
//! Who may touch the stage (see `state.rs`): the owner context while `RUNNING` (poll); the
//! `JoinHandle` after observing `COMPLETE` (read the output); the party that frees the slot
//! (drop the stage).

use core::future::Future;
use core::mem::{align_of, size_of};
use core::pin::Pin;
use core::ptr;
use core::task::{Context as TaskCx, Poll};

use super::state::State;
use crate::context::Context;
use crate::raw::atomic_waker::AtomicWaker;
use crate::raw::stack::Linked;
use crate::raw::static_ref::AtomicRef;
use crate::stats::WakeStamp;
use crate::sync::{loom_const_fn, AtomicPtr, Ordering, UnsafeCell};

/// Storage alignment of every task slot.
pub const TASK_ALIGN: usize = 16;

/// A future, then its output.
pub(crate) enum Stage<F: Future> {
    Running(F),
    Done(F::Output),
    Consumed,
}

/// Bytes needed in a slot for future type `F`.
pub(crate) const fn stage_size<F: Future>() -> usize {
    size_of::<Stage<F>>()
}

pub(crate) const fn stage_fits<F: Future>(size: usize) -> bool {
    size_of::<Stage<F>>() <= size && align_of::<Stage<F>>() <= TASK_ALIGN
}

pub(crate) struct TaskVTable {
    poll: unsafe fn(*mut u8, &mut TaskCx<'_>) -> Poll<()>,
    read_output: unsafe fn(*mut u8, *mut u8),
    drop_stage: unsafe fn(*mut u8),
}

#[derive(Clone, Copy)]
pub(crate) struct Erased {
    vtable: &'static TaskVTable,
    storage: *mut u8,
}

pub(crate) struct TaskHeader {
    pub(crate) state: State,
    next: AtomicPtr<TaskHeader>,
    ctx: AtomicRef<Context>,
    /// When the wake that enqueued the task happened (feature `stats`; zero-sized otherwise).
    pub(crate) woken_at: WakeStamp,
    pub(crate) join_waker: AtomicWaker,
    erased: UnsafeCell<Option<Erased>>,
}

// SAFETY: `erased` is written only by the spawner while it exclusively owns the slot and read
// only after that write is published (run-queue push Release / pop Acquire, then the state
// word); the storage it points to follows the access protocol in the module docs.
unsafe impl Sync for TaskHeader {}
// SAFETY: as above; the header is only ever shared as `&'static`.
unsafe impl Send for TaskHeader {}

impl Linked for TaskHeader {
    fn link(&self) -> &AtomicPtr<TaskHeader> {
        &self.next
    }
}

impl TaskHeader {
    loom_const_fn! {
        pub(crate) fn new() -> TaskHeader {
            TaskHeader {
                state: State::new(),
                next: AtomicPtr::new(ptr::null_mut()),
                ctx: AtomicRef::none(),
                woken_at: WakeStamp::new(),
                join_waker: AtomicWaker::new(),
                erased: UnsafeCell::new(None),
            }
        }
    }

    /// The context that owns this task.
    pub(crate) fn ctx(&self) -> &'static Context {
        // Relaxed: written at spawn before the task was published (see module docs).
        self.ctx
            .load(Ordering::Relaxed)
            .expect("aiolos: task without a context")
    }

    /// Moves `fut` into `storage` and publishes nothing yet (the caller pushes the task).
    ///
    /// # Safety
    /// The caller won `try_allocate` on this header (exclusive access), `storage` is this
    /// slot's storage, at least `stage_size::<F>()` bytes and `TASK_ALIGN`-aligned.
    pub(crate) unsafe fn init<F>(&'static self, ctx: &'static Context, storage: *mut u8, fut: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // SAFETY: per this fn's contract the storage is ours, big and aligned enough.
        unsafe { (storage as *mut Stage<F>).write(Stage::Running(fut)) };
        let vtable: &'static TaskVTable = &VTable::<F>::VTABLE;
        // SAFETY: exclusive access (contract).
        self.erased
            .with_mut(|p| unsafe { *p = Some(Erased { vtable, storage }) });
        // Relaxed: published by the run-queue push (Release).
        self.ctx.store(ctx, Ordering::Relaxed);
        self.woken_at.stamp(|| ctx.now());
    }

    fn erased(&self) -> Erased {
        // SAFETY: written at spawn before publication and not again until `free`, which
        // happens only when nobody else may use the slot.
        self.erased
            .with(|p| unsafe { *p })
            .expect("aiolos: task storage not initialised")
    }

    /// Waker entry point: schedule on the owning context (or mark a task being polled, see
    /// `state.rs`). Lock-free, IRQ-safe.
    pub(crate) fn wake(&'static self) -> super::state::WakeAction {
        let action = self.state.wake();
        if action == super::state::WakeAction::Enqueue {
            let ctx = self.ctx();
            self.woken_at.stamp(|| ctx.now());
            ctx.enqueue_task(self);
        }
        action
    }

    /// # Safety
    /// Owner context, with `RUNNING` set by `start_run`.
    pub(crate) unsafe fn poll(&self, cx: &mut TaskCx<'_>) -> Poll<()> {
        let e = self.erased();
        // SAFETY: RUNNING gives the owner exclusive access to the stage (module docs).
        unsafe { (e.vtable.poll)(e.storage, cx) }
    }

    /// # Safety
    /// `COMPLETE` observed with Acquire, the output not taken yet, and `T` is the output type
    /// of the future spawned in this slot.
    pub(crate) unsafe fn read_output<T>(&self) -> T {
        let e = self.erased();
        let mut out = core::mem::MaybeUninit::<T>::uninit();
        // SAFETY: contract; `out` has the output's type.
        unsafe {
            (e.vtable.read_output)(e.storage, out.as_mut_ptr() as *mut u8);
            out.assume_init()
        }
    }

    /// Drops the stage and frees the slot.
    ///
    /// # Safety
    /// The caller's transition left the state at exactly `ALLOCATED | COMPLETE`.
    pub(crate) unsafe fn free(&self) {
        let e = self.erased();
        // SAFETY: nobody else may touch the stage any more (contract).
        unsafe { (e.vtable.drop_stage)(e.storage) };
        // SAFETY: exclusive until `release_slot` below.
        self.erased.with_mut(|p| unsafe { *p = None });
        drop(self.join_waker.take());
        self.state.release_slot();
    }
}

struct VTable<F>(core::marker::PhantomData<F>);

impl<F: Future> VTable<F> {
    const VTABLE: TaskVTable = TaskVTable {
        poll: poll_stage::<F>,
        read_output: read_output::<F>,
        drop_stage: drop_stage::<F>,
    };
}

/// # Safety
/// `p` points to an initialised `Stage<F>` the caller has exclusive access to, pinned in place.
unsafe fn poll_stage<F: Future>(p: *mut u8, cx: &mut TaskCx<'_>) -> Poll<()> {
    // SAFETY: contract.
    let stage = unsafe { &mut *(p as *mut Stage<F>) };
    let out = match stage {
        // SAFETY: the slot is 'static and the future never moves until it is dropped in place.
        Stage::Running(f) => match unsafe { Pin::new_unchecked(f) }.poll(cx) {
            Poll::Ready(v) => v,
            Poll::Pending => return Poll::Pending,
        },
        _ => return Poll::Ready(()),
    };
    // Drops the future in place, then stores the output.
    *stage = Stage::Done(out);
    Poll::Ready(())
}

/// # Safety
/// `p` points to a `Stage<F>` in state `Done`, `out` to space for an `F::Output`.
unsafe fn read_output<F: Future>(p: *mut u8, out: *mut u8) {
    // SAFETY: contract.
    let stage = unsafe { &mut *(p as *mut Stage<F>) };
    match core::mem::replace(stage, Stage::Consumed) {
        // SAFETY: contract: `out` is valid for an `F::Output`.
        Stage::Done(v) => unsafe { (out as *mut F::Output).write(v) },
        _ => panic!("aiolos: task output already taken"),
    }
}

/// # Safety
/// `p` points to an initialised `Stage<F>` nobody else uses.
unsafe fn drop_stage<F: Future>(p: *mut u8) {
    // SAFETY: contract.
    unsafe { ptr::drop_in_place(p as *mut Stage<F>) }
}
