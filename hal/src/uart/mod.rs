//! Console UARTs: PL011, NS16550A (MMIO) and the BCM2835 mini UART, behind one [`Uart`].
//!
//! Every operation is lock-free and uses no atomics (usable before the MMU is on): `putc`
//! spins on the device's TX-full flag. Concurrent writers on several cores interleave bytes;
//! line atomicity is the console's job (a lock, after the MMU).

pub mod mini_uart;
pub mod ns16550;
pub mod pl011;

use core::fmt;

pub use mini_uart::MiniUart;
pub use ns16550::{IoWidth, Ns16550};
pub use pl011::Pl011;

/// One of the UARTs we drive.
#[derive(Debug, Clone, Copy)]
pub enum Uart {
    Pl011(Pl011),
    Ns16550(Ns16550),
    MiniUart(MiniUart),
}

impl Uart {
    /// A PL011 (`arm,pl011`) at `base`.
    ///
    /// # Safety
    /// As [`Pl011::new`].
    pub const unsafe fn pl011(base: usize) -> Self {
        // SAFETY: forwarded contract.
        Uart::Pl011(unsafe { Pl011::new(base) })
    }

    /// A 16550 (`ns16550a`, `ns16550`, `snps,dw-apb-uart`) at `base`, with the DTB's
    /// `reg-shift` (absent = 0) and `reg-io-width` (absent = 1). `None` for an unsupported
    /// width.
    ///
    /// # Safety
    /// As [`Ns16550::new`].
    pub const unsafe fn ns16550(base: usize, reg_shift: u32, reg_io_width: u32) -> Option<Self> {
        match IoWidth::from_dt(reg_io_width) {
            // SAFETY: forwarded contract.
            Some(w) => Some(Uart::Ns16550(unsafe { Ns16550::new(base, reg_shift, w) })),
            None => None,
        }
    }

    /// A BCM2835 mini UART (`brcm,bcm2835-aux-uart`) whose AUX_MU_IO_REG is at `base`.
    ///
    /// # Safety
    /// As [`MiniUart::new`].
    pub const unsafe fn mini_uart(base: usize) -> Self {
        // SAFETY: forwarded contract.
        Uart::MiniUart(unsafe { MiniUart::new(base) })
    }

    /// Brings the device to a usable state without disturbing a working setup (PL011: 8N1,
    /// FIFOs, UARTEN/TXE/RXE if not already so; 16550: clears DLAB; mini UART: nothing).
    pub fn init(&self) {
        match self {
            Uart::Pl011(u) => u.init(),
            Uart::Ns16550(u) => u.init(),
            Uart::MiniUart(_) => {}
        }
    }

    /// The register block's base address.
    pub fn base(&self) -> usize {
        match self {
            Uart::Pl011(u) => u.base(),
            Uart::Ns16550(u) => u.base(),
            Uart::MiniUart(u) => u.base(),
        }
    }

    /// Writes one byte as is, waiting while the transmitter is full.
    pub fn putc(&self, byte: u8) {
        match self {
            Uart::Pl011(u) => u.putc(byte),
            Uart::Ns16550(u) => u.putc(byte),
            Uart::MiniUart(u) => u.putc(byte),
        }
    }

    /// Writes one byte if the transmitter has room; false (nothing written) if it is full.
    pub fn try_putc(&self, byte: u8) -> bool {
        match self {
            Uart::Pl011(u) => u.try_putc(byte),
            Uart::Ns16550(u) => u.try_putc(byte),
            Uart::MiniUart(u) => u.try_putc(byte),
        }
    }

    /// Enables the device's transmit interrupt: raised while the transmitter has room.
    pub fn enable_tx_interrupt(&self) {
        match self {
            Uart::Pl011(u) => u.enable_tx_interrupt(),
            Uart::Ns16550(u) => u.enable_tx_interrupt(),
            Uart::MiniUart(u) => u.enable_tx_interrupt(),
        }
    }

    /// Disables the device's transmit interrupt.
    pub fn disable_tx_interrupt(&self) {
        match self {
            Uart::Pl011(u) => u.disable_tx_interrupt(),
            Uart::Ns16550(u) => u.disable_tx_interrupt(),
            Uart::MiniUart(u) => u.disable_tx_interrupt(),
        }
    }

    /// Writes `s`, turning each `\n` into `\r\n`.
    pub fn write_str(&self, s: &str) {
        self.write_bytes(s.as_bytes());
    }

    /// Writes `bytes`, turning each `\n` into `\r\n`.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.putc(b'\r');
            }
            self.putc(b);
        }
    }

    /// A received byte, if one is waiting.
    pub fn try_getc(&self) -> Option<u8> {
        match self {
            Uart::Pl011(u) => u.try_getc(),
            Uart::Ns16550(u) => u.try_getc(),
            Uart::MiniUart(u) => u.try_getc(),
        }
    }

    /// Enables the device's receive interrupt (the GIC side is the caller's).
    pub fn enable_rx_interrupt(&self) {
        match self {
            Uart::Pl011(u) => u.enable_rx_interrupt(),
            Uart::Ns16550(u) => u.enable_rx_interrupt(),
            Uart::MiniUart(u) => u.enable_rx_interrupt(),
        }
    }

    /// Disables the device's receive interrupt.
    pub fn disable_rx_interrupt(&self) {
        match self {
            Uart::Pl011(u) => u.disable_rx_interrupt(),
            Uart::Ns16550(u) => u.disable_rx_interrupt(),
            Uart::MiniUart(u) => u.disable_rx_interrupt(),
        }
    }

    /// Acknowledges the receive interrupt at the device. Drain with [`Uart::try_getc`] until
    /// `None` first: on the 16550 and the mini UART that is what clears it.
    pub fn ack_rx_interrupt(&self) {
        match self {
            Uart::Pl011(u) => u.ack_rx_interrupt(),
            Uart::Ns16550(u) => u.ack_rx_interrupt(),
            Uart::MiniUart(u) => u.ack_rx_interrupt(),
        }
    }

    /// Waits until everything written has left the transmitter (before powering off).
    pub fn flush(&self) {
        match self {
            Uart::Pl011(u) => u.flush(),
            Uart::Ns16550(u) => u.flush(),
            Uart::MiniUart(u) => u.flush(),
        }
    }
}

/// `write!` support through a `&Uart` (`\n` becomes `\r\n`).
impl fmt::Write for &Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Uart::write_str(self, s);
        Ok(())
    }
}
