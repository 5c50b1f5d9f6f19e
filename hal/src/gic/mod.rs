//! ARM Generic Interrupt Controller, v2 (GIC-400) and v3 (GIC-500/600, KVM vgic-v3).
//!
//! Two handles:
//! - [`Gic`] is the shared, system-wide part: it owns the distributor, is made once from the
//!   DTB bases, and is used by the primary core for [`Gic::init_distributor`] and by every core
//!   for [`Gic::init_cpu`].
//! - [`GicCpu`] is what [`Gic::init_cpu`] returns on each core: that core's view (its GICv2 CPU
//!   interface number, or its GICv3 redistributor). All interrupt operations go through it:
//!   [`GicCpu::ack`], [`GicCpu::eoi`], [`GicCpu::enable`], [`GicCpu::send_sgi`], ... For SGIs
//!   and PPIs they act on the core that created the handle, so **use a `GicCpu` only on the core
//!   that created it** (keep it in the per-core context). SPIs are global.
//!
//! Interrupt IDs are the GIC's INTIDs: SGIs 0..=15, PPIs 16..=31, SPIs 32..=1019
//! ([`intid_from_dt`] converts a DTB `interrupts` specifier). Priorities are the GIC's: lower
//! value = more urgent; [`DEFAULT_PRIORITY`] is a good middle. The CPU priority mask is left
//! fully open (0xff), so every enabled interrupt is signalled.
//!
//! Costs (this matters for the executor): under a hypervisor every distributor/redistributor
//! access (GICD_*, GICR_*) is an MMIO trap to the VMM and is expensive; GICv3's ICC_* system
//! registers (ack, EOI, SGI) are handled in hardware or cheaply. GICv2's GICC_IAR/EOIR are
//! MMIO too, but usually mapped directly to the virtual CPU interface.

// On the host only the pure parts (encodings, layouts, the redistributor walk) are used; the
// hardware bring-up (`init_*`) exists only on aarch64.
#![cfg_attr(not(target_arch = "aarch64"), allow(dead_code, unused_imports))]

pub mod v2;
pub mod v3;

use crate::cpu::Mpidr;
use crate::mmio::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

pub use v2::{GicV2, GicV2Cpu, GicV2Port};
pub use v3::{GicV3, GicV3Cpu, RedistributorRegion};

/// First PPI INTID.
pub const PPI_BASE: u32 = 16;
/// First SPI INTID.
pub const SPI_BASE: u32 = 32;
/// Largest INTID of the SPI range (1020..=1023 are special).
pub const MAX_SPI: u32 = 1019;
/// A middle priority (Linux uses the same): urgent enough, leaves room both ways.
pub const DEFAULT_PRIORITY: u8 = 0xa0;

/// The PPI of the EL1 virtual timer (CNTV), as in every DTB's `/timer` node (PPI 11 -> 27).
pub const VIRT_TIMER_INTID: u32 = 27;
/// The PPI of the EL1 physical timer (CNTP; PPI 14 -> 30).
pub const PHYS_TIMER_INTID: u32 = 30;

/// INTID from a DTB `interrupts` specifier of an `arm,gic-400` / `arm,gic-v3` node:
/// `kind` 0 = SPI, 1 = PPI (the first cell), `number` the second cell. `None` for other kinds
/// or out-of-range numbers.
pub const fn intid_from_dt(kind: u32, number: u32) -> Option<u32> {
    match kind {
        0 if number <= MAX_SPI - SPI_BASE => Some(number + SPI_BASE),
        1 if number < 16 => Some(number + PPI_BASE),
        _ => None,
    }
}

/// Which core(s) an SGI goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgiTarget {
    /// One core.
    Core(CoreId),
    /// Every core except the sender (GICv2 TargetListFilter = 0b01; GICv3 IRM = 1).
    AllOthers,
    /// The sender itself.
    SelfOnly,
}

/// How the GIC names a core. GICv3 routes by MPIDR affinity; GICv2 by the CPU interface number
/// (0..=7), which [`GicCpu::cpu_interface`] reports on each core after `init_cpu`. The kernel
/// keeps one per core and uses it for SGIs and SPI routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreId {
    /// The core's MPIDR affinity (used by GICv3).
    pub mpidr: Mpidr,
    /// The core's GICv2 CPU interface number, 0..=7 (ignored by GICv3).
    pub gicv2_cpu_interface: u8,
}

