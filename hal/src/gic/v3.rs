//! GICv3 (GIC-500/600, QEMU `arm,gic-v3`, KVM vgic-v3): distributor (GICD) with affinity
//! routing, one redistributor (GICR) per core, and the CPU interface as ICC_* system registers.
//! Names and offsets from the GICv3/v4 architecture specification (IHI 0069).
//!
//! Only Group 1 is used. The distributor is set up to work in both a two-security-state GIC
//! (we are Non-secure; Group registers are RAZ/WI and firmware made everything Group 1) and a
//! single-security-state one (GICD_CTLR.DS = 1, QEMU without `secure=on`, KVM), where we put
//! every interrupt in Group 1 ourselves.
//!
//! Boot requirements (kernel's job, at EL2 before dropping to EL1): ICC_SRE_EL2.SRE = 1 and
//! ICC_SRE_EL2.Enable = 1 so EL1 may use the system-register interface, and HCR_EL2.IMO/FMO = 0
//! so ICC_* accesses at EL1 reach the physical CPU interface, not the virtual one.

use super::{
    bit_pos, cfg_pos, CoreId, GicdRegisters, IrqAck, SgiTarget, DEFAULT_PRIORITY, GICD_CTLR,
    PPI_BASE, SPI_BASE,
};
use crate::cpu::{self, Mpidr};
use crate::mmio::{ReadOnly, ReadWrite};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::{register_bitfields, register_structs};

/// Offset of the GICD_IROUTER block ([`GicdRouterRegisters`]) from the distributor base.
pub const GICD_IROUTER_BLOCK_OFFSET: usize = 0x6000;
/// Offset of a redistributor's SGI_base frame from its RD_base frame.
pub const GICR_SGI_FRAME_OFFSET: usize = 0x1_0000;
/// Redistributor stride without virtual LPI frames (RD_base + SGI_base).
pub const GICR_STRIDE_V3: usize = 0x2_0000;
/// Redistributor stride with GICv4 virtual LPI frames (GICR_TYPER.VLPIS = 1).
pub const GICR_STRIDE_V4: usize = 0x4_0000;
/// How many redistributor regions [`GicV3::new`] accepts (DTB `#redistributor-regions`).
pub const MAX_REDIST_REGIONS: usize = 4;

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_bitfields! {u32,
    /// GICR_CTLR.
    #[allow(missing_docs)]
    pub GICR_CTLR [
        EnableLPIs OFFSET(0) NUMBITS(1) [],
        /// Register write pending (GICR_ICENABLER0 writes).
        RWP OFFSET(3) NUMBITS(1) []
    ],
    /// GICR_WAKER.
    #[allow(missing_docs)]
    pub GICR_WAKER [
        ProcessorSleep OFFSET(1) NUMBITS(1) [],
        ChildrenAsleep OFFSET(2) NUMBITS(1) []
    ]
}

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_bitfields! {u64,
    /// GICR_TYPER.
    #[allow(missing_docs)]
    pub GICR_TYPER [
        PLPIS OFFSET(0) NUMBITS(1) [],
        /// GICv4 virtual LPIs: the redistributor has two more 64 KiB frames (stride 0x40000).
        VLPIS OFFSET(1) NUMBITS(1) [],
        /// The last redistributor of a contiguous region.
        Last OFFSET(4) NUMBITS(1) [],
        Processor_Number OFFSET(8) NUMBITS(16) [],
        /// Aff3.Aff2.Aff1.Aff0 of the core this redistributor serves.
        Affinity_Value OFFSET(32) NUMBITS(32) []
    ]
}

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_structs! {
    /// The GICD_IROUTER<n> block, at distributor base + 0x6000. Index `intid - 32`.
    #[allow(non_snake_case)]
    #[allow(missing_docs)]
    pub GicdRouterRegisters {
        (0x000 => _reserved0),
        (0x100 => pub GICD_IROUTER: [ReadWrite<u64>; 988]),
        (0x1fe0 => @END),
    }
}

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_structs! {
    /// A redistributor's RD_base frame (control part).
    #[allow(non_snake_case)]
    #[allow(missing_docs)]
    pub GicrRdRegisters {
        (0x000 => pub GICR_CTLR: ReadWrite<u32, GICR_CTLR::Register>),
        (0x004 => pub GICR_IIDR: ReadOnly<u32>),
        (0x008 => pub GICR_TYPER: ReadOnly<u64, GICR_TYPER::Register>),
        (0x010 => pub GICR_STATUSR: ReadWrite<u32>),
        (0x014 => pub GICR_WAKER: ReadWrite<u32, GICR_WAKER::Register>),
        (0x018 => @END),
    }
}

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_structs! {
    /// A redistributor's SGI_base frame (RD_base + 0x10000): SGI and PPI controls of its core.
    #[allow(non_snake_case)]
    #[allow(missing_docs)]
    pub GicrSgiRegisters {
        (0x000 => _reserved0),
        (0x080 => pub GICR_IGROUPR0: ReadWrite<u32>),
        (0x084 => _reserved1),
        (0x100 => pub GICR_ISENABLER0: ReadWrite<u32>),
        (0x104 => _reserved2),
        (0x180 => pub GICR_ICENABLER0: ReadWrite<u32>),
        (0x184 => _reserved3),
        (0x200 => pub GICR_ISPENDR0: ReadWrite<u32>),
        (0x204 => _reserved4),
        (0x280 => pub GICR_ICPENDR0: ReadWrite<u32>),
        (0x284 => _reserved5),
        (0x300 => pub GICR_ISACTIVER0: ReadWrite<u32>),
        (0x304 => _reserved6),
        (0x380 => pub GICR_ICACTIVER0: ReadWrite<u32>),
        (0x384 => _reserved7),
        /// One byte per SGI/PPI.
        (0x400 => pub GICR_IPRIORITYR: [ReadWrite<u8>; 32]),
        (0x420 => _reserved8),
        (0xc00 => pub GICR_ICFGR0: ReadWrite<u32>),
        (0xc04 => pub GICR_ICFGR1: ReadWrite<u32>),
        (0xc08 => _reserved9),
        (0xd00 => pub GICR_IGRPMODR0: ReadWrite<u32>),
        (0xd04 => _reserved10),
        (0xe00 => pub GICR_NSACR: ReadWrite<u32>),
        (0xe04 => @END),
    }
}

