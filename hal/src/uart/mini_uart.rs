//! BCM2835/BCM2711 auxiliary "mini UART" (`brcm,bcm2835-aux-uart`), the Pi 4's default
//! console (uart1). The DTB `reg` points at AUX_MU_IO_REG (0x7e21_5040 on the VideoCore bus,
//! 0xfe21_5040 for the ARM on the Pi 4), so the block here starts there. Names from the
//! BCM2835 ARM Peripherals data sheet, section 2.2.
//!
//! The firmware (or QEMU) has enabled it and set the baud rate from the core clock: we never
//! reprogram it (the rate would follow the VPU clock anyway).

use super::{Uart, UartDevice, UartDriver, UartError, UartProps};
use crate::mmio::{ReadOnly, ReadWrite};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_bitfields, register_structs};

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_bitfields! {u32,
    /// AUX_MU_LSR_REG.
    #[allow(missing_docs)]
    pub AUX_MU_LSR [
        /// Data ready: the receive FIFO holds at least one byte.
        DATA_READY OFFSET(0) NUMBITS(1) [],
        RX_OVERRUN OFFSET(1) NUMBITS(1) [],
        /// Transmit FIFO can accept at least one byte.
        TX_EMPTY OFFSET(5) NUMBITS(1) [],
        /// Transmit FIFO empty and transmitter idle.
        TX_IDLE OFFSET(6) NUMBITS(1) []
    ]
}

/// AUX_MU_IER_REG value that enables the receive interrupt: bit 0 (the data sheet has bits 0
/// and 1 swapped; errata) plus bits 3:2, which the errata says must be set for interrupts to
/// be generated at all.
pub const AUX_MU_IER_RX: u32 = 0b1101;
/// AUX_MU_IER_REG bit that enables the transmit interrupt.
pub const AUX_MU_IER_TX: u32 = 0b0010;

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_structs! {
    /// The mini UART block, from AUX_MU_IO_REG (AUX base + 0x40).
    #[allow(non_snake_case)]
    #[allow(missing_docs)]
    pub MiniUartRegisters {
        (0x00 => pub AUX_MU_IO_REG: ReadWrite<u32>),
        (0x04 => pub AUX_MU_IER_REG: ReadWrite<u32>),
        (0x08 => pub AUX_MU_IIR_REG: ReadWrite<u32>),
        (0x0c => pub AUX_MU_LCR_REG: ReadWrite<u32>),
        (0x10 => pub AUX_MU_MCR_REG: ReadWrite<u32>),
        (0x14 => pub AUX_MU_LSR_REG: ReadOnly<u32, AUX_MU_LSR::Register>),
        (0x18 => pub AUX_MU_MSR_REG: ReadOnly<u32>),
        (0x1c => pub AUX_MU_SCRATCH: ReadWrite<u32>),
        (0x20 => pub AUX_MU_CNTL_REG: ReadWrite<u32>),
        (0x24 => pub AUX_MU_STAT_REG: ReadOnly<u32>),
        (0x28 => pub AUX_MU_BAUD_REG: ReadWrite<u32>),
        (0x2c => @END),
    }
}

/// The mini UART. Lock-free: concurrent writers interleave bytes, nothing worse.
#[derive(Debug, Clone, Copy)]
pub struct MiniUart {
    base: usize,
}

impl MiniUart {
    /// Does not touch the device.
    ///
    /// # Safety
    /// `base` is the ARM-side (after `/soc` `ranges`), identity-mapped address of
    /// AUX_MU_IO_REG of an enabled mini UART, valid for the life of the program.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &MiniUartRegisters {
        // SAFETY: `new`'s contract.
        unsafe { &*(self.base as *const MiniUartRegisters) }
    }
}

