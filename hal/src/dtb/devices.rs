//! I/O devices described by the DTB: virtio-mmio transports (`compatible = "virtio,mmio"`).
//!
//! Only what the tree says: the register window and the interrupt. Which virtio device sits
//! behind a transport (block, network, none) is read from its registers by the kernel
//! (`kernel/src/io/`); QEMU's `virt` lists 32 transports, most of them empty.
//!
//! Same constraints as the rest of [`super`]: no allocation, no panics, bounded loops.

use heapless::Vec;

use super::error::DtbError;
use super::fdt::{be32, Fdt, Node, Walked};
use super::interrupts::Controllers;
use super::platform::{Interrupt, Platform};

/// virtio-mmio transports kept (QEMU `virt` has 32; more are dropped and flagged).
pub const MAX_VIRTIO_MMIO: usize = 64;

/// The `compatible` string of a virtio-mmio transport.
pub const VIRTIO_MMIO_COMPATIBLE: &str = "virtio,mmio";

/// One virtio-mmio transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioMmio<'a> {
    /// The node's name (e.g. `virtio_mmio@a000000`).
    pub node: &'a str,
    /// `reg[0]`, translated to a CPU physical address.
    pub base: u64,
    /// Size of the register window.
    pub size: u64,
    /// Its interrupt.
    pub interrupt: Interrupt,
    /// The interrupt is edge-triggered (GIC specifier flags 1 or 2), else level.
    pub edge: bool,
}

/// The virtio-mmio transports of a tree, in tree order, disabled ones skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtioMmioList<'a> {
    /// The transports.
    pub list: Vec<VirtioMmio<'a>, MAX_VIRTIO_MMIO>,
    /// More existed than [`MAX_VIRTIO_MMIO`].
    pub truncated: bool,
}

/// Whether the GIC specifier of interrupt `index` of `node` says edge-triggered (the third
/// cell's low bits: 1 = rising, 2 = falling; 4 / 8 = level). Two-cell or missing specifiers
/// read as level.
fn edge_triggered(node: &Node<'_>, index: usize) -> bool {
    let Ok(Some(ints)) = node.prop("interrupts") else {
        return false;
    };
    let Some(flags) = index
        .checked_mul(12)
        .and_then(|off| off.checked_add(8))
        .and_then(|off| be32(ints, off))
    else {
        return false;
    };
    flags & 0b11 != 0
}

/// Every enabled `virtio,mmio` node of `p`'s tree, found in one walk of the tree: each node's
/// ancestors (for its `reg` translation and an inherited `interrupt-parent`) come with the
/// walk, and each interrupt controller is looked up by its phandle once for all of them.
pub fn virtio_mmio<'a>(p: &Platform<'a>) -> Result<VirtioMmioList<'a>, DtbError<'a>> {
    let fdt: &Fdt<'a> = &p.fdt;
    let gic_phandle = p.gic.as_ref().ok().and_then(|g| g.phandle);
    let mut ctl = Controllers::new(fdt, gic_phandle);
    // The transports' interrupt parent is the GIC (on every board we know): start from the
    // node `Platform::parse` found instead of a walk to find it again.
    if let Ok(gic) = &p.gic {
        if let (Some(ph), Ok(node)) = (gic.phandle, fdt.node_at_offset(gic.offset)) {
            ctl.know(ph, node);
        }
    }
    let mut out = VirtioMmioList::default();
    // The `reg` cells of the last transport's parent (its siblings share them).
    let mut cells: Option<(usize, (u32, u32))> = None;
    fdt.walk(|node, anc| {
        // Both in one pass over the node's properties; every other node of the tree is
        // passed over after it.
        let [compatible, status] = node.props_named(["compatible", "status"])?;
        let listed = compatible.is_some_and(|v| {
            v.split(|&b| b == 0)
                .any(|s| s == VIRTIO_MMIO_COMPATIBLE.as_bytes())
        });
        if !listed || matches!(node.str_of("status", status)?, Some("disabled" | "fail")) {
            return Ok(Walked::Next);
        }
        let reg_cells = match (cells, anc.parent_off()) {
            (Some((at, c)), Some(parent)) if at == parent => c,
            (_, parent) => {
                let c = anc.reg_cells()?;
                cells = parent.map(|at| (at, c));
                c
            }
        };
        let (base, size) = fdt.reg_translated_cells(node, anc, reg_cells, 0)?;
        let dev = VirtioMmio {
            node: node.display_name(),
            base,
            size,
            interrupt: ctl.interrupt(node, Some(anc), 0)?,
            edge: edge_triggered(node, 0),
        };
        if out.list.push(dev).is_err() {
            out.truncated = true;
        }
        Ok(Walked::Next)
    })?;
    Ok(out)
}
