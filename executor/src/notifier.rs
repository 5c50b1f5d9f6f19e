//! The platform interface: [`EventNotifier`] (the latched wakeup) and [`Clock`].
//!
//! The executor never touches hardware. The platform supplies one `EventNotifier` per context
//! and one monotonic `Clock`; under feature `std` this module also provides host versions
//! ([`HostNotifier`], [`HostClock`]) used by the tests, loom models and benches.

/// A latched wakeup for one context (QEMU's `EventNotifier`).
///
/// Semantics: `set` latches; the latch stays set until it is consumed; `wait` returns when
/// the latch is set (or at `deadline`, or spuriously). Two places consume it:
/// - `test_and_clear` (the owner's accept, when `notified` says somebody set it);
/// - `wait` itself, when it finds the latch **already set on entry**: it consumes it (as
///   `test_and_clear` would, with its Acquire) and returns at once. A latch that arrives
///   *during* the wait is left set (the accept clears it, skipping nothing).
///
/// Why `wait` consumes a latch it finds set: the owner calls `wait` only after raising
/// `notify_me`, its full fence and a re-check that found no work, and after `wait` returns it
/// looks at all its work before it can sleep again. So the latch found set is a wakeup the
/// owner is acting on right now, and clearing it there loses nothing (the same argument as
/// the accept's clear). Without it, a notifier between its `set` and its store of `notified`
/// (a vCPU descheduled there under KVM) leaves the owner's every `wait` returning at once
/// until that store lands; with it, each `set` costs the owner at most one such early
/// return. See `Context`'s module docs ("The notifier's window").
///
/// Costs on aarch64 (the reason the context tracks `notified`):
/// - `set`: a store to the context's pending word, plus — if the owner core may be asleep —
///   an SGI through the GIC (a write to `ICC_SGI1R_EL1`/`GICD_SGIR`). Cheap-ish.
/// - `wait`: `WFE` on the pending word's exclusive monitor (cheap, no exit), then `WFI` armed
///   with the timer for `deadline`. Under KVM a `WFI` is a trap that deschedules the vCPU.
/// - `test_and_clear`: clear the pending word and any latched state, **including the GIC
///   pending/active state of the SGI**. Under KVM that is an MMIO (or system-register) trap to
///   the hypervisor — the expensive step the `notified` flag lets the owner skip.
///
/// `set` must be callable from any core and from interrupt handlers and must not block.
pub trait EventNotifier: Sync {
    /// Latch the event and wake the owner if it waits.
    fn set(&self);
    /// Clear the latch; returns whether it was set.
    fn test_and_clear(&self) -> bool;
    /// Block until the latch is set or `deadline` (in [`Clock`] ticks) passes. May return
    /// spuriously. `None`: no deadline. A latch already set on entry is consumed (cleared,
    /// as by `test_and_clear`) and the call returns at once; one set during the wait is left
    /// set (trait docs).
    fn wait(&self, deadline: Option<u64>);
}

/// A monotonic clock shared by all cores (CNTVCT_EL0 on target, `Instant` on the host).
pub trait Clock: Sync {
    /// Current time in ticks; monotonic and comparable across cores.
    fn now(&self) -> u64;
    /// Tick rate (CNTFRQ_EL0 on target; 10^9 on the host).
    fn ticks_per_second(&self) -> u64;
}

#[cfg(feature = "std")]
pub use host::{HostClock, HostNotifier, HostNotifierCounts};

#[cfg(feature = "std")]
mod host {
    use std::sync::OnceLock;
    #[cfg(not(loom))]
    use std::time::Duration;
    use std::time::Instant;

    use super::{Clock, EventNotifier};
    use crate::sync::{loom_const_fn, Condvar, Mutex};

    /// Process-wide origin of [`HostClock`], so the clock can be a unit struct in a `static`.
    static ORIGIN: OnceLock<Instant> = OnceLock::new();

    fn origin() -> Instant {
        *ORIGIN.get_or_init(Instant::now)
    }

    /// `Instant`-based clock; one tick = 1 ns.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct HostClock;

    impl HostClock {
        /// The host clock (all instances share one origin).
        pub const fn new() -> Self {
            HostClock
        }
    }

    impl Clock for HostClock {
        fn now(&self) -> u64 {
            origin().elapsed().as_nanos() as u64
        }
        fn ticks_per_second(&self) -> u64 {
            1_000_000_000
        }
    }

