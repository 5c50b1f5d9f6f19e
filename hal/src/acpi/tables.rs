//! RSDP, XSDT, MADT, SPCR, FADT and GTDT parsing (ACPI 6.5, sections 5.2.5-5.2.25; SPCR from
//! Microsoft's Serial Port Console Redirection table specification).

use core::fmt;

/// Most GICC entries kept (CPUs beyond are reported as dropped).
pub const MAX_CPUS: usize = 256;
const HEADER: usize = 36;

/// Why the tables cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// A table (or the RSDP) could not be read at this address.
    Unreadable(&'static str, u64),
    /// A bad signature, length, revision or checksum.
    Bad(&'static str, &'static str),
    /// A required table is absent from the XSDT.
    Missing(&'static str),
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcpiError::Unreadable(t, a) => write!(f, "ACPI {t} at {a:#x} cannot be read"),
            AcpiError::Bad(t, why) => write!(f, "ACPI {t}: {why}"),
            AcpiError::Missing(t) => write!(f, "no ACPI {t} table"),
        }
    }
}

/// The PSCI conduit from the FADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// PSCI_USE_HVC set.
    Hvc,
    /// PSCI_USE_HVC clear.
    Smc,
}

/// The interrupt controller from the MADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gic {
    /// 2 or 3 (the GICD entry's version; 0 there means: 3 if a GICR entry or GICC
    /// redistributor exists, else 2).
    pub version: u8,
    /// The distributor's base.
    pub gicd: u64,
    /// GICv2: the CPU interface (from the first enabled GICC).
    pub gicc: u64,
    /// GICv3: the redistributor range (base, length) from the first GICR entry.
    pub gicr: Option<(u64, u64)>,
}

/// Which UART the SPCR names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    /// ARM PL011 (SPCR type 0x03).
    Pl011,
    /// SBSA generic UART: a register subset of the PL011 (driven as one, without
    /// reprogramming the baud rate).
    SbsaGeneric,
    /// 16550-compatible (SPCR types 0x00, 0x01, 0x12).
    Ns16550,
}

/// The console from the SPCR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uart {
    /// The register interface.
    pub kind: UartKind,
    /// Its MMIO base.
    pub base: u64,
    /// Register stride for a 16550 (1 or 4 bytes), from the address's access size.
    pub reg_width: u8,
    /// Its GSIV (0 when it has none).
    pub gsiv: u32,
}

/// What aiolos needs from the ACPI tables.
#[derive(Clone, Debug)]
pub struct Acpi {
    /// The RSDP's OEM ID.
    pub oem_id: [u8; 6],
    /// The interrupt controller (MADT).
    pub gic: Gic,
    /// MPIDRs of the enabled (or online-capable) GICC entries, boot CPU first as listed.
    pub mpidrs: heapless::Vec<u64, MAX_CPUS>,
    /// GICC entries beyond [`MAX_CPUS`].
    pub cpus_dropped: usize,
    /// `None`: no SPCR, or an interface type we have no driver for (`spcr_type` says which).
    pub uart: Option<Uart>,
    /// The SPCR's interface type, when there is an SPCR.
    pub spcr_type: Option<u8>,
    /// `None`: the FADT says the platform is not PSCI-compliant.
    pub psci: Option<Conduit>,
    /// GTDT: non-secure EL1 physical, virtual and EL2 timer GSIVs (0 if absent).
    pub timer_phys: u32,
    /// The virtual timer's GSIV (what the kernel uses at EL1).
    pub timer_virt: u32,
    /// The EL2 physical timer's GSIV.
    pub timer_hyp: u32,
}

fn u8_at(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from(u8_at(b, at)) | (u16::from(u8_at(b, at + 1)) << 8)
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from(u16_at(b, at)) | (u32::from(u16_at(b, at + 2)) << 16)
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | (u64::from(u32_at(b, at + 4)) << 32)
}

fn checksum_ok(b: &[u8]) -> bool {
    b.iter().fold(0u8, |a, x| a.wrapping_add(*x)) == 0
}

/// One table: its header checked (signature, length, checksum), the whole table returned.
fn table<'a, R>(read: &R, addr: u64, sig: &'static str) -> Result<&'a [u8], AcpiError>
where
    R: Fn(u64, usize) -> Option<&'a [u8]>,
{
    let head = read(addr, HEADER).ok_or(AcpiError::Unreadable(sig, addr))?;
    if &head[..4] != sig.as_bytes() {
        return Err(AcpiError::Bad(sig, "wrong signature"));
    }
    let len = u32_at(head, 4) as usize;
    if len < HEADER {
        return Err(AcpiError::Bad(sig, "length shorter than its header"));
    }
    let t = read(addr, len).ok_or(AcpiError::Unreadable(sig, addr))?;
    if !checksum_ok(t) {
        return Err(AcpiError::Bad(sig, "checksum"));
    }
    Ok(t)
}