/// One contiguous redistributor region from the DTB `reg` (entries 1..=#redistributor-regions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedistributorRegion {
    /// Start address (RD_base of the first frame).
    pub base: usize,
    /// Size in bytes.
    pub size: usize,
}

/// The ICC_SGI1R_EL1 value that sends SGI `sgi` to the core `target`: Aff3 \[55:48\],
/// RS \[47:44\] = Aff0 / 16, Aff2 \[39:32\], INTID \[27:24\], Aff1 \[23:16\], TargetList \[15:0\] with
/// bit Aff0 % 16. (Aff0 >= 16 needs range-selector support, ICC_CTLR_EL1.RSS = 1.)
pub const fn icc_sgi1r_value(sgi: u8, target: Mpidr) -> u64 {
    let aff0 = target.aff(0);
    ((target.aff(3) as u64) << 48)
        | (((aff0 >> 4) as u64) << 44)
        | ((target.aff(2) as u64) << 32)
        | (((sgi & 0xf) as u64) << 24)
        | ((target.aff(1) as u64) << 16)
        | (1 << (aff0 & 0xf))
}

/// The ICC_SGI1R_EL1 value that sends SGI `sgi` to every core but the sender (IRM = 1).
pub const fn icc_sgi1r_all_others(sgi: u8) -> u64 {
    (1 << 40) | (((sgi & 0xf) as u64) << 24)
}

/// Walks the redistributor regions for the one whose GICR_TYPER.Affinity_Value is `target`,
/// returning its RD_base. `read_typer(rd_base)` reads GICR_TYPER. Within a region frames are
/// `stride` apart if given (DTB `redistributor-stride`), else 0x20000, or 0x40000 when
/// GICR_TYPER.VLPIS is set; a region ends at its size or at GICR_TYPER.Last.
pub fn find_redistributor(
    regions: &[RedistributorRegion],
    stride: Option<usize>,
    target: Mpidr,
    mut read_typer: impl FnMut(usize) -> u64,
) -> Option<usize> {
    let want = target.packed_u32();
    for region in regions {
        let end = region.base.saturating_add(region.size);
        let mut rd = region.base;
        while rd < end {
            let typer = read_typer(rd);
            if (typer >> 32) as u32 == want {
                return Some(rd);
            }
            if typer & (1 << 4) != 0 {
                break; // Last
            }
            rd += match stride {
                Some(s) if s != 0 => s,
                _ if typer & (1 << 1) != 0 => GICR_STRIDE_V4,
                _ => GICR_STRIDE_V3,
            };
        }
    }
    None
}

