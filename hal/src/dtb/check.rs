//! What the kernel requires of a platform ([`bootability`]) and the human-readable report
//! the `dtb-check` tool prints ([`Report`]). The kernel and the checker use the same code,
//! so the checker's verdict is the kernel's.

use core::fmt;

use super::error::DtbError;
use super::platform::{
    Conduit, EnableMethod, GicKind, Interrupt, Platform, PsciVersion, Regions, UartKind,
};

/// Why the kernel cannot boot on a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotBootable<'a> {
    /// The DTB itself (or the part named) is unreadable.
    Dtb {
        /// What was being read (`memory`, `console`, ...).
        part: &'static str,
        /// What is wrong with it.
        error: DtbError<'a>,
    },
    /// No RAM range of non-zero size.
    NoRam {
        /// Memory ranges skipped because their size is 0.
        zero_sized: usize,
    },
    /// No `/chosen/stdout-path` and no UART we have a driver for.
    NoConsole,
    /// The console is a UART we have no driver for.
    ConsoleWithoutDriver {
        /// The console node's name.
        node: &'a str,
        /// Its first `compatible` string.
        compatible: &'a str,
    },
    /// No timer node: the executor needs the architected timer.
    NoTimer,
    /// A CPU cannot be started.
    Cpu {
        /// The CPU node's name.
        node: &'a str,
        /// Its MPIDR affinity bits.
        mpidr: u64,
        /// Why it cannot be started.
        why: CpuProblem<'a>,
    },
    /// No enabled CPU at all.
    NoCpus,
}

/// Why one CPU cannot be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuProblem<'a> {
    /// `enable-method = "psci"` but no `/psci` node.
    PsciWithoutNode,
    /// PSCI 0.1 without a `cpu_on` function id.
    PsciWithoutCpuOn,
    /// `spin-table` without `cpu-release-addr`.
    SpinTableWithoutReleaseAddr,
    /// An enable method we do not implement.
    UnknownMethod(&'a str),
    /// No `enable-method`.
    NoMethod,
}

impl fmt::Display for NotBootable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Dtb { part, error } => write!(f, "{part}: {error}"),
            Self::NoRam { zero_sized: 0 } => write!(f, "no RAM range"),
            Self::NoRam { zero_sized } => write!(
                f,
                "no RAM range: {zero_sized} memory range(s) have size 0 (firmware fills them in)"
            ),
            Self::NoConsole => write!(f, "no console: no stdout-path and no UART with a driver"),
            Self::ConsoleWithoutDriver { node, compatible } => {
                write!(f, "console {node} is \"{compatible}\": no driver for it")
            }
            Self::NoTimer => write!(f, "no arm,armv8-timer node"),
            Self::Cpu { node, mpidr, why } => {
                write!(f, "cpu {node} (MPIDR {mpidr:#x}) cannot be started: ")?;
                match why {
                    CpuProblem::PsciWithoutNode => write!(f, "enable-method psci but no /psci"),
                    CpuProblem::PsciWithoutCpuOn => write!(f, "PSCI 0.1 without cpu_on"),
                    CpuProblem::SpinTableWithoutReleaseAddr => {
                        write!(f, "spin-table without cpu-release-addr")
                    }
                    CpuProblem::UnknownMethod(m) => write!(f, "unsupported enable-method \"{m}\""),
                    CpuProblem::NoMethod => write!(f, "no enable-method"),
                }
            }
            Self::NoCpus => write!(f, "no enabled cpu"),
        }
    }
}

