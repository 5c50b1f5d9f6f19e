//! What the kernel requires of a platform ([`bootability_on`]), how it starts each CPU
//! ([`cpu_plan`]), and the human-readable report the `dtb-check` tool prints ([`Report`]).
//! The kernel runs the same functions at boot (`kernel/src/platform.rs`, `boot/secondaries.rs`),
//! so the checker's verdict is the kernel's: one code path, not a second opinion.

use core::fmt;

use super::error::DtbError;
use super::platform::{
    Conduit, Cpu, EnableMethod, GicKind, Interrupt, Platform, Psci, PsciVersion, Regions, UartKind,
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
    /// The interrupt controller cannot reach more cores (GICv2: 8 CPU interfaces).
    BeyondGicLimit(usize),
}

impl fmt::Display for CpuProblem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpuProblem::PsciWithoutNode => write!(f, "enable-method psci but no /psci"),
            CpuProblem::PsciWithoutCpuOn => write!(f, "PSCI 0.1 without cpu_on"),
            CpuProblem::SpinTableWithoutReleaseAddr => {
                write!(f, "spin-table without cpu-release-addr")
            }
            CpuProblem::UnknownMethod(m) => write!(f, "unsupported enable-method \"{m}\""),
            CpuProblem::NoMethod => write!(f, "no enable-method"),
            CpuProblem::BeyondGicLimit(n) => {
                write!(f, "the GICv2 reaches only {n} cores (its CPU interfaces)")
            }
        }
    }
}

impl fmt::Display for NotBootable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Dtb { part, error } => write!(f, "{part}: {error}"),
            Self::NoConsole => write!(f, "no console: no stdout-path and no UART with a driver"),
            Self::ConsoleWithoutDriver { node, compatible } => {
                write!(f, "console {node} is \"{compatible}\": no driver for it")
            }
            Self::NoTimer => write!(f, "no arm,armv8-timer node"),
            Self::NoCpus => write!(f, "no enabled cpu"),
        }
    }
}

/// How the kernel starts one CPU: the decision [`cpu_plan`] makes for the kernel's bring-up
/// (`kernel/src/boot/secondaries.rs`) and for [`bootability`] alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMethod {
    /// The core the kernel runs on: nothing to start.
    Boot,
    /// PSCI CPU_ON through this conduit (`cpu_on` = the function id for PSCI 0.1).
    Psci {
        /// HVC or SMC.
        conduit: Conduit,
        /// PSCI 0.1's `cpu_on` id; `None` for 0.2+ (the standard id).
        cpu_on: Option<u32>,
    },
    /// Write the entry point at this address, then SEV.
    SpinTable {
        /// `cpu-release-addr`.
        release_addr: u64,
    },
}

/// The most cores `gic` can deliver SGIs to: 8 for GICv2 (its CPU interfaces), no limit for
/// GICv3 (affinity routing) beyond what the DTB lists.
pub fn gic_core_limit(gic: &GicKind) -> usize {
    match gic {
        GicKind::V2 { .. } => 8,
        GicKind::V3 { .. } => usize::MAX,
    }
}

/// How CPU `cpu` (not the boot CPU) can be started, given the platform's PSCI node.
pub fn start_method<'a>(cpu: &Cpu<'a>, psci: Option<Psci>) -> Result<StartMethod, CpuProblem<'a>> {
    match (cpu.enable_method, psci) {
        (EnableMethod::Psci, None) => Err(CpuProblem::PsciWithoutNode),
        (EnableMethod::Psci, Some(ps))
            if ps.version == PsciVersion::V0_1 && ps.cpu_on.is_none() =>
        {
            Err(CpuProblem::PsciWithoutCpuOn)
        }
        (EnableMethod::Psci, Some(ps)) => Ok(StartMethod::Psci {
            conduit: ps.conduit,
            cpu_on: ps.cpu_on.filter(|_| ps.version == PsciVersion::V0_1),
        }),
        (
            EnableMethod::SpinTable {
                release_addr: Some(release_addr),
            },
            _,
        ) => Ok(StartMethod::SpinTable { release_addr }),
        (EnableMethod::SpinTable { release_addr: None }, _) => {
            Err(CpuProblem::SpinTableWithoutReleaseAddr)
        }
        (EnableMethod::Other(m), _) => Err(CpuProblem::UnknownMethod(m)),
        (EnableMethod::None, _) => Err(CpuProblem::NoMethod),
    }
}