/// Parses the tables from the ACPI 2.0+ RSDP at `rsdp`.
pub fn parse<'a, R>(rsdp: u64, read: R) -> Result<Acpi, AcpiError>
where
    R: Fn(u64, usize) -> Option<&'a [u8]>,
{
    let r = read(rsdp, 36).ok_or(AcpiError::Unreadable("RSDP", rsdp))?;
    if &r[..8] != b"RSD PTR " {
        return Err(AcpiError::Bad("RSDP", "no \"RSD PTR \" signature"));
    }
    if u8_at(r, 15) < 2 {
        return Err(AcpiError::Bad("RSDP", "revision < 2: no XSDT"));
    }
    if !checksum_ok(&r[..20]) || !checksum_ok(&r[..(u32_at(r, 20) as usize).clamp(20, 36)]) {
        return Err(AcpiError::Bad("RSDP", "checksum"));
    }
    let mut oem_id = [0u8; 6];
    oem_id.copy_from_slice(&r[9..15]);
    let xsdt = table(&read, u64_at(r, 24), "XSDT")?;
    let find = |sig: &'static str| -> Result<Option<&'a [u8]>, AcpiError> {
        for i in 0..(xsdt.len() - HEADER) / 8 {
            let addr = u64_at(xsdt, HEADER + 8 * i);
            let head = read(addr, 4).ok_or(AcpiError::Unreadable("XSDT entry", addr))?;
            if head == sig.as_bytes() {
                return table(&read, addr, sig).map(Some);
            }
        }
        Ok(None)
    };
    let madt = find("APIC")?.ok_or(AcpiError::Missing("MADT (APIC)"))?;
    let (gic, mpidrs, cpus_dropped) = madt_parse(madt)?;
    let (uart, spcr_type) = match find("SPCR")? {
        Some(t) => spcr_parse(t),
        None => (None, None),
    };
    let fadt = find("FACP")?.ok_or(AcpiError::Missing("FADT (FACP)"))?;
    let flags = u16_at(fadt, 129);
    let psci = if fadt.len() < 131 || flags & 1 == 0 {
        None
    } else if flags & 2 != 0 {
        Some(Conduit::Hvc)
    } else {
        Some(Conduit::Smc)
    };
    let gtdt = find("GTDT")?.ok_or(AcpiError::Missing("GTDT"))?;
    if gtdt.len() < 80 {
        return Err(AcpiError::Bad("GTDT", "shorter than its timer fields"));
    }
    Ok(Acpi {
        oem_id,
        gic,
        mpidrs,
        cpus_dropped,
        uart,
        spcr_type,
        psci,
        timer_phys: u32_at(gtdt, 56),
        timer_virt: u32_at(gtdt, 64),
        timer_hyp: u32_at(gtdt, 72),
    })
}

type Madt = (Gic, heapless::Vec<u64, MAX_CPUS>, usize);

fn madt_parse(t: &[u8]) -> Result<Madt, AcpiError> {
    let mut gic = Gic {
        version: 0,
        gicd: 0,
        gicc: 0,
        gicr: None,
    };
    let mut mpidrs = heapless::Vec::new();
    let mut dropped = 0;
    let mut gicc_has_gicr = false;
    let mut at = HEADER + 8;
    while at + 2 <= t.len() {
        let (ty, len) = (t[at], usize::from(t[at + 1]));
        if len < 2 || at + len > t.len() {
            return Err(AcpiError::Bad("MADT", "an entry runs past the table"));
        }
        let e = &t[at..at + len];
        match ty {
            // GICC: enabled (bit 0) or online-capable (bit 3) CPUs.
            0x0b if len >= 76 => {
                let flags = u32_at(e, 12);
                if flags & 0b1001 != 0 {
                    if gic.gicc == 0 {
                        gic.gicc = u64_at(e, 32);
                    }
                    gicc_has_gicr |= u64_at(e, 60) != 0;
                    if mpidrs.push(u64_at(e, 68) & 0xff_00ff_ffff).is_err() {
                        dropped += 1;
                    }
                }
            }
            0x0c if len >= 21 => {
                gic.gicd = u64_at(e, 8);
                gic.version = e[20];
            }
            0x0e if len >= 16 && gic.gicr.is_none() => {
                gic.gicr = Some((u64_at(e, 4), u64::from(u32_at(e, 12))));
            }
            _ => {}
        }
        at += len;
    }
    if gic.gicd == 0 {
        return Err(AcpiError::Bad("MADT", "no GICD entry"));
    }
    if mpidrs.is_empty() {
        return Err(AcpiError::Bad("MADT", "no enabled GICC entry (no CPU)"));
    }
    if gic.version == 0 {
        gic.version = if gic.gicr.is_some() || gicc_has_gicr {
            3
        } else {
            2
        };
    }
    match gic.version {
        2 if gic.gicc == 0 => Err(AcpiError::Bad("MADT", "GICv2 without a CPU interface base")),
        3 if gic.gicr.is_none() => Err(AcpiError::Bad(
            "MADT",
            "GICv3 without a GICR entry (per-GICC redistributors are not supported)",
        )),
        2 | 3 => Ok((gic, mpidrs, dropped)),
        _ => Err(AcpiError::Bad("MADT", "GIC version other than 2 or 3")),
    }
}

fn spcr_parse(t: &[u8]) -> (Option<Uart>, Option<u8>) {
    if t.len() < 58 {
        return (None, None);
    }
    let ty = t[36];
    // Generic Address Structure at 40: space (0 = memory), width, offset, access size, address.
    let (space, access, base) = (t[40], t[43], u64_at(t, 44));
    let kind = match ty {
        0x03 => UartKind::Pl011,
        0x0d | 0x0e => UartKind::SbsaGeneric,
        0x00 | 0x01 | 0x12 => UartKind::Ns16550,
        _ => return (None, Some(ty)),
    };
    if space != 0 || base == 0 {
        return (None, Some(ty));
    }
    let reg_width = if access == 3 { 4 } else { 1 };
    let gsiv = if t[52] & 0x08 != 0 { u32_at(t, 54) } else { 0 };
    (
        Some(Uart {
            kind,
            base,
            reg_width,
            gsiv,
        }),
        Some(ty),
    )
}