/// An acknowledged interrupt, from [`GicCpu::ack`]. Hand it back to [`GicCpu::eoi`] unchanged:
/// on GICv2 the raw GICC_IAR value of an SGI carries the source CPU (bits \[12:10\]) and the EOI
/// must write the same value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqAck {
    raw: u32,
    gicv2: bool,
}

impl IrqAck {
    /// The INTID (0..=1019).
    pub const fn intid(self) -> u32 {
        if self.gicv2 {
            self.raw & 0x3ff
        } else {
            self.raw & 0xff_ffff
        }
    }

    /// On GICv2, for an SGI: the CPU interface number of the sender. `None` otherwise.
    pub const fn source_cpu(self) -> Option<u8> {
        if self.gicv2 && self.intid() < PPI_BASE {
            Some(((self.raw >> 10) & 0b111) as u8)
        } else {
            None
        }
    }

    /// The value read from GICC_IAR / ICC_IAR1_EL1.
    pub const fn raw(self) -> u32 {
        self.raw
    }

    /// Interprets an IAR value; `None` for the special INTIDs 1020..=1023 (spurious).
    pub(crate) const fn from_iar(raw: u32, gicv2: bool) -> Option<Self> {
        let ack = Self { raw, gicv2 };
        if ack.intid() >= 1020 && ack.intid() <= 1023 {
            None
        } else {
            Some(ack)
        }
    }
}

/// One core's GIC state as that core sees it, raw (diagnostics: [`GicCpu::view`]). A stall
/// report needs it to tell a wake SGI that is pending but not signalled (the running priority
/// or the mask in the way) from one that never became pending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GicView {
    /// 2 or 3.
    pub version: u8,
    /// Running priority (GICC_RPR / ICC_RPR_EL1): 0xff when nothing is active.
    pub rpr: u32,
    /// Highest pending interrupt (GICC_HPPIR / ICC_HPPIR1_EL1), 1023 for none.
    pub hppir: u32,
    /// Priority mask (GICC_PMR / ICC_PMR_EL1).
    pub pmr: u32,
    /// CPU interface control (GICC_CTLR / ICC_CTLR_EL1).
    pub ctlr: u32,
    /// Active priorities: GICC_APR0..3 (GICv2, Group 0 or the only group) / ICC_AP1R0_EL1.
    pub apr: [u32; 4],
    /// GICC_NSAPR0..3 (GICv2: the Group 1 active priorities; 0 on GICv3).
    pub nsapr: [u32; 4],
    /// This core's SGI/PPI enable, pending and active bits (GICD_IS*R0 banked / GICR_IS*R0).
    pub enabled0: u32,
    /// See `enabled0`.
    pub pending0: u32,
    /// See `enabled0`.
    pub active0: u32,
    /// GICv2 GICD_SPENDSGIR0: SGIs 0..=3 pending for this core, one byte per SGI, one bit per
    /// source CPU interface (0 on GICv3).
    pub sgi_sources: u32,
}

impl GicView {
    /// The running priority is not idle although no SGI or PPI is active: an active priority
    /// bit nothing will ever drop (see `init_cpu` of [`v2`]), which masks every interrupt of
    /// that priority or lower for good. Meaningful when read with no handler running (and no
    /// SPI active), as [`GicCpu::view`]'s callers do.
    pub fn stale_priority(&self) -> bool {
        self.rpr & 0xff != 0xff && self.active0 == 0
    }
}

