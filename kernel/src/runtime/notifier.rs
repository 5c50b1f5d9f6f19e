//! The EventNotifier of a core: a pending word, WFE on its monitor, then WFI, woken by an SGI.
//!
//! This replaces QEMU's eventfd. The executor's `notify_me`/`notified` handshake decides
//! *whether* to call `set` (`EventNotifier::set` of [`SgiNotifier`]); this file decides *how* to wake the owner:
//!
//! * `set` (any core, any IRQ handler): store 1 to `pending`; then, if the owner has
//!   announced it is about to WFI, send it the wake SGI. A remote store to `pending` already
//!   wakes an owner that waits in WFE (the store clears its exclusive monitor), so the SGI is
//!   only needed for the WFI phase.
//! * `wait` (owner): a latch already set on entry is consumed (`test_and_clear`) and `wait`
//!   returns at once (the executor's "notifier's window": at most one early return per
//!   `set`). Otherwise first an adaptive monitor wait — LDAXR `pending` + WFE, bounded by a
//!   budget that grows when wakeups arrive during it and shrinks when they do not (QEMU's
//!   poll-grow/poll-shrink, applied to the monitor) — then, IRQs masked, announce WFI, full
//!   fence, re-check `pending`, WFI with the virtual timer armed for the deadline.
//! * `test_and_clear` (owner): swap `pending` to 0 and, if it was set and an SGI was sent
//!   since the last clear, clear the wake SGI's pending state in the GIC: a
//!   redistributor/distributor MMIO write that traps to the hypervisor under KVM. That is
//!   the cost the executor's `notified` flag avoids (and `sgi_sent` avoids when the set
//!   needed no SGI).
//!
//! The WFI announcement is a second store-buffering handshake: the owner announces sleep
//! then loads `pending`; `set` stores `pending` then loads the owner's state. It lives in
//! [`executor::WakeGate`] (portable, so loom checks it and its two fence-removal mutants);
//! this file adds the hardware: the monitor wait, the timer, WFI and the SGI.

//!
//! Statistics (`NotifierStats`) are [`executor::stats::Counter`]s: with the kernel's default
//! feature `stats` they count (and `test_and_clear` times the GIC clear); without it they are
//! zero-sized, and neither `set` nor `test_and_clear` does anything but the wake.

use crate::irq::SGI_WAKE;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use executor::stats::Counter;
use executor::WakeGate;

/// Upper bound of the monitor-wait budget, in microseconds.
const MONITOR_MAX_US: u64 = 50;

fn monitor_max() -> u64 {
    hal::timer::us_to_ticks(MONITOR_MAX_US, hal::timer::frequency())
}

/// The [`executor::EventNotifier`] of one core's context (module docs).
pub struct SgiNotifier {
    core: usize,
    /// The latch (`pending`) and the owner's announced state.
    gate: WakeGate,
    /// A wake SGI was sent since the last `test_and_clear` cleared it.
    sgi_sent: AtomicBool,
    /// Current monitor-wait budget in timer ticks (owner only; atomic for Sync).
    budget: AtomicU64,
    /// The budget's upper bound in ticks (`MONITOR_MAX_US` at the counter's frequency),
    /// computed once by `init_budget` so that `adapt` does no division per wait.
    budget_max: AtomicU64,
    stats: NotifierStats,
}

/// What [`SgiNotifier::gate_state`] returns.
#[derive(Clone, Copy, Debug)]
pub struct GateState {
    /// The latch (`pending`) is set.
    pub latched: bool,
    /// The owner's announced state: `running`, `watching` (monitor wait) or `sleeping` (WFI).
    pub announced: &'static str,
    /// A wake SGI was sent since the last `test_and_clear`.
    pub sgi_outstanding: bool,
}

/// Counters of one notifier (statistics only, read at the end of a run; zero-sized without
/// feature `stats`). `sgis_sent` is bumped by the notifying core (an RMW), the rest by the
/// owner (`bump_owner`: a load and a store; `gic_clear_ticks` adds with an RMW, off the
/// common path).
struct NotifierStats {
    sgis_sent: Counter,
    wfe_waits: Counter,
    wfe_wakeups: Counter,
    wfi_sleeps: Counter,
    gic_clears: Counter,
    gic_clear_ticks: Counter,
    early_returns: Counter,
    clears_skipped: Counter,
}

/// A copy of one notifier's counters.
#[cfg(feature = "stats")]
#[derive(Clone, Copy, Debug, Default)]
pub struct NotifierSnapshot {
    /// Wake SGIs sent to this core.
    pub sgis_sent: u64,
    /// Monitor waits (LDAXR + WFE) started.
    pub wfe_waits: u64,
    /// Monitor waits that ended with the latch set.
    pub wfe_wakeups: u64,
    /// WFIs entered.
    pub wfi_sleeps: u64,
    /// GIC pending-clears of the wake SGI in `test_and_clear`.
    pub gic_clears: u64,
    /// Timer ticks spent in those clears.
    pub gic_clear_ticks: u64,
    /// Waits that found the latch already set (consumed it and returned at once): at most
    /// one per `set`, so at most the context's kicks.
    pub early_returns: u64,
    /// `test_and_clear`s of a set latch that needed no GIC clear (no SGI sent).
    pub clears_skipped: u64,
}

