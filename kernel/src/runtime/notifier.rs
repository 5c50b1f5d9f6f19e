//! The EventNotifier of a core: a pending word, WFE on its monitor, then WFI, woken by an SGI.
//!
//! This replaces QEMU's eventfd. The executor's `notify_me`/`notified` handshake decides
//! *whether* to call [`SgiNotifier::set`]; this file decides *how* to wake the owner:
//!
//! * `set` (any core, any IRQ handler): store 1 to `pending`; then, if the owner has
//!   announced it is about to WFI, send it the wake SGI. A remote store to `pending` already
//!   wakes an owner that waits in WFE (the store clears its exclusive monitor), so the SGI is
//!   only needed for the WFI phase.
//! * `wait` (owner): first an adaptive monitor wait — LDAXR `pending` + WFE, bounded by a
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

use crate::irq::SGI_WAKE;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use executor::WakeGate;

/// Upper bound of the monitor-wait budget, in microseconds.
const MONITOR_MAX_US: u64 = 50;

fn monitor_max() -> u64 {
    hal::timer::us_to_ticks(MONITOR_MAX_US, hal::timer::frequency())
}

/// The EventNotifier of one core's context: a latch, a monitor wait, WFI and the wake SGI
/// (see the module docs).
pub struct SgiNotifier {
    core: usize,
    /// The latch (`pending`) and the owner's announced state.
    gate: WakeGate,
    /// A wake SGI was sent since the last `test_and_clear` cleared it.
    sgi_sent: AtomicBool,
    /// Current monitor-wait budget in timer ticks (owner only; atomic for Sync).
    budget: AtomicU64,
    stats: NotifierStats,
}

/// Statistics counter bump. Relaxed: counters order nothing; they are read at the end of a
/// run (or by a test after a Signal/join that orders them).
fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Statistics counter read (Relaxed: see [`bump`]).
fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Counters of one notifier (statistics only, read at the end of a run).
#[derive(Default)]
pub struct NotifierStats {
    /// Wake SGIs sent to the owner (it had announced WFI).
    pub sgis_sent: AtomicU64,
    /// Monitor waits (LDAXR + WFE) the owner started.
    pub wfe_waits: AtomicU64,
    /// Monitor waits that ended with the latch set (caught without an SGI).
    pub wfe_wakeups: AtomicU64,
    /// WFIs the owner entered.
    pub wfi_sleeps: AtomicU64,
    /// Pending-state clears of the wake SGI in the GIC (`test_and_clear`).
    pub gic_clears: AtomicU64,
    /// Timer ticks spent in those clears.
    pub gic_clear_ticks: AtomicU64,
    /// `wait` calls that found the latch already set (set before `notified`).
    pub early_returns: AtomicU64,
    /// `test_and_clear` calls that skipped the GIC clear (no SGI was sent).
    pub clears_skipped: AtomicU64,
}

/// The counters of one notifier at one moment (see [`NotifierStats`] for each).
#[derive(Clone, Copy, Debug, Default)]
pub struct NotifierSnapshot {
    /// Wake SGIs sent to the owner (it had announced WFI).
    pub sgis_sent: u64,
    /// Monitor waits (LDAXR + WFE) the owner started.
    pub wfe_waits: u64,
    /// Monitor waits that ended with the latch set (caught without an SGI).
    pub wfe_wakeups: u64,
    /// WFIs the owner entered.
    pub wfi_sleeps: u64,
    /// Pending-state clears of the wake SGI in the GIC (`test_and_clear`).
    pub gic_clears: u64,
    /// Timer ticks spent in those clears.
    pub gic_clear_ticks: u64,
    /// `wait` calls that found the latch already set (set before `notified`).
    pub early_returns: u64,
    /// `test_and_clear` calls that skipped the GIC clear (no SGI was sent).
    pub clears_skipped: u64,
}

impl SgiNotifier {
    /// The notifier of core `core`: latch clear, owner awake, budget zero.
    pub const fn new(core: usize) -> Self {
        Self {
            core,
            gate: WakeGate::new(),
            sgi_sent: AtomicBool::new(false),
            budget: AtomicU64::new(0),
            stats: NotifierStats {
                sgis_sent: AtomicU64::new(0),
                wfe_waits: AtomicU64::new(0),
                wfe_wakeups: AtomicU64::new(0),
                wfi_sleeps: AtomicU64::new(0),
                gic_clears: AtomicU64::new(0),
                gic_clear_ticks: AtomicU64::new(0),
                early_returns: AtomicU64::new(0),
                clears_skipped: AtomicU64::new(0),
            },
        }
    }

