//! [`WakeGate`]: the handshake inside a sleeping [`EventNotifier`](crate::EventNotifier).
//!
//! A notifier whose owner can sleep in a way that only an explicit kick ends (WFI woken by an
//! SGI on aarch64; a futex wait elsewhere) has a second store-buffering handshake below the
//! executor's `notify_me` one:
//!
//! | side     | store                   | full fence | load               | then                 |
//! |----------|-------------------------|------------|--------------------|----------------------|
//! | notifier | `pending = 1` (latch)   | yes        | `state`            | kick if `SLEEPING`   |
//! | owner    | `state = SLEEPING`      | yes        | `pending`          | sleep if 0           |
//!
//! With both fences at least one side sees the other's store: either the owner sees the latch
//! and does not sleep, or the notifier sees `SLEEPING` and kicks. Without either fence both
//! loads may read the old values and the owner sleeps through the latch (the loom model in
//! `tests/loom.rs` finds that for each mutant `no_sleep_fence` / `no_latch_fence`).
//!
//! `WATCHING` is for an owner that polls `pending` itself (aarch64: LDAXR + WFE, woken by the
//! latch's store clearing its exclusive monitor): no kick needed. The kernel's SGI notifier
//! (kernel/src/runtime/notifier.rs) is this gate plus the hardware.

use crate::sync::{fence, AtomicU32, Ordering};

const RUNNING: u32 = 0;
const WATCHING: u32 = 1;
const SLEEPING: u32 = 2;

/// The latch and the owner's announced state.
#[derive(Debug)]
pub struct WakeGate {
    pending: AtomicU32,
    state: AtomicU32,
}

impl Default for WakeGate {
    fn default() -> Self {
        Self::new()
    }
}

impl WakeGate {
    crate::sync::loom_const_fn! {
        /// Open, nothing latched, owner running.
        pub fn new() -> WakeGate {
            WakeGate {
                pending: AtomicU32::new(0),
                state: AtomicU32::new(RUNNING),
            }
        }
    }

    /// Notifier (any core, any interrupt handler): latch, and return whether the owner may
    /// be asleep and must be kicked.
    pub fn latch(&self) -> bool {
        // Release: pairs with the Acquire swap in `take`: the owner that takes the latch
        // sees what the notifier published before it.
        self.pending.store(1, Ordering::Release);
        // Full fence: store `pending` -> load `state`. Pairs with the fence in
        // `prepare_sleep`.
        #[cfg(not(aiolos_mutant = "no_latch_fence"))]
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        self.state.load(Ordering::Relaxed) == SLEEPING
    }

    /// Whether a latch is set (owner; a hint, e.g. to skip sleeping).
    pub fn is_latched(&self) -> bool {
        // Relaxed: a hint; `take` (Acquire) is what consumes the latch.
        self.pending.load(Ordering::Relaxed) != 0
    }

    /// Owner: clear the latch; returns whether it was set.
    pub fn take(&self) -> bool {
        // Acquire: pairs with the Release store in `latch`.
        self.pending.swap(0, Ordering::Acquire) != 0
    }

    /// Owner: watching the latch word itself (no kick needed).
    pub fn watch(&self) {
        // Relaxed: any state but SLEEPING means "no kick"; see `prepare_sleep`.
        self.state.store(WATCHING, Ordering::Relaxed);
    }

    /// Owner: announce sleep, then look at the latch. True: nothing latched, the owner may
    /// sleep (a later latch kicks it). False: a latch arrived, do not sleep.
    pub fn prepare_sleep(&self) -> bool {
        // Relaxed: ordered by the fence below.
        self.state.store(SLEEPING, Ordering::Relaxed);
        // Full fence: store `state` -> load `pending`. Pairs with the fence in `latch`.
        #[cfg(not(aiolos_mutant = "no_sleep_fence"))]
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        self.pending.load(Ordering::Relaxed) == 0
    }

    /// Owner: awake again (after the sleep, or after deciding not to).
    pub fn awake(&self) {
        // Relaxed: leaving SLEEPING only removes the need to kick.
        self.state.store(RUNNING, Ordering::Relaxed);
    }

    /// Diagnostics (any core, racy): the latch and the owner's announced state as a name
    /// (`running`, `watching`, `sleeping`).
    pub fn snapshot(&self) -> (bool, &'static str) {
        // Relaxed: diagnostics only.
        let latched = self.pending.load(Ordering::Relaxed) != 0;
        // Relaxed: diagnostics only.
        let state = match self.state.load(Ordering::Relaxed) {
            RUNNING => "running",
            WATCHING => "watching",
            _ => "sleeping",
        };
        (latched, state)
    }

    /// The latch word, for waiting on it directly (aarch64: LDAXR + WFE on its granule).
    #[cfg(not(loom))]
    pub fn latch_word(&self) -> &core::sync::atomic::AtomicU32 {
        &self.pending
    }
}