impl SgiNotifier {
    /// The notifier of core `core` (attach it to that core's context).
    pub const fn new(core: usize) -> Self {
        Self {
            core,
            gate: WakeGate::new(),
            sgi_sent: AtomicBool::new(false),
            budget: AtomicU64::new(0),
            budget_max: AtomicU64::new(0),
            stats: NotifierStats {
                sgis_sent: Counter::new(),
                wfe_waits: Counter::new(),
                wfe_wakeups: Counter::new(),
                wfi_sleeps: Counter::new(),
                gic_clears: Counter::new(),
                gic_clear_ticks: Counter::new(),
                early_returns: Counter::new(),
                clears_skipped: Counter::new(),
            },
        }
    }

    /// A copy of this notifier's counters.
    #[cfg(feature = "stats")]
    pub fn snapshot(&self) -> NotifierSnapshot {
        let s = &self.stats;
        NotifierSnapshot {
            sgis_sent: s.sgis_sent.get(),
            wfe_waits: s.wfe_waits.get(),
            wfe_wakeups: s.wfe_wakeups.get(),
            wfi_sleeps: s.wfi_sleeps.get(),
            gic_clears: s.gic_clears.get(),
            gic_clear_ticks: s.gic_clear_ticks.get(),
            early_returns: s.early_returns.get(),
            clears_skipped: s.clears_skipped.get(),
        }
    }

    /// Diagnostics (any core, racy): the latch, the owner's announced state, and whether a
    /// wake SGI was sent and not yet cleared.
    pub fn gate_state(&self) -> GateState {
        let (latched, announced) = self.gate.snapshot();
        GateState {
            latched,
            announced,
            // Relaxed: diagnostics only.
            sgi_outstanding: self.sgi_sent.load(Ordering::Relaxed),
        }
    }

    fn monitor_wait(&self, deadline: Option<u64>) -> bool {
        // Relaxed: `budget` is owner-only state (atomic only to make the notifier Sync).
        let budget = self.budget.load(Ordering::Relaxed);
        if budget == 0 {
            return false;
        }
        let now = hal::timer::counter();
        let end = deadline.map_or(now + budget, |d| d.min(now + budget));
        self.stats.wfe_waits.bump_owner();
        self.gate.watch();
        while hal::timer::counter() < end {
            // LDAXR + WFE: a store to the latch by another core clears our exclusive
            // monitor and wakes the WFE; the timer's event stream bounds each WFE.
            hal::cpu::wfe_unless_changed(self.gate.latch_word(), 0);
            if self.gate.is_latched() {
                self.stats.wfe_wakeups.bump_owner();
                return true;
            }
        }
        false
    }

    /// Grow the budget after a monitor wait that caught the wakeup; shrink it after one
    /// that did not (the owner then paid for both the spin and the WFI).
    fn adapt(&self, caught: bool) {
        // Relaxed: owner-only state, set by `init_budget` before the first wait.
        let max = self.budget_max.load(Ordering::Relaxed);
        // Relaxed: owner-only state (see `monitor_wait`).
        let b = self.budget.load(Ordering::Relaxed);
        let next = if caught {
            (b * 2).clamp(max / 16, max)
        } else {
            // Never below max/16: a budget of zero could never learn that waits pay off.
            (b / 2).max(max / 16)
        };
        // Relaxed: owner-only state.
        self.budget.store(next, Ordering::Relaxed);
    }

    /// Start the adaptive budget at its floor (owner, at attach time).
    pub fn init_budget(&self) {
        let max = monitor_max();
        // Relaxed (both): owner-only state, set before the context first polls.
        self.budget_max.store(max, Ordering::Relaxed);
        self.budget.store(max / 16, Ordering::Relaxed);
    }
}

impl executor::EventNotifier for SgiNotifier {
    fn set(&self) {
        // Latch, full fence, look: see `WakeGate::latch` (pairs with `prepare_sleep` in
        // `wait`).
        let asleep = self.gate.latch();
        // Mutant (negative control for the stress test): never kick a sleeping core.
        #[cfg(aiolos_mutant = "sgi_skip")]
        let asleep = asleep && false;
        // Mutant: the wake SGI goes to the next core instead of the owner.
        #[cfg(aiolos_mutant = "sgi_wrong_core")]
        let target = (self.core + 1) % crate::smp::online_count();
        #[cfg(not(aiolos_mutant = "sgi_wrong_core"))]
        let target = self.core;
        if asleep && crate::smp::core_index() != self.core && crate::irq::send_wake(target).is_ok()
        {
            // Release: pairs with the Acquire swap in `test_and_clear`, which reaches us
            // through the executor's `notified` (stored after this `set` returns).
            self.sgi_sent.store(true, Ordering::Release);
            self.stats.sgis_sent.bump();
        }
    }

