//! GICv2 (GIC-400, QEMU `arm,cortex-a15-gic`): distributor (GICD) + memory-mapped CPU
//! interface (GICC). Names and offsets from the GICv2 architecture specification (IHI 0048B).
//!
//! SGIs and PPIs use banked registers (GICD_ISENABLER0, GICD_IPRIORITYR0..7, GICD_ITARGETSR0..7,
//! ...): an access reaches the bank of the core that makes it. So a [`GicV2Cpu`] must be used
//! on the core that created it.
//!
//! Security: we run Non-secure (EL1/EL2) and rely on firmware (or QEMU's boot stub) having
//! put every interrupt in Group 1, as it does for a Non-secure boot; bit 0 of GICD_CTLR /
//! GICC_CTLR then enables Group 1. Run Secure (EL3, QEMU `secure=on`) and everything stays in
//! Group 0 and the same bit enables Group 0, signalled as IRQ (FIQEn = 0): that works too.
//!
//! # What a reset leaves
//!
//! `init_cpu` does not trust the CPU interface to come out of a reset idle. QEMU's GICv2
//! (`hw/intc/arm_gic_common.c`, reset hold, QEMU 10.0 and earlier) clears the pending and
//! active bits and sets the running priority to idle, but not the active-priority registers
//! GICC_APRn/NSAPRn. A core that had acknowledged an interrupt and not yet written GICC_EOIR
//! when another core called PSCI SYSTEM_RESET (the stress's reboot: SGI_STOP at priority
//! 0x10 to the others, then the reset) keeps that priority's APR bit across the reset. After
//! the reboot the first EOI on that core drops the *lowest* set bit — the stale 0x10 one, not
//! the interrupt's own 0xa0 — and the running priority is recomputed from what is left:
//! 0xa0, with nothing active. From then on no interrupt of priority 0xa0 or lower (the wake
//! SGI, the timer) is ever signalled to that core: its first wake works, the next wake SGI
//! stays pending behind the running priority and the core sleeps in WFI for good (the
//! soak's `lost SGI` after a reset, about one round in 20–50). Real GIC-400s reset the APRs;
//! QEMU's GICv3 and KVM's vGICs reset theirs too, so GICv3 never showed it. `init_cpu`
//! therefore writes 0 to the APRs (the architecture lets software write 0 or a value it
//! read), and clears SGI/PPI active bits and SGI pending bits of every source, before it
//! enables the interface. The `gicv2_stale_apr` mutant leaves this out.

use super::{
    bit_pos, cfg_pos, CoreId, GicdRegisters, IrqAck, SgiTarget, DEFAULT_PRIORITY, GICD_CTLR,
    PPI_BASE, SPI_BASE,
};
use crate::cpu::{self, Mpidr};
use crate::mmio::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_bitfields, register_structs};

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_bitfields! {u32,
    /// GICC_CTLR, Non-secure view (bit 0 is EnableGrp0 in the Secure view).
    #[allow(missing_docs)]
    pub GICC_CTLR [
        EnableGrp1 OFFSET(0) NUMBITS(1) [],
        FIQBypDisGrp1 OFFSET(5) NUMBITS(1) [],
        IRQBypDisGrp1 OFFSET(6) NUMBITS(1) [],
        /// 0: a GICC_EOIR write both drops priority and deactivates.
        EOImodeNS OFFSET(9) NUMBITS(1) []
    ]
}

// Register and field names are the specification's (its manual documents each),
// hence `allow(missing_docs)` on every register below.
register_structs! {
    /// The GICv2 CPU interface (GICC).
    #[allow(non_snake_case)]
    #[allow(missing_docs)]
    pub GiccRegisters {
        (0x000 => pub GICC_CTLR: ReadWrite<u32, GICC_CTLR::Register>),
        (0x004 => pub GICC_PMR: ReadWrite<u32>),
        (0x008 => pub GICC_BPR: ReadWrite<u32>),
        (0x00c => pub GICC_IAR: ReadOnly<u32>),
        (0x010 => pub GICC_EOIR: WriteOnly<u32>),
        (0x014 => pub GICC_RPR: ReadOnly<u32>),
        (0x018 => pub GICC_HPPIR: ReadOnly<u32>),
        (0x01c => pub GICC_ABPR: ReadWrite<u32>),
        (0x020 => pub GICC_AIAR: ReadOnly<u32>),
        (0x024 => pub GICC_AEOIR: WriteOnly<u32>),
        (0x028 => pub GICC_AHPPIR: ReadOnly<u32>),
        (0x02c => _reserved0),
        (0x0d0 => pub GICC_APR: [ReadWrite<u32>; 4]),
        (0x0e0 => pub GICC_NSAPR: [ReadWrite<u32>; 4]),
        (0x0f0 => _reserved1),
        (0x0fc => pub GICC_IIDR: ReadOnly<u32>),
        (0x100 => _reserved2),
        (0x1000 => pub GICC_DIR: WriteOnly<u32>),
        (0x1004 => @END),
    }
}

