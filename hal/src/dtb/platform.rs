//! The platform description the kernel needs, discovered from a DTB: RAM, console, GIC,
//! PSCI, CPUs, timer, bootargs.
//!
//! [`Platform::parse`] fails only when the blob itself is unusable (header, structure
//! block). Each discovered part is kept as its own `Result`, so a checker can report
//! everything that is right and everything that is wrong about a board in one pass;
//! [`super::bootability`] turns those into the kernel's verdict.

use heapless::Vec;

use super::error::DtbError;
use super::fdt::{be32, be64, read_cells, Ancestors, Fdt, Node, Reg, Walked};
use super::interrupts::{is_gic, Controllers};
use crate::uart::{UartDriver, UartProps};

/// RAM, reserved and reservation-map ranges kept (more are dropped and flagged).
pub const MAX_RANGES: usize = 16;
/// CPUs kept (more are dropped and flagged, and the verdict warns about them). GICv2 routes
/// to 8 cores; GICv3's affinity routing has no such limit, so this only bounds what one
/// parse holds (QEMU `virt` with GICv3 has at most 512 CPUs).
pub const MAX_CPUS: usize = 512;
/// GICv3 redistributor regions kept.
pub const MAX_REDIST_REGIONS: usize = 8;

/// A physical address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Start address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
}

/// A fixed-capacity list of ranges that remembers whether some did not fit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Regions {
    /// The ranges, in DTB order.
    pub list: Vec<Region, MAX_RANGES>,
    /// More ranges existed than [`MAX_RANGES`]; the extra ones are not in `list`.
    pub truncated: bool,
}

impl Regions {
    fn push(&mut self, r: Region) {
        if self.list.push(r).is_err() {
            self.truncated = true;
        }
    }
}

/// RAM and what must not be touched in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// `reg` of every `device_type = "memory"` node under the root, size-0 entries skipped.
    pub ram: Regions,
    /// How many size-0 RAM entries were skipped (the Pi firmware fills them in at boot).
    pub zero_sized: usize,
    /// `reg` of every `/reserved-memory` child (dynamically placed ones have none).
    pub reserved: Regions,
    /// The FDT memory reservation block.
    pub rsvmap: Regions,
}

/// An interrupt as the GIC sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// The node has no `interrupts` / `interrupts-extended`.
    None,
    /// A GIC INTID (SGI 0-15, PPI 16-31, SPI 32-1019, EPPI 1056-1119, ESPI 4096-5119).
    Intid(u32),
    /// Routed to an interrupt controller that is not the GIC (phandle given).
    NotGic(u32),
}

/// The UART driver a console needs (looked up in [`crate::uart::DRIVERS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartKind<'a> {
    /// A driver we have, and the node's `reg-shift` / `reg-io-width` (read only when the
    /// driver uses them, else their defaults).
    Driver(&'static UartDriver, UartProps),
    /// No driver: the first `compatible` string.
    Unknown(&'a str),
}

/// The console: the node `/chosen/stdout-path` names or, without one, the first enabled UART
/// we have a driver for, in tree order (Firecracker and crosvm give no stdout-path; Linux
/// would use that UART as ttyS0/ttyAMA0 too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Console<'a> {
    /// The node's name (e.g. `serial@7e215040`).
    pub node: &'a str,
    /// What stdout-path said, without options (an alias or a path); [`FIRST_UART`] when
    /// there was no stdout-path.
    pub path: &'a str,
    /// The options after `:` (e.g. `115200n8`).
    pub options: Option<&'a str>,
    /// The compatible string that chose `kind`.
    pub compatible: &'a str,
    /// The driver for it, or none.
    pub kind: UartKind<'a>,
    /// `reg[0]` translated through every parent's `ranges` to a CPU physical address.
    pub base: u64,
    /// Size of that `reg` entry.
    pub size: u64,
    /// Its interrupt (for TX draining and input).
    pub interrupt: Interrupt,
}

/// The GIC's architecture version and register frames (CPU physical addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GicKind {
    /// GICv2 (`arm,gic-400`, `arm,cortex-a15-gic`, ...): distributor and CPU interface.
    V2 {
        /// The distributor (GICD).
        dist: Region,
        /// The CPU interface (GICC).
        cpu_if: Region,
    },
    /// GICv3 (`arm,gic-v3`): distributor and redistributor regions.
    V3 {
        /// The distributor (GICD).
        dist: Region,
        /// The redistributor regions (GICR).
        redistributors: Vec<Region, MAX_REDIST_REGIONS>,
        /// `redistributor-stride`, when the frames are not packed at 128 KiB (v3) steps.
        redistributor_stride: Option<u64>,
    },
}

