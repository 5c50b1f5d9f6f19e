//! Generic PCIe host bridges (`compatible = "pci-host-ecam-generic"`, the binding QEMU
//! `virt`, cloud-hypervisor and kvmtool use): the ECAM window, the bus range, the memory and
//! I/O windows of `ranges`, and legacy INTx routing through `interrupt-map`.
//!
//! Only what the tree says. Enumerating the bus, assigning BARs and driving devices is the
//! kernel's work (`kernel/src/io/pci.rs`); `dtb-check` prints [`report`].
//!
//! Bindings: Documentation/devicetree/bindings/pci/host-generic-pci.yaml (Linux) and the
//! PCI bus binding (IEEE 1275 PCI supplement): a child address is three cells,
//! `phys.hi = npt000ss bbbbbbbb dddddfff rrrrrrrr` (`ss` = space: 1 I/O, 2 32-bit memory,
//! 3 64-bit memory; `p` = prefetchable), `phys.mid`/`phys.lo` = the 64-bit PCI address; an
//! `interrupt-map` entry is `child unit address (3) + child pin (1) + parent phandle +
//! parent unit address (the parent's #address-cells, 0 if it has none) + parent
//! specifier (the parent's #interrupt-cells)`, matched after ANDing with
//! `interrupt-map-mask`.
//!
//! Same constraints as the rest of [`super`]: no allocation, no panics, bounded loops.

use core::fmt;
use heapless::Vec;

use super::error::DtbError;
use super::fdt::{be32, read_cells, Ancestors, Fdt, Node, Walked};
use super::platform::{Platform, GICV2_COMPATIBLES, GICV3_COMPATIBLE};

/// The `compatible` string of a generic ECAM host bridge.
pub const PCI_HOST_ECAM_COMPATIBLE: &str = "pci-host-ecam-generic";
/// Host bridges kept (QEMU `virt` has one).
pub const MAX_PCI_HOSTS: usize = 4;
/// `interrupt-map` entries kept per host (QEMU `virt` has 16: 4 slots × 4 pins).
pub const MAX_INTX_ENTRIES: usize = 64;
/// ECAM bytes per bus: 32 devices × 8 functions × 4 KiB.
pub const ECAM_BUS_SIZE: u64 = 1 << 20;

/// What a `ranges` window of a PCI host maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PciSpace {
    /// I/O space (`ss` = 1).
    Io,
    /// 32-bit memory space (`ss` = 2).
    Mem32,
    /// 64-bit memory space (`ss` = 3).
    Mem64,
}

/// One `ranges` entry of a host bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciWindow {
    /// What it maps.
    pub space: PciSpace,
    /// The `p` bit of `phys.hi`.
    pub prefetchable: bool,
    /// The window's start on the PCI bus.
    pub pci_addr: u64,
    /// The window's start as a CPU physical address (translated through the ancestors).
    pub cpu_addr: u64,
    /// Its size in bytes.
    pub size: u64,
}

/// One `interrupt-map` entry, its child key already ANDed with the mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntxEntry {
    /// `phys.hi` of the child unit address (bus/device/function bits).
    pub child_hi: u32,
    /// The legacy pin, 1 = INTA .. 4 = INTD (as masked).
    pub pin: u32,
    /// The GIC INTID it reaches (an SPI: 32 + the specifier's number).
    pub intid: u32,
    /// Edge-triggered (specifier flags 1 or 2), else level (4 or 8). INTx is level.
    pub edge: bool,
}

/// Where a device's INTx pin arrives on the GIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntxRoute {
    /// The GIC INTID (an SPI).
    pub intid: u32,
    /// Edge-triggered, else level.
    pub edge: bool,
}