/// The GICD_SGIR value that sends SGI `sgi` to `target` (NSATT = 0).
pub const fn gicd_sgir_value(sgi: u8, target: SgiTarget) -> u32 {
    let id = (sgi & 0xf) as u32;
    match target {
        // TargetListFilter = 0b00, CPUTargetList = one bit per CPU interface.
        SgiTarget::Core(core) => id | (1 << (16 + (core.gicv2_cpu_interface & 7) as u32)),
        // TargetListFilter = 0b01: all but the requesting CPU.
        SgiTarget::AllOthers => id | (0b01 << 24),
        // TargetListFilter = 0b10: the requesting CPU only.
        SgiTarget::SelfOnly => id | (0b10 << 24),
    }
}

/// The system-wide part of a GICv2: distributor and CPU interface bases.
#[derive(Debug)]
pub struct GicV2 {
    gicd: usize,
    gicc: usize,
}

impl GicV2 {
    /// # Safety
    /// `gicd_base` and `gicc_base` are the (identity-mapped, Device-nGnRE) bases of a GICv2
    /// distributor (4 KiB) and CPU interface (8 KiB) from the DTB `reg`, valid for the life of
    /// the program, and nothing else drives this GIC.
    pub const unsafe fn new(gicd_base: usize, gicc_base: usize) -> Self {
        Self {
            gicd: gicd_base,
            gicc: gicc_base,
        }
    }

    fn gicd(&self) -> &GicdRegisters {
        // SAFETY: `new`'s contract: a valid GICD block for the life of the program.
        unsafe { &*(self.gicd as *const GicdRegisters) }
    }

    #[cfg(target_arch = "aarch64")]
    pub(super) fn num_intids(&self) -> u32 {
        self.gicd().num_intids()
    }

    #[cfg(target_arch = "aarch64")]
    pub(super) fn init_distributor(&self) {
        let d = self.gicd();
        d.GICD_CTLR.set(0);
        let n = d.num_intids();
        // Own CPU interface bit (banked, read-only byte): route every SPI here for now.
        let me = d.GICD_ITARGETSR[0].get();
        for w in (SPI_BASE / 32) as usize..n.div_ceil(32) as usize {
            d.GICD_ICENABLER[w].set(!0);
            d.GICD_ICPENDR[w].set(!0);
            d.GICD_ICACTIVER[w].set(!0);
        }
        for i in SPI_BASE as usize..n as usize {
            d.GICD_IPRIORITYR[i].set(DEFAULT_PRIORITY);
            d.GICD_ITARGETSR[i].set(me);
        }
        for w in (SPI_BASE / 16) as usize..n.div_ceil(16) as usize {
            d.GICD_ICFGR[w].set(0); // all level-triggered
        }
        d.GICD_CTLR.write(GICD_CTLR::EnableGrp0::SET);
    }

    pub(super) fn route_spi(&self, intid: u32, cpu_interface: u8) {
        if intid >= SPI_BASE {
            self.gicd().GICD_ITARGETSR[intid as usize].set(1 << (cpu_interface & 7));
        }
    }

    #[cfg(target_arch = "aarch64")]
    pub(super) fn init_cpu(&self) -> GicV2Cpu {
        let d = self.gicd();
        let mask = d.GICD_ITARGETSR[0].get();
        // A uniprocessor GIC reads ITARGETSR as zero: interface 0.
        let cpu_interface = if mask == 0 {
            0
        } else {
            mask.trailing_zeros() as u8
        };
        d.GICD_ICENABLER[0].set(0xffff_0000); // PPIs off
        d.GICD_ICPENDR[0].set(0xffff_0000);
        d.GICD_ISENABLER[0].set(0x0000_ffff); // SGIs on
        for i in 0..SPI_BASE as usize {
            d.GICD_IPRIORITYR[i].set(DEFAULT_PRIORITY);
        }
        let c = self.gicc_regs();
        // Mutant (negative control for the soak): keep whatever a reset left (module docs,
        // "What a reset leaves"): QEMU's lost wake SGI after PSCI SYSTEM_RESET comes back.
        #[cfg(not(aiolos_mutant = "gicv2_stale_apr"))]
        scrub_reset_leftovers(d, c);
        c.GICC_PMR.set(0xff);
        c.GICC_BPR.set(0);
        c.GICC_CTLR.write(GICC_CTLR::EnableGrp1::SET);
        GicV2Cpu {
            gicd: self.gicd,
            gicc: self.gicc,
            core: CoreId {
                mpidr: Mpidr::current(),
                gicv2_cpu_interface: cpu_interface,
            },
        }
    }

