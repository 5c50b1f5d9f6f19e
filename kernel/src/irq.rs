//! Interrupt dispatch: acknowledge, run the registered handler, end of interrupt.
//!
//! Handlers are plain `fn(intid)` registered per INTID. They run with IRQs masked on the
//! exception stack and must only mark, wake a task or schedule a bottom half (never run
//! task code). A spurious interrupt (INTID 1020–1023) or one nobody registered is counted
//! and logged, never a crash; an unregistered one is also disabled so that a level-
//! triggered line cannot storm.

use crate::boot_cell::BootCell;
use crate::percpu::PerCore;
use crate::println;
use crate::smp;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use hal::gic::{Gic, GicCpu, GicView, IrqAck, IrqPort, SgiTarget};

/// INTIDs we can register: SGIs, PPIs and every SPI of the GICv2/v3 range (1020–1023 are
/// special; extended SPI/PPI ranges are not used).
pub const MAX_INTID: usize = 1020;

/// The SGI that wakes a core from WFI (the EventNotifier's kick).
pub const SGI_WAKE: u8 = 1;
/// The SGI that stops a core for good (panic / exit on another core).
pub const SGI_STOP: u8 = 2;
/// The SGI that asks a core for its [`CoreView`] (stall reports). Priority 0x20: above the
/// wake SGI and the timers, so it is taken even where a stuck running priority blocks them.
pub const SGI_DIAG: u8 = 3;
const DIAG_PRIORITY: u8 = 0x20;

/// The highest SPI we can register (the GIC's and our table's limit): no device on the
/// platforms we know drives it, so software raises it (tests, demo). QEMU `virt` has 288
/// INTIDs, `raspi4b` 224: the number is read from the distributor.
pub fn soft_irq() -> u32 {
    gic().num_intids().min(MAX_INTID as u32) - 1
}

/// The SPI below [`soft_irq`], left without a handler (for the unregistered-IRQ test).
pub fn spare_irq() -> u32 {
    soft_irq() - 1
}

/// An interrupt handler: runs with IRQs masked; marks, wakes or schedules, never blocks.
pub type Handler = fn(intid: u32);

static GIC: BootCell<Gic> = BootCell::new();
/// Acknowledge / EOI, the same on every core: the IRQ vector's first and last GIC access
/// without a per-core lookup.
static PORT: BootCell<IrqPort> = BootCell::new();
/// Each core's own view of the GIC (its CPU interface / redistributor).
static GIC_CPU: PerCore<GicCpu> = PerCore::new();
/// Handler fn pointers as usize (0 = none).
static HANDLERS: [AtomicUsize; MAX_INTID] = [const { AtomicUsize::new(0) }; MAX_INTID];
static SPURIOUS: AtomicU64 = AtomicU64::new(0);
/// Test hook, see [`hold_stop_active`].
static STOP_HOLDS_ACTIVE: AtomicBool = AtomicBool::new(false);
/// The last [`CoreView`] each core recorded on [`SGI_DIAG`].
static VIEWS: [spin::Mutex<Option<CoreView>>; crate::boot::layout::MAX_CPUS] =
    [const { spin::Mutex::new(None) }; crate::boot::layout::MAX_CPUS];
static UNHANDLED: AtomicU64 = AtomicU64::new(0);

/// Install the interrupt controller the DTB described.
///
/// # Safety
/// Single-core boot, after the MMU is on.
pub unsafe fn set_gic(gic: Gic) {
    let port = gic.irq_port();
    // SAFETY: forwarded contract (both cells).
    unsafe {
        GIC.set(gic);
        PORT.set(port);
    }
}

/// The interrupt controller (distributor side).
pub fn gic() -> &'static Gic {
    GIC.get()
        .expect("the GIC is set up before interrupts are used")
}