/// The kernel's CPU bring-up plan: every enabled CPU in tree order with how it is started
/// (or why it cannot be), the boot CPU first being [`StartMethod::Boot`] wherever it is
/// listed. Startable cores past the interrupt controller's limit are refused. The kernel
/// assigns core indices 1, 2, ... to the startable ones in this order.
pub struct CpuPlan<'p, 'a> {
    cpus: &'p [Cpu<'a>],
    psci: Option<Psci>,
    boot_mpidr: u64,
    limit: usize,
    /// Cores planned so far (the boot core counts from the start).
    planned: usize,
}

impl<'a> Iterator for CpuPlan<'_, 'a> {
    type Item = (Cpu<'a>, Result<StartMethod, CpuProblem<'a>>);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (cpu, rest) = self.cpus.split_first()?;
            self.cpus = rest;
            if cpu.disabled {
                continue;
            }
            if cpu.mpidr == self.boot_mpidr {
                return Some((*cpu, Ok(StartMethod::Boot)));
            }
            let how = start_method(cpu, self.psci).and_then(|m| {
                if self.planned >= self.limit {
                    Err(CpuProblem::BeyondGicLimit(self.limit))
                } else {
                    self.planned += 1;
                    Ok(m)
                }
            });
            return Some((*cpu, how));
        }
    }
}

/// The plan for a kernel running on the CPU whose MPIDR is `boot_mpidr` (see [`CpuPlan`]).
pub fn cpu_plan<'p, 'a>(p: &'p Platform<'a>, boot_mpidr: u64) -> CpuPlan<'p, 'a> {
    CpuPlan {
        cpus: p.cpus.as_ref().map_or(&[][..], |c| &c.list[..]),
        psci: p.psci.ok().flatten(),
        boot_mpidr,
        limit: p
            .gic
            .as_ref()
            .map_or(usize::MAX, |g| gic_core_limit(&g.kind)),
        planned: 1,
    }
}

/// The boot CPU `dtb-check` assumes: the header's `boot_cpuid_phys` when it names a listed
/// CPU, else the first enabled one.
pub fn assumed_boot_mpidr(p: &Platform<'_>) -> u64 {
    let id = u64::from(p.fdt.header.boot_cpuid_phys);
    let Ok(cpus) = &p.cpus else { return id };
    if cpus.list.iter().any(|c| c.mpidr == id && !c.disabled) {
        return id;
    }
    cpus.list
        .iter()
        .find(|c| !c.disabled)
        .map_or(id, |c| c.mpidr)
}

/// The state of RAM in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ram {
    /// At least one RAM range of non-zero size.
    Present,
    /// Only ranges of size 0 (the Raspberry Pi firmware fills them in).
    ZeroSized(usize),
    /// No `device_type = "memory"` node at all (firmware such as U-Boot adds one).
    Missing,
}

/// A CPU the kernel cannot start (the first one found).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unstartable<'a> {
    /// The CPU node's name.
    pub node: &'a str,
    /// Its MPIDR affinity bits.
    pub mpidr: u64,
    /// Why.
    pub why: CpuProblem<'a>,
}

/// A platform the kernel boots on, and what to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bootable<'a> {
    /// RAM: present, or left for the boot loader to fill in.
    pub ram: Ram,
    /// Enabled CPUs in the tree (counted past the parse limit too).
    pub cpus: usize,
    /// How many of them the kernel cannot start.
    pub unstartable: usize,
    /// The first of those, with why.
    pub first_unstartable: Option<Unstartable<'a>>,
    /// CPUs past [`super::platform::MAX_CPUS`] the parse dropped (never started).
    pub dropped: bool,
}

impl Bootable<'_> {
    /// Whether the kernel can run with the tree as it is (RAM present).
    pub fn as_is(&self) -> bool {
        self.ram == Ram::Present
    }
}

