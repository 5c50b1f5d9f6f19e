//! The virtio devices of the machine: discovered once at boot from the DTB (virtio-mmio
//! transports whose DeviceID register is not 0, and virtio functions on the root bus of a
//! generic PCIe host bridge, set up by [`super::pci`]), handed to drivers with
//! [`VirtioDevice::claim`] (a `virtio-drivers` transport) and wired to an interrupt with
//! [`VirtioDevice::bind_irq`].
//!
//! Every device interrupt goes through one handler, [`on_irq`]: for each bound device on the
//! INTID it reads and acknowledges the transport's interrupt status (virtio-mmio
//! InterruptStatus / InterruptACK; virtio-pci the ISR status byte, whose read clears it and
//! deasserts the level-triggered INTx line) and, if the device had raised it, fires the device's
//! [`IrqWake`] (wake the waiting task, schedule the attached bottom half). It never touches
//! a virtqueue: the driver does that in task context.

use super::irq_wake::IrqWake;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::SomeTransport;

pub use virtio_drivers::transport::DeviceType;

/// virtio-mmio register offsets (virtio 1.2, 4.2.2; the same in the legacy layout).
const MMIO_MAGIC: usize = 0x000;
const MMIO_VERSION: usize = 0x004;
const MMIO_DEVICE_ID: usize = 0x008;
const MMIO_INTERRUPT_STATUS: usize = 0x060;
const MMIO_INTERRUPT_ACK: usize = 0x064;
/// "virt" in little-endian.
const MMIO_MAGIC_VALUE: u32 = 0x7472_6976;

/// How a device is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A virtio-mmio register window.
    Mmio {
        /// Physical (= virtual) base address.
        base: usize,
        /// Window size.
        size: usize,
        /// virtio-mmio version (1 = legacy, 2 = modern).
        version: u32,
    },
    /// A virtio function on a PCIe root bus (ECAM), its BARs placed by [`super::pci`].
    Pci(super::pci::PciVirtio),
}

/// Why a device could not be claimed or bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// Another driver claimed it (or bound its interrupt) already.
    Claimed,
    /// The DTB gives it no interrupt on the GIC.
    NoIrq,
    /// `virtio-drivers` refused the transport.
    Transport,
}

impl core::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeviceError::Claimed => write!(f, "device already claimed"),
            DeviceError::NoIrq => write!(f, "device has no GIC interrupt in the DTB"),
            DeviceError::Transport => write!(f, "virtio transport refused by the driver crate"),
        }
    }
}

/// One virtio device found at boot.
pub struct VirtioDevice {
    /// The device type (block, network, ...).
    pub kind: DeviceType,
    /// How it is reached.
    pub transport: Transport,
    /// Its GIC INTID, if the DTB names one.
    pub irq: Option<u32>,
    /// The interrupt is edge-triggered.
    pub edge: bool,
    /// The DTB node's name.
    pub node: &'static str,
    claimed: AtomicBool,
    bound: AtomicBool,
    wake: IrqWake,
}

static DEVICES: spin::Once<Vec<VirtioDevice>> = spin::Once::new();

/// Read a 32-bit device register.
///
/// # Safety
/// `base + off` is a mapped device register of a transport from the DTB.
unsafe fn read32(base: usize, off: usize) -> u32 {
    // SAFETY: forwarded contract; Device memory, aligned 32-bit access.
    unsafe { core::ptr::read_volatile((base + off) as *const u32) }
}

/// Find the virtio devices the DTB describes (primary core, once, after [`super::heap`] is
/// up). Transports with DeviceID 0 (no device behind them) or a bad magic are skipped.
pub fn discover(p: &hal::dtb::Platform<'static>) {
    DEVICES.call_once(|| {
        let mut found = Vec::new();
        let Ok(list) = hal::dtb::virtio_mmio(p) else {
            return found;
        };
        for t in list.list.iter() {
            let (base, size) = (t.base as usize, t.size as usize);
            if size < 0x100 || !base.is_multiple_of(4) || t.base >= 1 << 39 {
                continue;
            }
            // SAFETY: a virtio-mmio window from the DTB, below 512 GiB and outside RAM, so
            // identity mapped as Device memory by the boot page tables (boot/mmu.rs).
            let (magic, version, id) = unsafe {
                (
                    read32(base, MMIO_MAGIC),
                    read32(base, MMIO_VERSION),
                    read32(base, MMIO_DEVICE_ID),
                )
            };
            if magic != MMIO_MAGIC_VALUE || id == 0 {
                continue;
            }
            let Ok(kind) = DeviceType::try_from(id) else {
                continue;
            };
            found.push(VirtioDevice {
                kind,
                transport: Transport::Mmio {
                    base,
                    size,
                    version,
                },
                irq: match t.interrupt {
                    hal::dtb::Interrupt::Intid(i) if (32..1020).contains(&i) => Some(i),
                    _ => None,
                },
                edge: t.edge,
                node: t.node,
                claimed: AtomicBool::new(false),
                bound: AtomicBool::new(false),
                wake: IrqWake::new(),
            });
        }
        for f in super::pci::discover(p) {
            found.push(VirtioDevice {
                kind: f.kind,
                transport: Transport::Pci(f),
                irq: f.irq.map(|(i, _)| i),
                edge: f.irq.is_some_and(|(_, e)| e),
                node: f.node,
                claimed: AtomicBool::new(false),
                bound: AtomicBool::new(false),
                wake: IrqWake::new(),
            });
        }
        found
    });
}

