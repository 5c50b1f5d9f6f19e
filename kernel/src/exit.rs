//! Ending a run: the verdict line on the console, then the exit.
//!
//! The console carries the verdict (`exit: ok` / `exit: fail: <reason>` as the last line)
//! because semihosting does not exist under KVM or Firecracker. Where it does (QEMU with
//! `-semihosting`), SYS_EXIT also makes the QEMU process exit 0 / 1. Without it the `hlt`
//! traps as an undefined instruction, the exception handler notes that semihosting is
//! absent and steps over it, and we fall back to PSCI SYSTEM_OFF through the conduit the
//! platform floor registered ([`set_psci`]).

use crate::boot_cell::{mmu_is_on, BootCell};
use crate::println_forced;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

/// Set by the first core to start exiting; any other core that tries to exit (or panic)
/// afterwards parks instead of printing a second verdict.
static EXITING: AtomicBool = AtomicBool::new(false);
/// The PSCI conduit for SYSTEM_OFF, once the platform is known.
static PSCI: BootCell<hal::psci::Conduit> = BootCell::new();

/// Register the PSCI conduit that powers the machine off when semihosting is absent.
///
/// # Safety
/// As `BootCell::set`: single-core boot.
pub unsafe fn set_psci(conduit: hal::psci::Conduit) {
    // SAFETY: forwarded contract.
    unsafe { PSCI.set(conduit) };
}

/// End the run successfully: `exit: ok`.
pub fn ok() -> ! {
    finish(0, format_args!("exit: ok"))
}

/// End the run as a failure: `exit: fail: <reason>`.
pub fn fail(reason: fmt::Arguments) -> ! {
    finish(1, format_args!("exit: fail: {}", reason))
}

/// End a passing round of a multi-boot run: `round: ok`, then PSCI SYSTEM_RESET (QEMU without
/// `-no-reboot` boots the same image again; the harness counts the rounds). Without PSCI it
/// falls back to [`ok`].
pub fn reboot() -> ! {
    hal::cpu::irq_disable();
    // Relaxed: as in `finish`, the swap only elects one core.
    if EXITING.swap(true, Ordering::Relaxed) {
        hal::cpu::park();
    }
    crate::irq::send_stop_to_others();
    println_forced!("round: ok");
    if let Some(conduit) = PSCI.get() {
        hal::psci::system_reset(*conduit);
    }
    // Relaxed: only this core runs now (the others were stopped above).
    EXITING.store(false, Ordering::Relaxed);
    ok()
}

fn finish(code: u32, line: fmt::Arguments) -> ! {
    hal::cpu::irq_disable();
    if mmu_is_on() {
        // Relaxed is enough: the swap only elects one core; the verdict it then prints is
        // ordered by the console lock.
        if EXITING.swap(true, Ordering::Relaxed) {
            hal::cpu::park();
        }
        crate::irq::send_stop_to_others();
    }
    println_forced!("{}", line);
    hal::semihosting::exit(code);
    if let Some(conduit) = PSCI.get() {
        hal::psci::system_off(*conduit);
    }
    hal::cpu::park()
}
