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

use crate::boot_cell::BootCell;
use crate::irq::{self, SGI_WAKE};
use executor::Context;
use notifier::{CntvctClock, SgiNotifier};

/// One context and one notifier per core, indexed by core index: boot arena memory for as
/// many cores as the per-core table has (allocated by [`init_primary`]).
static CONTEXTS: BootCell<&'static [Context]> = BootCell::new();
static NOTIFIERS: BootCell<&'static [SgiNotifier]> = BootCell::new();

static CLOCK: CntvctClock = CntvctClock;

/// The context of core `core` (a core the table has). Inline: interrupt handlers look it
/// up for `Bh::schedule` on every interrupt.
#[inline]
pub fn context(core: usize) -> &'static Context {
    &CONTEXTS.get().expect("contexts are allocated at boot")[core]
}

/// The context of the calling core.
pub fn this_context() -> &'static Context {
    context(crate::smp::core_index())
}

/// The EventNotifier of core `core` (a core the table has).
pub fn notifier(core: usize) -> &'static SgiNotifier {
    &NOTIFIERS.get().expect("notifiers are allocated at boot")[core]
}

/// The wake SGI only has to end WFI; the news itself is in the notifier's latch.
fn on_wake_sgi(_intid: u32) {}

/// The virtual timer fired: the context will see its expired deadline on the next poll;
/// disarm so the level-triggered line drops.
fn on_timer(_intid: u32) {
    hal::timer::disarm();
}

/// Primary, before secondaries start: allocate every core's context and notifier, register
/// the runtime's interrupt handlers.
pub fn init_primary() {
    let n = crate::smp::possible_count();
    // SAFETY: single-core boot, MMU on, IRQs masked; before any reader.
    unsafe {
        let (Some(contexts), Some(notifiers)) = (
            crate::boot::arena::alloc_slice(n, Context::new),
            crate::boot::arena::alloc_slice(n, SgiNotifier::new),
        ) else {
            crate::exit::fail(format_args!("boot arena exhausted by {} contexts", n));
        };
        CONTEXTS.set(contexts);
        NOTIFIERS.set(notifiers);
    }
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
    notifier(core).init_budget();
    context(core)
        .attach(notifier(core), &CLOCK)
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
