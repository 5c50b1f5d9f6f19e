//! ARM PrimeCell UART (PL011), as in QEMU `virt`, cloud-hypervisor and the Pi 4's UART0.
//! Register names from the PL011 Technical Reference Manual (DDI 0183).

use super::{Uart, UartDevice, UartDriver, UartError, UartProps};
use crate::mmio::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::{register_bitfields, register_structs};

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_bitfields! {u32,
    /// UARTFR, flag register.
    #[allow(missing_docs)]
    pub UARTFR [
        BUSY OFFSET(3) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        RXFF OFFSET(6) NUMBITS(1) [],
        TXFE OFFSET(7) NUMBITS(1) []
    ],
    /// UARTLCR_H, line control.
    #[allow(missing_docs)]
    pub UARTLCR_H [
        BRK OFFSET(0) NUMBITS(1) [],
        PEN OFFSET(1) NUMBITS(1) [],
        EPS OFFSET(2) NUMBITS(1) [],
        STP2 OFFSET(3) NUMBITS(1) [],
        /// FIFOs enabled.
        FEN OFFSET(4) NUMBITS(1) [],
        WLEN OFFSET(5) NUMBITS(2) [
            Bits5 = 0b00,
            Bits6 = 0b01,
            Bits7 = 0b10,
            Bits8 = 0b11
        ]
    ],
    /// UARTCR, control.
    #[allow(missing_docs)]
    pub UARTCR [
        UARTEN OFFSET(0) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        RXE OFFSET(9) NUMBITS(1) []
    ],
    /// UARTIMSC / UARTRIS / UARTMIS / UARTICR share this layout.
    #[allow(missing_docs)]
    pub UARTINT [
        /// Receive.
        RX OFFSET(4) NUMBITS(1) [],
        /// Transmit.
        TX OFFSET(5) NUMBITS(1) [],
        /// Receive timeout.
        RT OFFSET(6) NUMBITS(1) []
    ]
}

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_structs! {
    #[allow(non_snake_case)]
    #[allow(missing_docs)]
    pub Pl011Registers {
        (0x000 => pub UARTDR: ReadWrite<u32>),
        (0x004 => pub UARTRSR_UARTECR: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x018 => pub UARTFR: ReadOnly<u32, UARTFR::Register>),
        (0x01c => _reserved1),
        (0x020 => pub UARTILPR: ReadWrite<u32>),
        (0x024 => pub UARTIBRD: ReadWrite<u32>),
        (0x028 => pub UARTFBRD: ReadWrite<u32>),
        (0x02c => pub UARTLCR_H: ReadWrite<u32, UARTLCR_H::Register>),
        (0x030 => pub UARTCR: ReadWrite<u32, UARTCR::Register>),
        (0x034 => pub UARTIFLS: ReadWrite<u32>),
        /// Interrupt mask set/clear: RXIM, TXIM, RTIM, ...
        (0x038 => pub UARTIMSC: ReadWrite<u32, UARTINT::Register>),
        (0x03c => pub UARTRIS: ReadOnly<u32, UARTINT::Register>),
        (0x040 => pub UARTMIS: ReadOnly<u32, UARTINT::Register>),
        /// Interrupt clear: RXIC, TXIC, RTIC, ...
        (0x044 => pub UARTICR: WriteOnly<u32, UARTINT::Register>),
        (0x048 => pub UARTDMACR: ReadWrite<u32>),
        (0x04c => @END),
    }
}

/// UARTIBRD / UARTFBRD for `baud` from a `uart_clock_hz` reference clock: divisor =
/// clock / (16 * baud), integer part and the fraction in 64ths, rounded. `None` when the
/// integer part does not fit 1..=0xffff.
pub const fn baud_divisors(uart_clock_hz: u32, baud: u32) -> Option<(u16, u8)> {
    if baud == 0 {
        return None;
    }
    // 64 * clock / (16 * baud) = 4 * clock / baud, rounded to nearest.
    let div64 = (4 * uart_clock_hz as u64 + baud as u64 / 2) / baud as u64;
    let ibrd = div64 >> 6;
    if ibrd == 0 || ibrd > 0xffff {
        return None;
    }
    Some((ibrd as u16, (div64 & 0x3f) as u8))
}

/// A PL011. Lock-free: concurrent writers interleave bytes, nothing worse.
#[derive(Debug, Clone, Copy)]
pub struct Pl011 {
    base: usize,
}

impl Pl011 {
    /// Does not touch the device (call [`Pl011::init`] to make sure it is enabled).
    ///
    /// # Safety
    /// `base` is the identity-mapped (or, before the MMU, physical) address of a PL011's
    /// 4 KiB register block, valid for the life of the program.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &Pl011Registers {
        // SAFETY: `new`'s contract.
        unsafe { &*(self.base as *const Pl011Registers) }
    }

    /// Programs the baud divisors for `uart_clock_hz` (the DTB `clocks` of the UART, e.g.
    /// 48 MHz on the Pi 4) and re-enables the UART (8N1, FIFOs). Returns false, changing
    /// nothing, if the rate is out of range.
    pub fn set_baud(&self, uart_clock_hz: u32, baud: u32) -> bool {
        let Some((ibrd, fbrd)) = baud_divisors(uart_clock_hz, baud) else {
            return false;
        };
        let r = self.regs();
        r.UARTCR.set(0);
        while r.UARTFR.is_set(UARTFR::BUSY) {
            core::hint::spin_loop();
        }
        r.UARTIBRD.set(ibrd.into());
        r.UARTFBRD.set(fbrd.into());
        // The divisors are latched by the UARTLCR_H write that follows them.
        r.UARTLCR_H
            .write(UARTLCR_H::WLEN::Bits8 + UARTLCR_H::FEN::SET);
        r.UARTCR
            .write(UARTCR::UARTEN::SET + UARTCR::TXE::SET + UARTCR::RXE::SET);
        true
    }
}