/// A generic ECAM PCIe host bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciHost<'a> {
    /// The node's name (e.g. `pcie@10000000`).
    pub node: &'a str,
    /// ECAM window (`reg[0]`), CPU physical address; it starts at bus [`Self::bus_start`].
    pub ecam_base: u64,
    /// ECAM window size.
    pub ecam_size: u64,
    /// First bus number (`bus-range`, default 0).
    pub bus_start: u8,
    /// Last bus number (`bus-range`, default 255; never past what the ECAM window holds).
    pub bus_end: u8,
    /// The 32-bit non-prefetchable memory window (where the kernel places BARs).
    pub mem32: Option<PciWindow>,
    /// The 64-bit memory window.
    pub mem64: Option<PciWindow>,
    /// The I/O window.
    pub io: Option<PciWindow>,
    /// `interrupt-map-mask`: phys.hi, phys.mid, phys.lo, pin.
    pub intx_mask: [u32; 4],
    /// The `interrupt-map` entries.
    pub intx: Vec<IntxEntry, MAX_INTX_ENTRIES>,
    /// `dma-coherent`: devices snoop the CPU caches.
    pub dma_coherent: bool,
}

impl PciHost<'_> {
    /// The ECAM address of the configuration space of `bus:dev.func`, or `None` outside
    /// the bus range or for a bad device/function number.
    pub fn config_address(&self, bus: u8, dev: u8, func: u8) -> Option<u64> {
        if bus < self.bus_start || bus > self.bus_end || dev >= 32 || func >= 8 {
            return None;
        }
        let off = (u64::from(bus - self.bus_start) << 20)
            | (u64::from(dev) << 15)
            | (u64::from(func) << 12);
        (off + 4096 <= self.ecam_size).then_some(self.ecam_base + off)
    }

    /// The GIC interrupt of `pin` (1 = INTA .. 4 = INTD, the device's Interrupt Pin
    /// register) of `bus:dev.func`, through `interrupt-map`: the device's unit address
    /// (`phys.hi` = bus << 16 | dev << 11 | func << 8) and pin, ANDed with the mask, looked
    /// up in the map. For a device on the root bus this is all the routing there is (QEMU's
    /// map already spreads the slots over the four SPIs as the standard swizzle
    /// `(dev + pin - 1) mod 4` does); a device behind a bridge would first be swizzled to
    /// the bridge's slot, which the kernel does not need (it enumerates the root bus only).
    pub fn intx(&self, bus: u8, dev: u8, func: u8, pin: u8) -> Option<IntxRoute> {
        if !(1..=4).contains(&pin) {
            return None;
        }
        let hi = (u32::from(bus) << 16) | (u32::from(dev & 31) << 11) | (u32::from(func & 7) << 8);
        let [mhi, _, _, mpin] = self.intx_mask;
        let (key_hi, key_pin) = (hi & mhi, u32::from(pin) & mpin);
        self.intx
            .iter()
            .find(|e| e.child_hi == key_hi && e.pin == key_pin)
            .map(|e| IntxRoute {
                intid: e.intid,
                edge: e.edge,
            })
    }

    /// How many buses the host covers.
    pub fn buses(&self) -> u32 {
        u32::from(self.bus_end) - u32::from(self.bus_start) + 1
    }
}

/// The host bridges of a tree, in tree order, disabled ones skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PciHosts<'a> {
    /// The hosts.
    pub list: Vec<PciHost<'a>, MAX_PCI_HOSTS>,
    /// More existed than [`MAX_PCI_HOSTS`].
    pub truncated: bool,
}

/// What is wrong with a host bridge node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PciError<'a> {
    /// The tree itself (a property, a phandle, a translation).
    Dtb(DtbError<'a>),
    /// A property has the wrong shape.
    Bad {
        /// The host node.
        node: &'a str,
        /// The property.
        property: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// An `interrupt-map` entry cannot be used.
    BadInterruptMap {
        /// The host node.
        node: &'a str,
        /// The entry's index.
        entry: usize,
        /// What is wrong.
        why: &'static str,
    },
}

impl<'a> From<DtbError<'a>> for PciError<'a> {
    fn from(e: DtbError<'a>) -> Self {
        PciError::Dtb(e)
    }
}

impl fmt::Display for PciError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PciError::Dtb(e) => write!(f, "{e}"),
            PciError::Bad {
                node,
                property,
                why,
            } => write!(f, "{node}: {property}: {why}"),
            PciError::BadInterruptMap { node, entry, why } => {
                write!(f, "{node}: interrupt-map entry {entry}: {why}")
            }
        }
    }
}

