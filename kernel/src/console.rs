//! The kernel console: the UART the DTB names, with buffered, interrupt-driven output.
//!
//! * Before the MMU is on only the primary core runs and locks cannot be used (they are
//!   atomics), so writes go straight to the UART.
//! * Afterwards every write takes [`TX`], a spin lock held with IRQs masked (so an interrupt
//!   handler on the same core can never find it taken), formats into a ring buffer and
//!   pushes what the UART's FIFO accepts. Once the console's interrupt is wired
//!   ([`enable_interrupts`]) the rest leaves from the TX interrupt: a task's `println!`
//!   costs a copy, not a wait on the UART. Without an interrupt, or when the ring is full,
//!   the writer drains it itself — output is never dropped, and each `println!` stays whole.
//! * A panicking or exiting core first drains the ring (so earlier output comes first), then
//!   writes synchronously; if another core holds the lock forever it writes anyway: a
//!   garbled line beats a silent hang.

use crate::boot_cell::BootCell;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use hal::uart::Uart;

static UART: BootCell<Uart> = BootCell::new();
static TX: spin::Mutex<TxRing> = spin::Mutex::new(TxRing::new());
/// Set once the MMU is on (plain volatile flag: it is read before atomics are allowed).
static LOCKING: BootCell<()> = BootCell::new();
/// The console's interrupt is registered: the ring may be left to the TX interrupt.
static TX_IRQ: AtomicBool = AtomicBool::new(false);
/// Console input wanted (see `runtime::console_rx`).
static RX_ON: AtomicBool = AtomicBool::new(false);
/// Console interrupts taken that found bytes to send (statistics and the self-test).
static TX_IRQ_DRAINS: AtomicU64 = AtomicU64::new(0);

/// Fallback console used only when there is no usable DTB at all: the PL011 of QEMU's
/// `virt` machine, the platform most bring-up happens on. Semihosting is tried as well.
const EARLYCON_PL011: usize = 0x0900_0000;

const RING: usize = 8192;

struct TxRing {
    buf: [u8; RING],
    head: usize,
    tail: usize,
}

impl TxRing {
    const fn new() -> Self {
        Self {
            buf: [0; RING],
            head: 0,
            tail: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    fn push(&mut self, uart: &Uart, b: u8) {
        if self.head - self.tail == RING {
            self.drain(uart);
        }
        self.buf[self.head % RING] = b;
        self.head += 1;
    }

    /// Move bytes to the UART while its FIFO takes them.
    fn pump(&mut self, uart: &Uart) {
        while !self.is_empty() && uart.try_putc(self.buf[self.tail % RING]) {
            self.tail += 1;
        }
    }

    /// Write everything out, waiting on the UART.
    fn drain(&mut self, uart: &Uart) {
        while !self.is_empty() {
            uart.putc(self.buf[self.tail % RING]);
            self.tail += 1;
        }
    }
}

/// Formats into the ring (translating `\n` to `\r\n`).
struct RingWriter<'a> {
    ring: &'a mut TxRing,
    uart: &'a Uart,
}

impl Write for RingWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.ring.push(self.uart, b'\r');
            }
            self.ring.push(self.uart, b);
        }
        Ok(())
    }
}

/// Writes straight to the UART (or semihosting when there is no UART yet).
struct Raw;

impl Write for Raw {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match UART.get() {
            Some(uart) => uart.write_str(s),
            None => hal::semihosting::write_str(s),
        }
        Ok(())
    }
}

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

/// Wire the console's interrupt (from the DTB) for TX draining and, when asked, RX.
/// Returns false if the console has no interrupt: output then stays synchronous.
pub fn enable_interrupts() -> bool {
    let Ok(Some(console)) = &crate::platform::get().console else {
        return false;
    };
    let hal::dtb::Interrupt::Intid(intid) = console.interrupt else {
        return false;
    };
    crate::irq::register(intid, on_irq);
    // Release: pairs with the Acquire loads in `write_fmt` and `on_irq`.
    TX_IRQ.store(true, Ordering::Release);
    true
}