    /// Mutex + Condvar latched flag. Not interrupt-safe (it takes a lock) — host only.
    ///
    /// The owner records under the lock that it is parked on the condvar; `set` signals the
    /// condvar only then, and after it has dropped the lock (as tokio's parker does). So a
    /// `set` that finds the owner running makes no system call, and the woken owner does not
    /// block again at once on the mutex its waker still holds: a parked round trip costs one
    /// futex wait and one futex wake (it was five futex calls with the signal under the lock,
    /// counted with `strace -c` on the bench's parked receiver).
    ///
    /// Under loom the `wait` with a deadline returns immediately (loom has no time); a `wait`
    /// without deadline blocks, so a lost wakeup shows up as a loom deadlock.
    ///
    /// It counts its `set`s and its early returns (waits that found the latch set on entry),
    /// under the same lock: with the trait's consuming `wait`, early returns never exceed
    /// sets ([`HostNotifier::counts`]; the loom model `early_returns_per_set` checks it).
    #[derive(Debug)]
    pub struct HostNotifier {
        flag: Mutex<Latch>,
        cv: Condvar,
    }

    /// The latch and its counters (under the notifier's lock).
    #[derive(Debug)]
    struct Latch {
        set: bool,
        /// The owner waits on the condvar (set and cleared by `wait`, under the lock).
        parked: bool,
        sets: u64,
        early_returns: u64,
    }

    /// What [`HostNotifier::counts`] returns.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct HostNotifierCounts {
        /// Calls of `set`.
        pub sets: u64,
        /// Calls of `wait` that found the latch already set (and returned at once).
        pub early_returns: u64,
    }

    impl Default for HostNotifier {
        fn default() -> Self {
            Self::new()
        }
    }

    impl HostNotifier {
        loom_const_fn! {
            /// A clear notifier.
            pub fn new() -> Self {
                Self {
                    flag: Mutex::new(Latch {
                        set: false,
                        parked: false,
                        sets: 0,
                        early_returns: 0,
                    }),
                    cv: Condvar::new(),
                }
            }
        }
    }

    impl HostNotifier {
        /// Whether the latch is set, without clearing it (for liveness checks in tests).
        pub fn is_set(&self) -> bool {
            self.flag.lock().unwrap().set
        }

        /// Sets and early returns so far.
        pub fn counts(&self) -> HostNotifierCounts {
            let l = self.flag.lock().unwrap();
            HostNotifierCounts {
                sets: l.sets,
                early_returns: l.early_returns,
            }
        }
    }

    impl EventNotifier for HostNotifier {
        fn set(&self) {
            let parked = {
                let mut l = self.flag.lock().unwrap();
                l.set = true;
                l.sets += 1;
                l.parked
            };
            // Signalled after the lock is dropped: an owner that recorded `parked` under the
            // lock was already waiting when we got the lock (`Condvar::wait` releases the
            // lock and waits as one step), so the signal reaches it, and it then finds the
            // mutex free. An owner that had not parked when we held the lock sees `set` when
            // it takes the lock itself.
            if parked {
                self.cv.notify_one();
            }
        }

        fn test_and_clear(&self) -> bool {
            core::mem::replace(&mut self.flag.lock().unwrap().set, false)
        }

        fn wait(&self, deadline: Option<u64>) {
            let mut l = self.flag.lock().unwrap();
            if l.set {
                // Set on entry: consume it and return (the trait's contract). Mutant: the
                // seed's wait, which leaves it set: every later wait returns at once until
                // somebody's accept clears it (the owner spins through a notifier's window).
                l.early_returns += 1;
                #[cfg(not(aiolos_mutant = "wait_keeps_latch"))]
                {
                    l.set = false;
                }
                return;
            }
            // Mutant: the owner parks without saying so, and `set` never signals it.
            #[cfg(not(aiolos_mutant = "wait_not_parked"))]
            {
                l.parked = true;
            }
            match deadline {
                None => {
                    while !l.set {
                        l = self.cv.wait(l).unwrap();
                    }
                }
                #[cfg(loom)]
                Some(_) => {}
                #[cfg(not(loom))]
                Some(d) => {
                    let until = origin() + Duration::from_nanos(d);
                    while !l.set {
                        let now = Instant::now();
                        if now >= until {
                            break;
                        }
                        l = self.cv.wait_timeout(l, until - now).unwrap().0;
                    }
                }
            }
            l.parked = false;
        }
    }
}