/// The system-wide part of a GICv3: distributor base and redistributor regions.
#[derive(Debug)]
pub struct GicV3 {
    gicd: usize,
    regions: [RedistributorRegion; MAX_REDIST_REGIONS],
    nregions: usize,
    stride: Option<usize>,
}

impl GicV3 {
    /// `redistributors`: the DTB's redistributor regions (1..=[`MAX_REDIST_REGIONS`]);
    /// `stride`: the DTB's `redistributor-stride`, if present.
    ///
    /// # Panics
    /// If `redistributors` is empty or longer than [`MAX_REDIST_REGIONS`].
    ///
    /// # Safety
    /// `gicd_base` (64 KiB) and every region are identity-mapped Device-nGnRE GICv3 register
    /// frames from the DTB, valid for the life of the program, and nothing else drives this
    /// GIC.
    pub unsafe fn new(
        gicd_base: usize,
        redistributors: &[RedistributorRegion],
        stride: Option<usize>,
    ) -> Self {
        assert!(
            !redistributors.is_empty() && redistributors.len() <= MAX_REDIST_REGIONS,
            "GICv3: 1..={MAX_REDIST_REGIONS} redistributor regions supported"
        );
        let mut regions = [RedistributorRegion::default(); MAX_REDIST_REGIONS];
        regions[..redistributors.len()].copy_from_slice(redistributors);
        Self {
            gicd: gicd_base,
            regions,
            nregions: redistributors.len(),
            stride,
        }
    }

    fn gicd(&self) -> &GicdRegisters {
        // SAFETY: `new`'s contract: a valid GICD frame for the life of the program.
        unsafe { &*(self.gicd as *const GicdRegisters) }
    }

    fn router(&self) -> &GicdRouterRegisters {
        // SAFETY: `new`'s contract: the GICv3 GICD frame is 64 KiB, so the IROUTER block at
        // +0x6000 is inside it.
        unsafe { &*((self.gicd + GICD_IROUTER_BLOCK_OFFSET) as *const GicdRouterRegisters) }
    }

    fn wait_rwp(&self) {
        while self.gicd().GICD_CTLR.is_set(GICD_CTLR::RWP) {
            core::hint::spin_loop();
        }
    }

    #[cfg(target_arch = "aarch64")]
    pub(super) fn num_intids(&self) -> u32 {
        self.gicd().num_intids()
    }

    #[cfg(target_arch = "aarch64")]
    pub(super) fn init_distributor(&self) {
        let d = self.gicd();
        d.GICD_CTLR.set(0);
        self.wait_rwp();
        // Affinity routing first (ARE_NS; RAO/WI under KVM), then the per-SPI setup.
        d.GICD_CTLR.write(GICD_CTLR::ARE::SET);
        self.wait_rwp();
        let n = d.num_intids();
        let me = Mpidr::current();
        for w in (SPI_BASE / 32) as usize..n.div_ceil(32) as usize {
            d.GICD_IGROUPR[w].set(!0);
            d.GICD_ICENABLER[w].set(!0);
            d.GICD_ICPENDR[w].set(!0);
            d.GICD_ICACTIVER[w].set(!0);
        }
        self.wait_rwp();
        for i in SPI_BASE..n {
            d.GICD_IPRIORITYR[i as usize].set(DEFAULT_PRIORITY);
            self.router().GICD_IROUTER[(i - SPI_BASE) as usize].set(me.irouter());
        }
        for w in (SPI_BASE / 16) as usize..n.div_ceil(16) as usize {
            d.GICD_ICFGR[w].set(0); // all level-triggered
        }
        // Group 1 on in both security views (bit 0 = EnableGrp1NS or EnableGrp0, bit 1 =
        // EnableGrp1A or EnableGrp1), as Linux does.
        d.GICD_CTLR
            .write(GICD_CTLR::ARE::SET + GICD_CTLR::EnableGrp1::SET + GICD_CTLR::EnableGrp0::SET);
        self.wait_rwp();
    }