/// The interrupt controller the kernel drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gic<'a> {
    /// The controller node's name.
    pub node: &'a str,
    /// The `compatible` string that chose `kind`.
    pub compatible: &'a str,
    /// Its phandle (what `interrupt-parent` names).
    pub phandle: Option<u32>,
    /// Its version and register frames.
    pub kind: GicKind,
    /// Where its node begins in the structure block ([`Fdt::node_at_offset`]): later
    /// lookups of its interrupts (device discovery) start from the node, not a walk.
    pub offset: usize,
}

/// How PSCI calls reach the firmware or hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    /// `method = "hvc"`: HVC #0.
    Hvc,
    /// `method = "smc"`: SMC #0.
    Smc,
}

/// Which PSCI binding the node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsciVersion {
    /// `arm,psci`: function ids come from the node.
    V0_1,
    /// `arm,psci-0.2`: standard function ids.
    V0_2,
    /// `arm,psci-1.0`.
    V1_0,
}

/// The `/psci` node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Psci {
    /// The binding (and so the function ids).
    pub version: PsciVersion,
    /// How calls reach the firmware.
    pub conduit: Conduit,
    /// `cpu_on` function id (PSCI 0.1 only; 0.2+ use the standard id).
    pub cpu_on: Option<u32>,
}

/// How a secondary CPU is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnableMethod<'a> {
    /// `enable-method = "psci"`: PSCI CPU_ON.
    Psci,
    /// Write the entry point at `release_addr`, then SEV.
    SpinTable {
        /// `cpu-release-addr` (`None` if the node lacks it).
        release_addr: Option<u64>,
    },
    /// Another method (we cannot use it).
    Other(&'a str),
    /// No `enable-method`.
    None,
}

/// One `/cpus/cpu@*` node with `device_type = "cpu"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpu<'a> {
    /// The CPU node's name.
    pub node: &'a str,
    /// MPIDR affinity bits from `reg`.
    pub mpidr: u64,
    /// How to start it.
    pub enable_method: EnableMethod<'a>,
    /// `status` is "disabled" (or "fail").
    pub disabled: bool,
}

/// The CPUs, in tree order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cpus<'a> {
    /// The CPUs, in tree order.
    pub list: Vec<Cpu<'a>, MAX_CPUS>,
    /// More CPUs existed than [`MAX_CPUS`].
    pub truncated: bool,
}

/// The architected timer's interrupts as GIC INTIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer<'a> {
    /// The timer node's name.
    pub node: &'a str,
    /// Secure EL1 physical timer (CNTPS).
    pub secure_phys: u32,
    /// Non-secure EL1 physical timer (CNTP).
    pub non_secure_phys: u32,
    /// Virtual timer (CNTV).
    pub virt: u32,
    /// EL2 physical timer (CNTHP).
    pub hyp: u32,
}

/// Everything the kernel learns from the DTB.
#[derive(Debug, Clone)]
pub struct Platform<'a> {
    /// The parsed blob, for anything not summarised here.
    pub fdt: Fdt<'a>,
    /// The root's `model`.
    pub model: Option<&'a str>,
    /// The root's first `compatible` string.
    pub compatible: Option<&'a str>,
    /// `/chosen/bootargs`.
    pub bootargs: Option<&'a str>,
    /// RAM and reserved ranges.
    pub memory: Result<Memory, DtbError<'a>>,
    /// `Ok(None)`: no stdout-path and no UART we have a driver for.
    pub console: Result<Option<Console<'a>>, DtbError<'a>>,
    /// The interrupt controller.
    pub gic: Result<Gic<'a>, DtbError<'a>>,
    /// `Ok(None)`: no `/psci` node.
    pub psci: Result<Option<Psci>, DtbError<'a>>,
    /// The CPUs.
    pub cpus: Result<Cpus<'a>, DtbError<'a>>,
    /// `Ok(None)`: no `arm,armv8-timer` / `arm,armv7-timer` node.
    pub timer: Result<Option<Timer<'a>>, DtbError<'a>>,
}

