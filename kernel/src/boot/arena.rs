//! The boot arena: RAM the primary takes once it knows how many cores it will bring up, for
//! what each core needs — the secondaries' stacks (with their guard pages) and per-core state
//! (the core table, contexts, notifiers, `PerCore` slots) — instead of fixed arrays in BSS.
//!
//! Placed by `boot::early_main` (MMU off) in RAM the DTB names, after the image, clear of the
//! DTB and of every reserved range; see [`place`]. Allocation is a bump pointer, never freed,
//! and only during single-core boot (the primary, before any secondary starts), so it needs
//! no lock and no atomics: the same discipline as `BootCell`.

use super::layout::Span;
use core::cell::UnsafeCell;

struct Bump {
    next: UnsafeCell<usize>,
    end: UnsafeCell<usize>,
}

// SAFETY: used only during single-core boot (module docs): never two cores at once.
unsafe impl Sync for Bump {}

static ARENA: Bump = Bump {
    next: UnsafeCell::new(0),
    end: UnsafeCell::new(0),
};

const BLOCK_2M: usize = 2 << 20;

/// Hand the arena `span` (from [`place`]).
///
/// # Safety
/// Single-core boot; `span` is RAM nothing else uses, identity mapped once the MMU is on.
pub unsafe fn init(span: Span) {
    // SAFETY: single-core boot (contract).
    unsafe {
        *ARENA.next.get() = span.start;
        *ARENA.end.get() = span.end;
    }
}

/// `len` bytes aligned to `align` (a power of two), or `None` when the arena is exhausted.
///
/// # Safety
/// Single-core boot (module docs).
pub unsafe fn alloc_bytes(len: usize, align: usize) -> Option<usize> {
    // SAFETY: single-core boot (contract): nothing else touches the bump pointer.
    unsafe {
        let start = (*ARENA.next.get()).checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(len)?;
        if end > *ARENA.end.get() {
            return None;
        }
        *ARENA.next.get() = end;
        Some(start)
    }
}

/// `n` values `init(0..n)` in arena memory, for the rest of the run; `None` when the arena
/// is exhausted (it is sized for the cores planned, so that is a kernel bug).
///
/// # Safety
/// Single-core boot with the MMU on (the values may hold atomics).
pub unsafe fn alloc_slice<T>(
    n: usize,
    mut init: impl FnMut(usize) -> T,
) -> Option<&'static mut [T]> {
    let len = core::mem::size_of::<T>().checked_mul(n)?;
    // SAFETY: single-core boot (contract).
    let addr = unsafe { alloc_bytes(len.max(1), core::mem::align_of::<T>()) }?;
    let ptr = addr as *mut T;
    for i in 0..n {
        // SAFETY: `ptr..ptr+n` is fresh, aligned arena memory owned by this slice alone.
        unsafe { ptr.add(i).write(init(i)) };
    }
    // SAFETY: all `n` values were written above; the memory is never reused.
    Some(unsafe { core::slice::from_raw_parts_mut(ptr, n) })
}

/// The first 2 MiB-aligned range of `len` bytes at or after `from`, inside one of `ram`,
/// below `limit`, overlapping none of `avoid`; `None` if there is none.
pub fn place(ram: &[Span], avoid: &[Span], from: usize, len: usize, limit: usize) -> Option<Span> {
    let align = |a: usize| a.checked_add(BLOCK_2M - 1).map(|x| x & !(BLOCK_2M - 1));
    let mut best: Option<Span> = None;
    for r in ram {
        let mut start = align(r.start.max(from))?;
        // Each step moves past one obstacle, so this ends within `avoid.len() + 1` steps.
        for _ in 0..=avoid.len() {
            let end = start.checked_add(len)?;
            if end > r.end || end > limit {
                break;
            }
            let cand = Span { start, end };
            match avoid
                .iter()
                .find(|a| a.start < cand.end && cand.start < a.end)
            {
                Some(a) => start = align(a.end)?,
                None => {
                    if best.is_none_or(|b| cand.start < b.start) {
                        best = Some(cand);
                    }
                    break;
                }
            }
        }
    }
    best
}
