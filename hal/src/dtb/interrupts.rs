//! Interrupt specifiers: a node's `interrupts` (with the nearest `interrupt-parent`) or
//! `interrupts-extended`, decoded to a GIC INTID when the controller is the GIC or hands its
//! specifiers through to it.
//!
//! Finding a controller by its phandle is a walk of the whole structure block, so
//! `Controllers` remembers the ones found: a discovery that resolves many nodes'
//! interrupts (QEMU `virt`'s 32 virtio-mmio transports, all on the GIC) looks the GIC up
//! once. The nearest `interrupt-parent` is read from the node's [`Ancestors`], which a
//! caller walking the tree with [`Fdt::walk`] already has.

use heapless::Vec;

use super::error::DtbError;
use super::fdt::{be32, Ancestors, Fdt, Node};
use super::platform::{Interrupt, GICV2_COMPATIBLES, GICV3_COMPATIBLE};

/// Controllers remembered per [`Controllers`] (a tree rarely has more than the GIC and a
/// few stacked ones; past this, lookups walk the tree again).
const KNOWN: usize = 4;

/// Whether `node` is a GIC we drive (GICv3, or one a Linux GICv2 driver takes).
pub(crate) fn is_gic(node: &Node<'_>) -> bool {
    let Ok(Some(v)) = node.prop("compatible") else {
        return false;
    };
    v.split(|&c| c == 0).any(|c| {
        c == GICV3_COMPATIBLE.as_bytes() || GICV2_COMPATIBLES.iter().any(|g| c == g.as_bytes())
    })
}

/// A node found by its phandle, with its `#interrupt-cells` (read once).
#[derive(Clone, Copy)]
struct Known<'a> {
    phandle: u32,
    node: Node<'a>,
    cells: Result<Option<u32>, DtbError<'a>>,
}

/// Interrupt controllers of one tree found by phandle, kept for the next lookup.
pub(crate) struct Controllers<'a> {
    fdt: Fdt<'a>,
    gic_phandle: Option<u32>,
    known: Vec<Known<'a>, KNOWN>,
    /// The `interrupt-parent` the last node without one inherited, and (the offset of) its
    /// parent node: its siblings inherit the same.
    inherited: Option<(usize, Option<u32>)>,
}

impl<'a> Controllers<'a> {
    /// Lookups in `fdt`, whose GIC (the controller the kernel drives) has `gic_phandle`.
    pub(crate) fn new(fdt: &Fdt<'a>, gic_phandle: Option<u32>) -> Self {
        Controllers {
            fdt: *fdt,
            gic_phandle,
            known: Vec::new(),
            inherited: None,
        }
    }

    /// Remember `node` as the node with `phandle` (found by the caller some other way).
    pub(crate) fn know(&mut self, phandle: u32, node: Node<'a>) {
        self.remember(phandle, node);
    }

