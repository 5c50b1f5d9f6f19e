//! Ending a run: the verdict line on the console, then the exit.
//!
//! The console carries the verdict (`exit: ok` / `exit: fail: <reason>` as the last line)
//! because semihosting does not exist under KVM or Firecracker. Where it does (QEMU with
//! `-semihosting`), SYS_EXIT also makes the QEMU process exit 0 / 1. Without it the `hlt`
//! traps as an undefined instruction, the exception handler notes that semihosting is
//! absent and steps over it, and we fall back to PSCI SYSTEM_OFF.

use crate::println_forced;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

/// Set by the first core to start exiting; any other core that tries to exit (or panic)
/// afterwards parks instead of printing a second verdict.
static EXITING: AtomicBool = AtomicBool::new(false);

pub fn ok() -> ! {
    finish(0, format_args!("exit: ok"))
}

pub fn fail(reason: fmt::Arguments) -> ! {
    finish(1, format_args!("exit: fail: {}", reason))
}

fn finish(code: u32, line: fmt::Arguments) -> ! {
    hal::cpu::irq_disable();
    if crate::boot::mmu_is_on() {
        // Relaxed is enough: the swap only elects one core; the verdict it then prints is
        // ordered by the console lock.
        if EXITING.swap(true, Ordering::Relaxed) {
            park();
        }
        crate::smp::stop_others();
    }
    println_forced!("{}", line);
    hal::semihosting::exit(code);
    if let Some(conduit) = crate::platform::psci_conduit() {
        hal::psci::system_off(conduit);
    }
    park()
}

/// Stop this core for good (IRQs masked, so only a reset gets it out).
pub fn park() -> ! {
    hal::cpu::irq_disable();
    loop {
        hal::cpu::wfi();
    }
}

#[macro_export]
macro_rules! println_forced {
    ($($arg:tt)*) => {
        $crate::console::write_fmt_forced(format_args!("{}\n", format_args!($($arg)*)))
    };
}