    pub(super) fn route_spi(&self, intid: u32, target: Mpidr) {
        if intid >= SPI_BASE {
            self.router().GICD_IROUTER[(intid - SPI_BASE) as usize].set(target.irouter());
        }
    }

    #[cfg(target_arch = "aarch64")]
    pub(super) fn init_cpu(&self) -> GicV3Cpu {
        let me = Mpidr::current();
        let rd = find_redistributor(&self.regions[..self.nregions], self.stride, me, |rd| {
            // SAFETY: `rd` lies inside a redistributor region (`new`'s contract), at a frame
            // boundary found by the walk, so it is an RD_base frame.
            unsafe { (*(rd as *const GicrRdRegisters)).GICR_TYPER.get() }
        })
        .unwrap_or_else(|| panic!("GICv3: no redistributor for core {me:?}"));
        let c = GicV3Cpu {
            gicd: self.gicd,
            rd,
            mpidr: me,
        };
        let r = c.rd();
        // Wake the redistributor: ProcessorSleep = 0, then wait for ChildrenAsleep = 0.
        r.GICR_WAKER.modify(GICR_WAKER::ProcessorSleep::CLEAR);
        while r.GICR_WAKER.is_set(GICR_WAKER::ChildrenAsleep) {
            core::hint::spin_loop();
        }
        let s = c.sgi();
        s.GICR_IGROUPR0.set(!0);
        s.GICR_ICENABLER0.set(0xffff_0000); // PPIs off
        s.GICR_ICPENDR0.set(0xffff_0000);
        s.GICR_ISENABLER0.set(0x0000_ffff); // SGIs on
        for p in s.GICR_IPRIORITYR.iter() {
            p.set(DEFAULT_PRIORITY);
        }
        c.wait_rwp();

        icc::write_sre(icc::read_sre() | 1);
        cpu::isb();
        assert!(
            icc::read_sre() & 1 == 1,
            "GICv3: ICC_SRE_EL1.SRE stuck at 0 (EL2 must set ICC_SRE_EL2.Enable and SRE)"
        );
        icc::write_pmr(0xff);
        icc::write_bpr1(0);
        icc::write_ctlr(icc::read_ctlr() & !(1 << 1)); // EOImode = 0
        icc::write_igrpen1(1);
        cpu::isb();
        c
    }
}

/// One core's view of a GICv3: its redistributor (see [`super::GicCpu`]).
#[derive(Clone, Copy, Debug)]
pub struct GicV3Cpu {
    gicd: usize,
    rd: usize,
    mpidr: Mpidr,
}

impl GicV3Cpu {
    fn gicd(&self) -> &GicdRegisters {
        // SAFETY: copied from a `GicV3`, whose `new` contract makes it a valid GICD frame.
        unsafe { &*(self.gicd as *const GicdRegisters) }
    }

    fn rd(&self) -> &GicrRdRegisters {
        // SAFETY: found by `find_redistributor` inside a region from `GicV3::new`'s contract.
        unsafe { &*(self.rd as *const GicrRdRegisters) }
    }

    fn sgi(&self) -> &GicrSgiRegisters {
        // SAFETY: as for `rd`; the SGI_base frame follows RD_base in every redistributor.
        unsafe { &*((self.rd + GICR_SGI_FRAME_OFFSET) as *const GicrSgiRegisters) }
    }

    fn wait_rwp(&self) {
        while self.rd().GICR_CTLR.is_set(GICR_CTLR::RWP) {
            core::hint::spin_loop();
        }
    }

    fn wait_gicd_rwp(&self) {
        while self.gicd().GICD_CTLR.is_set(GICD_CTLR::RWP) {
            core::hint::spin_loop();
        }
    }

    /// RD_base of this core's redistributor.
    pub fn redistributor_base(&self) -> usize {
        self.rd
    }

    /// See [`super::GicCpu::core_id`].
    pub fn core_id(&self) -> CoreId {
        CoreId {
            mpidr: self.mpidr,
            gicv2_cpu_interface: 0,
        }
    }