/// Bring up this core's GIC interface. Each core, during bring-up, IRQs masked.
pub fn init_this_core() {
    let cpu = gic().init_cpu();
    smp::set_gicv2_interface(cpu.cpu_interface());
    cpu.enable(SGI_WAKE as u32, hal::gic::DEFAULT_PRIORITY);
    // The stop request outranks everything else.
    cpu.enable(SGI_STOP as u32, 0x10);
    cpu.enable(SGI_DIAG as u32, DIAG_PRIORITY);
    // SAFETY: this core's bring-up, IRQs masked, before any `gic_cpu()` on this core.
    unsafe { GIC_CPU.set(cpu) };
}

/// Enable an already registered SGI/PPI on this core too (PPIs are per core).
pub fn enable_here(intid: u32) {
    gic_cpu().enable(intid, hal::gic::DEFAULT_PRIORITY);
}

/// This core's GIC interface.
pub fn gic_cpu() -> &'static GicCpu {
    GIC_CPU
        .get()
        .expect("init_this_core runs before interrupts are used on a core")
}

/// Register `handler` for `intid` and enable it at the distributor/redistributor.
pub fn register(intid: u32, handler: Handler) {
    assert!((intid as usize) < MAX_INTID, "INTID {} out of range", intid);
    // Release pairs with the Acquire load in `handle`: the handler sees whatever the
    // registering code set up before registering.
    HANDLERS[intid as usize].store(handler as usize, Ordering::Release);
    gic_cpu().enable(intid, hal::gic::DEFAULT_PRIORITY);
}

/// (spurious, unhandled) interrupt counts.
pub fn counts() -> (u64, u64) {
    // Relaxed: statistics counters.
    (
        SPURIOUS.load(Ordering::Relaxed),
        UNHANDLED.load(Ordering::Relaxed),
    )
}

/// Called from the IRQ vector: acknowledge, the handler from the table indexed by INTID,
/// end of interrupt. The rare cases (spurious, the stop and diagnostics SGIs, an
/// unregistered INTID) are out of line, so the common path is a few loads and one call.
#[inline]
pub fn handle() {
    let Some(port) = PORT.get() else {
        return count_spurious();
    };
    let Some(ack) = port.ack() else {
        return count_spurious();
    };
    let intid = ack.intid();
    if intid == SGI_STOP as u32 || intid == SGI_DIAG as u32 {
        return special_sgi(port, ack);
    }
    // Acquire pairs with the Release store in `register`. `ack.intid()` is below 1020
    // (1020..=1023 are not acknowledged interrupts), and GICv3's wider INTIDs (LPIs,
    // extended ranges) are not enabled, so `get` only guards against the impossible.
    let raw = HANDLERS
        .get(intid as usize)
        .map_or(0, |h| h.load(Ordering::Acquire));
    if raw == 0 {
        unregistered(intid);
    } else {
        // SAFETY: only `register` stores here, and it stores a `Handler`.
        let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(raw) };
        handler(intid);
    }
    port.eoi(ack);
}

#[cold]
#[inline(never)]
fn count_spurious() {
    // Relaxed: statistics counter only.
    SPURIOUS.fetch_add(1, Ordering::Relaxed);
}

/// [`SGI_STOP`] (park, for good) and [`SGI_DIAG`] (record this core's view).
#[cold]
#[inline(never)]
fn special_sgi(port: &IrqPort, ack: IrqAck) {
    if ack.intid() == SGI_STOP as u32 {
        // Acquire pairs with the Release store in `hold_stop_active`.
        if !STOP_HOLDS_ACTIVE.load(Ordering::Acquire) {
            port.eoi(ack);
        }
        hal::cpu::park();
    }
    // Read after our own EOI: the view is the core's state as the diagnostics found it.
    port.eoi(ack);
    if let Some(gic) = GIC_CPU.get() {
        record_view(gic);
    }
}

/// An interrupt nobody registered: counted, disabled (a level line cannot storm), logged.
#[cold]
#[inline(never)]
fn unregistered(intid: u32) {
    // Relaxed: statistics counter only.
    let n = UNHANDLED.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(gic) = GIC_CPU.get() {
        gic.disable(intid);
    }
    if n <= 8 {
        println!(
            "core {}: unregistered interrupt {} (disabled; {} so far)",
            smp::core_index(),
            intid,
            n
        );
    }
}