    fn test_and_clear(&self) -> bool {
        #[cfg(not(aiolos_mutant = "no_latch"))]
        let was = self.gate.take();
        // Mutant: never take the latch (report it, leave it set): every wait returns at once.
        #[cfg(aiolos_mutant = "no_latch")]
        let was = self.gate.is_latched();
        // Only an SGI that was really sent can still be pending in the GIC; most sets find
        // the owner awake or in its monitor wait and send none, so this skips most clears.
        // Relaxed load first: most takes find no SGI sent, and then no read-modify-write.
        // A `true` this load misses (a `set` storing it right now) is the same case as the
        // swap running just before that store: it stays marked for a later take.
        // Acquire (swap): pairs with the Release store in `set`.
        if was
            && self.sgi_sent.load(Ordering::Relaxed)
            && self.sgi_sent.swap(false, Ordering::Acquire)
        {
            // The wake SGI may still be pending (sent while we were leaving WFI): drop it so
            // it does not cause one more empty wakeup. This is the MMIO write
            // (GICR_ICPENDR0 / GICD_CPENDSGIR) that traps to the hypervisor under KVM.
            // Timed only with feature `stats` (no counter reads otherwise).
            self.stats.gic_clear_ticks.time(hal::timer::counter, || {
                // Mutant: the wake SGI's GIC pending state is never cleared.
                #[cfg(not(aiolos_mutant = "sgi_no_clear"))]
                crate::irq::gic_cpu().clear_pending(SGI_WAKE as u32)
            });
            self.stats.gic_clears.bump_owner();
        } else if was {
            self.stats.clears_skipped.bump_owner();
        }
        was
    }

    fn wait(&self, deadline: Option<u64>) {
        // A Relaxed look first (`is_latched`): most waits find the latch clear and pay no
        // read-modify-write.
        if self.gate.is_latched() {
            // Set on entry: typically a notifier between its `set` and its store of
            // `notified` (under KVM its vCPU may be descheduled right there), or a kick that
            // came after the executor's re-check. Consume it here, where the owner sees it
            // (`EventNotifier::wait`'s contract; the executor's "notifier's window"): the
            // owner looks at all its work before it can sleep again, so nothing is lost, and
            // each `set` costs at most one early return. `test_and_clear` takes the latch
            // (Acquire, pairs with the Release in `latch`) and drops a sent SGI.
            self.early_return();
            return;
        }
        let caught = self.monitor_wait(deadline);
        self.adapt(caught);
        if caught {
            self.gate.awake();
            return;
        }
        // Mutant: arm the timer (or find the deadline passed) with IRQs still unmasked, leaving
        // nothing to arm below. A timer interrupt taken between the arm and the mask is handled
        // (and disarmed) before the WFI, which then sleeps past the deadline for good.
        #[cfg(aiolos_mutant = "timer_arm_unmasked")]
        let deadline = deadline.filter(|&d| !arm_unless_passed(d));
        // IRQs masked from arming the timer to the WFI: a timer or SGI interrupt that
        // arrives in between stays pending and makes WFI return at once, instead of being
        // handled (the timer handler disarms) before we sleep.
        let saved = hal::cpu::irq_mask_save();
        if deadline.is_some_and(|d| !arm_unless_passed(d)) {
            self.gate.awake();
            hal::cpu::irq_restore(saved);
            return;
        }
        // Announce WFI and look at the latch: see `WakeGate::prepare_sleep` (its fence
        // pairs with the one in `latch`, called by `set`).
        if self.gate.prepare_sleep() {
            self.stats.wfi_sleeps.bump_owner();
            hal::cpu::wfi();
        }
        self.gate.awake();
        hal::cpu::irq_restore(saved);
    }
}

impl SgiNotifier {
    /// `wait`'s path for a latch found set on entry (see there): out of line and cold, so
    /// that the common wait's code (the wake round trip) stays as it was.
    #[cold]
    #[inline(never)]
    fn early_return(&self) {
        #[cfg(not(aiolos_mutant = "wait_keeps_latch"))]
        executor::EventNotifier::test_and_clear(self);
        // Mutant: the seed's wait, which leaves the latch set (one WFE, a yield under a
        // hypervisor): the owner returns at once from every wait until the notifier's
        // `notified` lands and its accept clears the latch.
        #[cfg(aiolos_mutant = "wait_keeps_latch")]
        hal::cpu::wfe();
        self.stats.early_returns.bump_owner();
    }
}

/// Arms the virtual timer for `deadline`, unless it has passed already (then returns false).
fn arm_unless_passed(deadline: u64) -> bool {
    if hal::timer::counter() >= deadline {
        return false;
    }
    hal::timer::arm_at(deadline);
    true
}

/// The ARM generic timer's virtual counter as the executor's clock.
pub struct CntvctClock;

impl executor::Clock for CntvctClock {
    fn now(&self) -> u64 {
        hal::timer::counter()
    }
    fn ticks_per_second(&self) -> u64 {
        hal::timer::frequency()
    }
}