    fn remember(&mut self, phandle: u32, node: Node<'a>) -> Known<'a> {
        if let Some(k) = self.known.iter().find(|k| k.phandle == phandle) {
            return *k;
        }
        let k = Known {
            phandle,
            node,
            cells: node.u32_prop("#interrupt-cells"),
        };
        // Full: later lookups of it walk the tree (correct, only slower).
        let _ = self.known.push(k);
        k
    }

    /// The node whose phandle is `phandle` ([`Fdt::by_phandle`], remembered).
    pub(crate) fn by_phandle(&mut self, phandle: u32) -> Result<Node<'a>, DtbError<'a>> {
        if let Some(k) = self.known.iter().find(|k| k.phandle == phandle) {
            return Ok(k.node);
        }
        let node = self.fdt.by_phandle(phandle)?;
        Ok(self.remember(phandle, node).node)
    }

    /// `#interrupt-cells` of the node whose phandle is `phandle`.
    fn cells(&mut self, phandle: u32) -> Result<Result<Option<u32>, DtbError<'a>>, DtbError<'a>> {
        if let Some(k) = self.known.iter().find(|k| k.phandle == phandle) {
            return Ok(k.cells);
        }
        let node = self.fdt.by_phandle(phandle)?;
        Ok(self.remember(phandle, node).cells)
    }

    /// The node's own `interrupt-parent`, if it names another node.
    pub(crate) fn own_parent(&mut self, node: &Node<'a>) -> Result<Option<Node<'a>>, DtbError<'a>> {
        match node.u32_prop("interrupt-parent")? {
            Some(ph) => {
                let parent = self.by_phandle(ph)?;
                Ok((parent != *node).then_some(parent))
            }
            None => Ok(None),
        }
    }

    /// From the interrupt controller `first`, follow `interrupt-parent` links (a GPC, an
    /// ictlr, a wakeup controller stacked on the GIC) until a GIC; `first` itself when the
    /// chain ends without one. Bounded by [`super::fdt::MAX_DEPTH`] links (a cycle ends
    /// there).
    pub(crate) fn follow_to_gic(&mut self, first: Node<'a>) -> Result<Node<'a>, DtbError<'a>> {
        let mut node = first;
        for _ in 0..super::fdt::MAX_DEPTH {
            if is_gic(&node) {
                return Ok(node);
            }
            match self.own_parent(&node)? {
                Some(parent) => node = parent,
                None => break,
            }
        }
        Ok(first)
    }

    /// Whether `ctrl` is a controller stacked on the GIC that hands its specifiers through
    /// unchanged (i.MX8's GPC, Tegra's ictlr: a hierarchical domain with the GIC's
    /// `#interrupt-cells`, whose `interrupt-parent` chain reaches the GIC).
    fn passes_to_gic(&mut self, ctrl: &Node<'a>) -> Result<bool, DtbError<'a>> {
        let Some(gic_ph) = self.gic_phandle else {
            return Ok(false);
        };
        let gic = self.by_phandle(gic_ph)?;
        let cells = gic.u32_prop("#interrupt-cells")?;
        let mut node = *ctrl;
        for _ in 0..super::fdt::MAX_DEPTH {
            if node.prop("interrupt-controller")?.is_none()
                || node.u32_prop("#interrupt-cells")? != cells
            {
                return Ok(false);
            }
            match self.own_parent(&node)? {
                Some(parent) if parent == gic => return Ok(true),
                Some(parent) => node = parent,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Interrupt number `index` of `node`, from `interrupts-extended` or from `interrupts`
    /// with the nearest `interrupt-parent` (the node's own or an ancestor's). `anc`: the
    /// node's ancestors if the caller has them (else found when needed, one walk).
    pub(crate) fn interrupt(
        &mut self,
        node: &Node<'a>,
        anc: Option<&Ancestors<'a>>,
        index: usize,
    ) -> Result<Interrupt, DtbError<'a>> {
        let mut out = [Interrupt::None];
        self.interrupts(node, anc, index, &mut out)?;
        Ok(out[0])
    }

    /// Interrupts number `first..first + out.len()` of `node` into `out`, as
    /// [`Controllers::interrupt`] would find each (the first failing one's error), with the
    /// interrupt parent looked up once for all of them.
    pub(crate) fn interrupts(
        &mut self,
        node: &Node<'a>,
        anc: Option<&Ancestors<'a>>,
        first: usize,
        out: &mut [Interrupt],
    ) -> Result<(), DtbError<'a>> {
        let bad = DtbError::BadInterrupt {
            node: node.display_name(),
        };
        let cells_of = |cells: Result<Option<u32>, DtbError<'a>>| -> Result<usize, DtbError<'a>> {
            let c = cells?.ok_or(bad)?;
            if c == 0 || c > 4 {
                return Err(bad);
            }
            Ok(c as usize * 4)
        };
        // One pass over the node's properties for the three that can matter.
        let [ext, ints, own] =
            node.props_named(["interrupts-extended", "interrupts", "interrupt-parent"])?;
        if let Some(ext) = ext {
            for (k, slot) in out.iter_mut().enumerate() {
                let index = first + k;
                let mut rest = ext;
                let mut found = None;
                for i in 0..=index {
                    let ph = be32(rest, 0).ok_or(bad)?;
                    let len = cells_of(self.cells(ph)?)?;
                    let spec = rest.get(4..4 + len).ok_or(bad)?;
                    if i == index {
                        found = Some(self.decode(node, ph, spec)?);
                        break;
                    }
                    rest = rest.get(4 + len..).ok_or(bad)?;
                }
                *slot = found.ok_or(bad)?;
            }
            return Ok(());
        }
        let Some(ints) = ints else {
            out.fill(Interrupt::None);
            return Ok(());
        };
        let mut ph = node.u32_of("interrupt-parent", own)?;
        if ph.is_none() {
            let walked;
            let anc = match anc {
                Some(a) => a,
                None => {
                    walked = self.fdt.ancestors(node)?;
                    &walked
                }
            };
            ph = match (self.inherited, anc.parent_off()) {
                // Siblings inherit the same: looked up once per parent.
                (Some((at, inherited)), Some(parent)) if at == parent => inherited,
                (_, parent) => {
                    let mut inherited = None;
                    for a in anc.iter().rev() {
                        if let Some(p) = a.u32_prop("interrupt-parent")? {
                            inherited = Some(p);
                            break;
                        }
                    }
                    self.inherited = parent.map(|at| (at, inherited));
                    inherited
                }
            };
        }
        let ph = ph.ok_or(bad)?;
        let len = cells_of(self.cells(ph)?)?;
        for (k, slot) in out.iter_mut().enumerate() {
            let start = (first + k).checked_mul(len).ok_or(bad)?;
            let spec = ints.get(start..start + len).ok_or(bad)?;
            *slot = self.decode(node, ph, spec)?;
        }
        Ok(())
    }

    /// The specifier `spec` of `node` on the controller with phandle `ph` (its node is
    /// looked at only when `ph` is not the GIC's).
    fn decode(&mut self, node: &Node<'a>, ph: u32, spec: &[u8]) -> Result<Interrupt, DtbError<'a>> {
        let on_gic = Some(ph) == self.gic_phandle || {
            let ctrl = self.by_phandle(ph)?;
            (self.gic_phandle.is_none() && is_gic(&ctrl)) || self.passes_to_gic(&ctrl)?
        };
        if on_gic {
            Ok(Interrupt::Intid(gic_intid(node, spec)?))
        } else {
            Ok(Interrupt::NotGic(ph))
        }
    }
}

/// Decodes a GIC interrupt specifier (type, number, flags...) into an INTID.
fn gic_intid<'a>(node: &Node<'a>, spec: &[u8]) -> Result<u32, DtbError<'a>> {
    let bad = DtbError::BadInterrupt {
        node: node.display_name(),
    };
    let (kind, num) = (be32(spec, 0).ok_or(bad)?, be32(spec, 4).ok_or(bad)?);
    let (base, max) = match kind {
        0 => (32, 988),    // SPI
        1 => (16, 16),     // PPI
        2 => (4096, 1024), // extended SPI
        3 => (1056, 64),   // extended PPI
        _ => return Err(bad),
    };
    if num >= max {
        return Err(bad);
    }
    Ok(base + num)
}