    /// The acknowledge/EOI port (see [`super::IrqPort`]): the CPU interface's base, which
    /// every core reads at the same address (the GICC frame is banked per core).
    pub(super) fn irq_port(&self) -> GicV2Port {
        GicV2Port { gicc: self.gicc }
    }

    #[cfg(target_arch = "aarch64")]
    fn gicc_regs(&self) -> &GiccRegisters {
        // SAFETY: `new`'s contract: a valid GICC block for the life of the program.
        unsafe { &*(self.gicc as *const GiccRegisters) }
    }
}

/// Drops the interrupt state of this core that survives a reset (module docs, "What a reset
/// leaves"): the active priorities (GICC_APRn, GICC_NSAPRn), and SGIs/PPIs left active or SGIs
/// left pending from every source. Called before GICC_CTLR enables the interface.
#[cfg(all(target_arch = "aarch64", not(aiolos_mutant = "gicv2_stale_apr")))]
fn scrub_reset_leftovers(d: &GicdRegisters, c: &GiccRegisters) {
    // IHI 0048B 4.4.18/4.4.19: writing 0 to the APRs is the one value besides a saved one
    // that software may write; it means "no interrupt active" (nothing is: this core has not
    // acknowledged anything since it came up). A Non-secure write to GICC_NSAPRn is ignored.
    for i in 0..4 {
        c.GICC_APR[i].set(0);
        c.GICC_NSAPR[i].set(0);
    }
    d.GICD_ICACTIVER[0].set(!0);
    for r in d.GICD_CPENDSGIR.iter() {
        r.set(!0);
    }
}

/// GICC_IAR / GICC_EOIR of the calling core (see [`super::IrqPort`]).
#[derive(Clone, Copy, Debug)]
pub struct GicV2Port {
    gicc: usize,
}

impl GicV2Port {
    fn gicc(&self) -> &GiccRegisters {
        // SAFETY: copied from a `GicV2`, whose `new` contract makes it a valid GICC block.
        unsafe { &*(self.gicc as *const GiccRegisters) }
    }

    /// See [`super::IrqPort::ack`].
    #[inline]
    pub fn ack(&self) -> Option<IrqAck> {
        IrqAck::from_iar(self.gicc().GICC_IAR.get(), true)
    }

    /// See [`super::IrqPort::eoi`].
    #[inline]
    pub fn eoi(&self, ack: IrqAck) {
        self.gicc().GICC_EOIR.set(ack.raw());
    }
}

/// One core's view of a GICv2 (see [`super::GicCpu`]).
#[derive(Clone, Copy, Debug)]
pub struct GicV2Cpu {
    gicd: usize,
    gicc: usize,
    core: CoreId,
}

impl GicV2Cpu {
    fn gicd(&self) -> &GicdRegisters {
        // SAFETY: copied from a `GicV2`, whose `new` contract makes it a valid GICD block.
        unsafe { &*(self.gicd as *const GicdRegisters) }
    }

    fn gicc(&self) -> &GiccRegisters {
        // SAFETY: copied from a `GicV2`, whose `new` contract makes it a valid GICC block.
        unsafe { &*(self.gicc as *const GiccRegisters) }
    }

    /// See [`super::GicCpu::core_id`].
    pub fn core_id(&self) -> CoreId {
        self.core
    }

    /// See [`super::GicCpu::enable`].
    pub fn enable(&self, intid: u32, priority: u8) {
        let d = self.gicd();
        d.GICD_IPRIORITYR[intid as usize].set(priority);
        let (w, bit) = bit_pos(intid);
        d.GICD_ISENABLER[w].set(bit);
    }

    /// See [`super::GicCpu::disable`].
    pub fn disable(&self, intid: u32) {
        let (w, bit) = bit_pos(intid);
        self.gicd().GICD_ICENABLER[w].set(bit);
    }