/// Send the wake SGI to `core` (the EventNotifier's kick).
pub fn send_wake(core: usize) -> Result<(), SgiError> {
    send(SGI_WAKE, core)
}

/// Send SGI `sgi` to an online core.
pub fn send(sgi: u8, core: usize) -> Result<(), SgiError> {
    let target = smp::gic_target(core).ok_or(SgiError::Offline(core))?;
    gic_cpu().send_sgi(sgi, SgiTarget::Core(target));
    Ok(())
}

/// Test hook (the stress's bootarg `reboot_hold_stop`): from now on a core that takes
/// [`SGI_STOP`] parks without its EOI, as if a reset had come between its GICC_IAR read and
/// its EOI write. On a reboot that leaves the STOP's active priority behind in a GIC whose
/// reset does not clear it (QEMU's GICv2: hal/src/gic/v2.rs, "What a reset leaves") on every
/// core, every time, instead of one round in 20–50.
pub fn hold_stop_active() {
    // Release pairs with the Acquire load in `handle`; the STOP SGI sent afterwards carries
    // it (`send_sgi` orders earlier stores before the GICD_SGIR / ICC_SGI1R write).
    STOP_HOLDS_ACTIVE.store(true, Ordering::Release);
}

/// Stop every other online core (panic / exit path): an SGI they handle by parking.
pub fn send_stop_to_others() {
    if let Some(gic) = GIC_CPU.get() {
        if smp::online_count() > 1 {
            gic.send_sgi(SGI_STOP, SgiTarget::AllOthers);
        }
    }
}

/// One core's GIC and virtual-timer state, read by that core itself (diagnostics).
#[derive(Clone, Copy, Debug)]
pub struct CoreView {
    /// The GIC as that core sees it.
    pub gic: GicView,
    /// CNTV_CTL_EL0 (bit 0 ENABLE, 1 IMASK, 2 ISTATUS).
    pub timer_ctl: u64,
    /// CNTV_CVAL_EL0.
    pub timer_cval: u64,
    /// CNTVCT when read.
    pub now: u64,
}

fn record_view(gic: &GicCpu) {
    let (timer_ctl, timer_cval) = hal::timer::virtual_state();
    let view = CoreView {
        gic: gic.view(),
        timer_ctl,
        timer_cval,
        now: hal::timer::counter(),
    };
    if let Some(slot) = VIEWS.get(smp::core_index()) {
        *slot.lock() = Some(view);
    }
}

/// Every online core's [`CoreView`]: the caller's own read directly, the others' asked for
/// with [`SGI_DIAG`] (a core that does not answer within `timeout` timer ticks — IRQs masked
/// for good, or an interrupt of priority 0x20 or higher stuck active — stays `None`). The
/// answer wakes a core that sleeps in WFI, so take it after reading the software state.
/// Call with IRQs unmasked and only from one core at a time.
pub fn collect_views(out: &mut [Option<CoreView>], timeout: u64) {
    let me = smp::core_index();
    for (core, slot) in VIEWS.iter().enumerate().take(out.len()) {
        *slot.lock() = None;
        if core != me && smp::is_online(core) {
            let _ = send(SGI_DIAG, core);
        }
    }
    let saved = hal::cpu::irq_mask_save();
    record_view(gic_cpu());
    hal::cpu::irq_restore(saved);
    let start = hal::timer::counter();
    loop {
        let done = (0..out.len())
            .filter(|&c| smp::is_online(c))
            .all(|c| VIEWS[c].lock().is_some());
        if done || hal::timer::counter() - start > timeout {
            break;
        }
        core::hint::spin_loop();
    }
    for (o, slot) in out.iter_mut().zip(VIEWS.iter()) {
        *o = *slot.lock();
    }
}

/// Why an SGI was not sent.
#[derive(Debug, PartialEq, Eq)]
pub enum SgiError {
    /// The target core is not online (or not one we manage).
    Offline(usize),
}

impl core::fmt::Display for SgiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SgiError::Offline(c) => write!(f, "core {} is not online", c),
        }
    }
}