    /// See [`super::GicCpu::enable`].
    pub fn enable(&self, intid: u32, priority: u8) {
        if intid < SPI_BASE {
            let s = self.sgi();
            s.GICR_IPRIORITYR[intid as usize].set(priority);
            s.GICR_ISENABLER0.set(1 << intid);
        } else {
            let d = self.gicd();
            d.GICD_IPRIORITYR[intid as usize].set(priority);
            let (w, bit) = bit_pos(intid);
            d.GICD_ISENABLER[w].set(bit);
        }
    }

    /// See [`super::GicCpu::disable`].
    pub fn disable(&self, intid: u32) {
        if intid < SPI_BASE {
            self.sgi().GICR_ICENABLER0.set(1 << intid);
            self.wait_rwp();
        } else {
            let (w, bit) = bit_pos(intid);
            self.gicd().GICD_ICENABLER[w].set(bit);
            self.wait_gicd_rwp();
        }
    }

    /// See [`super::GicCpu::set_trigger`].
    pub fn set_trigger(&self, intid: u32, edge: bool) {
        let (w, bit) = cfg_pos(intid);
        let r = if intid < PPI_BASE {
            return;
        } else if intid < SPI_BASE {
            &self.sgi().GICR_ICFGR1
        } else {
            &self.gicd().GICD_ICFGR[w]
        };
        let v = r.get();
        r.set(if edge { v | bit } else { v & !bit });
    }

    /// See [`super::GicCpu::ack`].
    pub fn ack(&self) -> Option<IrqAck> {
        port_ack()
    }

    /// See [`super::GicCpu::eoi`].
    pub fn eoi(&self, ack: IrqAck) {
        port_eoi(ack)
    }

    /// See [`super::GicCpu::send_sgi`].
    pub fn send_sgi(&self, sgi: u8, target: SgiTarget) {
        let v = match target {
            SgiTarget::Core(core) => icc_sgi1r_value(sgi, core.mpidr),
            SgiTarget::AllOthers => icc_sgi1r_all_others(sgi),
            SgiTarget::SelfOnly => icc_sgi1r_value(sgi, self.mpidr),
        };
        // DSB, not DMB: a system-register write is not ordered by DMB. Makes the caller's
        // earlier stores visible before the SGI is sent (as Linux's gic_ipi_send_mask); the
        // target's exception entry plus its own acquire of the data pairs with it.
        cpu::dsb_ishst();
        icc::write_sgi1r(v);
        cpu::isb();
    }

    /// See [`super::GicCpu::clear_pending`].
    pub fn clear_pending(&self, intid: u32) {
        if intid < SPI_BASE {
            self.sgi().GICR_ICPENDR0.set(1 << intid);
        } else {
            let (w, bit) = bit_pos(intid);
            self.gicd().GICD_ICPENDR[w].set(bit);
        }
    }

    /// See [`super::GicCpu::is_pending`].
    pub fn is_pending(&self, intid: u32) -> bool {
        if intid < SPI_BASE {
            self.sgi().GICR_ISPENDR0.get() & (1 << intid) != 0
        } else {
            let (w, bit) = bit_pos(intid);
            self.gicd().GICD_ISPENDR[w].get() & bit != 0
        }
    }

    /// See [`super::GicCpu::view`].
    #[cfg(target_arch = "aarch64")]
    pub fn view(&self) -> super::GicView {
        let s = self.sgi();
        super::GicView {
            version: 3,
            rpr: icc::read_rpr() as u32,
            hppir: icc::read_hppir1() as u32,
            pmr: icc::read_pmr() as u32,
            ctlr: icc::read_ctlr() as u32,
            // AP1R1..3 exist only with more than 5 preemption bits (UNDEFINED otherwise).
            apr: [icc::read_ap1r0() as u32, 0, 0, 0],
            nsapr: [0; 4],
            enabled0: s.GICR_ISENABLER0.get(),
            pending0: s.GICR_ISPENDR0.get(),
            active0: s.GICR_ISACTIVER0.get(),
            sgi_sources: 0,
        }
    }

    /// See [`super::GicCpu::set_pending`].
    pub fn set_pending(&self, intid: u32) {
        if intid < SPI_BASE {
            self.sgi().GICR_ISPENDR0.set(1 << intid);
        } else {
            let (w, bit) = bit_pos(intid);
            self.gicd().GICD_ISPENDR[w].set(bit);
        }
    }
}