/// Every enabled `pci-host-ecam-generic` node of `p`'s tree: one walk, which hands each
/// host its ancestors (its `reg` and `ranges` translate through them without another walk).
pub fn pci_hosts<'a>(p: &Platform<'a>) -> Result<PciHosts<'a>, PciError<'a>> {
    let fdt: &Fdt<'a> = &p.fdt;
    let gic_phandle = p.gic.as_ref().ok().and_then(|g| g.phandle);
    // The GIC node `Platform::parse` found: an interrupt-map naming it needs no phandle walk.
    let gic_off = p.gic.as_ref().ok().map(|g| g.offset);
    let mut out = PciHosts::default();
    // A host's own error (not the walk's) ends the walk and is returned as it is.
    let mut failed = None;
    fdt.walk(|node, anc| {
        // Both in one pass over the node's properties.
        let [compatible, status] = node.props_named(["compatible", "status"])?;
        let listed = compatible.is_some_and(|v| {
            v.split(|&b| b == 0)
                .any(|s| s == PCI_HOST_ECAM_COMPATIBLE.as_bytes())
        });
        if !listed || matches!(node.str_of("status", status)?, Some("disabled" | "fail")) {
            return Ok(Walked::Next);
        }
        match parse_host(fdt, node, anc, gic_phandle, gic_off) {
            Ok(host) => {
                if out.list.push(host).is_err() {
                    out.truncated = true;
                }
                Ok(Walked::Next)
            }
            Err(e) => {
                failed = Some(e);
                Ok(Walked::Stop)
            }
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn parse_host<'a>(
    fdt: &Fdt<'a>,
    node: &Node<'a>,
    anc: &Ancestors<'a>,
    gic_phandle: Option<u32>,
    gic_off: Option<usize>,
) -> Result<PciHost<'a>, PciError<'a>> {
    let name = node.display_name();
    let bad = |property, why| PciError::Bad {
        node: name,
        property,
        why,
    };
    if node.u32_prop("#address-cells")? != Some(3) {
        return Err(bad("#address-cells", "must be 3 for a PCI bus"));
    }
    let (ecam_base, ecam_size) = fdt.reg_translated_in(node, anc, 0)?;
    let (bus_start, bus_end) = match node.prop("bus-range")? {
        None => (0, 255),
        Some(b) => {
            let (Some(s), Some(e), 8) = (be32(b, 0), be32(b, 4), b.len()) else {
                return Err(bad("bus-range", "must be two cells"));
            };
            if s > e || e > 255 {
                return Err(bad("bus-range", "must be first <= last <= 255"));
            }
            (s as u8, e as u8)
        }
    };
    let buses = u64::from(bus_end - bus_start) + 1;
    if ecam_size < ECAM_BUS_SIZE || !ecam_base.is_multiple_of(ECAM_BUS_SIZE) {
        return Err(bad(
            "reg",
            "ECAM window smaller than one bus or not 1 MiB-aligned",
        ));
    }
    // A window shorter than the bus range serves the buses it holds (Linux does the same).
    let bus_end = if ecam_size < buses * ECAM_BUS_SIZE {
        bus_start + ((ecam_size / ECAM_BUS_SIZE) - 1) as u8
    } else {
        bus_end
    };
    let mut host = PciHost {
        node: name,
        ecam_base,
        ecam_size,
        bus_start,
        bus_end,
        mem32: None,
        mem64: None,
        io: None,
        intx_mask: [u32::MAX; 4],
        intx: Vec::new(),
        dma_coherent: node.prop("dma-coherent")?.is_some(),
    };
    parse_ranges(node, anc, &mut host)?;
    parse_interrupt_map(fdt, node, gic_phandle, gic_off, &mut host)?;
    Ok(host)
}

fn parse_ranges<'a>(
    node: &Node<'a>,
    anc: &Ancestors<'a>,
    host: &mut PciHost<'a>,
) -> Result<(), PciError<'a>> {
    let bad = |why| PciError::Bad {
        node: host.node,
        property: "ranges",
        why,
    };
    let Some(ranges) = node.prop("ranges")? else {
        return Err(bad("missing: the host has no memory window"));
    };
    let parent_ac = match anc.parent() {
        Some(p) => p.address_cells()?,
        None => 2,
    };
    let sc = node.size_cells()?;
    if parent_ac > 2 || sc > 2 {
        return Err(bad("parent #address-cells or #size-cells above 2"));
    }
    let entry = (3 + parent_ac + sc) as usize * 4;
    if ranges.is_empty() || ranges.len() % entry != 0 {
        return Err(bad("length is not a multiple of an entry"));
    }
    for e in ranges.chunks_exact(entry) {
        let (Some(hi), Some(pci_addr)) = (be32(e, 0), e.get(4..).and_then(|r| read_cells(r, 2)))
        else {
            return Err(bad("short entry"));
        };
        let parent = e.get(12..).and_then(|r| read_cells(r, parent_ac));
        let size = e
            .get(12 + parent_ac as usize * 4..)
            .and_then(|r| read_cells(r, sc));
        let (Some(parent), Some(size)) = (parent, size) else {
            return Err(bad("short entry"));
        };
        let space = match (hi >> 24) & 3 {
            1 => PciSpace::Io,
            2 => PciSpace::Mem32,
            3 => PciSpace::Mem64,
            _ => continue, // configuration space: not a window
        };
        if size == 0 {
            continue;
        }
        if space == PciSpace::Mem32 && pci_addr.checked_add(size).is_none_or(|end| end > 1 << 32) {
            return Err(bad("a 32-bit memory window reaches past 4 GiB"));
        }
        let w = PciWindow {
            space,
            prefetchable: hi & (1 << 30) != 0,
            pci_addr,
            cpu_addr: Fdt::translate_through(anc, parent)?,
            size,
        };
        let slot = match space {
            PciSpace::Io => &mut host.io,
            PciSpace::Mem32 if !w.prefetchable => &mut host.mem32,
            PciSpace::Mem32 => continue,
            PciSpace::Mem64 => &mut host.mem64,
        };
        if slot.is_none() {
            *slot = Some(w);
        }
    }
    Ok(())
}

fn is_gic(node: &Node<'_>) -> bool {
    node.strings("compatible")
        .map(|mut cs| cs.any(|c| c == GICV3_COMPATIBLE || GICV2_COMPATIBLES.contains(&c)))
        .unwrap_or(false)
}

fn parse_interrupt_map<'a>(
    fdt: &Fdt<'a>,
    node: &Node<'a>,
    gic_phandle: Option<u32>,
    gic_off: Option<usize>,
    host: &mut PciHost<'a>,
) -> Result<(), PciError<'a>> {
    let name = host.node;
    let Some(map) = node.prop("interrupt-map")? else {
        // No legacy interrupts (MSI-only hosts): devices then get none.
        return Ok(());
    };
    if node.u32_prop("#interrupt-cells")? != Some(1) {
        return Err(PciError::Bad {
            node: name,
            property: "#interrupt-cells",
            why: "must be 1 (the INTx pin) beside an interrupt-map",
        });
    }
    if let Some(m) = node.prop("interrupt-map-mask")? {
        for (i, slot) in host.intx_mask.iter_mut().enumerate() {
            *slot = match (be32(m, i * 4), m.len()) {
                (Some(v), 16) => v,
                _ => {
                    return Err(PciError::Bad {
                        node: name,
                        property: "interrupt-map-mask",
                        why: "must be 4 cells (3 address + 1 pin)",
                    })
                }
            };
        }
    }
    let [mhi, _, _, mpin] = host.intx_mask;
    let mut rest = map;
    let mut entry = 0;
    // The last interrupt parent looked up: its phandle, #address-cells, #interrupt-cells.
    let mut parent_cells: Option<(u32, u32, u32)> = None;
    while !rest.is_empty() {
        let bad = |why| PciError::BadInterruptMap {
            node: name,
            entry,
            why,
        };
        let (Some(hi), Some(pin), Some(ph)) = (be32(rest, 0), be32(rest, 12), be32(rest, 16))
        else {
            return Err(bad("truncated (the property ends inside the entry)"));
        };
        // Every entry of a real map names the same parent (QEMU virt: 128 entries, all the
        // GIC), and finding a node by phandle walks the whole tree: look it up once per run of
        // equal phandles.
        let (pac, pic) = match parent_cells {
            Some((p, pac, pic)) if p == ph => (pac, pic),
            _ => {
                let known = match gic_off {
                    Some(off) if Some(ph) == gic_phandle => fdt.node_at_offset(off).ok(),
                    _ => None,
                };
                let parent = match known {
                    Some(n) => n,
                    None => fdt
                        .by_phandle(ph)
                        .map_err(|_| bad("its interrupt parent phandle names no node"))?,
                };
                if !(Some(ph) == gic_phandle || (gic_phandle.is_none() && is_gic(&parent))) {
                    return Err(bad("its interrupt parent is not the GIC"));
                }
                let pac = parent.u32_prop("#address-cells")?.unwrap_or(0);
                let pic = parent.u32_prop("#interrupt-cells")?.unwrap_or(0);
                parent_cells = Some((ph, pac, pic));
                (pac, pic)
            }
        };
        if pac > 2 || !(2..=4).contains(&pic) {
            return Err(bad(
                "the GIC's #address-cells / #interrupt-cells are unusable",
            ));
        }
        let spec_at = 20 + pac as usize * 4;
        let len = spec_at + pic as usize * 4;
        let (Some(spec), Some(next)) = (rest.get(spec_at..len), rest.get(len..)) else {
            return Err(bad("truncated (the property ends inside the entry)"));
        };
        let (Some(kind), Some(num)) = (be32(spec, 0), be32(spec, 4)) else {
            return Err(bad("truncated GIC specifier"));
        };
        if kind != 0 || num >= 988 {
            return Err(bad("not a GIC SPI (type 0, number < 988)"));
        }
        if pin == 0 || pin > 4 {
            return Err(bad("child pin is not 1..4 (INTA..INTD)"));
        }
        let flags = be32(spec, 8).unwrap_or(4);
        let e = IntxEntry {
            child_hi: hi & mhi,
            pin: pin & mpin,
            intid: 32 + num,
            edge: flags & 0b11 != 0,
        };
        if host.intx.push(e).is_err() {
            return Err(bad("more entries than fit (MAX_INTX_ENTRIES)"));
        }
        rest = next;
        entry += 1;
    }
    Ok(())
}

