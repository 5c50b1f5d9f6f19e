//! Glue from the DTB's description to `hal` driver objects, and one-line summaries of them.

use core::fmt;
use hal::dtb::{GicKind, Platform, UartKind};
use hal::gic::{Gic, GicV2, GicV3, RedistributorRegion};
use hal::uart::Uart;

/// The console UART the DTB names, or why there is none we can drive.
pub fn uart_from_dtb<'a>(p: &Platform<'a>) -> Result<Uart, ConsoleError<'a>> {
    let console = match &p.console {
        Ok(Some(c)) => c,
        Ok(None) => return Err(ConsoleError::None),
        Err(e) => return Err(ConsoleError::Dtb(*e)),
    };
    let base = console.base as usize;
    let uart = match console.kind {
        // SAFETY (this and the next arms): the DTB describes a device of this kind at `base`,
        // identity mapped (or, before the MMU, physical).
        UartKind::Pl011 => unsafe { Uart::pl011(base) },
        UartKind::Ns16550 {
            reg_shift,
            reg_io_width,
        } => {
            // SAFETY: as above.
            unsafe { Uart::ns16550(base, reg_shift, reg_io_width) }
                .ok_or(ConsoleError::BadWidth(reg_io_width))?
        }
        // SAFETY: as above.
        UartKind::MiniUart => unsafe { Uart::mini_uart(base) },
        UartKind::Unknown(compat) => return Err(ConsoleError::Unknown(compat)),
    };
    uart.init();
    Ok(uart)
}

pub enum ConsoleError<'a> {
    None,
    Dtb(hal::dtb::DtbError<'a>),
    Unknown(&'a str),
    BadWidth(u32),
}

impl fmt::Display for ConsoleError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleError::None => {
                write!(f, "the device tree names no console (/chosen/stdout-path)")
            }
            ConsoleError::Dtb(e) => write!(f, "console: {}", e),
            ConsoleError::Unknown(c) => write!(f, "no driver for console compatible \"{}\"", c),
            ConsoleError::BadWidth(w) => write!(f, "unsupported reg-io-width {}", w),
        }
    }
}

/// Build the GIC from the DTB, initialise the distributor and this (the primary) core.
pub fn init_gic_primary(p: &Platform) {
    let Ok(info) = &p.gic else {
        crate::exit::fail(format_args!("no usable interrupt controller"));
    };
    let gic = match &info.kind {
        // SAFETY: bases from the DTB's interrupt controller node, identity mapped as Device.
        GicKind::V2 { dist, cpu_if } => {
            Gic::V2(unsafe { GicV2::new(dist.base as usize, cpu_if.base as usize) })
        }
        GicKind::V3 {
            dist,
            redistributors: redists,
            redistributor_stride: stride,
        } => {
            let mut regions = [RedistributorRegion { base: 0, size: 0 }; 4];
            let mut n = 0;
            for r in redists.iter().take(regions.len()) {
                regions[n] = RedistributorRegion {
                    base: r.base as usize,
                    size: r.size as usize,
                };
                n += 1;
            }
            // SAFETY: as above.
            Gic::V3(unsafe {
                GicV3::new(
                    dist.base as usize,
                    &regions[..n],
                    stride.map(|s| s as usize),
                )
            })
        }
    };
    gic.init_distributor();
    // SAFETY: single-core boot, MMU on, IRQs masked.
    unsafe { crate::irq::set_gic(gic) };
    crate::irq::init_this_core();
}

/// Bring up a secondary core's GIC interface.
pub fn init_gic_cpu() {
    crate::irq::init_this_core();
}

/// The virtual timer's INTID from the DTB (the architectural PPI 27 if absent).
pub fn virt_timer_intid(p: &Platform) -> u32 {
    match &p.timer {
        Ok(Some(t)) if t.virt != 0 => t.virt,
        _ => hal::gic::VIRT_TIMER_INTID,
    }
}

pub struct ConsoleSummary<'a>(pub &'a Platform<'a>);

impl fmt::Display for ConsoleSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.console {
            Ok(Some(c)) => write!(f, "console: {} ({}) at {:#x}", c.node, c.compatible, c.base),
            _ => write!(f, "console: none"),
        }
    }
}

pub struct GicSummary<'a>(pub &'a Platform<'a>);

impl fmt::Display for GicSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(gic) = &self.0.gic else {
            return write!(f, "gic: none");
        };
        match &gic.kind {
            GicKind::V2 { dist, cpu_if } => write!(
                f,
                "gic: v2 ({}), distributor {:#x}, cpu interface {:#x}",
                gic.compatible, dist.base, cpu_if.base
            ),
            GicKind::V3 {
                dist,
                redistributors,
                ..
            } => {
                write!(f, "gic: v3, distributor {:#x}, redistributors", dist.base)?;
                for r in redistributors.iter() {
                    write!(f, " {:#x}+{:#x}", r.base, r.size)?;
                }
                Ok(())
            }
        }
    }
}