impl core::fmt::Display for GicView {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "gicv{} rpr={:#x} hppir={:#x} pmr={:#x} ctlr={:#x} apr={:x?} ",
            self.version, self.rpr, self.hppir, self.pmr, self.ctlr, self.apr
        )?;
        if self.version == 2 {
            write!(
                f,
                "nsapr={:x?} sgi_sources0={:#010x} ",
                self.nsapr, self.sgi_sources
            )?;
        }
        write!(
            f,
            "enabled0={:#010x} pending0={:#010x} active0={:#010x}",
            self.enabled0, self.pending0, self.active0
        )
    }
}

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_bitfields! {u32,
    /// GICD_CTLR. Bit meanings depend on the security view; these are the Non-secure view
    /// (GICv2, GICv3 with GICD_CTLR.DS = 0) and, for bits 0/1, also the single-security view.
    #[allow(missing_docs)]
    pub GICD_CTLR [
        /// GICv2 Non-secure view: EnableGrp1; GICv2 Secure / GICv3 DS=1: EnableGrp0;
        /// GICv3 Non-secure view: EnableGrp1 (EnableGrp1NS).
        EnableGrp0 OFFSET(0) NUMBITS(1) [],
        /// GICv3 Non-secure view: EnableGrp1A; DS=1: EnableGrp1.
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        /// GICv3: affinity routing enabled (ARE_NS in the Non-secure view).
        ARE OFFSET(4) NUMBITS(1) [],
        /// GICv3 only: disable security (single security state); RAO/WI under KVM.
        DS OFFSET(6) NUMBITS(1) [],
        /// GICv3: register write pending.
        RWP OFFSET(31) NUMBITS(1) []
    ],
    /// GICD_TYPER.
    #[allow(missing_docs)]
    pub GICD_TYPER [
        /// Number of SPIs = 32 * (ITLinesNumber + 1) - 32, at most 1020 INTIDs.
        ITLinesNumber OFFSET(0) NUMBITS(5) [],
        /// GICv2: number of CPU interfaces - 1.
        CPUNumber OFFSET(5) NUMBITS(3) []
    ],
    /// GICD_SGIR (GICv2).
    #[allow(missing_docs)]
    pub GICD_SGIR [
        SGIINTID OFFSET(0) NUMBITS(4) [],
        NSATT OFFSET(15) NUMBITS(1) [],
        CPUTargetList OFFSET(16) NUMBITS(8) [],
        TargetListFilter OFFSET(24) NUMBITS(2) [
            TargetList = 0,
            AllOthers = 1,
            SelfOnly = 2
        ]
    ]
}

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_structs! {
    /// The distributor (GICD) block shared by GICv2 and GICv3 (offsets 0x000..0x1000; GICv3's
    /// GICD_IROUTER<n> array at 0x6000 is [`v3::GicdRouterRegisters`]). Names from the GIC
    /// architecture specification (IHI 0048B for v2, IHI 0069 for v3).
    #[allow(non_snake_case)]
    #[allow(missing_docs)]
    pub GicdRegisters {
        (0x000 => pub GICD_CTLR: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => pub GICD_TYPER: ReadOnly<u32, GICD_TYPER::Register>),
        (0x008 => pub GICD_IIDR: ReadOnly<u32>),
        (0x00c => _reserved0),
        (0x080 => pub GICD_IGROUPR: [ReadWrite<u32>; 32]),
        (0x100 => pub GICD_ISENABLER: [ReadWrite<u32>; 32]),
        (0x180 => pub GICD_ICENABLER: [ReadWrite<u32>; 32]),
        (0x200 => pub GICD_ISPENDR: [ReadWrite<u32>; 32]),
        (0x280 => pub GICD_ICPENDR: [ReadWrite<u32>; 32]),
        (0x300 => pub GICD_ISACTIVER: [ReadWrite<u32>; 32]),
        (0x380 => pub GICD_ICACTIVER: [ReadWrite<u32>; 32]),
        /// One byte per INTID (byte-accessible in v2 and v3).
        (0x400 => pub GICD_IPRIORITYR: [ReadWrite<u8>; 1020]),
        (0x7fc => _reserved1),
        /// One byte per INTID: GICv2 CPU targets; bytes 0..32 are read-only and read as this
        /// core's own CPU interface bit. RES0 on GICv3 with affinity routing.
        (0x800 => pub GICD_ITARGETSR: [ReadWrite<u8>; 1020]),
        (0xbfc => _reserved2),
        (0xc00 => pub GICD_ICFGR: [ReadWrite<u32>; 64]),
        (0xd00 => pub GICD_IGRPMODR: [ReadWrite<u32>; 32]),
        (0xd80 => _reserved3),
        (0xe00 => pub GICD_NSACR: [ReadWrite<u32>; 64]),
        (0xf00 => pub GICD_SGIR: WriteOnly<u32, GICD_SGIR::Register>),
        (0xf04 => _reserved4),
        (0xf10 => pub GICD_CPENDSGIR: [ReadWrite<u32>; 4]),
        (0xf20 => pub GICD_SPENDSGIR: [ReadWrite<u32>; 4]),
        (0xf30 => _reserved5),
        (0x1000 => @END),
    }
}

