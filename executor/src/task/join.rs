//! [`JoinHandle`]: the output of a spawned task, awaitable from any context.

use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context as TaskCx, Poll};

use super::header::TaskHeader;

/// Awaits a task's output. Dropping it detaches the task (the slot is freed when it ends).
#[must_use = "dropping a JoinHandle detaches the task"]
pub struct JoinHandle<T> {
    task: &'static TaskHeader,
    taken: bool,
    _output: PhantomData<T>,
}

impl<T> core::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    /// `task` was just spawned with a future whose output is `T`.
    pub(crate) fn new(task: &'static TaskHeader) -> Self {
        JoinHandle {
            task,
            taken: false,
            _output: PhantomData,
        }
    }

    /// Whether the task has completed.
    pub fn is_finished(&self) -> bool {
        self.task.state.is_complete()
    }

    /// The output, if the task has completed and it was not taken yet.
    pub fn try_take(&mut self) -> Option<T> {
        if self.taken || !self.task.state.is_complete() {
            return None;
        }
        self.taken = true;
        // SAFETY: COMPLETE observed with Acquire (is_complete), not taken before (`taken`),
        // and `T` is the spawned future's output type (`new`'s contract).
        Some(unsafe { self.task.read_output::<T>() })
    }
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<T> {
        assert!(!self.taken, "aiolos: JoinHandle polled after completion");
        if let Some(v) = self.try_take() {
            return Poll::Ready(v);
        }
        // Register, then re-check (the owner sets COMPLETE, then wakes: raw::atomic_waker).
        self.task.join_waker.register(cx.waker());
        match self.try_take() {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if self.task.state.drop_join() {
            // SAFETY: our transition left the state at exactly ALLOCATED|COMPLETE.
            unsafe { self.task.free() };
        }
    }
}