/// The compatibles Linux's GICv2 driver (`drivers/irqchip/irq-gic.c`, `IRQCHIP_DECLARE`)
/// takes: all the same distributor / CPU-interface programming model.
pub const GICV2_COMPATIBLES: [&str; 12] = [
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
    "arm,arm11mp-gic",
    "arm,arm1176jzf-devchip-gic",
    "arm,eb11mp-gic",
    "arm,tc11mp-gic",
    "arm,pl390",
    "brcm,brahma-b15-gic",
    "qcom,msm-8660-qgic",
    "qcom,msm-qgic2",
];
/// The compatible Linux's GICv3 driver (`irq-gic-v3.c`) takes.
pub const GICV3_COMPATIBLE: &str = "arm,gic-v3";

impl<'a> Platform<'a> {
    /// Validates the blob (header and the whole structure block) and discovers the platform.
    pub fn parse(dtb: &'a [u8]) -> Result<Self, DtbError<'a>> {
        let fdt = Fdt::new(dtb)?;
        // One full walk checks every token, name and property of the structure block, so
        // later lookups only fail for semantic reasons.
        fdt.validate()?;
        let root = fdt.root()?;
        let top = TopNodes::find(&root)?;
        let chosen = top.chosen;
        let bootargs = match chosen {
            Some(c) => c.str_prop("bootargs").ok().flatten(),
            None => None,
        };
        let (gic, gic_node) = match find_gic(&fdt, &root) {
            Ok((gic, node)) => (Ok(gic), Some(node)),
            Err(e) => (Err(e), None),
        };
        let gic_phandle = gic.as_ref().ok().and_then(|g| g.phandle);
        // The console's and the timer's interrupt parent is the GIC found above (on every
        // board we know): no second walk to find it by its phandle.
        let mut ctl = Controllers::new(&fdt, gic_phandle);
        if let (Some(ph), Some(node)) = (gic_phandle, gic_node) {
            ctl.know(ph, node);
        }
        let mut p = Platform {
            fdt,
            model: root.str_prop("model").ok().flatten(),
            compatible: root.str_prop("compatible").ok().flatten(),
            bootargs,
            memory: find_memory(&fdt, &root, &top),
            console: find_console(&fdt, chosen, top.children.as_deref(), &mut ctl),
            psci: find_psci(top.psci, top.firmware),
            cpus: Ok(Cpus::default()),
            timer: find_timer(&fdt, &mut ctl),
            gic,
        };
        // Filled in place: the list is big (MAX_CPUS entries), and each move of it is a copy.
        if let Ok(list) = &mut p.cpus {
            if let Err(e) = find_cpus(top.cpus, list) {
                p.cpus = Err(e);
            }
        }
        Ok(p)
    }
}

/// Root children whose offsets [`TopNodes`] keeps (QEMU `virt` has about 50).
const MAX_TOP_NODES: usize = 128;

/// The root's children that discovery looks up by name, found in one pass over them (each
/// [`Fdt::find`] of a top-level path would walk the root's children again). A name matches
/// as in [`Fdt::find`]: exactly, or before its `@`; the first match wins.
#[derive(Default)]
struct TopNodes<'a> {
    /// Where each of the root's children begins, when all fit: later passes over them
    /// (memory nodes, the first component of `stdout-path`) read these instead of walking
    /// the tree again.
    children: Option<Vec<usize, MAX_TOP_NODES>>,
    chosen: Option<Node<'a>>,
    reserved_memory: Option<Node<'a>>,
    psci: Option<Node<'a>>,
    firmware: Option<Node<'a>>,
    cpus: Option<Node<'a>>,
}