impl GicdRegisters {
    /// Number of INTIDs the distributor implements (SGIs and PPIs included), at most 1020.
    pub(crate) fn num_intids(&self) -> u32 {
        use tock_registers::interfaces::Readable;
        let lines = 32 * (self.GICD_TYPER.read(GICD_TYPER::ITLinesNumber) + 1);
        lines.min(MAX_SPI + 1)
    }
}

/// (word index, bit mask) of `intid` in a one-bit-per-INTID register array.
pub(crate) const fn bit_pos(intid: u32) -> (usize, u32) {
    ((intid / 32) as usize, 1 << (intid % 32))
}

/// (word index, bit mask of the edge bit) of `intid` in a GICD_ICFGR-style array (two bits per
/// INTID, bit 1 of the pair = edge-triggered).
pub(crate) const fn cfg_pos(intid: u32) -> (usize, u32) {
    ((intid / 16) as usize, 1 << ((intid % 16) * 2 + 1))
}

/// The system-wide GIC, v2 or v3. Made once from the DTB; share it as `&'static Gic`.
#[derive(Debug)]
pub enum Gic {
    /// GICv2 (`arm,gic-400`, `arm,cortex-a15-gic`).
    V2(GicV2),
    /// GICv3 (`arm,gic-v3`).
    V3(GicV3),
}

impl Gic {
    /// Resets and enables the distributor: every SPI disabled, not pending, level-triggered,
    /// group 1, [`DEFAULT_PRIORITY`], routed to the calling core. Call once, on the primary core,
    /// before any `init_cpu`.
    #[cfg(target_arch = "aarch64")]
    pub fn init_distributor(&self) {
        match self {
            Gic::V2(g) => g.init_distributor(),
            Gic::V3(g) => g.init_distributor(),
        }
    }

    /// Per-core setup (on every core, the primary included, after `init_distributor`): GICv2
    /// CPU interface (GICC_CTLR/PMR/BPR); GICv3 redistributor wake-up and the ICC_* system
    /// registers. SGIs are enabled, PPIs disabled. Returns this core's handle.
    ///
    /// # Panics
    /// GICv3: if no redistributor matches this core's MPIDR, or ICC_SRE_EL1.SRE does not stick
    /// (EL2 left ICC_SRE_EL2.Enable = 0).
    #[cfg(target_arch = "aarch64")]
    pub fn init_cpu(&self) -> GicCpu {
        match self {
            Gic::V2(g) => GicCpu::V2(g.init_cpu()),
            Gic::V3(g) => GicCpu::V3(g.init_cpu()),
        }
    }

    /// Routes SPI `intid` to `core` (GICD_ITARGETSR on v2, GICD_IROUTER on v3).
    pub fn route_spi(&self, intid: u32, core: CoreId) {
        match self {
            Gic::V2(g) => g.route_spi(intid, core.gicv2_cpu_interface),
            Gic::V3(g) => g.route_spi(intid, core.mpidr),
        }
    }

    /// The acknowledge / EOI port every core can use for itself (see [`IrqPort`]).
    pub fn irq_port(&self) -> IrqPort {
        match self {
            Gic::V2(g) => IrqPort::V2(g.irq_port()),
            Gic::V3(_) => IrqPort::V3,
        }
    }

    /// GIC architecture version, 2 or 3.
    pub fn version(&self) -> u8 {
        match self {
            Gic::V2(_) => 2,
            Gic::V3(_) => 3,
        }
    }

    /// Number of INTIDs the distributor implements (GICD_TYPER.ITLinesNumber; SGIs and PPIs
    /// included, at most 1020): QEMU's `virt` has 288, its `raspi4b` 224.
    #[cfg(target_arch = "aarch64")]
    pub fn num_intids(&self) -> u32 {
        match self {
            Gic::V2(g) => g.num_intids(),
            Gic::V3(g) => g.num_intids(),
        }
    }
}

/// The acknowledge / end-of-interrupt half of a core's GIC interface, which is the same on
/// every core (GICv2: the GICC frame, banked per core at one address; GICv3: the ICC_*
/// system registers), from [`Gic::irq_port`]. The IRQ vector acknowledges and ends its
/// interrupt through it without first looking up the core's [`GicCpu`]; it acts on the
/// calling core.
#[derive(Clone, Copy, Debug)]
pub enum IrqPort {
    /// GICC_IAR / GICC_EOIR.
    V2(v2::GicV2Port),
    /// ICC_IAR1_EL1 / ICC_EOIR1_EL1.
    V3,
}