/// The GICv3 CPU interface system registers, by encoding (not every assembler knows the
/// names). On the host these cannot be reached: a `GicV3Cpu` is only made by `init_cpu`, which
/// exists only on aarch64.
/// ICC_IAR1_EL1 of the calling core (see [`super::IrqPort::ack`]).
#[inline]
pub(super) fn port_ack() -> Option<IrqAck> {
    IrqAck::from_iar(icc::read_iar1() as u32, false)
}

/// ICC_EOIR1_EL1 of the calling core (see [`super::IrqPort::eoi`]).
#[inline]
pub(super) fn port_eoi(ack: IrqAck) {
    icc::write_eoir1(ack.raw() as u64);
}

mod icc {
    macro_rules! sysreg {
        ($read:ident, $write:ident, $enc:literal, $name:literal) => {
            #[allow(dead_code)]
            #[inline(always)]
            pub fn $read() -> u64 {
                #[cfg(target_arch = "aarch64")]
                {
                    let v: u64;
                    // SAFETY: reading a GICv3 CPU interface register; the caller has enabled
                    // the system-register interface (or is checking that it is).
                    unsafe {
                        core::arch::asm!(concat!("mrs {}, ", $enc), out(reg) v,
                            options(nostack, preserves_flags))
                    };
                    v
                }
                #[cfg(not(target_arch = "aarch64"))]
                unreachable!(concat!($name, " exists only on aarch64"))
            }

            #[allow(dead_code)]
            #[inline(always)]
            pub fn $write(v: u64) {
                #[cfg(target_arch = "aarch64")]
                // SAFETY: writing a GICv3 CPU interface register only changes interrupt
                // delivery to this core. No `nomem`: a compiler barrier, so memory accesses
                // are not moved across an ack, an EOI or an SGI.
                unsafe {
                    core::arch::asm!(concat!("msr ", $enc, ", {}"), in(reg) v,
                        options(nostack, preserves_flags))
                };
                #[cfg(not(target_arch = "aarch64"))]
                {
                    let _ = v;
                    unreachable!(concat!($name, " exists only on aarch64"))
                }
            }
        };
    }

    sysreg!(read_pmr, write_pmr, "S3_0_C4_C6_0", "ICC_PMR_EL1");
    sysreg!(read_iar1, write_iar1, "S3_0_C12_C12_0", "ICC_IAR1_EL1");
    sysreg!(read_eoir1, write_eoir1, "S3_0_C12_C12_1", "ICC_EOIR1_EL1");
    sysreg!(read_bpr1, write_bpr1, "S3_0_C12_C12_3", "ICC_BPR1_EL1");
    sysreg!(read_ctlr, write_ctlr, "S3_0_C12_C12_4", "ICC_CTLR_EL1");
    sysreg!(read_sre, write_sre, "S3_0_C12_C12_5", "ICC_SRE_EL1");
    sysreg!(
        read_igrpen1,
        write_igrpen1,
        "S3_0_C12_C12_7",
        "ICC_IGRPEN1_EL1"
    );
    sysreg!(read_sgi1r, write_sgi1r, "S3_0_C12_C11_5", "ICC_SGI1R_EL1");
    // Diagnostics only (`GicV3Cpu::view`); RPR and HPPIR1 are read-only.
    sysreg!(read_rpr, write_rpr, "S3_0_C12_C11_3", "ICC_RPR_EL1");
    sysreg!(
        read_hppir1,
        write_hppir1,
        "S3_0_C12_C12_2",
        "ICC_HPPIR1_EL1"
    );
    sysreg!(read_ap1r0, write_ap1r0, "S3_0_C12_C9_0", "ICC_AP1R0_EL1");
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn sgi1r_values() {
        // Core 1.2.3.5, SGI 7: Aff3=1, Aff2=2, Aff1=3, TargetList bit 5.
        let t = Mpidr::from_aff(1, 2, 3, 5);
        assert_eq!(
            icc_sgi1r_value(7, t),
            (1 << 48) | (2 << 32) | (7 << 24) | (3 << 16) | (1 << 5)
        );
        // Aff0 = 17: RS = 1, bit 1.
        assert_eq!(
            icc_sgi1r_value(0, Mpidr::from_aff(0, 0, 0, 17)),
            (1 << 44) | 0b10
        );
        // Juno's second cluster: MPIDR 0x101.
        assert_eq!(
            icc_sgi1r_value(1, Mpidr::from_raw(0x8000_0101)),
            (1 << 24) | (1 << 16) | 0b10
        );
        assert_eq!(icc_sgi1r_all_others(2), (1 << 40) | (2 << 24));
    }