impl<'a> TopNodes<'a> {
    fn find(root: &Node<'a>) -> Result<Self, DtbError<'a>> {
        let mut t = TopNodes {
            children: Some(Vec::new()),
            ..TopNodes::default()
        };
        for child in root.children() {
            let child = child?;
            if let Some(list) = &mut t.children {
                if list.push(child.offset()).is_err() {
                    t.children = None;
                }
            }
            let base = child.name.split('@').next().unwrap_or(child.name);
            let slot = match base {
                "chosen" => &mut t.chosen,
                "reserved-memory" => &mut t.reserved_memory,
                "psci" => &mut t.psci,
                "firmware" => &mut t.firmware,
                "cpus" => &mut t.cpus,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(child);
            }
        }
        Ok(t)
    }
}

fn find_memory<'a>(
    fdt: &Fdt<'a>,
    root: &Node<'a>,
    top: &TopNodes<'a>,
) -> Result<Memory, DtbError<'a>> {
    let mut m = Memory::default();
    let (ac, sc) = root.address_size_cells()?;
    let mut found = false;
    // The root's children from the offsets `TopNodes` kept, else by walking them again.
    let mut listed = top
        .children
        .iter()
        .flatten()
        .map(|&off| fdt.node_at_offset(off));
    let mut walked = top.children.is_none().then(|| root.children());
    let mut next = || match &mut walked {
        Some(w) => w.next(),
        None => listed.next(),
    };
    while let Some(node) = next() {
        let node = node?;
        if node.str_prop("device_type")? != Some("memory") {
            continue;
        }
        found = true;
        for (base, size) in Reg::with_cells(&node, ac, sc)? {
            if size == 0 {
                m.zero_sized += 1;
            } else {
                m.ram.push(Region { base, size });
            }
        }
    }
    if !found {
        return Err(DtbError::MissingMemory);
    }
    if let Some(resv) = top.reserved_memory {
        let (ac, sc) = resv.address_size_cells()?;
        for child in resv.children() {
            let child = child?;
            if child.prop("reg")?.is_none() {
                continue;
            }
            for (addr, size) in Reg::with_cells(&child, ac, sc)? {
                if size != 0 {
                    let base = fdt.translate(&child, addr)?;
                    m.reserved.push(Region { base, size });
                }
            }
        }
    }
    for r in fdt.reservations() {
        let (base, size) = r?;
        m.rsvmap.push(Region { base, size });
    }
    Ok(m)
}

/// What `stdout-path` names: the target (alias or path), its options, the node and its
/// ancestors.
type StdoutTarget<'a> = (&'a str, Option<&'a str>, Node<'a>, Ancestors<'a>);

/// Splits `stdout-path` into the target and its options, and finds the node.
fn resolve_stdout<'a>(
    fdt: &Fdt<'a>,
    chosen: &Node<'a>,
    top: Option<&[usize]>,
) -> Result<Option<StdoutTarget<'a>>, DtbError<'a>> {
    let raw = match chosen.str_prop("stdout-path")? {
        Some(p) => p,
        None => match chosen.str_prop("linux,stdout-path")? {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    let (target, options) = match raw.split_once(':') {
        Some((t, o)) => (t, Some(o)),
        None => (raw, None),
    };
    let path = if target.starts_with('/') {
        target
    } else {
        let aliases = fdt.find("/aliases")?.ok_or(DtbError::NoSuchAlias(target))?;
        let v = aliases.prop(target)?.ok_or(DtbError::NoSuchAlias(target))?;
        let len = v.iter().position(|&c| c == 0).unwrap_or(v.len());
        let s = v.get(..len).and_then(|s| core::str::from_utf8(s).ok());
        s.ok_or(DtbError::BadPropertyLength {
            node: "aliases",
            property: "alias",
            len: v.len(),
        })?
    };
    let (node, anc) = fdt
        .find_in_among(path, top)?
        .ok_or(DtbError::NoSuchNode(path))?;
    Ok(Some((target, options, node, anc)))
}

fn uart_kind<'a>(node: &Node<'a>) -> Result<(&'a str, UartKind<'a>), DtbError<'a>> {
    let mut first = None;
    for c in node.strings("compatible")? {
        first = first.or(Some(c));
        let Some(driver) = crate::uart::driver_for(c) else {
            continue;
        };
        let props = if driver.uses_reg_props {
            UartProps {
                reg_shift: node.u32_prop("reg-shift")?.unwrap_or(0),
                reg_io_width: node.u32_prop("reg-io-width")?.unwrap_or(1),
            }
        } else {
            UartProps::default()
        };
        return Ok((c, UartKind::Driver(driver, props)));
    }
    let c = first.unwrap_or("");
    Ok((c, UartKind::Unknown(c)))
}

/// [`Console::path`] of a console found without `stdout-path`.
pub const FIRST_UART: &str = "(no stdout-path: first UART)";

/// The first node, in tree order, that is not disabled and is a UART we have a driver for,
/// with its ancestors.
fn first_uart<'a>(fdt: &Fdt<'a>) -> Result<Option<(Node<'a>, Ancestors<'a>)>, DtbError<'a>> {
    let mut found = None;
    fdt.walk(|n, anc| {
        if n.prop("reg")?.is_none() || matches!(n.str_prop("status")?, Some("disabled" | "fail")) {
            return Ok(Walked::Next);
        }
        if matches!(uart_kind(n)?.1, UartKind::Unknown(_)) {
            return Ok(Walked::Next);
        }
        found = Some((*n, *anc));
        Ok(Walked::Stop)
    })?;
    Ok(found)
}

