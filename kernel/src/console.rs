//! The kernel console: the UART the DTB names, with buffered, interrupt-driven output.
//!
//! * Before the MMU is on only the primary core runs and locks cannot be used (they are
//!   atomics), so writes go straight to the UART.
//! * Afterwards every write takes `TX`, a spin lock held with IRQs masked (so an interrupt
//!   handler on the same core can never find it taken), formats into a ring buffer and
//!   pushes what the UART's FIFO accepts. Once the console's interrupt is wired (the
//!   platform floor registers [`on_irq`] and calls [`interrupt_wired`]) the rest leaves
//!   from the TX interrupt: a task's `println!`
//!   costs a copy, not a wait on the UART. Without an interrupt, or when the ring is full,
//!   the writer drains it itself — output is never dropped, and each `println!` stays whole.
//! * A panicking or exiting core first drains the ring (so earlier output comes first), then
//!   writes synchronously; if another core holds the lock forever it writes anyway: a
//!   garbled line beats a silent hang.
//! * Input: [`enable_rx`] hands received bytes to a sink registered by a higher floor
//!   (`runtime/console_rx.rs`), so the console never names it.

use crate::boot_cell::{mmu_is_on, BootCell};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use hal::uart::{Pl011, Uart};

static UART: BootCell<Uart> = BootCell::new();
static TX: spin::Mutex<TxRing> = spin::Mutex::new(TxRing::new());
/// The console's interrupt is registered: the ring may be left to the TX interrupt.
static TX_IRQ: AtomicBool = AtomicBool::new(false);
/// Console input wanted: the sink for received bytes, an `RxSink` as usize (0 = none).
static RX_SINK: AtomicUsize = AtomicUsize::new(0);

/// Where the console's interrupt hands the UART when input is on: it drains the received
/// bytes (`try_getc` until `None`) and acknowledges the RX interrupt.
pub type RxSink = fn(&Uart);
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
/// Single-core boot only (see `BootCell::set`); `uart` must describe a real device.
pub unsafe fn init(uart: Uart) {
    // SAFETY: forwarded contract.
    unsafe { UART.set(uart) };
}

/// Install the fallback console (no DTB to tell us better).
///
/// # Safety
/// As for [`init`]; only on a platform where `EARLYCON_PL011` is a PL011 (QEMU virt).
pub unsafe fn init_fallback() {
    // SAFETY: forwarded contract; the address is QEMU virt's PL011.
    unsafe { UART.set(Uart::Pl011(Pl011::new(EARLYCON_PL011))) };
}

/// The console's interrupt is registered (with [`on_irq`] as its handler): from now on
/// output may be left to the TX interrupt. Called by whoever wired it (`drivers.rs`).
pub fn interrupt_wired() {
    // Release: pairs with the Acquire loads in `write_fmt`, `enable_rx` and
    // `write_deferred`.
    TX_IRQ.store(true, Ordering::Release);
}

/// Turn on console input: each console interrupt hands the UART to `sink`. False if the
/// console has no interrupt.
pub fn enable_rx(sink: RxSink) -> bool {
    // Acquire: pairs with the Release in `interrupt_wired`.
    let (Some(uart), true) = (UART.get(), TX_IRQ.load(Ordering::Acquire)) else {
        return false;
    };
    // Release: pairs with the Acquire load in `on_irq`.
    RX_SINK.store(sink as usize, Ordering::Release);
    uart.enable_rx_interrupt();
    true
}

/// The console's interrupt handler: hand received bytes to the sink (if input is on),
/// refill the transmitter.
pub fn on_irq(_intid: u32) {
    let Some(uart) = UART.get() else {
        return;
    };
    // Acquire: pairs with the Release store in `enable_rx`.
    let sink = RX_SINK.load(Ordering::Acquire);
    if sink != 0 {
        // SAFETY: only `enable_rx` stores here, and it stores an `RxSink`.
        let sink: RxSink = unsafe { core::mem::transmute::<usize, RxSink>(sink) };
        sink(uart);
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
    // Acquire: pairs with the Release in `interrupt_wired`.
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
    if !mmu_is_on() {
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
            // Acquire: pairs with the Release in `interrupt_wired`.
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
    if let (Some(uart), true) = (UART.get(), mmu_is_on()) {
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

/// Print to the console (see [`write_fmt`]).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!($($arg)*)) };
}

/// Print a line to the console (see [`write_fmt`]).
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Print a line even if another core holds the console lock (see [`write_fmt_forced`]).
#[macro_export]
macro_rules! println_forced {
    ($($arg:tt)*) => {
        $crate::console::write_fmt_forced(format_args!("{}\n", format_args!($($arg)*)))
    };
}