/// Turn on console input: RX interrupts are passed to `runtime::console_rx`.
pub fn enable_rx() -> bool {
    // Acquire: pairs with the Release in `enable_interrupts`.
    let (Some(uart), true) = (UART.get(), TX_IRQ.load(Ordering::Acquire)) else {
        return false;
    };
    // Release: pairs with the Acquire load in `on_irq`.
    RX_ON.store(true, Ordering::Release);
    uart.enable_rx_interrupt();
    true
}

/// The console's interrupt: drain received bytes (if input is on), refill the transmitter.
fn on_irq(_intid: u32) {
    let Some(uart) = UART.get() else {
        return;
    };
    // Acquire: pairs with the Release store in `enable_rx`.
    if RX_ON.load(Ordering::Acquire) {
        crate::runtime::console_rx::on_rx(uart);
    }
    // IRQs are masked here, so no holder of TX on this core can be interrupted by us.
    let mut ring = TX.lock();
    if !ring.is_empty() {
        // Relaxed: statistics.
        TX_IRQ_DRAINS.fetch_add(1, Ordering::Relaxed);
    }
    ring.pump(uart);
    if ring.is_empty() {
        uart.disable_tx_interrupt();
    }
}

/// Console interrupts that moved buffered output to the UART.
pub fn tx_irq_drains() -> u64 {
    // Relaxed: statistics.
    TX_IRQ_DRAINS.load(Ordering::Relaxed)
}

/// Bytes waiting in the ring.
pub fn tx_pending() -> usize {
    let saved = hal::cpu::irq_mask_save();
    let n = {
        let ring = TX.lock();
        ring.head - ring.tail
    };
    hal::cpu::irq_restore(saved);
    n
}

/// Queue `s` and leave it entirely to the TX interrupt (no pumping by the writer): lets a
/// test see that interrupt-driven output works on a UART whose FIFO never fills (QEMU's).
/// False if the console has no interrupt.
pub fn write_deferred(s: &str) -> bool {
    let (Some(uart), true) = (UART.get(), TX_IRQ.load(Ordering::Acquire)) else {
        return false;
    };
    let saved = hal::cpu::irq_mask_save();
    {
        let mut ring = TX.lock();
        let _ = RingWriter {
            ring: &mut ring,
            uart,
        }
        .write_str(s);
        uart.enable_tx_interrupt();
    }
    hal::cpu::irq_restore(saved);
    true
}

/// Write formatted output as one unit.
pub fn write_fmt(args: fmt::Arguments) {
    let Some(uart) = UART.get() else {
        let _ = Raw.write_fmt(args);
        return;
    };
    if LOCKING.get().is_none() {
        let _ = Raw.write_fmt(args);
        return;
    }
    let saved = hal::cpu::irq_mask_save();
    {
        let mut ring = TX.lock();
        let _ = RingWriter {
            ring: &mut ring,
            uart,
        }
        .write_fmt(args);
        ring.pump(uart);
        if !ring.is_empty() {
            // Acquire: pairs with the Release in `enable_interrupts`.
            if TX_IRQ.load(Ordering::Acquire) {
                uart.enable_tx_interrupt();
            } else {
                ring.drain(uart);
            }
        }
    }
    hal::cpu::irq_restore(saved);
}

/// Write even if another core holds the console lock (it may be stopped forever): for the
/// panic, fatal-exception and exit paths. Drains the ring first, waits a bounded time for
/// the lock, and writes synchronously.
pub fn write_fmt_forced(args: fmt::Arguments) {
    let saved = hal::cpu::irq_mask_save();
    if let (Some(uart), Some(())) = (UART.get(), LOCKING.get()) {
        for _ in 0..1_000_000 {
            if let Some(mut ring) = TX.try_lock() {
                ring.drain(uart);
                let _ = Raw.write_fmt(args);
                uart.flush();
                hal::cpu::irq_restore(saved);
                return;
            }
            core::hint::spin_loop();
        }
    }
    let _ = Raw.write_fmt(args);
    hal::cpu::irq_restore(saved);
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