fn find_console<'a>(
    fdt: &Fdt<'a>,
    chosen: Option<Node<'a>>,
    top: Option<&[usize]>,
    ctl: &mut Controllers<'a>,
) -> Result<Option<Console<'a>>, DtbError<'a>> {
    let named = match &chosen {
        Some(chosen) => resolve_stdout(fdt, chosen, top)?,
        None => None,
    };
    let (path, options, node, anc) = match named {
        Some(target) => target,
        None => match first_uart(fdt)? {
            Some((node, anc)) => (FIRST_UART, None, node, anc),
            None => return Ok(None),
        },
    };
    let (compatible, kind) = uart_kind(&node)?;
    let (base, size) = fdt.reg_translated_in(&node, &anc, 0)?;
    Ok(Some(Console {
        node: node.display_name(),
        path,
        options,
        compatible,
        kind,
        base,
        size,
        // Output needs no interrupt; a specifier we cannot resolve (e.g. through an
        // `interrupt-map`, as on FVP's motherboard bus) only costs console input.
        interrupt: ctl
            .interrupt(&node, Some(&anc), 0)
            .unwrap_or(Interrupt::None),
    }))
}

/// The GIC, and its node.
fn find_gic<'a>(fdt: &Fdt<'a>, root: &Node<'a>) -> Result<(Gic<'a>, Node<'a>), DtbError<'a>> {
    // The node, and its ancestors (for every `reg` entry) when the walk that found it had
    // them.
    let (node, anc) = match root.u32_prop("interrupt-parent")? {
        Some(ph) => {
            let (first, first_anc) = fdt.by_phandle_in(ph)?;
            let node = Controllers::new(fdt, None).follow_to_gic(first)?;
            (node, (node == first).then_some(first_anc))
        }
        None => {
            let mut gic = None;
            let mut other = None;
            fdt.walk(|n, anc| {
                if n.prop("interrupt-controller")?.is_none() {
                    return Ok(Walked::Next);
                }
                if is_gic(n) {
                    gic = Some((*n, Some(*anc)));
                    return Ok(Walked::Stop);
                }
                other = other.or(Some((*n, Some(*anc))));
                Ok(Walked::Next)
            })?;
            gic.or(other).ok_or(DtbError::NoInterruptController)?
        }
    };
    let compatible = node.strings("compatible")?.next().unwrap_or("");
    let anc = match anc {
        Some(anc) => anc,
        None => fdt.ancestors(&node)?,
    };
    let region = |i| {
        fdt.reg_translated_in(&node, &anc, i)
            .map(|(base, size)| Region { base, size })
    };
    let kind = if node.is_compatible(GICV3_COMPATIBLE)? {
        let n = node.u32_prop("#redistributor-regions")?.unwrap_or(1);
        let mut redistributors = Vec::new();
        for i in 1..=n as usize {
            if redistributors.push(region(i)?).is_err() {
                break;
            }
        }
        let redistributor_stride = match node.prop("redistributor-stride")? {
            None => None,
            Some(v) if v.len() == 8 => be64(v, 0),
            Some(v) if v.len() == 4 => be32(v, 0).map(u64::from),
            Some(v) => {
                return Err(DtbError::BadPropertyLength {
                    node: node.display_name(),
                    property: "redistributor-stride",
                    len: v.len(),
                })
            }
        };
        GicKind::V3 {
            dist: region(0)?,
            redistributors,
            redistributor_stride,
        }
    } else if is_gic(&node) {
        GicKind::V2 {
            dist: region(0)?,
            cpu_if: region(1)?,
        }
    } else {
        return Err(DtbError::UnsupportedGic {
            node: node.display_name(),
            compatible,
        });
    };
    let phandle = match node.u32_prop("phandle")? {
        Some(p) => Some(p),
        None => node.u32_prop("linux,phandle")?,
    };
    Ok((
        Gic {
            node: node.display_name(),
            compatible,
            phandle,
            kind,
            offset: node.offset(),
        },
        node,
    ))
}