/// What the kernel requires, checked in this order: readable RAM with at least one range, a
/// supported GIC, a console with a driver, a timer, and every enabled CPU startable (PSCI
/// with a `/psci` node, or spin-table with a release address).
pub fn bootability<'a>(p: &Platform<'a>) -> Result<(), NotBootable<'a>> {
    let dtb = |part| move |error| NotBootable::Dtb { part, error };
    let mem = p.memory.as_ref().map_err(|e| dtb("memory")(*e))?;
    if mem.ram.list.is_empty() {
        return Err(NotBootable::NoRam {
            zero_sized: mem.zero_sized,
        });
    }
    p.gic
        .as_ref()
        .map_err(|e| dtb("interrupt controller")(*e))?;
    match p.console.map_err(dtb("console"))? {
        None => return Err(NotBootable::NoConsole),
        Some(c) => {
            if let UartKind::Unknown(compatible) = c.kind {
                return Err(NotBootable::ConsoleWithoutDriver {
                    node: c.node,
                    compatible,
                });
            }
        }
    }
    if p.timer.map_err(dtb("timer"))?.is_none() {
        return Err(NotBootable::NoTimer);
    }
    let psci = p.psci.map_err(dtb("psci"))?;
    let cpus = p.cpus.as_ref().map_err(|e| dtb("cpus")(*e))?;
    let mut enabled = 0;
    for cpu in cpus.list.iter().filter(|c| !c.disabled) {
        enabled += 1;
        let why = match (cpu.enable_method, psci) {
            (EnableMethod::Psci, None) => CpuProblem::PsciWithoutNode,
            (EnableMethod::Psci, Some(ps))
                if ps.version == PsciVersion::V0_1 && ps.cpu_on.is_none() =>
            {
                CpuProblem::PsciWithoutCpuOn
            }
            (EnableMethod::Psci, Some(_)) => continue,
            (
                EnableMethod::SpinTable {
                    release_addr: Some(_),
                },
                _,
            ) => continue,
            (EnableMethod::SpinTable { release_addr: None }, _) => {
                CpuProblem::SpinTableWithoutReleaseAddr
            }
            (EnableMethod::Other(m), _) => CpuProblem::UnknownMethod(m),
            (EnableMethod::None, _) => CpuProblem::NoMethod,
        };
        return Err(NotBootable::Cpu {
            node: cpu.node,
            mpidr: cpu.mpidr,
            why,
        });
    }
    if enabled == 0 {
        return Err(NotBootable::NoCpus);
    }
    Ok(())
}

/// The report `dtb-check` prints (and the kernel may print at boot): one line per fact,
/// ending with the verdict line `bootable: yes` or `bootable: no: <reason>`.
pub struct Report<'p, 'a>(pub &'p Platform<'a>);

fn regions(f: &mut fmt::Formatter<'_>, what: &str, r: &Regions) -> fmt::Result {
    if r.list.is_empty() {
        writeln!(f, "{what}: none")?;
    }
    for x in &r.list {
        writeln!(
            f,
            "{what}: {:#x}..{:#x} ({:#x} bytes)",
            x.base,
            x.base.wrapping_add(x.size),
            x.size
        )?;
    }
    if r.truncated {
        writeln!(f, "{what}: (more ranges than fit; list truncated)")?;
    }
    Ok(())
}

fn irq(i: Interrupt) -> impl fmt::Display {
    struct D(Interrupt);
    impl fmt::Display for D {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Interrupt::None => write!(f, "none"),
                Interrupt::Intid(id) => write!(f, "INTID {id}"),
                Interrupt::NotGic(ph) => write!(f, "not on the GIC (controller phandle {ph:#x})"),
            }
        }
    }
    D(i)
}