impl UartDevice for Pl011 {
    /// The base address.
    fn base(&self) -> usize {
        self.base
    }
    /// Makes sure the UART is enabled for 8N1 with FIFOs, transmit and receive on. If it
    /// already is (firmware or QEMU set it up) nothing is written; otherwise the UART is
    /// disabled, drained, set to 8N1 + FIFOs and re-enabled. The baud divisors are left as
    /// they are (see [`Pl011::set_baud`]).
    fn init(&self) {
        let r = self.regs();
        let on = UARTCR::UARTEN::SET + UARTCR::TXE::SET + UARTCR::RXE::SET;
        let line = UARTLCR_H::WLEN::Bits8 + UARTLCR_H::FEN::SET;
        if r.UARTCR.matches_all(on) && r.UARTLCR_H.matches_all(line) {
            return;
        }
        r.UARTCR.set(0);
        while r.UARTFR.is_set(UARTFR::BUSY) {
            core::hint::spin_loop();
        }
        r.UARTLCR_H.write(line);
        r.UARTCR.write(on);
    }
    /// Writes one byte, waiting while the transmit FIFO is full.
    fn putc(&self, byte: u8) {
        let r = self.regs();
        while r.UARTFR.is_set(UARTFR::TXFF) {
            core::hint::spin_loop();
        }
        r.UARTDR.set(byte.into());
    }
    /// A received byte, if one is waiting (errors in UARTDR\[11:8\] are dropped).
    fn try_getc(&self) -> Option<u8> {
        let r = self.regs();
        if r.UARTFR.is_set(UARTFR::RXFE) {
            None
        } else {
            Some(r.UARTDR.get() as u8)
        }
    }
    /// Unmasks the receive and receive-timeout interrupts (UARTIMSC.RXIM | RTIM): with FIFOs
    /// on, RXIM fires at the FIFO level and RTIM when fewer bytes sit there for 32 bit times.
    /// Writes one byte if the transmit FIFO has room; false if it is full.
    fn try_putc(&self, byte: u8) -> bool {
        let r = self.regs();
        if r.UARTFR.is_set(UARTFR::TXFF) {
            return false;
        }
        r.UARTDR.set(byte.into());
        true
    }
    /// Enables the transmit interrupt (UARTIMSC.TXIM): raised while the transmit FIFO is at
    /// or below its trigger level, i.e. when there is room for more.
    fn enable_tx_interrupt(&self) {
        self.regs().UARTIMSC.modify(UARTINT::TX::SET);
    }
    /// Disables the transmit interrupt.
    fn disable_tx_interrupt(&self) {
        self.regs().UARTIMSC.modify(UARTINT::TX::CLEAR);
    }
    fn enable_rx_interrupt(&self) {
        self.regs()
            .UARTIMSC
            .modify(UARTINT::RX::SET + UARTINT::RT::SET);
    }
    /// Masks the receive interrupts again.
    fn disable_rx_interrupt(&self) {
        self.regs()
            .UARTIMSC
            .modify(UARTINT::RX::CLEAR + UARTINT::RT::CLEAR);
    }
    /// Clears the receive interrupts (UARTICR.RXIC | RTIC). Drain with `try_getc` first:
    /// RXIM re-asserts while the FIFO is above its level anyway.
    fn ack_rx_interrupt(&self) {
        self.regs()
            .UARTICR
            .write(UARTINT::RX::SET + UARTINT::RT::SET);
    }
    /// Waits until everything written has left the shift register.
    fn flush(&self) {
        let r = self.regs();
        while r.UARTFR.is_set(UARTFR::BUSY) || !r.UARTFR.is_set(UARTFR::TXFE) {
            core::hint::spin_loop();
        }
    }
}

/// [`UartDriver::new`]: the device at a DTB node's `base`.
///
/// # Safety
/// As [`UartDriver::new`].
unsafe fn new_from_dt(base: usize, _props: UartProps) -> Result<Uart, UartError> {
    // SAFETY: forwarded contract (the DTB names a PL011 at `base`).
    Ok(Uart::Pl011(unsafe { Pl011::new(base) }))
}

/// The driver's entry in [`super::DRIVERS`].
pub static DRIVER: UartDriver = UartDriver {
    name: "pl011",
    compatible: &["arm,pl011"],
    uses_reg_props: false,
    new: new_from_dt,
};

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn layout() {
        assert_eq!(offset_of!(Pl011Registers, UARTFR), 0x18);
        assert_eq!(offset_of!(Pl011Registers, UARTIBRD), 0x24);
        assert_eq!(offset_of!(Pl011Registers, UARTLCR_H), 0x2c);
        assert_eq!(offset_of!(Pl011Registers, UARTCR), 0x30);
        assert_eq!(offset_of!(Pl011Registers, UARTIMSC), 0x38);
        assert_eq!(offset_of!(Pl011Registers, UARTICR), 0x44);
    }

    #[test]
    fn divisors() {
        // The TRM's example: 4 MHz, 230400 baud -> 1.085 -> IBRD 1, FBRD 5.
        assert_eq!(baud_divisors(4_000_000, 230_400), Some((1, 5)));
        // Pi 4: 48 MHz, 115200 -> 26.0417 -> 26, 3.
        assert_eq!(baud_divisors(48_000_000, 115_200), Some((26, 3)));
        assert_eq!(baud_divisors(48_000_000, 0), None);
        assert_eq!(baud_divisors(1_000, 115_200), None);
    }
}
