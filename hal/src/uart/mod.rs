//! Console UARTs: PL011, NS16550A (MMIO) and the BCM2835 mini UART, behind one [`Uart`].
//!
//! Every operation is lock-free and uses no atomics (usable before the MMU is on): `putc`
//! spins on the device's TX-full flag. Concurrent writers on several cores interleave bytes;
//! line atomicity is the console's job (a lock, after the MMU).
//!
//! **Adding a UART** is one driver file and one line: write `uart/<name>.rs` with the device
//! type, its [`UartDevice`] impl and a `pub static DRIVER: UartDriver` (its name, the DTB
//! `compatible` strings it serves, and how to build it from a node), then add
//! `<name>::<Type>` to the `drivers!` list below. The DTB parser ([`crate::dtb`]) finds the
//! console's driver in [`DRIVERS`], `dtb-check` prints its name, and the kernel builds the
//! device through [`UartDriver::new`]: none of them names a UART.

use core::fmt;

/// What every UART driver does. Methods take `&self`: the register block is shared, and the
/// console serialises writers itself.
pub trait UartDevice {
    /// The register block's base address.
    fn base(&self) -> usize;
    /// Brings the device to a usable state without disturbing a working setup.
    fn init(&self) {}
    /// Writes one byte as is, waiting while the transmitter is full.
    fn putc(&self, byte: u8);
    /// Writes one byte if the transmitter has room; false (nothing written) if it is full.
    fn try_putc(&self, byte: u8) -> bool;
    /// A received byte, if one is waiting.
    fn try_getc(&self) -> Option<u8>;
    /// Enables the device's transmit interrupt: raised while the transmitter has room.
    fn enable_tx_interrupt(&self);
    /// Disables the device's transmit interrupt.
    fn disable_tx_interrupt(&self);
    /// Enables the device's receive interrupt (the GIC side is the caller's).
    fn enable_rx_interrupt(&self);
    /// Disables the device's receive interrupt.
    fn disable_rx_interrupt(&self);
    /// Acknowledges the receive interrupt at the device (after draining with `try_getc`).
    fn ack_rx_interrupt(&self);
    /// Waits until everything written has left the transmitter.
    fn flush(&self);
}

/// The generic serial properties of a DTB UART node (Linux's `8250` binding names them; other
/// drivers ignore them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UartProps {
    /// `reg-shift`: registers are `1 << reg_shift` bytes apart (absent = 0).
    pub reg_shift: u32,
    /// `reg-io-width`: registers are accessed this many bytes wide (absent = 1).
    pub reg_io_width: u32,
}

impl Default for UartProps {
    fn default() -> Self {
        Self {
            reg_shift: 0,
            reg_io_width: 1,
        }
    }
}

/// Why a driver refused a DTB node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartError {
    /// A `reg-io-width` the driver cannot access.
    RegIoWidth(u32),
}

impl fmt::Display for UartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UartError::RegIoWidth(w) => write!(f, "unsupported reg-io-width {}", w),
        }
    }
}

/// A UART driver as the DTB parser and the kernel see it.
pub struct UartDriver {
    /// Its name (`dtb-check` prints it).
    pub name: &'static str,
    /// The DTB `compatible` strings it drives.
    pub compatible: &'static [&'static str],
    /// Whether it reads `reg-shift` / `reg-io-width` (the parser reads them only then).
    pub uses_reg_props: bool,
    /// The device at `base` (a DTB node's first `reg`, translated), not yet initialised.
    ///
    /// # Safety
    /// `base` must be the identity-mapped (or, before the MMU, physical) address of a device
    /// this driver serves, valid for the life of the program.
    pub new: unsafe fn(base: usize, props: UartProps) -> Result<Uart, UartError>,
}

impl fmt::Debug for UartDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for UartDriver {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for UartDriver {}

/// The driver for a DTB `compatible` string, if we have one.
pub fn driver_for(compatible: &str) -> Option<&'static UartDriver> {
    DRIVERS
        .iter()
        .copied()
        .find(|d| d.compatible.contains(&compatible))
}

/// Declares the driver modules, the [`Uart`] enum with one variant per driver, and
/// [`DRIVERS`]. One line per driver: `module::Type`.
macro_rules! drivers {
    ($($module:ident :: $ty:ident),* $(,)?) => {
        $(
            pub mod $module;
            pub use $module::$ty;
        )*

        /// One of the UARTs we drive.
        #[derive(Debug, Clone, Copy)]
        pub enum Uart {
            $(
                #[doc = concat!("A [`", stringify!($ty), "`].")]
                $ty($ty),
            )*
        }

        /// Every UART driver, in the order the DTB parser tries them.
        pub static DRIVERS: &[&UartDriver] = &[$(&$module::DRIVER),*];

        impl Uart {
            /// The driver behind this UART.
            fn device(&self) -> &dyn UartDevice {
                match self {
                    $(Uart::$ty(u) => u,)*
                }
            }
        }
    };
}

drivers! {
    pl011::Pl011,
    ns16550::Ns16550,
    mini_uart::MiniUart,
}

pub use ns16550::IoWidth;

impl Uart {
    /// Brings the device to a usable state without disturbing a working setup (PL011: 8N1,
    /// FIFOs, UARTEN/TXE/RXE if not already so; 16550: clears DLAB; mini UART: nothing).
    pub fn init(&self) {
        self.device().init()
    }

    /// The register block's base address.
    pub fn base(&self) -> usize {
        self.device().base()
    }

    /// Writes one byte as is, waiting while the transmitter is full.
    pub fn putc(&self, byte: u8) {
        self.device().putc(byte)
    }

    /// Writes one byte if the transmitter has room; false (nothing written) if it is full.
    pub fn try_putc(&self, byte: u8) -> bool {
        self.device().try_putc(byte)
    }

    /// Enables the device's transmit interrupt: raised while the transmitter has room.
    pub fn enable_tx_interrupt(&self) {
        self.device().enable_tx_interrupt()
    }

    /// Disables the device's transmit interrupt.
    pub fn disable_tx_interrupt(&self) {
        self.device().disable_tx_interrupt()
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
        self.device().try_getc()
    }

    /// Enables the device's receive interrupt (the GIC side is the caller's).
    pub fn enable_rx_interrupt(&self) {
        self.device().enable_rx_interrupt()
    }

    /// Disables the device's receive interrupt.
    pub fn disable_rx_interrupt(&self) {
        self.device().disable_rx_interrupt()
    }

    /// Acknowledges the receive interrupt at the device. Drain with [`Uart::try_getc`] until
    /// `None` first: on the 16550 and the mini UART that is what clears it.
    pub fn ack_rx_interrupt(&self) {
        self.device().ack_rx_interrupt()
    }

    /// Waits until everything written has left the transmitter (before powering off).
    pub fn flush(&self) {
        self.device().flush()
    }
}

/// `write!` support through a `&Uart` (`\n` becomes `\r\n`).
impl fmt::Write for &Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Uart::write_str(self, s);
        Ok(())
    }
}
