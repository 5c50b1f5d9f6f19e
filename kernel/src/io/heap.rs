//! The kernel heap: the RAM `boot::early_main` set aside (a quarter of RAM, at most 64 MiB,
//! placed after the boot arena) managed by `linked_list_allocator`'s first-fit [`Heap`]
//! under an [`IrqLock`], as the global allocator.
//!
//! Usable only once the MMU is on (the lock is an atomic) and [`init`] ran: an allocation
//! before, or one the heap cannot satisfy, ends the run with
//! `exit: fail: out of memory: ...` (never a hang, never a null pointer to the caller).
//! [`try_alloc_zeroed`] is the fallible path (DMA memory: the driver reports the error).

use super::irq_lock::IrqLock;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use linked_list_allocator::Heap;

struct KernelHeap {
    heap: IrqLock<Heap>,
    /// Bytes handed to the heap by `init` (0 before).
    size: AtomicUsize,
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    heap: IrqLock::new(Heap::empty()),
    size: AtomicUsize::new(0),
};

/// Hand the RAM `boot` set aside to the allocator. Primary core, once, MMU on.
pub fn init() {
    let span = crate::boot::heap_span();
    if span.end <= span.start || !crate::boot_cell::mmu_is_on() {
        return;
    }
    let mut heap = HEAP.heap.lock();
    if heap.size() != 0 {
        return;
    }
    // SAFETY: `span` is RAM nothing else uses (boot placed it clear of the image, DTB,
    // arena and reserved ranges), identity mapped Normal memory, given to the heap once.
    unsafe { heap.init(span.start as *mut u8, span.end - span.start) };
    // Relaxed: read only for messages and statistics.
    HEAP.size.store(span.end - span.start, Ordering::Relaxed);
}

/// (heap size, bytes in use) in bytes.
pub fn usage() -> (usize, usize) {
    if !crate::boot_cell::mmu_is_on() {
        return (0, 0);
    }
    let used = HEAP.heap.lock().used();
    // Relaxed: statistics.
    (HEAP.size.load(Ordering::Relaxed), used)
}

fn allocate(layout: Layout) -> Option<NonNull<u8>> {
    if !crate::boot_cell::mmu_is_on() {
        return None;
    }
    HEAP.heap.lock().allocate_first_fit(layout).ok()
}

/// Zeroed memory for `layout`, or `None` when the heap cannot satisfy it.
pub fn try_alloc_zeroed(layout: Layout) -> Option<NonNull<u8>> {
    let p = allocate(layout)?;
    // SAFETY: `p` is a fresh allocation of `layout.size()` bytes.
    unsafe { p.as_ptr().write_bytes(0, layout.size()) };
    Some(p)
}

/// Return memory from [`try_alloc_zeroed`].
///
/// # Safety
/// `p` and `layout` are what `try_alloc_zeroed` gave / was given, not yet freed.
pub unsafe fn dealloc(p: NonNull<u8>, layout: Layout) {
    // SAFETY: forwarded contract.
    unsafe { HEAP.heap.lock().deallocate(p, layout) };
}

fn out_of_memory(layout: Layout) -> ! {
    let (size, used) = usage();
    crate::exit::fail(format_args!(
        "out of memory: {} bytes (align {}) requested, heap {} KiB, {} KiB in use",
        layout.size(),
        layout.align(),
        size / 1024,
        used / 1024
    ))
}

// SAFETY: `allocate` returns memory from the heap for exactly `layout`, never handed out
// twice until `dealloc` returns it; a failure ends the run instead of returning null.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match allocate(layout) {
            Some(p) => p.as_ptr(),
            None => out_of_memory(layout),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this `layout` (GlobalAlloc contract).
            unsafe { self.heap.lock().deallocate(p, layout) };
        }
    }
}
