//! `Signal`: a flag one side raises (any core, any IRQ handler) and one task awaits.
//!
//! The executor's lock-free [`executor::Signal`] (an atomic flag and an atomic waker slot:
//! `raise` takes no lock and masks no interrupts, so it is safe from an interrupt handler
//! that interrupted the waiting task's own core). Re-exported here for `kernel::api`.

pub use executor::Signal;