impl IrqPort {
    /// As [`GicCpu::ack`], on the calling core.
    #[inline]
    pub fn ack(&self) -> Option<IrqAck> {
        match self {
            IrqPort::V2(p) => p.ack(),
            IrqPort::V3 => v3::port_ack(),
        }
    }

    /// As [`GicCpu::eoi`], on the calling core.
    #[inline]
    pub fn eoi(&self, ack: IrqAck) {
        match self {
            IrqPort::V2(p) => p.eoi(ack),
            IrqPort::V3 => v3::port_eoi(ack),
        }
    }
}

/// One core's handle on the GIC, from [`Gic::init_cpu`]. Use it only on that core.
#[derive(Clone, Copy, Debug)]
pub enum GicCpu {
    /// A GICv2 CPU interface.
    V2(GicV2Cpu),
    /// A GICv3 redistributor and CPU system registers.
    V3(GicV3Cpu),
}

impl GicCpu {
    /// This core as an SGI / SPI routing target.
    pub fn core_id(&self) -> CoreId {
        match self {
            GicCpu::V2(c) => c.core_id(),
            GicCpu::V3(c) => c.core_id(),
        }
    }

    /// The GICv2 CPU interface number of this core (0 on GICv3).
    pub fn cpu_interface(&self) -> u8 {
        self.core_id().gicv2_cpu_interface
    }

    /// Sets the priority of `intid` and enables it.
    pub fn enable(&self, intid: u32, priority: u8) {
        match self {
            GicCpu::V2(c) => c.enable(intid, priority),
            GicCpu::V3(c) => c.enable(intid, priority),
        }
    }

    /// Disables `intid` (GICD_ICENABLER / GICR_ICENABLER0). Does not wait for an in-flight
    /// delivery: one may still be acknowledged after this returns.
    pub fn disable(&self, intid: u32) {
        match self {
            GicCpu::V2(c) => c.disable(intid),
            GicCpu::V3(c) => c.disable(intid),
        }
    }

    /// Edge- (`true`) or level-triggered (`false`). Change it only while the interrupt is
    /// disabled. No effect on SGIs (always edge); for PPIs it is implementation defined
    /// whether the bit is writable.
    pub fn set_trigger(&self, intid: u32, edge: bool) {
        match self {
            GicCpu::V2(c) => c.set_trigger(intid, edge),
            GicCpu::V3(c) => c.set_trigger(intid, edge),
        }
    }

    /// Acknowledges the highest-priority pending interrupt (GICC_IAR / ICC_IAR1_EL1). `None`
    /// for a spurious read (INTID 1020..=1023): nothing to EOI then.
    pub fn ack(&self) -> Option<IrqAck> {
        match self {
            GicCpu::V2(c) => c.ack(),
            GicCpu::V3(c) => c.ack(),
        }
    }

    /// Ends an acknowledged interrupt (priority drop and deactivation; EOImode = 0).
    pub fn eoi(&self, ack: IrqAck) {
        match self {
            GicCpu::V2(c) => c.eoi(ack),
            GicCpu::V3(c) => c.eoi(ack),
        }
    }

    /// Sends SGI `sgi` (0..=15) to `target`. Stores to Normal memory made before the call are
    /// visible to the target by the time it takes the interrupt (a barrier is included).
    pub fn send_sgi(&self, sgi: u8, target: SgiTarget) {
        match self {
            GicCpu::V2(c) => c.send_sgi(sgi, target),
            GicCpu::V3(c) => c.send_sgi(sgi, target),
        }
    }

    /// Clears the pending state of `intid` (GICD_ICPENDR, or GICR_ICPENDR0 for SGIs/PPIs on
    /// GICv3; GICD_CPENDSGIR for SGIs on GICv2).
    ///
    /// This is an MMIO write to the distributor/redistributor: under a hypervisor it traps to
    /// the VMM and costs microseconds. The executor's `notified` flag exists so that a core
    /// that was already going to look at its run queue does not need a kick SGI at all, and
    /// so this call can be skipped on the fast path; use it only where a stale pending
    /// interrupt must really be dropped.
    pub fn clear_pending(&self, intid: u32) {
        match self {
            GicCpu::V2(c) => c.clear_pending(intid),
            GicCpu::V3(c) => c.clear_pending(intid),
        }
    }

