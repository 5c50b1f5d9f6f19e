//! virtio over PCIe (the generic ECAM host bridge of the DTB, `hal::dtb::pci`): enumerate
//! the root bus, place each virtio function's memory BARs in the host's 32-bit
//! non-prefetchable window, enable memory decode and bus mastering, find its ISR status
//! register and route its legacy INTx pin through `interrupt-map` to a GIC SPI.
//! [`super::virtio`] turns what this finds into devices like the virtio-mmio ones; claiming
//! one builds `virtio-drivers`' `PciTransport` over [`Ecam`].
//!
//! Why the guest assigns BARs: QEMU started with `-kernel` runs no firmware, so every BAR
//! reads back 0 (unassigned) and memory decode is off; Linux (`pci=assign-busses`-style
//! probing) and U-Boot do the same assignment. The placement is a bump allocator over the
//! window, each BAR aligned to its size (at least 4 KiB, so no two devices share a page).
//!
//! Mapping: the ECAM window and the memory window are identity mapped as Device-nGnRE by the
//! boot page tables (`boot/mmu.rs`: everything below 512 GiB that is not RAM); [`discover`]
//! checks that each window is such a region and leaves a host alone otherwise. A window
//! whose PCI address differs from its CPU address is refused (`VirtioHal` maps MMIO by
//! identity).
//!
//! Interrupts: virtio-pci legacy INTx is level-triggered and stays asserted until the ISR
//! status register is read (reading it clears it and deasserts the line), so the interrupt
//! handler ([`super::virtio::on_irq`]) reads it for every bound device on the INTID, before
//! the GIC's EOI: an unread ISR would take the interrupt again at once, forever.

use alloc::vec::Vec;
use hal::dtb::{PciHost, Platform};
use virtio_drivers::transport::pci::bus::{
    BarInfo, Command, ConfigurationAccess, DeviceFunction, HeaderType, MemoryBarType, PciRoot,
    PCI_CAP_ID_VNDR,
};
use virtio_drivers::transport::pci::virtio_device_type;
use virtio_drivers::transport::DeviceType;

/// The virtio PCI vendor ID (Red Hat / Qumranet).
pub const VIRTIO_VENDOR: u16 = 0x1af4;
/// `VIRTIO_PCI_CAP_ISR_CFG`: the capability locating the ISR status byte (virtio 1.2, 4.1.4).
const CAP_ISR_CFG: u8 = 3;
/// Configuration space: Interrupt Line (byte 0) / Interrupt Pin (byte 1) word.
const INTERRUPT_WORD: u8 = 0x3c;
/// The boot page tables map 0..512 GiB (boot/mmu.rs).
const MAPPED_LIMIT: u64 = 1 << 39;
/// The boot page tables' granularity below 4 GiB (a 2 MiB block is Normal if it touches RAM).
const BLOCK: u64 = 2 << 20;

/// Configuration access through one host's ECAM window, bounded by it: an access outside the
/// window (a bus past what it holds) reads all ones, as an absent device does, and writes
/// nothing. `Copy`: it is only the window's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ecam {
    base: usize,
    size: usize,
    bus_start: u8,
}

impl Ecam {
    fn address(&self, df: DeviceFunction, reg: u8) -> Option<usize> {
        if df.bus < self.bus_start || df.device >= 32 || df.function >= 8 || reg & 3 != 0 {
            return None;
        }
        let off = (usize::from(df.bus - self.bus_start) << 20)
            | (usize::from(df.device) << 15)
            | (usize::from(df.function) << 12)
            | usize::from(reg);
        (off + 4 <= self.size).then_some(self.base + off)
    }
}

impl ConfigurationAccess for Ecam {
    fn read_word(&self, df: DeviceFunction, reg: u8) -> u32 {
        match self.address(df, reg) {
            // SAFETY: an aligned word inside the ECAM window, identity mapped as Device
            // memory (checked by `discover` before an `Ecam` exists).
            Some(a) => unsafe { core::ptr::read_volatile(a as *const u32) },
            None => u32::MAX,
        }
    }