impl fmt::Display for Bootable<'_> {
    /// The verdict after `bootable: `: `yes`, `yes, if the bootloader fills in /memory ...`,
    /// then any warning about CPUs that will not come up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ram {
            Ram::Present => write!(f, "yes")?,
            Ram::ZeroSized(n) => write!(
                f,
                "yes, if the bootloader fills in /memory ({n} memory range(s) of size 0, \
                 firmware such as the Raspberry Pi's completes them)"
            )?,
            Ram::Missing => write!(
                f,
                "yes, if the bootloader fills in /memory (the tree has no memory node)"
            )?,
        }
        if let Some(u) = self.first_unstartable {
            write!(
                f,
                "; warning: {} of {} CPUs cannot be started: cpu {} (MPIDR {:#x}): {}",
                self.unstartable, self.cpus, u.node, u.mpidr, u.why
            )?;
            if self.unstartable > 1 {
                write!(f, " (and others)")?;
            }
        }
        if self.dropped {
            write!(
                f,
                "; warning: more than {} CPUs listed, the rest are not started",
                super::platform::MAX_CPUS
            )?;
        }
        Ok(())
    }
}

/// What the kernel requires, checked in this order: readable RAM (or a `/memory` the boot
/// loader completes: [`Ram`]), a supported GIC, a console with a driver, a timer, and an
/// enabled CPU. CPUs that cannot be started (see [`cpu_plan`], the kernel's own bring-up
/// plan for a boot CPU `boot_mpidr`) do not stop the boot: they are counted and named.
pub fn bootability_on<'a>(
    p: &Platform<'a>,
    boot_mpidr: u64,
) -> Result<Bootable<'a>, NotBootable<'a>> {
    let dtb = |part| move |error| NotBootable::Dtb { part, error };
    let ram = match &p.memory {
        Err(DtbError::MissingMemory) => Ram::Missing,
        Err(e) => return Err(dtb("memory")(*e)),
        Ok(m) if m.ram.list.is_empty() => Ram::ZeroSized(m.zero_sized),
        Ok(_) => Ram::Present,
    };
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
    p.psci.map_err(dtb("psci"))?;
    let cpus = p.cpus.as_ref().map_err(|e| dtb("cpus")(*e))?;
    let mut out = Bootable {
        ram,
        cpus: 0,
        unstartable: 0,
        first_unstartable: None,
        dropped: cpus.truncated,
    };
    for (cpu, how) in cpu_plan(p, boot_mpidr) {
        out.cpus += 1;
        if let Err(why) = how {
            out.unstartable += 1;
            out.first_unstartable = out.first_unstartable.or(Some(Unstartable {
                node: cpu.node,
                mpidr: cpu.mpidr,
                why,
            }));
        }
    }
    if out.cpus == 0 {
        return Err(NotBootable::NoCpus);
    }
    Ok(out)
}

/// [`bootability_on`] for the boot CPU the tree names ([`assumed_boot_mpidr`]): what
/// `dtb-check` says.
pub fn bootability<'a>(p: &Platform<'a>) -> Result<Bootable<'a>, NotBootable<'a>> {
    bootability_on(p, assumed_boot_mpidr(p))
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
        match super::devices::virtio_mmio(p) {
            Err(e) => writeln!(f, "virtio-mmio: error: {e}")?,
            Ok(v) => {
                writeln!(f, "virtio-mmio: {} transport(s)", v.list.len())?;
                for d in &v.list {
                    writeln!(
                        f,
                        "virtio-mmio: {} at {:#x} size {:#x}, interrupt {} ({})",
                        d.node,
                        d.base,
                        d.size,
                        irq(d.interrupt),
                        if d.edge { "edge" } else { "level" }
                    )?;
                }
                if v.truncated {
                    writeln!(f, "virtio-mmio: (more transports than fit; list truncated)")?;
                }
            }
        }
        super::pci::report(f, p)?;
        writeln!(f, "bootargs: {}", p.bootargs.unwrap_or("(none)"))?;
        match bootability(p) {
            Ok(b) => writeln!(f, "bootable: {b}"),
            Err(e) => writeln!(f, "bootable: no: {e}"),
        }
    }
}
