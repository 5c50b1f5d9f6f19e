//! The per-core runtime: one executor [`Context`] per core, woken by SGIs and the virtual
//! timer, running forever.
//!
//! Wake path (see docs/ARCHITECTURE.md): a waker or `Bh::schedule` on any core or in any
//! IRQ handler → `Context::notify` (executor/src/context.rs: fence, check `notify_me`) →
//! `SgiNotifier::set` (its `EventNotifier::set`) (notifier.rs: pending word, SGI if the owner is in WFI) → the owner
//! leaves WFE/WFI, lowers `notify_me`, accepts, runs the task.

pub mod console_rx;
pub mod device_timer;
pub mod notifier;
pub mod signal;
pub mod stats_table;

use crate::boot::layout::MAX_CPUS;
use crate::irq::{self, SGI_WAKE};
use executor::Context;
use notifier::{CntvctClock, SgiNotifier};

/// One context per core, indexed by core index.
pub static CONTEXTS: [Context; MAX_CPUS] = Context::array();

static NOTIFIERS: [SgiNotifier; MAX_CPUS] = {
    let mut i = 0;
    let mut n = [const { SgiNotifier::new(0) }; MAX_CPUS];
    while i < MAX_CPUS {
        n[i] = SgiNotifier::new(i);
        i += 1;
    }
    n
};

static CLOCK: CntvctClock = CntvctClock;

/// The context of core `core`.
pub fn context(core: usize) -> &'static Context {
    &CONTEXTS[core]
}

/// The context of the calling core.
pub fn this_context() -> &'static Context {
    &CONTEXTS[crate::smp::core_index()]
}

/// The EventNotifier of core `core`.
pub fn notifier(core: usize) -> &'static SgiNotifier {
    &NOTIFIERS[core]
}

/// The wake SGI only has to end WFI; the news itself is in the notifier's latch.
fn on_wake_sgi(_intid: u32) {}

/// The virtual timer fired: the context will see its expired deadline on the next poll;
/// disarm so the level-triggered line drops.
fn on_timer(_intid: u32) {
    hal::timer::disarm();
}

/// Primary, before secondaries start: register the runtime's interrupt handlers.
pub fn init_primary() {
    irq::register(SGI_WAKE as u32, on_wake_sgi);
    irq::register(
        crate::drivers::virt_timer_intid(crate::platform::get()),
        on_timer,
    );
    crate::drivers::wire_console_irq(crate::platform::get());
    attach_this_core();
}

/// Secondary core bring-up (IRQs masked).
pub fn init_secondary() {
    irq::enable_here(crate::drivers::virt_timer_intid(crate::platform::get()));
    attach_this_core();
}

fn attach_this_core() {
    let core = crate::smp::core_index();
    hal::timer::disarm();
    // It bounds every monitor wait even if no store ever comes.
    hal::timer::enable_event_stream(EVENT_STREAM_US);
    NOTIFIERS[core].init_budget();
    CONTEXTS[core]
        .attach(&NOTIFIERS[core], &CLOCK)
        .expect("each core attaches its own context once");
}

/// The generic timer's event stream: an event at least this often (microseconds), ending
/// any WFE.
const EVENT_STREAM_US: u64 = 32;

/// Run this core's context forever, IRQs on.
pub fn run_this_core() -> ! {
    hal::cpu::irq_enable();
    this_context().run()
}