    /// A fake redistributor space: a map from RD_base to GICR_TYPER.
    fn fake(frames: &'static [(usize, u64)]) -> impl FnMut(usize) -> u64 {
        move |a| {
            frames
                .iter()
                .find(|f| f.0 == a)
                .map(|f| f.1)
                .unwrap_or_else(|| panic!("read outside the frames at {a:#x}"))
        }
    }

    const fn typer(aff: u32, last: bool, vlpis: bool) -> u64 {
        ((aff as u64) << 32) | ((last as u64) << 4) | ((vlpis as u64) << 1)
    }

    #[test]
    fn redistributor_walk() {
        static FRAMES: [(usize, u64); 4] = [
            (0x80a_0000, typer(0, false, false)),
            (0x80c_0000, typer(1, false, false)),
            (0x80e_0000, typer(2, true, false)),
            // Second region (like QEMU virt's high redistributor region).
            (0x4_0000_0000, typer(0x0000_0103, true, false)),
        ];
        let regions = [
            RedistributorRegion {
                base: 0x80a_0000,
                size: 0xf6_0000,
            },
            RedistributorRegion {
                base: 0x4_0000_0000,
                size: 0x400_0000,
            },
        ];
        let find = |m| find_redistributor(&regions, None, m, fake(&FRAMES));
        assert_eq!(find(Mpidr::from_raw(0)), Some(0x80a_0000));
        assert_eq!(find(Mpidr::from_raw(2)), Some(0x80e_0000));
        assert_eq!(find(Mpidr::from_raw(0x103)), Some(0x4_0000_0000));
        // Not there: the walk stops at Last instead of reading past the frames.
        assert_eq!(find(Mpidr::from_raw(7)), None);
    }

    #[test]
    fn redistributor_walk_vlpis_and_stride() {
        static V4: [(usize, u64); 2] = [
            (0x1000_0000, typer(0, false, true)),
            (0x1004_0000, typer(1, true, true)),
        ];
        let r = [RedistributorRegion {
            base: 0x1000_0000,
            size: 0x8_0000,
        }];
        assert_eq!(
            find_redistributor(&r, None, Mpidr::from_raw(1), fake(&V4)),
            Some(0x1004_0000)
        );
        static STRIDED: [(usize, u64); 2] = [
            (0x1000_0000, typer(0, false, false)),
            (0x1010_0000, typer(1, false, false)),
        ];
        let r = [RedistributorRegion {
            base: 0x1000_0000,
            size: 0x20_0000,
        }];
        assert_eq!(
            find_redistributor(&r, Some(0x10_0000), Mpidr::from_raw(1), fake(&STRIDED)),
            Some(0x1010_0000)
        );
        // The region size also ends the walk (no Last bit set).
        assert_eq!(
            find_redistributor(&r, Some(0x10_0000), Mpidr::from_raw(5), fake(&STRIDED)),
            None
        );
    }

    #[test]
    fn layouts() {
        assert_eq!(offset_of!(GicrRdRegisters, GICR_TYPER), 0x08);
        assert_eq!(offset_of!(GicrRdRegisters, GICR_WAKER), 0x14);
        assert_eq!(offset_of!(GicrSgiRegisters, GICR_IGROUPR0), 0x80);
        assert_eq!(offset_of!(GicrSgiRegisters, GICR_ISENABLER0), 0x100);
        assert_eq!(offset_of!(GicrSgiRegisters, GICR_ICPENDR0), 0x280);
        assert_eq!(offset_of!(GicrSgiRegisters, GICR_IPRIORITYR), 0x400);
        assert_eq!(offset_of!(GicrSgiRegisters, GICR_ICFGR1), 0xc04);
        assert_eq!(
            GICD_IROUTER_BLOCK_OFFSET + offset_of!(GicdRouterRegisters, GICD_IROUTER) + 8 * 32,
            0x6100 + 8 * 32
        );
    }
}