    /// Read every counter (Relaxed: statistics).
    pub fn snapshot(&self) -> NotifierSnapshot {
        let s = &self.stats;
        NotifierSnapshot {
            sgis_sent: read(&s.sgis_sent),
            wfe_waits: read(&s.wfe_waits),
            wfe_wakeups: read(&s.wfe_wakeups),
            wfi_sleeps: read(&s.wfi_sleeps),
            gic_clears: read(&s.gic_clears),
            gic_clear_ticks: read(&s.gic_clear_ticks),
            early_returns: read(&s.early_returns),
            clears_skipped: read(&s.clears_skipped),
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
        bump(&self.stats.wfe_waits, 1);
        self.gate.watch();
        while hal::timer::counter() < end {
            // LDAXR + WFE: a store to the latch by another core clears our exclusive
            // monitor and wakes the WFE; the timer's event stream bounds each WFE.
            hal::cpu::wfe_unless_changed(self.gate.latch_word(), 0);
            if self.gate.is_latched() {
                bump(&self.stats.wfe_wakeups, 1);
                return true;
            }
        }
        false
    }

    /// Grow the budget after a monitor wait that caught the wakeup; shrink it after one
    /// that did not (the owner then paid for both the spin and the WFI).
    fn adapt(&self, caught: bool) {
        let max = monitor_max();
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
        // Relaxed: owner-only state, set before the context first polls.
        self.budget.store(monitor_max() / 16, Ordering::Relaxed);
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
        if asleep
            && crate::smp::core_index() != self.core
            && crate::irq::send_wake(self.core).is_ok()
        {
            // Release: pairs with the Acquire swap in `test_and_clear`, which reaches us
            // through the executor's `notified` (stored after this `set` returns).
            self.sgi_sent.store(true, Ordering::Release);
            bump(&self.stats.sgis_sent, 1);
        }
    }

    fn test_and_clear(&self) -> bool {
        let was = self.gate.take();
        // Only an SGI that was really sent can still be pending in the GIC; most sets find
        // the owner awake or in its monitor wait and send none, so this skips most clears.
        // Acquire: pairs with the Release store in `set`.
        if was && self.sgi_sent.swap(false, Ordering::Acquire) {
            // The wake SGI may still be pending (sent while we were leaving WFI): drop it so
            // it does not cause one more empty wakeup. This is the MMIO write
            // (GICR_ICPENDR0 / GICD_CPENDSGIR) that traps to the hypervisor under KVM.
            let t0 = hal::timer::counter();
            crate::irq::gic_cpu().clear_pending(SGI_WAKE as u32);
            let dt = hal::timer::counter() - t0;
            bump(&self.stats.gic_clears, 1);
            bump(&self.stats.gic_clear_ticks, dt);
        } else if was {
            bump(&self.stats.clears_skipped, 1);
        }
        was
    }

    fn wait(&self, deadline: Option<u64>) {
        if self.gate.is_latched() {
            // Set, but `notified` not yet: a notifier is between `set` and its store of
            // `notified` (or its SGI). The executor loops until it can accept.
            // One WFE: under a hypervisor or TCG it yields the vCPU, letting the notifier's
            // vCPU finish; on hardware the event stream bounds it.
            bump(&self.stats.early_returns, 1);
            hal::cpu::wfe();
            return;
        }
        let caught = self.monitor_wait(deadline);
        self.adapt(caught);
        if caught {
            self.gate.awake();
            return;
        }
        // IRQs masked from arming the timer to the WFI: a timer or SGI interrupt that
        // arrives in between stays pending and makes WFI return at once, instead of being
        // handled (the timer handler disarms) before we sleep.
        // Mutant: check the deadline and arm the timer with IRQs still unmasked. A timer
        // interrupt taken between the arm and the mask is handled (and disarmed) before the
        // WFI, which then sleeps past the deadline with nothing left to wake it.
        #[cfg(aiolos_mutant = "timer_arm_unmasked")]
        if let Some(d) = deadline {
            if hal::timer::counter() >= d {
                self.gate.awake();
                return;
            }
            hal::timer::arm_at(d);
        }
        let saved = hal::cpu::irq_mask_save();
        #[cfg(not(aiolos_mutant = "timer_arm_unmasked"))]
        if let Some(d) = deadline {
            if hal::timer::counter() >= d {
                self.gate.awake();
                hal::cpu::irq_restore(saved);
                return;
            }
            hal::timer::arm_at(d);
        }
        // Announce WFI and look at the latch: see `WakeGate::prepare_sleep` (its fence
        // pairs with the one in `latch`, called by `set`).
        if self.gate.prepare_sleep() {
            bump(&self.stats.wfi_sleeps, 1);
            hal::cpu::wfi();
        }
        self.gate.awake();
        hal::cpu::irq_restore(saved);
    }
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
