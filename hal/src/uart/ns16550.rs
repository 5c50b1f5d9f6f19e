//! NS16550A-compatible UART over MMIO (`ns16550a`, `snps,dw-apb-uart`): Firecracker, crosvm.
//!
//! Register *indices* are the 16550's; the byte offset of index `i` is `i << reg-shift` and each
//! access is `reg-io-width` bytes wide (both from the DTB node; defaults 0 and 1). Register
//! names from the TI/National PC16550D data sheet.

use super::{Uart, UartDevice, UartDriver, UartError, UartProps};
use core::ptr::{read_volatile, write_volatile};

/// Receiver buffer (read) / transmitter holding (write), with LCR.DLAB = 0.
pub const RBR_THR: usize = 0;
/// Interrupt enable.
pub const IER: usize = 1;
/// Interrupt identification (read) / FIFO control (write).
pub const IIR_FCR: usize = 2;
/// Line control.
pub const LCR: usize = 3;
/// Modem control.
pub const MCR: usize = 4;
/// Line status.
pub const LSR: usize = 5;

/// IER.ERBFI: received-data-available interrupt.
pub const IER_ERBFI: u8 = 1 << 0;
/// IER.ETBEI: transmitter-holding-register-empty interrupt.
pub const IER_ETBEI: u8 = 1 << 1;
/// LCR.DLAB: divisor latch access (RBR/THR/IER become DLL/DLM while set).
pub const LCR_DLAB: u8 = 1 << 7;
/// MCR.OUT2: gates the interrupt output on PC-style wiring; set it, as Linux does.
pub const MCR_OUT2: u8 = 1 << 3;
/// LSR.DR: data ready.
pub const LSR_DR: u8 = 1 << 0;
/// LSR.THRE: transmitter holding register empty.
pub const LSR_THRE: u8 = 1 << 5;
/// LSR.TEMT: transmitter empty.
pub const LSR_TEMT: u8 = 1 << 6;

/// Byte offset of register index `reg` with the DTB's `reg-shift`.
pub const fn reg_offset(reg: usize, reg_shift: u32) -> usize {
    reg << reg_shift
}

/// Access width from the DTB's `reg-io-width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoWidth {
    /// 8-bit accesses (`reg-io-width = <1>`, the default).
    U8,
    /// 32-bit accesses (`reg-io-width = <4>`).
    U32,
}

impl IoWidth {
    /// From the `reg-io-width` property value (absent = 1). `None` for widths we do not
    /// support (2).
    pub const fn from_dt(reg_io_width: u32) -> Option<Self> {
        match reg_io_width {
            1 => Some(IoWidth::U8),
            4 => Some(IoWidth::U32),
            _ => None,
        }
    }
}

/// A 16550. Lock-free: concurrent writers interleave bytes, nothing worse.
#[derive(Debug, Clone, Copy)]
pub struct Ns16550 {
    base: usize,
    reg_shift: u32,
    width: IoWidth,
}

impl Ns16550 {
    /// Does not touch the device.
    ///
    /// # Safety
    /// `base` is the identity-mapped address of a 16550's register block, with `reg_shift`
    /// and `width` as the DTB describes it, valid for the life of the program.
    pub const unsafe fn new(base: usize, reg_shift: u32, width: IoWidth) -> Self {
        Self {
            base,
            reg_shift,
            width,
        }
    }

    fn read(&self, reg: usize) -> u8 {
        let addr = self.base + reg_offset(reg, self.reg_shift);
        match self.width {
            // SAFETY: `new`'s contract: `addr` is a register of this device.
            IoWidth::U8 => unsafe { read_volatile(addr as *const u8) },
            // SAFETY: as above; 32-bit registers are 4-byte aligned by construction.
            IoWidth::U32 => unsafe { read_volatile(addr as *const u32) as u8 },
        }
    }

    fn write(&self, reg: usize, v: u8) {
        let addr = self.base + reg_offset(reg, self.reg_shift);
        match self.width {
            // SAFETY: `new`'s contract: `addr` is a register of this device.
            IoWidth::U8 => unsafe { write_volatile(addr as *mut u8, v) },
            // SAFETY: as above.
            IoWidth::U32 => unsafe { write_volatile(addr as *mut u32, v.into()) },
        }
    }
}

