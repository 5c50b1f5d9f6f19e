//! Glue from the DTB's description to `hal` driver objects (the console UART, the GIC) and
//! their interrupts (the console's), and one-line summaries of them.

use core::fmt;
use hal::dtb::{EnableMethod, GicKind, Platform, UartKind};
use hal::gic::{Gic, GicV2, GicV3, RedistributorRegion};
use hal::uart::Uart;

/// The console UART the DTB names, or why there is none we can drive.
pub fn uart_from_dtb<'a>(p: &Platform<'a>) -> Result<Uart, ConsoleError<'a>> {
    let console = match &p.console {
        Ok(Some(c)) => c,
        Ok(None) => return Err(ConsoleError::None),
        Err(e) => return Err(ConsoleError::Dtb(*e)),
    };
    let (driver, props) = match console.kind {
        UartKind::Driver(driver, props) => (driver, props),
        UartKind::Unknown(compat) => return Err(ConsoleError::Unknown(compat)),
    };
    // SAFETY: the DTB describes a device this driver serves at `base`, identity mapped (or,
    // before the MMU, physical).
    let uart =
        unsafe { (driver.new)(console.base as usize, props) }.map_err(ConsoleError::Driver)?;
    uart.init();
    Ok(uart)
}

/// Why the DTB's console cannot be driven.
pub enum ConsoleError<'a> {
    /// No `/chosen/stdout-path` and no UART with a driver.
    None,
    /// The console node is malformed.
    Dtb(hal::dtb::DtbError<'a>),
    /// No driver for this `compatible`.
    Unknown(&'a str),
    /// The driver refused the node's properties.
    Driver(hal::uart::UartError),
}

impl fmt::Display for ConsoleError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleError::None => {
                write!(f, "the device tree names no console (/chosen/stdout-path)")
            }
            ConsoleError::Dtb(e) => write!(f, "console: {}", e),
            ConsoleError::Unknown(c) => write!(f, "no driver for console compatible \"{}\"", c),
            ConsoleError::Driver(e) => write!(f, "{}", e),
        }
    }
}

/// Build the GIC from the DTB, initialise the distributor and this (the primary) core.
pub fn init_gic_primary(p: &Platform) {
    let Ok(info) = &p.gic else {
        crate::exit::fail(format_args!("no usable interrupt controller"));
    };
    let gic = match &info.kind {
        GicKind::V2 { dist, cpu_if } => {
            // SAFETY: bases from the DTB's interrupt controller node, identity mapped as
            // Device.
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

/// Wire the console's interrupt (from the DTB) for TX draining and, when asked, RX.
/// Returns false if the console has no interrupt: output then stays synchronous.
pub fn wire_console_irq(p: &Platform) -> bool {
    let Ok(Some(console)) = &p.console else {
        return false;
    };
    let hal::dtb::Interrupt::Intid(intid) = console.interrupt else {
        return false;
    };
    crate::irq::register(intid, crate::console::on_irq);
    crate::console::interrupt_wired();
    true
}

/// The virtual timer's INTID from the DTB (the architectural PPI 27 if absent).
pub fn virt_timer_intid(p: &Platform) -> u32 {
    match &p.timer {
        Ok(Some(t)) if t.virt != 0 => t.virt,
        _ => hal::gic::VIRT_TIMER_INTID,
    }
}

/// The banner's `console:` line.
pub struct ConsoleSummary<'a>(pub &'a Platform<'a>);

impl fmt::Display for ConsoleSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.console {
            Ok(Some(c)) => write!(f, "console: {} ({}) at {:#x}", c.node, c.compatible, c.base),
            _ => write!(f, "console: none"),
        }
    }
}

/// A `cpuN:` line's enable method. Written out rather than `{:?}`: `Debug` of the `&str` in
/// `EnableMethod::Other` would link `core`'s string escaping and its Unicode tables (about
/// 3 KiB of Image) into every application for one banner line.
pub struct EnableMethodName<'a>(pub &'a EnableMethod<'a>);

impl fmt::Display for EnableMethodName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            EnableMethod::Psci => f.write_str("psci"),
            EnableMethod::SpinTable {
                release_addr: Some(a),
            } => write!(f, "spin-table, release address {a:#x}"),
            EnableMethod::SpinTable { release_addr: None } => {
                f.write_str("spin-table, no release address")
            }
            EnableMethod::Other(m) => write!(f, "unsupported enable-method \"{m}\""),
            EnableMethod::None => f.write_str("no enable-method"),
        }
    }
}

/// The banner's `gic:` line.
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