/// Every virtio device found at boot (empty before [`discover`]).
pub fn devices() -> &'static [VirtioDevice] {
    DEVICES.get().map_or(&[], |v| v.as_slice())
}

/// The first device of `kind` nobody has claimed yet.
pub fn find(kind: DeviceType) -> Option<&'static VirtioDevice> {
    devices()
        .iter()
        // Relaxed: a hint; `claim` decides with a CAS.
        .find(|d| d.kind == kind && !d.claimed.load(Ordering::Relaxed))
}

impl VirtioDevice {
    /// Take the device for a driver: its `virtio-drivers` transport (for `VirtIOBlk::new`,
    /// `VirtIONet::new`, or a driver of your own on `virtio_drivers::queue::VirtQueue`).
    /// Once per device.
    pub fn claim(&'static self) -> Result<SomeTransport<'static>, DeviceError> {
        // AcqRel: the winner alone goes on (no data is published through the flag).
        if self
            .claimed
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Err(DeviceError::Claimed);
        }
        match self.transport {
            Transport::Mmio { base, size, .. } => {
                let header =
                    NonNull::new(base as *mut VirtIOHeader).ok_or(DeviceError::Transport)?;
                // SAFETY: the device's register window from the DTB, identity mapped as Device
                // memory for the whole run, and claimed once (the CAS above), so the
                // transport is its only user (the IRQ handler touches only the interrupt
                // status/ack registers, which the drivers here never use).
                let t = unsafe { MmioTransport::new(header, size) }
                    .map_err(|_| DeviceError::Transport)?;
                Ok(SomeTransport::Mmio(t))
            }
            Transport::Pci(f) => {
                let t = PciTransport::new::<super::dma::VirtioHal, _>(
                    &mut f.root(),
                    f.device_function(),
                )
                .map_err(|_| DeviceError::Transport)?;
                Ok(SomeTransport::Pci(t))
            }
        }
    }

    /// The device's interrupt signal (fires only after [`bind_irq`](Self::bind_irq)).
    pub fn irq_wake(&'static self) -> &'static IrqWake {
        &self.wake
    }

    /// Route the device's interrupt to the calling core, set its trigger from the DTB and
    /// enable it: from then on every interrupt acknowledges the device and fires
    /// [`irq_wake`](Self::irq_wake). Once per device.
    pub fn bind_irq(&'static self) -> Result<&'static IrqWake, DeviceError> {
        let intid = self.irq.ok_or(DeviceError::NoIrq)?;
        // Release pairs with the Acquire load in `on_irq`: the handler that sees the device
        // bound sees its wake slot ready (it is built before `discover` publishes it).
        if self
            .bound
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Err(DeviceError::Claimed);
        }
        let gic = crate::irq::gic();
        gic.route_spi(intid, crate::irq::gic_cpu().core_id());
        crate::irq::gic_cpu().set_trigger(intid, self.edge);
        crate::irq::register(intid, on_irq);
        Ok(&self.wake)
    }

    /// Read and acknowledge the transport's interrupt status; true if the device had raised
    /// its interrupt.
    fn ack(&self) -> bool {
        match self.transport {
            Transport::Mmio { base, .. } => {
                // SAFETY: registers of this device's window (see `discover`).
                unsafe {
                    let status = read32(base, MMIO_INTERRUPT_STATUS);
                    if status != 0 {
                        core::ptr::write_volatile((base + MMIO_INTERRUPT_ACK) as *mut u32, status);
                    }
                    status != 0
                }
            }
            Transport::Pci(f) => {
                // SAFETY: the ISR status byte in a BAR `pci::discover` placed in the host's
                // memory window (identity mapped as Device memory). Reading it clears it and
                // deasserts INTx; the drivers never read it (`ack_interrupt` is unused), so a
                // status is never lost to them.
                let status = unsafe { core::ptr::read_volatile(f.isr as *const u8) };
                status != 0
            }
        }
    }
}

/// The interrupt handler of every bound virtio device: acknowledge, then wake. Runs in
/// interrupt context (IRQs masked); a shared INTID is checked for every device on it.
pub fn on_irq(intid: u32) {
    for d in devices() {
        // Acquire pairs with the Release CAS in `bind_irq`.
        if d.irq != Some(intid) || !d.bound.load(Ordering::Acquire) {
            continue;
        }
        if d.ack() {
            // The negative control `virtio_no_wake` drops this wake: completions are then
            // never noticed and the block test must fail by its watchdog.
            #[cfg(not(aiolos_mutant = "virtio_no_wake"))]
            d.wake.wake();
        }
    }
}