impl fmt::Display for Report<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        writeln!(f, "model: {}", p.model.unwrap_or("(none)"))?;
        writeln!(f, "compatible: {}", p.compatible.unwrap_or("(none)"))?;
        match &p.memory {
            Err(e) => writeln!(f, "ram: error: {e}")?,
            Ok(m) => {
                regions(f, "ram", &m.ram)?;
                if m.zero_sized > 0 {
                    writeln!(f, "ram: {} range(s) of size 0 skipped", m.zero_sized)?;
                }
                regions(f, "reserved-memory", &m.reserved)?;
                regions(f, "memreserve", &m.rsvmap)?;
            }
        }
        match p.console {
            Err(e) => writeln!(f, "console: error: {e}")?,
            Ok(None) => writeln!(f, "console: none")?,
            Ok(Some(c)) => {
                write!(
                    f,
                    "console: {} ({}) \"{}\" driver ",
                    c.path, c.node, c.compatible
                )?;
                match c.kind {
                    UartKind::Driver(driver, props) => {
                        write!(f, "{}", driver.name)?;
                        if driver.uses_reg_props {
                            write!(
                                f,
                                " (reg-shift {}, reg-io-width {})",
                                props.reg_shift, props.reg_io_width
                            )?;
                        }
                    }
                    UartKind::Unknown(_) => write!(f, "unknown")?,
                }
                writeln!(
                    f,
                    " at {:#x} size {:#x}, interrupt {}",
                    c.base,
                    c.size,
                    irq(c.interrupt)
                )?;
                if let Some(o) = c.options {
                    writeln!(f, "console options: {o}")?;
                }
            }
        }
        match &p.gic {
            Err(e) => writeln!(f, "gic: error: {e}")?,
            Ok(g) => match &g.kind {
                GicKind::V2 { dist, cpu_if } => writeln!(
                    f,
                    "gic: v2 {} \"{}\" distributor {:#x} size {:#x}, cpu interface {:#x} size {:#x}",
                    g.node, g.compatible, dist.base, dist.size, cpu_if.base, cpu_if.size
                )?,
                GicKind::V3 { dist, redistributors, redistributor_stride } => {
                    write!(
                        f,
                        "gic: v3 {} \"{}\" distributor {:#x} size {:#x}",
                        g.node, g.compatible, dist.base, dist.size
                    )?;
                    for r in redistributors {
                        write!(f, ", redistributors {:#x} size {:#x}", r.base, r.size)?;
                    }
                    if let Some(s) = redistributor_stride {
                        write!(f, ", stride {s:#x}")?;
                    }
                    writeln!(f)?;
                }
            },
        }
        match p.psci {
            Err(e) => writeln!(f, "psci: error: {e}")?,
            Ok(None) => writeln!(f, "psci: none")?,
            Ok(Some(ps)) => {
                let conduit = match ps.conduit {
                    Conduit::Hvc => "hvc",
                    Conduit::Smc => "smc",
                };
                let version = match ps.version {
                    PsciVersion::V0_1 => "0.1",
                    PsciVersion::V0_2 => "0.2",
                    PsciVersion::V1_0 => "1.0",
                };
                write!(f, "psci: {version} method {conduit}")?;
                if let Some(id) = ps.cpu_on {
                    write!(f, " cpu_on {id:#x}")?;
                }
                writeln!(f)?;
            }
        }
        match &p.cpus {
            Err(e) => writeln!(f, "cpus: error: {e}")?,
            Ok(cpus) => {
                writeln!(f, "cpus: {}", cpus.list.len())?;
                for c in &cpus.list {
                    write!(f, "cpu: {} mpidr {:#x} enable-method ", c.node, c.mpidr)?;
                    match c.enable_method {
                        EnableMethod::Psci => write!(f, "psci")?,
                        EnableMethod::SpinTable {
                            release_addr: Some(a),
                        } => write!(f, "spin-table release-addr {a:#x}")?,
                        EnableMethod::SpinTable { release_addr: None } => {
                            write!(f, "spin-table (no release-addr)")?
                        }
                        EnableMethod::Other(m) => write!(f, "\"{m}\" (unsupported)")?,
                        EnableMethod::None => write!(f, "none")?,
                    }
                    writeln!(f, "{}", if c.disabled { " (disabled)" } else { "" })?;
                }
                if cpus.truncated {
                    writeln!(f, "cpus: (more cpus than fit; list truncated)")?;
                }
            }
        }
        match p.timer {
            Err(e) => writeln!(f, "timer: error: {e}")?,
            Ok(None) => writeln!(f, "timer: none")?,
            Ok(Some(t)) => writeln!(
                f,
                "timer: {} secure-phys {} phys {} virt {} hyp {}",
                t.node, t.secure_phys, t.non_secure_phys, t.virt, t.hyp
            )?,
        }
        writeln!(f, "bootargs: {}", p.bootargs.unwrap_or("(none)"))?;
        match bootability(p) {
            Ok(()) => writeln!(f, "bootable: yes"),
            Err(e) => writeln!(f, "bootable: no: {e}"),
        }
    }
}
