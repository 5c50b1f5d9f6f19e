//! `spawn_boxed` (feature `alloc`): dynamic spawn without a declared pool.
//!
//! Task slots are allocated on demand in power-of-two size classes (64 B .. 16 KiB) and are
//! **never freed**: a finished slot goes back to its class and is reused by a later
//! `spawn_boxed`. That keeps the static-slot guarantees (stale wakers stay valid) and needs no
//! reference counting; memory is bounded by the peak number of live boxed tasks per class.
//! Each class keeps a push-only list of its slots (`raw::stack::PushList`), so finding a free
//! slot is a lock-free scan plus a CAS, and allocating a new slot happens only when all are busy.
//! The allocator is called from the spawning context: do not `spawn_boxed` from an interrupt
//! handler unless the global allocator is IRQ-safe.

use alloc::boxed::Box;
use core::future::Future;

use super::header::{stage_fits, stage_size};
use super::pool::TaskPool;
use super::{JoinHandle, SpawnError};
use crate::context::Context;
use crate::raw::stack::{Linked, PushList};
use crate::sync::AtomicPtr;

struct BoxedSlot<const S: usize> {
    pool: TaskPool<S, 1>,
    next: AtomicPtr<BoxedSlot<S>>,
}

impl<const S: usize> Linked for BoxedSlot<S> {
    fn link(&self) -> &AtomicPtr<Self> {
        &self.next
    }
}

struct Class<const S: usize> {
    slots: PushList<BoxedSlot<S>>,
}

impl<const S: usize> Class<S> {
    const fn new() -> Self {
        Class {
            slots: PushList::new(),
        }
    }

    fn spawn<F>(&'static self, ctx: &'static Context, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if let Some(claimed) = self.slots.iter().find_map(|b| b.pool.claim()) {
            return claimed.start(ctx, fut);
        }
        let b: &'static BoxedSlot<S> = Box::leak(Box::new(BoxedSlot {
            pool: TaskPool::new(),
            next: AtomicPtr::new(core::ptr::null_mut()),
        }));
        let claimed = b.pool.claim().expect("fresh slot is free");
        let handle = claimed.start(ctx, fut);
        self.slots.push(b);
        handle
    }
}

macro_rules! classes {
    ($($name:ident = $size:literal),*) => {
        $(static $name: Class<$size> = Class::new();)*

        /// Spawns `fut` onto `ctx` in a heap-allocated (and recycled) task slot.
        pub fn spawn_boxed<F>(ctx: &'static Context, fut: F) -> Result<JoinHandle<F::Output>, SpawnError>
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            $(
                if stage_fits::<F>($size) {
                    return Ok($name.spawn(ctx, fut));
                }
            )*
            Err(SpawnError::TooLarge { needed: stage_size::<F>(), available: MAX_BOXED })
        }
    };
}

/// Largest future (stage) `spawn_boxed` accepts, in bytes.
pub const MAX_BOXED: usize = 16384;

classes!(
    C64 = 64,
    C128 = 128,
    C256 = 256,
    C512 = 512,
    C1K = 1024,
    C2K = 2048,
    C4K = 4096,
    C8K = 8192,
    C16K = 16384
);