impl UartDevice for Ns16550 {
    /// The base address.
    fn base(&self) -> usize {
        self.base
    }
    /// Makes sure LCR.DLAB is clear (so offset 0 is the data register). Baud, word length
    /// and FIFOs are left as firmware / the VMM set them.
    fn init(&self) {
        let lcr = self.read(LCR);
        if lcr & LCR_DLAB != 0 {
            self.write(LCR, lcr & !LCR_DLAB);
        }
    }
    /// Writes one byte, waiting until the transmitter holding register is empty.
    fn putc(&self, byte: u8) {
        while self.read(LSR) & LSR_THRE == 0 {
            core::hint::spin_loop();
        }
        self.write(RBR_THR, byte);
    }
    /// A received byte, if one is waiting.
    fn try_getc(&self) -> Option<u8> {
        if self.read(LSR) & LSR_DR != 0 {
            Some(self.read(RBR_THR))
        } else {
            None
        }
    }
    /// Writes one byte if the transmitter holding register is empty; false otherwise.
    fn try_putc(&self, byte: u8) -> bool {
        if self.read(LSR) & LSR_THRE == 0 {
            return false;
        }
        self.write(RBR_THR, byte);
        true
    }
    /// Enables the THR-empty interrupt (IER.ETBEI) and MCR.OUT2.
    fn enable_tx_interrupt(&self) {
        self.write(MCR, self.read(MCR) | MCR_OUT2);
        self.write(IER, self.read(IER) | IER_ETBEI);
    }
    /// Disables the THR-empty interrupt.
    fn disable_tx_interrupt(&self) {
        self.write(IER, self.read(IER) & !IER_ETBEI);
    }
    /// Enables the received-data interrupt (IER.ERBFI) and MCR.OUT2.
    fn enable_rx_interrupt(&self) {
        self.write(MCR, self.read(MCR) | MCR_OUT2);
        self.write(IER, self.read(IER) | IER_ERBFI);
    }
    /// Disables the received-data interrupt.
    fn disable_rx_interrupt(&self) {
        self.write(IER, self.read(IER) & !IER_ERBFI);
    }
    /// Reads IIR. The 16550's receive interrupt has no separate acknowledge: it clears when
    /// the receive buffer is drained (read with `try_getc` until `None`).
    fn ack_rx_interrupt(&self) {
        let _ = self.read(IIR_FCR);
    }
    /// Waits until everything written has left the transmitter.
    fn flush(&self) {
        while self.read(LSR) & LSR_TEMT == 0 {
            core::hint::spin_loop();
        }
    }
}

/// [`UartDriver::new`]: the device at a DTB node's `base`.
///
/// # Safety
/// As [`UartDriver::new`].
unsafe fn new_from_dt(base: usize, props: UartProps) -> Result<Uart, UartError> {
    let width = IoWidth::from_dt(props.reg_io_width)
        .ok_or(UartError::RegIoWidth(props.reg_io_width))?;
    // SAFETY: forwarded contract (the DTB names a 16550 at `base`).
    Ok(Uart::Ns16550(unsafe { Ns16550::new(base, props.reg_shift, width) }))
}

/// The driver's entry in [`super::DRIVERS`].
pub static DRIVER: UartDriver = UartDriver {
    name: "ns16550",
    compatible: &["ns16550a", "ns16550", "snps,dw-apb-uart", "ns8250"],
    uses_reg_props: true,
    new: new_from_dt,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(reg_offset(LSR, 0), 5);
        assert_eq!(reg_offset(LSR, 2), 0x14);
        assert_eq!(reg_offset(IER, 2), 4);
        assert_eq!(IoWidth::from_dt(4), Some(IoWidth::U32));
        assert_eq!(IoWidth::from_dt(2), None);
    }

    #[test]
    fn fake_device_shift_and_width() {
        // A fake register file in memory: 8 registers at stride 4, 32-bit accesses.
        let mut regs = [0u32; 8];
        regs[LSR] = (LSR_THRE | LSR_DR) as u32;
        regs[RBR_THR] = b'x' as u32;
        // SAFETY: `regs` outlives `u` and holds every register index used.
        let u = unsafe { Ns16550::new(regs.as_mut_ptr() as usize, 2, IoWidth::U32) };
        assert_eq!(u.try_getc(), Some(b'x'));
        u.putc(b'y');
        u.enable_rx_interrupt();
        assert_eq!(regs[RBR_THR], b'y' as u32);
        assert_eq!(regs[IER], IER_ERBFI as u32);
        assert_eq!(regs[MCR], MCR_OUT2 as u32);
    }
}
