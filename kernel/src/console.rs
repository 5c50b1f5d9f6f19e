//! The kernel console: the UART the DTB's `/chosen/stdout-path` names, line-atomic across
//! cores once the MMU is on, lock-free before.
//!
//! Before the MMU is on only the primary core runs and locks cannot be used (they are
//! atomics), so writes go straight to the UART. Afterwards a spin lock, taken with IRQs
//! masked, keeps each `println!` whole. A panicking core that cannot get the lock in a
//! bounded time writes anyway: a garbled line beats a silent hang.

use crate::boot_cell::BootCell;
use core::fmt::{self, Write};
use hal::uart::Uart;

static UART: BootCell<Uart> = BootCell::new();
static LOCK: spin::Mutex<()> = spin::Mutex::new(());
/// Set once the MMU is on (plain volatile flag: it is read before atomics are allowed).
static LOCKING: BootCell<()> = BootCell::new();

/// Fallback console used only when there is no usable DTB at all: the PL011 of QEMU's
/// `virt` machine, the platform most bring-up happens on. Semihosting is tried as well.
const EARLYCON_PL011: usize = 0x0900_0000;

/// Install the console.
///
/// # Safety
/// Single-core boot only (see [`BootCell::set`]); `uart` must describe a real device.
pub unsafe fn init(uart: Uart) {
    // SAFETY: forwarded contract.
    unsafe { UART.set(uart) };
}

/// Install the fallback console (no DTB to tell us better).
///
/// # Safety
/// As for [`init`]; only on a platform where [`EARLYCON_PL011`] is a PL011 (QEMU virt).
pub unsafe fn init_fallback() {
    // SAFETY: forwarded contract; the address is QEMU virt's PL011.
    unsafe { UART.set(Uart::pl011(EARLYCON_PL011)) };
}

/// Switch to locked, line-atomic output. Called by the primary once the MMU is on.
///
/// # Safety
/// Single-core boot only, after the MMU and caches are on.
pub unsafe fn enable_locking() {
    // SAFETY: forwarded contract.
    unsafe { LOCKING.set(()) };
}

pub fn uart() -> Option<&'static Uart> {
    UART.get()
}

struct Raw;

impl Write for Raw {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(uart) = UART.get() {
            for b in s.bytes() {
                if b == b'\n' {
                    uart.putc(b'\r');
                }
                uart.putc(b);
            }
        } else {
            hal::semihosting::write_str(s);
        }
        Ok(())
    }
}

/// Write formatted output as one unit.
pub fn write_fmt(args: fmt::Arguments) {
    if LOCKING.get().is_none() {
        let _ = Raw.write_fmt(args);
        return;
    }
    let saved = hal::cpu::irq_mask_save();
    {
        let _guard = LOCK.lock();
        let _ = Raw.write_fmt(args);
    }
    hal::cpu::irq_restore(saved);
}

/// Write even if another core holds the console lock (it may be stopped forever): for the
/// panic and fatal-exception paths. Waits a bounded time for the lock first.
pub fn write_fmt_forced(args: fmt::Arguments) {
    if LOCKING.get().is_some() {
        for _ in 0..1_000_000 {
            if let Some(_guard) = LOCK.try_lock() {
                let _ = Raw.write_fmt(args);
                return;
            }
            core::hint::spin_loop();
        }
    }
    let _ = Raw.write_fmt(args);
}

/// Read one byte if one is waiting.
pub fn try_getc() -> Option<u8> {
    UART.get().and_then(|u| u.try_getc())
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