    fn write_word(&mut self, df: DeviceFunction, reg: u8, data: u32) {
        if let Some(a) = self.address(df, reg) {
            // SAFETY: as in `read_word`.
            unsafe { core::ptr::write_volatile(a as *mut u32, data) }
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        *self
    }
}

/// A virtio function found on a host's root bus, its BARs placed and decode enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciVirtio {
    /// The device type (block, network, ...).
    pub kind: DeviceType,
    /// The ECAM window it is reached through.
    pub ecam: Ecam,
    /// Bus, device, function.
    pub bus: u8,
    /// Device number.
    pub device: u8,
    /// Function number.
    pub function: u8,
    /// Address of its ISR status byte (read in the interrupt handler).
    pub isr: usize,
    /// Its lowest BAR address (for the banner).
    pub bar: u64,
    /// Its INTx as a GIC INTID and whether edge-triggered (INTx is level), if routed.
    pub irq: Option<(u32, bool)>,
    /// The host bridge's DTB node.
    pub node: &'static str,
}

impl PciVirtio {
    /// `virtio-drivers`' name of the function.
    pub fn device_function(&self) -> DeviceFunction {
        DeviceFunction {
            bus: self.bus,
            device: self.device,
            function: self.function,
        }
    }

    /// A `PciRoot` over the function's ECAM window (what `PciTransport::new` takes).
    pub fn root(&self) -> PciRoot<Ecam> {
        PciRoot::new(self.ecam)
    }
}

/// Whether `[base, base + size)` is Device memory in the boot page tables: below 512 GiB and
/// no 2 MiB block of it touches RAM.
fn device_mapped(p: &Platform<'_>, base: u64, size: u64) -> bool {
    let Some(end) = base.checked_add(size) else {
        return false;
    };
    if size == 0 || end > MAPPED_LIMIT {
        return false;
    }
    let (lo, hi) = (base & !(BLOCK - 1), end.next_multiple_of(BLOCK));
    match &p.memory {
        Ok(m) => !m
            .ram
            .list
            .iter()
            .any(|r| r.base < hi && lo < r.base.saturating_add(r.size)),
        Err(_) => false,
    }
}

/// Bump allocation of BARs in the 32-bit window.
struct Window {
    next: u64,
    end: u64,
}

impl Window {
    fn take(&mut self, size: u64) -> Option<u64> {
        let align = size.max(4096).checked_next_power_of_two()?;
        let at = self.next.checked_next_multiple_of(align)?;
        let end = at.checked_add(size)?;
        (end <= self.end).then(|| {
            self.next = end;
            at
        })
    }
}

/// Every virtio function on the root bus of every usable host bridge of the DTB, set up for
/// a driver. Problems are printed and the host (or function) skipped.
pub fn discover(p: &Platform<'static>) -> Vec<PciVirtio> {
    let mut found = Vec::new();
    let hosts = match hal::dtb::pci_hosts(p) {
        Ok(h) => h,
        Err(e) => {
            crate::println!("pci: {e}");
            return found;
        }
    };
    for h in &hosts.list {
        let Some(w) = h.mem32 else {
            crate::println!(
                "pci: {}: no 32-bit memory window, devices not set up",
                h.node
            );
            continue;
        };
        if w.pci_addr != w.cpu_addr {
            crate::println!(
                "pci: {}: mem32 window translated (pci {:#x} at cpu {:#x}): not supported",
                h.node,
                w.pci_addr,
                w.cpu_addr
            );
            continue;
        }
        if !device_mapped(p, h.ecam_base, h.ecam_size) || !device_mapped(p, w.cpu_addr, w.size) {
            crate::println!(
                "pci: {}: ECAM {:#x} or mem32 {:#x} is not in the Device map (RAM or above 512 GiB)",
                h.node,
                h.ecam_base,
                w.cpu_addr
            );
            continue;
        }
        let ecam = Ecam {
            base: h.ecam_base as usize,
            size: h.ecam_size as usize,
            bus_start: h.bus_start,
        };
        let mut window = Window {
            next: w.cpu_addr,
            end: w.cpu_addr + w.size,
        };
        let mut root = PciRoot::new(ecam);
        // Collected first: the enumeration borrows the root that set-up writes through.
        let functions: Vec<_> = root
            .enumerate_bus(h.bus_start)
            .filter(|(_, info)| {
                info.vendor_id == VIRTIO_VENDOR && info.header_type == HeaderType::Standard
            })
            .filter_map(|(df, info)| Some((df, virtio_device_type(&info)?)))
            .collect();
        for (df, kind) in functions {
            match set_up(&mut root, ecam, h, &mut window, df, kind) {
                Ok(f) => found.push(f),
                Err(why) => crate::println!(
                    "pci: {} {:02x}:{:02x}.{}: {why}",
                    h.node,
                    df.bus,
                    df.device,
                    df.function
                ),
            }
        }
    }
    found
}

