//! A one-shot device interrupt for applications: the EL1 physical timer (CNTP).
//!
//! The virtual timer belongs to the executor (every context's deadlines); the physical one
//! is free, and is a real device interrupt that arrives while the core sleeps — unlike a
//! software-raised SPI, which the raising task sees at once. The demo schedules its
//! "bottom half from an interrupt" from it, so the BH's notify finds the owner asleep.

use core::sync::atomic::{AtomicUsize, Ordering};

/// The application's handler, as a fn pointer (0 = none).
static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// The physical timer's INTID from the DTB (the architectural PPI 30 if absent).
fn intid() -> u32 {
    match &crate::platform::get().timer {
        Ok(Some(t)) if t.non_secure_phys != 0 => t.non_secure_phys,
        _ => hal::gic::PHYS_TIMER_INTID,
    }
}

/// Run `handler` in interrupt context on the calling core once `ticks` have passed. A new
/// call replaces a pending one. Returns the physical counter value ([`clock`]) at which the
/// interrupt is raised (the timer's compare value).
pub fn after(ticks: u64, handler: fn()) -> u64 {
    // Release: pairs with the Acquire load in `on_irq`.
    HANDLER.store(handler as usize, Ordering::Release);
    crate::irq::register(intid(), on_irq);
    hal::timer::phys::arm_after(ticks)
}

/// The counter the device timer compares with (CNTPCT_EL0): same rate as the clock of
/// `api::now` (CNTVCT_EL0), which a hypervisor may offset from it.
pub fn clock() -> u64 {
    hal::timer::phys::counter()
}

fn on_irq(_intid: u32) {
    hal::timer::phys::disarm();
    // Acquire: pairs with the Release store in `after`.
    let raw = HANDLER.load(Ordering::Acquire);
    if raw != 0 {
        // SAFETY: only `after` stores here, and it stores a `fn()`.
        let handler: fn() = unsafe { core::mem::transmute::<usize, fn()>(raw) };
        handler();
    }
}