impl UartDevice for MiniUart {
    /// The base address.
    fn base(&self) -> usize {
        self.base
    }
    /// Writes one byte, waiting while the transmit FIFO is full.
    fn putc(&self, byte: u8) {
        let r = self.regs();
        while !r.AUX_MU_LSR_REG.is_set(AUX_MU_LSR::TX_EMPTY) {
            core::hint::spin_loop();
        }
        r.AUX_MU_IO_REG.set(byte.into());
    }
    /// A received byte, if one is waiting.
    fn try_getc(&self) -> Option<u8> {
        let r = self.regs();
        if r.AUX_MU_LSR_REG.is_set(AUX_MU_LSR::DATA_READY) {
            Some(r.AUX_MU_IO_REG.get() as u8)
        } else {
            None
        }
    }
    /// Enables the receive interrupt (the AUX interrupt, SPI 93 on the BCM2711, shared with
    /// SPI1/SPI2).
    fn enable_rx_interrupt(&self) {
        let r = self.regs();
        r.AUX_MU_IER_REG.set(r.AUX_MU_IER_REG.get() | AUX_MU_IER_RX);
    }
    /// Disables the receive interrupt (the transmit one is left as it is).
    fn disable_rx_interrupt(&self) {
        let r = self.regs();
        r.AUX_MU_IER_REG
            .set(r.AUX_MU_IER_REG.get() & !AUX_MU_IER_RX);
    }
    /// Writes one byte if the transmit FIFO has room; false if it is full.
    fn try_putc(&self, byte: u8) -> bool {
        let r = self.regs();
        if !r.AUX_MU_LSR_REG.is_set(AUX_MU_LSR::TX_EMPTY) {
            return false;
        }
        r.AUX_MU_IO_REG.set(byte.into());
        true
    }
    /// Enables the transmit interrupt (AUX_MU_IER_REG bit 1: raised while the transmit FIFO
    /// can take a byte).
    fn enable_tx_interrupt(&self) {
        let r = self.regs();
        r.AUX_MU_IER_REG.set(r.AUX_MU_IER_REG.get() | AUX_MU_IER_TX);
    }
    /// Disables the transmit interrupt.
    fn disable_tx_interrupt(&self) {
        let r = self.regs();
        r.AUX_MU_IER_REG
            .set(r.AUX_MU_IER_REG.get() & !AUX_MU_IER_TX);
    }
    /// Nothing to write: the receive interrupt clears when the receive FIFO is drained (read
    /// with `try_getc` until `None`). Reads AUX_MU_IIR_REG for symmetry with the 16550.
    fn ack_rx_interrupt(&self) {
        let _ = self.regs().AUX_MU_IIR_REG.get();
    }
    /// Waits until everything written has left the transmitter.
    fn flush(&self) {
        while !self.regs().AUX_MU_LSR_REG.is_set(AUX_MU_LSR::TX_IDLE) {
            core::hint::spin_loop();
        }
    }
}

/// [`UartDriver::new`]: the device at a DTB node's `base`.
///
/// # Safety
/// As [`UartDriver::new`].
unsafe fn new_from_dt(base: usize, _props: UartProps) -> Result<Uart, UartError> {
    // SAFETY: forwarded contract (the DTB names a mini UART at `base`).
    Ok(Uart::MiniUart(unsafe { MiniUart::new(base) }))
}

/// The driver's entry in [`super::DRIVERS`].
pub static DRIVER: UartDriver = UartDriver {
    name: "mini-uart",
    compatible: &["brcm,bcm2835-aux-uart"],
    uses_reg_props: false,
    new: new_from_dt,
};

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn layout() {
        // Offsets from the AUX block: IO 0x40, IER 0x44, LSR 0x54, CNTL 0x60, BAUD 0x68.
        assert_eq!(0x40 + offset_of!(MiniUartRegisters, AUX_MU_IER_REG), 0x44);
        assert_eq!(0x40 + offset_of!(MiniUartRegisters, AUX_MU_LSR_REG), 0x54);
        assert_eq!(0x40 + offset_of!(MiniUartRegisters, AUX_MU_CNTL_REG), 0x60);
        assert_eq!(0x40 + offset_of!(MiniUartRegisters, AUX_MU_BAUD_REG), 0x68);
    }
}