/// Place `df`'s memory BARs, find its ISR register and INTx route, enable memory decode and
/// bus mastering. `ecam` is `root`'s own window (`PciRoot` has no accessor for the
/// capability body and the interrupt pin).
fn set_up(
    root: &mut PciRoot<Ecam>,
    ecam: Ecam,
    h: &PciHost<'static>,
    window: &mut Window,
    df: DeviceFunction,
    kind: DeviceType,
) -> Result<PciVirtio, &'static str> {
    // Decode off while BARs move (bar_info also turns it off while sizing).
    root.set_command(df, Command::empty());
    let mut bars = [0u64; 6];
    let mut i = 0u8;
    while i < 6 {
        let info = root.bar_info(df, i).map_err(|_| "unreadable BAR")?;
        let step = if info.as_ref().is_some_and(BarInfo::takes_two_entries) {
            2
        } else {
            1
        };
        if let Some(BarInfo::Memory {
            address_type, size, ..
        }) = info
        {
            let at = window.take(size).ok_or("the 32-bit window is full")?;
            match address_type {
                MemoryBarType::Width64 => root.set_bar_64(df, i, at),
                _ => root.set_bar_32(df, i, at as u32),
            }
            if let Some(slot) = bars.get_mut(usize::from(i)) {
                *slot = at;
            }
        }
        i += step;
    }
    let mut isr = None;
    for cap in root.capabilities(df) {
        if cap.id == PCI_CAP_ID_VNDR && (cap.private_header >> 8) as u8 == CAP_ISR_CFG {
            // virtio_pci_cap: bar at +4 (a byte), offset at +8 (a word).
            let (Some(at_bar), Some(at_offset)) =
                (cap.offset.checked_add(4), cap.offset.checked_add(8))
            else {
                return Err("ISR capability past the configuration header");
            };
            let bar = ecam.read_word(df, at_bar) as u8;
            let offset = ecam.read_word(df, at_offset);
            let base = *bars.get(usize::from(bar)).ok_or("ISR in a bad BAR")?;
            if base == 0 {
                return Err("ISR in a BAR that is not memory");
            }
            isr = Some((base + u64::from(offset)) as usize);
            break;
        }
    }
    let isr = isr.ok_or("no ISR capability (not a modern virtio-pci device)")?;
    let pin = (ecam.read_word(df, INTERRUPT_WORD) >> 8) as u8;
    let irq = h
        .intx(df.bus, df.device, df.function, pin)
        .map(|r| (r.intid, r.edge));
    root.set_command(df, Command::MEMORY_SPACE | Command::BUS_MASTER);
    let bar = bars.iter().copied().filter(|&b| b != 0).min().unwrap_or(0);
    Ok(PciVirtio {
        kind,
        ecam,
        bus: df.bus,
        device: df.device,
        function: df.function,
        isr,
        bar,
        irq,
        node: h.node,
    })
}