fn find_psci<'a>(
    psci: Option<Node<'a>>,
    firmware: Option<Node<'a>>,
) -> Result<Option<Psci>, DtbError<'a>> {
    // The binding allows the node at the root or under /firmware (TI K3 and others).
    let node = match psci {
        Some(n) => n,
        None => match firmware {
            Some(f) => match f.child("psci")? {
                Some(n) => n,
                None => return Ok(None),
            },
            None => return Ok(None),
        },
    };
    let mut version = None;
    for c in node.strings("compatible")? {
        let v = match c {
            "arm,psci-1.0" => PsciVersion::V1_0,
            "arm,psci-0.2" => PsciVersion::V0_2,
            "arm,psci" => PsciVersion::V0_1,
            _ => continue,
        };
        // Keep the newest binding listed.
        version = Some(match version {
            Some(old) if rank(old) >= rank(v) => old,
            _ => v,
        });
    }
    fn rank(v: PsciVersion) -> u8 {
        match v {
            PsciVersion::V0_1 => 0,
            PsciVersion::V0_2 => 1,
            PsciVersion::V1_0 => 2,
        }
    }
    let first = node.strings("compatible")?.next().unwrap_or("");
    let version = version.ok_or(DtbError::UnknownPsciVersion(first))?;
    let conduit = match node.str_prop("method")? {
        Some("hvc") => Conduit::Hvc,
        Some("smc") => Conduit::Smc,
        Some(m) => return Err(DtbError::UnknownPsciMethod(m)),
        None => return Err(DtbError::UnknownPsciMethod("")),
    };
    Ok(Some(Psci {
        version,
        conduit,
        cpu_on: node.u32_prop("cpu_on")?,
    }))
}

/// The CPUs of `/cpus` into `out` (empty).
fn find_cpus<'a>(cpus: Option<Node<'a>>, out: &mut Cpus<'a>) -> Result<(), DtbError<'a>> {
    let cpus = cpus.ok_or(DtbError::MissingCpus)?;
    let (ac, sc) = cpus.address_size_cells()?;
    for node in cpus.children() {
        let node = node?;
        if node.str_prop("device_type")? != Some("cpu") {
            continue;
        }
        let (mpidr, _) = Reg::with_cells(&node, ac, sc)?
            .next()
            .ok_or(DtbError::MissingReg {
                node: node.display_name(),
            })?;
        let enable_method = match node.str_prop("enable-method")? {
            None => EnableMethod::None,
            Some("psci") => EnableMethod::Psci,
            Some("spin-table") => {
                let release_addr = match node.prop("cpu-release-addr")? {
                    None => None,
                    Some(v) => Some(
                        read_cells(v, (v.len() / 4) as u32)
                            .filter(|_| v.len() == 4 || v.len() == 8)
                            .ok_or(DtbError::BadPropertyLength {
                                node: node.display_name(),
                                property: "cpu-release-addr",
                                len: v.len(),
                            })?,
                    ),
                };
                EnableMethod::SpinTable { release_addr }
            }
            Some(other) => EnableMethod::Other(other),
        };
        let disabled = matches!(node.str_prop("status")?, Some("disabled" | "fail"));
        let cpu = Cpu {
            node: node.display_name(),
            mpidr,
            enable_method,
            disabled,
        };
        if out.list.push(cpu).is_err() {
            out.truncated = true;
        }
    }
    Ok(())
}

fn find_timer<'a>(
    fdt: &Fdt<'a>,
    ctl: &mut Controllers<'a>,
) -> Result<Option<Timer<'a>>, DtbError<'a>> {
    let mut timer = None;
    fdt.walk(|node, anc| {
        if !node.is_compatible_any(&["arm,armv8-timer", "arm,armv7-timer"])? {
            return Ok(Walked::Next);
        }
        let bad = DtbError::BadTimer {
            node: node.display_name(),
        };
        // All four with one interrupt-parent lookup.
        let mut found = [Interrupt::None; 4];
        match ctl.interrupts(node, Some(anc), 0, &mut found) {
            Ok(()) => {}
            Err(DtbError::BadInterrupt { .. }) => return Err(bad),
            Err(e) => return Err(e),
        }
        let mut ids = [0u32; 4];
        for (slot, f) in ids.iter_mut().zip(found) {
            *slot = match f {
                Interrupt::Intid(id) => id,
                _ => return Err(bad),
            };
        }
        let [secure_phys, non_secure_phys, virt, hyp] = ids;
        timer = Some(Timer {
            node: node.display_name(),
            secure_phys,
            non_secure_phys,
            virt,
            hyp,
        });
        Ok(Walked::Stop)
    })?;
    Ok(timer)
}
