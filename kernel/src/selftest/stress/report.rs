//! The stall report (every context's handshake state, with a diagnosis a reader can act on)
//! and the summary line the harness parses.

use super::progress::{self, Phase};
use crate::api::*;
use crate::irq::CoreView;
use crate::println;

/// What the state of core `core` points at.
fn diagnosis(core: usize) -> &'static str {
    let h = context(core).expect("online").handshake_state();
    let g = crate::runtime::notifier(core).gate_state();
    let asleep = g.announced == "sleeping";
    let work = h.tasks_queued || h.bhs_queued;
    if asleep && g.latched {
        "lost SGI: latch set while the owner sleeps in WFI"
    } else if asleep && h.next_timer.is_some_and(|d| d <= now()) {
        "lost timer: a deadline passed while the owner sleeps in WFI"
    } else if asleep && work && h.notify_me != 0 {
        "lost notify: work queued, owner asleep with notify_me set, latch clear (kick skipped or lost)"
    } else if g.latched && !h.notified && !asleep {
        "event set without `notified`: the owner cannot accept it (busy loop)"
    } else if h.notified && !g.latched && work {
        "lost `notified` accept: notified set, latch clear, work queued"
    } else if asleep && !work && h.notified {
        "asleep, nothing queued, `notified` left set by a coalesced notify (harmless): the wake never reached this context"
    } else if asleep && !work {
        "asleep with nothing queued: the wake never reached this context (lost on the waker's side)"
    } else {
        "running"
    }
}

/// What the software state says a core is waiting for (before the diagnostics SGI).
#[derive(Clone, Copy, Default)]
struct Lost {
    /// A wake SGI was sent to it while it sleeps in WFI with its latch set.
    sgi: bool,
    /// Its deadline passed while it sleeps in WFI.
    timer: bool,
}

/// What a core's own GIC and timer view points at, given what it is waiting for.
fn gic_diagnosis(v: &CoreView, lost: Lost) -> &'static str {
    let g = &v.gic;
    let wake = 1u32 << crate::irq::SGI_WAKE;
    let tbit = 1u32 << (crate::drivers::virt_timer_intid(crate::platform::get()) % 32);
    // CNTV_CTL_EL0: ENABLE (bit 0), IMASK (bit 1), ISTATUS (bit 2).
    let (enabled, masked, met) = (
        v.timer_ctl & 1 != 0,
        v.timer_ctl & 2 != 0,
        v.timer_ctl & 4 != 0,
    );
    let cval_passed = v.timer_cval <= v.now;
    if g.stale_priority() {
        "running priority stuck with nothing active (a stale active-priority bit): no interrupt at or below it is ever signalled"
    } else if lost.sgi && g.pending0 & g.enabled0 & wake != 0 {
        "wake SGI pending and enabled at the GIC, running priority idle: not signalled (CPU interface or WFI)"
    } else if lost.sgi {
        "wake SGI not pending here: it never reached this CPU interface (wrong target?) or was cleared"
    } else if lost.timer && !enabled {
        "virtual timer not armed (never armed for this deadline, or disarmed after)"
    } else if lost.timer && masked {
        "virtual timer armed but masked (IMASK)"
    } else if lost.timer && !met && cval_passed {
        "virtual timer armed, CVAL passed, condition not met (ISTATUS=0): the counter or its offset disagrees"
    } else if lost.timer && !met {
        "virtual timer armed for a later CVAL than the context's deadline"
    } else if lost.timer && g.pending0 & tbit == 0 && g.active0 & tbit == 0 {
        "virtual timer fired (ISTATUS=1) but its PPI is neither pending nor active at the GIC: not injected"
    } else if lost.timer && g.pending0 & g.enabled0 & tbit != 0 {
        "virtual timer PPI pending and enabled at the GIC, running priority idle: not signalled"
    } else if lost.timer {
        "virtual timer fired, its PPI active or disabled at the GIC"
    } else if enabled && !masked && met {
        "virtual timer condition met and unmasked: its interrupt is due"
    } else {
        "nothing due"
    }
}