    /// Whether `intid` is pending (GICD_ISPENDR / GICR_ISPENDR0). MMIO, like `clear_pending`.
    pub fn is_pending(&self, intid: u32) -> bool {
        match self {
            GicCpu::V2(c) => c.is_pending(intid),
            GicCpu::V3(c) => c.is_pending(intid),
        }
    }

    /// This core's GIC state, read without side effects (diagnostics, see [`GicView`]). MMIO
    /// reads of the distributor/redistributor: slow under a hypervisor.
    #[cfg(target_arch = "aarch64")]
    pub fn view(&self) -> GicView {
        match self {
            GicCpu::V2(c) => c.view(),
            GicCpu::V3(c) => c.view(),
        }
    }

    /// Makes `intid` pending by software (GICD_ISPENDR / GICR_ISPENDR0), e.g. to raise an SPI
    /// or PPI that no device drives, in tests. For SGIs use [`GicCpu::send_sgi`]. A level
    /// interrupt set pending this way stays pending until acknowledged.
    pub fn set_pending(&self, intid: u32) {
        match self {
            GicCpu::V2(c) => c.set_pending(intid),
            GicCpu::V3(c) => c.set_pending(intid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dt_specifiers() {
        assert_eq!(intid_from_dt(0, 1), Some(33));
        assert_eq!(intid_from_dt(1, 11), Some(VIRT_TIMER_INTID));
        assert_eq!(intid_from_dt(1, 14), Some(PHYS_TIMER_INTID));
        assert_eq!(intid_from_dt(1, 16), None);
        assert_eq!(intid_from_dt(0, 988), None);
        assert_eq!(intid_from_dt(2, 0), None);
    }

    #[test]
    fn ack_decoding() {
        assert_eq!(IrqAck::from_iar(1023, false), None);
        assert_eq!(IrqAck::from_iar(1020, true), None);
        let a = IrqAck::from_iar((3 << 10) | 5, true).unwrap();
        assert_eq!((a.intid(), a.source_cpu()), (5, Some(3)));
        let a = IrqAck::from_iar(40, true).unwrap();
        assert_eq!((a.intid(), a.source_cpu()), (40, None));
        // GICv3: 24-bit INTID, no source field.
        let a = IrqAck::from_iar(8192, false).unwrap();
        assert_eq!((a.intid(), a.source_cpu()), (8192, None));
    }

    #[test]
    fn stale_priority_view() {
        let idle = GicView {
            version: 2,
            rpr: 0xff,
            hppir: 1023,
            ..GicView::default()
        };
        assert!(!idle.stale_priority());
        // What QEMU's GICv2 shows after the bug (v2.rs, "What a reset leaves"): the wake SGI
        // pending, the running priority at its level, nothing active.
        let stuck = GicView {
            rpr: 0xa0,
            hppir: 0x401,
            apr: [0, 0, 1 << 16, 0],
            pending0: 1 << 1,
            ..idle
        };
        assert!(stuck.stale_priority());
        assert!(!GicView {
            active0: 1 << 1,
            ..stuck
        }
        .stale_priority());
        extern crate std;
        let text = std::format!("{stuck}");
        assert!(
            text.contains("rpr=0xa0") && text.contains("pending0=0x00000002"),
            "{text}"
        );
    }

    #[test]
    fn bit_positions() {
        assert_eq!(bit_pos(0), (0, 1));
        assert_eq!(bit_pos(33), (1, 2));
        assert_eq!(cfg_pos(16), (1, 0b10));
        assert_eq!(cfg_pos(47), (2, 1 << 31));
    }

    #[test]
    fn gicd_layout() {
        use core::mem::offset_of;
        assert_eq!(offset_of!(GicdRegisters, GICD_ISENABLER), 0x100);
        assert_eq!(offset_of!(GicdRegisters, GICD_IPRIORITYR), 0x400);
        assert_eq!(offset_of!(GicdRegisters, GICD_ITARGETSR), 0x800);
        assert_eq!(offset_of!(GicdRegisters, GICD_ICFGR), 0xc00);
        assert_eq!(offset_of!(GicdRegisters, GICD_SGIR), 0xf00);
        assert_eq!(core::mem::size_of::<GicdRegisters>(), 0x1000);
    }
}
