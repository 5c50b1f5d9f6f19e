//! Intrusive lock-free stack: many producers push, one consumer takes everything at once.
//!
//! Used for the run queue and the bottom-half lists of a context. Nodes are `'static` and
//! carry their own link (`Linked::link`).
//!
//! Invariants
//! - A node is on at most one stack at a time. The node's owner enforces this with its own
//!   state word (a task's `SCHEDULED` bit, a bottom half's `QUEUED` bit): only the caller that
//!   set that bit may push (or the one it hands that right to: a wake during a task's poll
//!   leaves the push to the owner, see `task/state.rs`), and only the consumer that took the
//!   node may clear it.
//! - Producers (`push`) only CAS the head; the consumer only swaps it with null (`take_all`).
//!   Because no one ever pops a single node, there is no ABA problem.
//! - After `take_all` the consumer owns the taken nodes' links exclusively until it clears
//!   the owning bit of each node; [`Drain`] reads a node's link *before* yielding the node, so
//!   the node may be pushed again (even onto this stack) while it is being processed.
//!
//! Push and take are wait-free for the consumer and lock-free for producers: callable from
//! interrupt handlers on any core.

use core::ptr;

use crate::sync::{AtomicPtr, Ordering};

/// A node that can be linked on a [`Stack`].
pub(crate) trait Linked: Sized + Sync + 'static {
    fn link(&self) -> &AtomicPtr<Self>;
}

pub(crate) struct Stack<N: Linked> {
    head: AtomicPtr<N>,
}

impl<N: Linked> Stack<N> {
    crate::sync::loom_const_fn! {
        pub(crate) fn new() -> Self {
            Self { head: AtomicPtr::new(ptr::null_mut()) }
        }
    }

    /// Pushes `node`. The caller must own the node's "queued" bit (see module invariants).
    pub(crate) fn push(&self, node: &'static N) {
        push_node(&self.head, node);
    }

    /// True if something may be queued. `Relaxed`: callers that need the load ordered after
    /// their own store (the owner's pre-sleep re-check) put a full fence in front of it.
    pub(crate) fn is_empty_relaxed(&self) -> bool {
        self.head.load(Ordering::Relaxed).is_null()
    }

    /// Takes every node pushed so far, in push (FIFO) order. Consumer only.
    pub(crate) fn take_all(&self) -> Drain<N> {
        // Acquire: pairs with the Release CAS in `push_node`; makes the nodes' links and the
        // producers' prior writes visible.
        let mut cur = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        // Reverse LIFO -> FIFO in place. We own every link on this list (module invariants).
        let mut prev: *mut N = ptr::null_mut();
        while !cur.is_null() {
            // SAFETY: every pointer on the stack came from a `&'static N` in `push`.
            let node: &'static N = unsafe { &*cur };
            let next = node.link().load(Ordering::Relaxed);
            node.link().store(prev, Ordering::Relaxed);
            prev = cur;
            cur = next;
        }
        Drain { next: prev }
    }
}

/// Treiber push of `node` onto `head` (shared by [`Stack`] and `PushList`).
fn push_node<N: Linked>(head: &AtomicPtr<N>, node: &'static N) {
    let new = node as *const N as *mut N;
    let mut cur = head.load(Ordering::Relaxed);
    loop {
        // Relaxed: the link is published by the Release CAS below.
        node.link().store(cur, Ordering::Relaxed);
        // Release: publishes the link and everything the producer wrote before pushing (the
        // work itself); pairs with the Acquire swap in `Stack::take_all` and the Acquire
        // loads in `PushList::iter`.
        match head.compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(h) => cur = h,
        }
    }
}

/// Iterator over taken nodes; reads each node's link before yielding it.
pub(crate) struct Drain<N: Linked> {
    next: *mut N,
}

impl<N: Linked> Iterator for Drain<N> {
    type Item = &'static N;

    fn next(&mut self) -> Option<&'static N> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: every pointer on the stack came from a `&'static N` in `push`.
        let node: &'static N = unsafe { &*self.next };
        // Relaxed: the link was written by this consumer in `take_all`.
        self.next = node.link().load(Ordering::Relaxed);
        Some(node)
    }
}

/// A push-only intrusive list: nodes are never removed, so readers may traverse it at any
/// time without taking it (the `alloc` feature's registry of boxed task slots).
#[cfg(all(feature = "alloc", not(loom)))]
pub(crate) struct PushList<N: Linked> {
    head: AtomicPtr<N>,
}

#[cfg(all(feature = "alloc", not(loom)))]
impl<N: Linked> PushList<N> {
    pub(crate) const fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    pub(crate) fn push(&self, node: &'static N) {
        push_node(&self.head, node);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &'static N> {
        // Acquire: pairs with the Release CAS in `push_node`.
        let mut cur = self.head.load(Ordering::Acquire);
        core::iter::from_fn(move || {
            // SAFETY: every pointer on the list came from a `&'static N` in `push` and nodes
            // are never removed.
            let node: &'static N = unsafe { cur.as_ref() }?;
            // Relaxed: links are immutable once published (the Acquire above covers them).
            cur = node.link().load(Ordering::Relaxed);
            Some(node)
        })
    }
}
