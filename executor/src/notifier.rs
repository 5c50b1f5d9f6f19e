//! The platform interface: [`EventNotifier`] (the latched wakeup) and [`Clock`].
//!
//! The executor never touches hardware. The platform supplies one `EventNotifier` per context
//! and one monotonic `Clock`; under feature `std` this module also provides host versions
//! ([`HostNotifier`], [`HostClock`]) used by the tests, loom models and benches.

/// A latched wakeup for one context (QEMU's `EventNotifier`).
///
/// Semantics: `set` latches; the latch stays set until `test_and_clear`; `wait` returns when
/// the latch is set (or at `deadline`, or spuriously) and does **not** clear it.
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
    /// spuriously. `None`: no deadline.
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
pub use host::{HostClock, HostNotifier};

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
    /// Under loom the `wait` with a deadline returns immediately (loom has no time); a `wait`
    /// without deadline blocks, so a lost wakeup shows up as a loom deadlock.
    #[derive(Debug)]
    pub struct HostNotifier {
        flag: Mutex<bool>,
        cv: Condvar,
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
                Self { flag: Mutex::new(false), cv: Condvar::new() }
            }
        }
    }

    impl HostNotifier {
        /// Whether the latch is set, without clearing it (for liveness checks in tests).
        pub fn is_set(&self) -> bool {
            *self.flag.lock().unwrap()
        }
    }

    impl EventNotifier for HostNotifier {
        fn set(&self) {
            let mut f = self.flag.lock().unwrap();
            *f = true;
            self.cv.notify_all();
        }

        fn test_and_clear(&self) -> bool {
            core::mem::replace(&mut *self.flag.lock().unwrap(), false)
        }

        fn wait(&self, deadline: Option<u64>) {
            let mut f = self.flag.lock().unwrap();
            match deadline {
                None => {
                    while !*f {
                        f = self.cv.wait(f).unwrap();
                    }
                }
                #[cfg(loom)]
                Some(_) => {}
                #[cfg(not(loom))]
                Some(d) => {
                    let until = origin() + Duration::from_nanos(d);
                    while !*f {
                        let now = Instant::now();
                        if now >= until {
                            break;
                        }
                        f = self.cv.wait_timeout(f, until - now).unwrap().0;
                    }
                }
            }
        }
    }
}