    /// See [`super::GicCpu::set_trigger`].
    pub fn set_trigger(&self, intid: u32, edge: bool) {
        if intid < PPI_BASE {
            return;
        }
        let (w, bit) = cfg_pos(intid);
        let r = &self.gicd().GICD_ICFGR[w];
        let v = r.get();
        r.set(if edge { v | bit } else { v & !bit });
    }

    /// See [`super::GicCpu::ack`].
    pub fn ack(&self) -> Option<IrqAck> {
        IrqAck::from_iar(self.gicc().GICC_IAR.get(), true)
    }

    /// See [`super::GicCpu::eoi`].
    pub fn eoi(&self, ack: IrqAck) {
        self.gicc().GICC_EOIR.set(ack.raw());
    }

    /// See [`super::GicCpu::send_sgi`].
    pub fn send_sgi(&self, sgi: u8, target: SgiTarget) {
        // Orders the caller's earlier stores to Normal memory before the GICD_SGIR write, so
        // the target sees them once it takes the SGI (as Linux's gic_ipi_send_mask). Pairs with
        // the target's exception entry plus its own acquire of the data.
        cpu::dmb_ishst();
        self.gicd().GICD_SGIR.set(gicd_sgir_value(sgi, target));
    }

    /// See [`super::GicCpu::clear_pending`].
    pub fn clear_pending(&self, intid: u32) {
        let d = self.gicd();
        if intid < PPI_BASE {
            // One byte per SGI, one bit per source CPU: clear all sources.
            d.GICD_CPENDSGIR[(intid / 4) as usize].set(0xff << ((intid % 4) * 8));
        } else {
            let (w, bit) = bit_pos(intid);
            d.GICD_ICPENDR[w].set(bit);
        }
    }

    /// See [`super::GicCpu::is_pending`].
    pub fn is_pending(&self, intid: u32) -> bool {
        let d = self.gicd();
        if intid < PPI_BASE {
            d.GICD_SPENDSGIR[(intid / 4) as usize].get() & (0xff << ((intid % 4) * 8)) != 0
        } else {
            let (w, bit) = bit_pos(intid);
            d.GICD_ISPENDR[w].get() & bit != 0
        }
    }

    /// See [`super::GicCpu::view`].
    #[cfg(target_arch = "aarch64")]
    pub fn view(&self) -> super::GicView {
        let (c, d) = (self.gicc(), self.gicd());
        super::GicView {
            version: 2,
            rpr: c.GICC_RPR.get(),
            hppir: c.GICC_HPPIR.get(),
            pmr: c.GICC_PMR.get(),
            ctlr: c.GICC_CTLR.get(),
            apr: core::array::from_fn(|i| c.GICC_APR[i].get()),
            nsapr: core::array::from_fn(|i| c.GICC_NSAPR[i].get()),
            enabled0: d.GICD_ISENABLER[0].get(),
            pending0: d.GICD_ISPENDR[0].get(),
            active0: d.GICD_ISACTIVER[0].get(),
            sgi_sources: d.GICD_SPENDSGIR[0].get(),
        }
    }

    /// See [`super::GicCpu::set_pending`].
    pub fn set_pending(&self, intid: u32) {
        if intid < PPI_BASE {
            self.send_sgi(intid as u8, SgiTarget::SelfOnly);
        } else {
            let (w, bit) = bit_pos(intid);
            self.gicd().GICD_ISPENDR[w].set(bit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn sgir_values() {
        let core = CoreId {
            mpidr: Mpidr::from_aff(0, 0, 0, 2),
            gicv2_cpu_interface: 3,
        };
        assert_eq!(gicd_sgir_value(1, SgiTarget::Core(core)), 0x0008_0001);
        assert_eq!(gicd_sgir_value(15, SgiTarget::AllOthers), 0x0100_000f);
        assert_eq!(gicd_sgir_value(0, SgiTarget::SelfOnly), 0x0200_0000);
    }

    #[test]
    fn gicc_layout() {
        assert_eq!(offset_of!(GiccRegisters, GICC_PMR), 0x04);
        assert_eq!(offset_of!(GiccRegisters, GICC_IAR), 0x0c);
        assert_eq!(offset_of!(GiccRegisters, GICC_EOIR), 0x10);
        assert_eq!(offset_of!(GiccRegisters, GICC_IIDR), 0xfc);
        assert_eq!(offset_of!(GiccRegisters, GICC_DIR), 0x1000);
    }
}