/// `dtb-check`'s lines for the host bridges of `p`.
pub fn report(f: &mut fmt::Formatter<'_>, p: &Platform<'_>) -> fmt::Result {
    let hosts = match pci_hosts(p) {
        Err(e) => return writeln!(f, "pci: error: {e}"),
        Ok(h) => h,
    };
    writeln!(f, "pci: {} host bridge(s)", hosts.list.len())?;
    for h in &hosts.list {
        writeln!(
            f,
            "pci: {} ecam {:#x} size {:#x}, buses {}..={}{}",
            h.node,
            h.ecam_base,
            h.ecam_size,
            h.bus_start,
            h.bus_end,
            if h.dma_coherent { ", dma-coherent" } else { "" }
        )?;
        for (what, w) in [("mem32", h.mem32), ("mem64", h.mem64), ("io", h.io)] {
            match w {
                None => writeln!(f, "pci: {} {what}: none", h.node)?,
                Some(w) => writeln!(
                    f,
                    "pci: {} {what}: cpu {:#x} pci {:#x} size {:#x}{}",
                    h.node,
                    w.cpu_addr,
                    w.pci_addr,
                    w.size,
                    if w.prefetchable { " prefetchable" } else { "" }
                )?,
            }
        }
        let [a, b, c, d] = h.intx_mask;
        writeln!(
            f,
            "pci: {} intx: {} interrupt-map entries, mask {a:#x} {b:#x} {c:#x} {d:#x}",
            h.node,
            h.intx.len()
        )?;
        for e in &h.intx {
            writeln!(
                f,
                "pci: {} intx: device {} INT{} -> INTID {} ({})",
                h.node,
                (e.child_hi >> 11) & 31,
                char::from(b'A' + (e.pin.wrapping_sub(1) & 3) as u8),
                e.intid,
                if e.edge { "edge" } else { "level" }
            )?;
        }
    }
    if hosts.truncated {
        writeln!(f, "pci: (more host bridges than fit; list truncated)")?;
    }
    Ok(())
}
