//! [`TaskPool`]: static storage for `N` tasks of at most `SIZE` bytes each (no allocator).
//!
//! Futures are type-erased into fixed-size, 16-byte-aligned byte slots, so a pool can hold any
//! future that fits — including unnameable `async fn` futures on stable Rust. `spawn` checks
//! the size and alignment and returns [`SpawnError::TooLarge`] if it does not fit, and
//! [`SpawnError::PoolFull`] if every slot is busy; it never panics or corrupts.
//! [`task_pool!`](crate::task_pool) sizes a pool for a given `async fn` at compile time.

use core::cell::UnsafeCell;
use core::future::Future;
use core::mem::MaybeUninit;

use super::header::{stage_fits, stage_size, TaskHeader, TASK_ALIGN};
use super::join::JoinHandle;
use crate::context::Context;

/// Why a spawn failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// Every slot of the pool holds a live task.
    PoolFull,
    /// The future needs `needed` bytes (or an alignment above 16); slots have `available`.
    TooLarge {
        /// Bytes the future's stage needs.
        needed: usize,
        /// Bytes per slot.
        available: usize,
    },
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpawnError::PoolFull => f.write_str("task pool full"),
            SpawnError::TooLarge { needed, available } => {
                write!(
                    f,
                    "future needs {needed} bytes, pool slots hold {available}"
                )
            }
        }
    }
}

#[repr(C, align(16))]
struct Storage<const SIZE: usize>([MaybeUninit<u8>; SIZE]);

const _: () = assert!(core::mem::align_of::<Storage<1>>() == TASK_ALIGN);

struct TaskSlot<const SIZE: usize> {
    header: TaskHeader,
    storage: UnsafeCell<Storage<SIZE>>,
}

impl<const SIZE: usize> TaskSlot<SIZE> {
    crate::sync::loom_const_fn! {
        fn new() -> Self {
            TaskSlot {
                header: TaskHeader::new(),
                storage: UnsafeCell::new(Storage([MaybeUninit::uninit(); SIZE])),
            }
        }
    }
}

/// `N` task slots of `SIZE` bytes. Put it in a `static`.
pub struct TaskPool<const SIZE: usize, const N: usize> {
    slots: [TaskSlot<SIZE>; N],
    /// Where the next claim starts looking: one past the last slot claimed. A hint only (the
    /// slot's `try_allocate` decides), so a plain core atomic (see `sync`'s module docs).
    next: core::sync::atomic::AtomicUsize,
}

// SAFETY: the storage cells are only accessed through the task protocol (`task::state`,
// `task::header`): exclusively by the spawner after `try_allocate`, then by the owner while
// RUNNING, by the JoinHandle after COMPLETE, and by the freeing party.
unsafe impl<const SIZE: usize, const N: usize> Sync for TaskPool<SIZE, N> {}

impl<const SIZE: usize, const N: usize> Default for TaskPool<SIZE, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SIZE: usize, const N: usize> TaskPool<SIZE, N> {
    /// An empty pool.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        TaskPool {
            slots: [const { TaskSlot::new() }; N],
            next: core::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// An empty pool.
    #[cfg(loom)]
    pub fn new() -> Self {
        TaskPool {
            slots: core::array::from_fn(|_| TaskSlot::new()),
            next: core::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Number of slots.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Number of free slots (a snapshot).
    pub fn free_slots(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.header.state.is_free())
            .count()
    }

    /// Spawns `fut` onto `ctx` (any context, from any core). The task is queued and `ctx` is
    /// notified. Lock-free.
    pub fn spawn<F>(
        &'static self,
        ctx: &'static Context,
        fut: F,
    ) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if !stage_fits::<F>(SIZE) {
            return Err(SpawnError::TooLarge {
                needed: stage_size::<F>(),
                available: SIZE,
            });
        }
        let slot = self.claim().ok_or(SpawnError::PoolFull)?;
        Ok(slot.start(ctx, fut))
    }

    /// Claims a free slot (`try_allocate`), if any. The scan starts one past the last slot
    /// claimed (slots tend to be freed in the order they were claimed, so the next one is
    /// usually free) and tries the CAS only on a slot that a plain load shows free: a full
    /// pool costs one load per slot, not one failed CAS.
    pub(crate) fn claim(&'static self) -> Option<Claimed<SIZE>> {
        if N == 0 {
            return None;
        }
        // Relaxed: a hint; ownership is decided by `try_allocate`'s Acquire CAS.
        let start = self.next.load(core::sync::atomic::Ordering::Relaxed) % N;
        (start..N).chain(0..start).find_map(|i| {
            let slot = &self.slots[i];
            if !slot.header.state.is_free() || !slot.header.state.try_allocate() {
                return None;
            }
            // Relaxed: the hint again, ordering nothing.
            self.next
                .store(i + 1, core::sync::atomic::Ordering::Relaxed);
            Some(Claimed { slot })
        })
    }
}

/// A slot won by `try_allocate`, not started yet. Must be started (it is not released on drop,
/// so every caller starts it immediately).
pub(crate) struct Claimed<const SIZE: usize> {
    slot: &'static TaskSlot<SIZE>,
}

impl<const SIZE: usize> Claimed<SIZE> {
    /// Moves `fut` into the slot, queues it on `ctx` and notifies. `F` must fit
    /// (`stage_fits::<F>(SIZE)`, checked by the callers).
    pub(crate) fn start<F>(self, ctx: &'static Context, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        assert!(stage_fits::<F>(SIZE));
        let header: &'static TaskHeader = &self.slot.header;
        // SAFETY: we won `try_allocate` (exclusive), the storage belongs to this slot, is
        // 16-aligned (`Storage`) and big enough (asserted above).
        unsafe { header.init(ctx, self.slot.storage.get() as *mut u8, fut) };
        // try_allocate set SCHEDULED, so we are the one that pushes.
        ctx.enqueue_task(header);
        JoinHandle::new(header)
    }
}

/// `TaskFn<Args>`: an `async fn` (or closure) taking `Args`; used to size pools.
#[doc(hidden)]
pub trait TaskFn<Args> {
    type Fut: Future;
}

macro_rules! task_fn_impl {
    ($($a:ident),*) => {
        impl<Func, Fut, $($a),*> TaskFn<($($a,)*)> for Func
        where
            Func: Fn($($a),*) -> Fut,
            Fut: Future,
        {
            type Fut = Fut;
        }
    };
}
task_fn_impl!();
task_fn_impl!(A);
task_fn_impl!(A, B);
task_fn_impl!(A, B, C);
task_fn_impl!(A, B, C, D);

/// Slot size for the future returned by `f` (used by [`task_pool!`](crate::task_pool)).
#[doc(hidden)]
pub const fn task_size_of<Args, F: TaskFn<Args>>(_f: &F) -> usize {
    stage_size::<F::Fut>()
}

/// Declares a static [`TaskPool`] sized for an `async fn`:
///
/// ```ignore
/// async fn blink(led: u32) -> u32 { led }
/// executor::task_pool!(static BLINK: blink, 4);
/// let handle = BLINK.spawn(&CONTEXTS[1], blink(7))?;
/// ```
#[macro_export]
macro_rules! task_pool {
    ($vis:vis static $name:ident : $func:path, $n:expr) => {
        $vis static $name: $crate::TaskPool<{ $crate::task::task_size_of(&$func) }, { $n }> =
            $crate::TaskPool::new();
    };
}