/// Every core's own view of its GIC and virtual timer, asked for with an SGI above the wake
/// SGI's priority (it wakes the sleepers, so this runs after the software state is printed).
fn print_gic_views() {
    let mut views = [None; crate::boot::layout::MAX_CPUS];
    let n = cores_online().min(views.len());
    // Before the diagnostics SGI wakes the sleepers and they move on.
    let mut lost = [Lost::default(); crate::boot::layout::MAX_CPUS];
    for (core, l) in lost[..n].iter_mut().enumerate() {
        let g = crate::runtime::notifier(core).gate_state();
        let h = context(core).expect("online").handshake_state();
        let asleep = g.announced == "sleeping";
        *l = Lost {
            sgi: asleep && g.latched && g.sgi_outstanding,
            timer: asleep && h.next_timer.is_some_and(|d| d <= now()),
        };
    }
    crate::irq::collect_views(&mut views[..n], ms(100));
    for (core, (v, &lost)) in views[..n].iter().zip(&lost[..n]).enumerate() {
        match v {
            Some(v) => println!(
                "core {} gic: {} timer: ctl={:#x} cval_minus_now={} => {}",
                core,
                v.gic,
                v.timer_ctl,
                v.timer_cval as i64 - v.now as i64,
                gic_diagnosis(v, lost)
            ),
            None => println!(
                "core {} gic: no answer to the diagnostics SGI in 100 ms (IRQs masked for good, or priority 0x20 blocked)",
                core
            ),
        }
    }
}

/// Print every online context's handshake and notifier state, and the phase counters.
pub fn print(phase: Phase, target: u64) {
    let t = now();
    println!(
        "stress: stall report, phase {} ({} of {})",
        phase.name(),
        progress::get(phase),
        target
    );
    for core in 0..cores_online() {
        let h = context(core).expect("online").handshake_state();
        let g = crate::runtime::notifier(core).gate_state();
        let s = context(core).expect("online").stats();
        let last = progress::last(core);
        let since = if last == 0 {
            u64::MAX
        } else {
            ticks_to_us(t.saturating_sub(last)) / 1000
        };
        let timer_us = h.next_timer.map(|d| {
            ticks_to_us(d.saturating_sub(t)) as i64 - ticks_to_us(t.saturating_sub(d)) as i64
        });
        println!(
            "core {}: notify_me={} notified={} latch={} announced={} sgi_outstanding={} tasks_queued={} bhs_queued={} next_timer_us={:?} polls={} sleeps={} timers_fired={} last_progress_ms_ago={} => {}",
            core,
            h.notify_me,
            h.notified as u8,
            g.latched as u8,
            g.announced,
            g.sgi_outstanding as u8,
            h.tasks_queued as u8,
            h.bhs_queued as u8,
            timer_us,
            s.polls,
            s.sleeps,
            s.timers_fired,
            since,
            diagnosis(core)
        );
    }
    print_gic_views();
    for p in Phase::ORDER {
        println!("stress: phase {} progress {}", p.name(), progress::get(p));
    }
    println!(
        "stress: mixed-in timers fired {}",
        progress::get(Phase::Mix)
    );
    print_stats();
}

/// The final line: phase counts, cross-core wakeups, kicks vs skipped notifies, SGIs.
pub fn summary(ticks: u64) {
    let mut wakeups = 0;
    for p in Phase::ORDER {
        if p.cross_core() {
            wakeups += progress::get(p);
        }
    }
    // Wake-path counters exist only with feature `stats` (zeros without).
    #[cfg(feature = "stats")]
    let (kicks, skipped, sgis) = (0..cores_online()).fold((0u64, 0u64, 0u64), |(k, s, g), core| {
        let st = context(core).expect("online").stats();
        let n = crate::runtime::notifier(core).snapshot();
        (k + st.kicks, s + st.notifies_skipped, g + n.sgis_sent)
    });
    #[cfg(not(feature = "stats"))]
    let (kicks, skipped, sgis) = (0u64, 0u64, 0u64);
    println!(
        "stress: ok: ring={} naps={} fanin={} fanout={} irq={} bh={} mix={} wakeups={} kicks={} skipped={} sgis={} ms={}",
        progress::get(Phase::Ring),
        progress::get(Phase::Naps),
        progress::get(Phase::FanIn),
        progress::get(Phase::FanOut),
        progress::get(Phase::Irq),
        progress::get(Phase::Bh),
        progress::get(Phase::Mix),
        wakeups,
        kicks,
        skipped,
        sgis,
        ticks_to_us(ticks) / 1000
    );
}
