//! ACPI tables built in a buffer, parsed, turned into a device tree, and that tree read back
//! by the kernel's own DTB parser.

extern crate std;
use super::*;
use crate::dtb::Platform;
use std::{format, vec, vec::Vec};

const BASE: u64 = 0x1000;

fn sum_fix(t: &mut [u8], at: usize) {
    t[at] = 0;
    let s = t.iter().fold(0u8, |a, x| a.wrapping_add(*x));
    t[at] = 0u8.wrapping_sub(s);
}

fn table(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 36];
    t[..4].copy_from_slice(sig);
    t.extend_from_slice(body);
    let len = t.len() as u32;
    t[4..8].copy_from_slice(&len.to_le_bytes());
    t[8] = 6;
    t[10..16].copy_from_slice(b"AIOLOS");
    sum_fix(&mut t, 9);
    t
}

fn gicc(mpidr: u64, enabled: bool) -> Vec<u8> {
    let mut e = vec![0u8; 80];
    e[0] = 0x0b;
    e[1] = 80;
    e[12..16].copy_from_slice(&(enabled as u32).to_le_bytes());
    e[32..40].copy_from_slice(&0x0801_0000u64.to_le_bytes());
    e[68..76].copy_from_slice(&mpidr.to_le_bytes());
    e
}

struct Mem(Vec<u8>);
impl Mem {
    fn read(&self, a: u64, len: usize) -> Option<&[u8]> {
        let at = a.checked_sub(BASE)? as usize;
        self.0.get(at..at + len)
    }
}

/// RSDP, XSDT and the four tables laid out from BASE; `gic_v` = 2 or 3.
fn machine(gic_v: u8, cpus: &[u64], hvc: bool, spcr_type: u8) -> Mem {
    let mut madt_body = vec![0u8; 8];
    for &m in cpus {
        madt_body.extend(gicc(m, true));
    }
    madt_body.extend(gicc(0x99, false));
    let mut gicd = vec![0u8; 24];
    gicd[0] = 0x0c;
    gicd[1] = 24;
    gicd[8..16].copy_from_slice(&0x0800_0000u64.to_le_bytes());
    gicd[20] = gic_v;
    madt_body.extend(gicd);
    if gic_v == 3 {
        let mut r = vec![0u8; 16];
        r[0] = 0x0e;
        r[1] = 16;
        r[4..12].copy_from_slice(&0x080a_0000u64.to_le_bytes());
        r[12..16].copy_from_slice(&0x00f6_0000u32.to_le_bytes());
        madt_body.extend(r);
    }
    let madt = table(b"APIC", &madt_body);
    let mut spcr_body = vec![0u8; 80 - 36];
    spcr_body[0] = spcr_type;
    spcr_body[4] = 0; // memory space
    spcr_body[7] = 3; // dword access
    spcr_body[8..16].copy_from_slice(&0x0900_0000u64.to_le_bytes());
    spcr_body[16] = 0x08; // GIC interrupt
    spcr_body[18..22].copy_from_slice(&33u32.to_le_bytes());
    let spcr = table(b"SPCR", &spcr_body);
    let mut fadt_body = vec![0u8; 276 - 36];
    fadt_body[129 - 36] = if hvc { 3 } else { 1 };
    let fadt = table(b"FACP", &fadt_body);
    let mut gtdt_body = vec![0u8; 104 - 36];
    gtdt_body[56 - 36] = 30;
    gtdt_body[64 - 36] = 27;
    gtdt_body[72 - 36] = 26;
    let gtdt = table(b"GTDT", &gtdt_body);

    let mut mem = vec![0u8; 64];
    let tables = [madt, spcr, fadt, gtdt];
    let xsdt_at = BASE + 64;
    let mut addrs = Vec::new();
    let mut next = xsdt_at + 36 + 8 * tables.len() as u64;
    for t in &tables {
        addrs.push(next);
        next += t.len() as u64;
    }
    let xsdt_body: Vec<u8> = addrs.iter().flat_map(|a| a.to_le_bytes()).collect();
    mem.extend(table(b"XSDT", &xsdt_body));
    for t in &tables {
        mem.extend(t);
    }
    mem[..8].copy_from_slice(b"RSD PTR ");
    mem[9..15].copy_from_slice(b"AIOLOS");
    mem[15] = 2;
    mem[20..24].copy_from_slice(&36u32.to_le_bytes());
    mem[24..32].copy_from_slice(&xsdt_at.to_le_bytes());
    sum_fix(&mut mem[..20], 8);
    sum_fix(&mut mem[..36], 32);
    Mem(mem)
}

#[test]
fn qemu_like_gicv3_to_device_tree() {
    let m = machine(3, &[0, 1, 2, 3], true, 3);
    let a = parse(BASE, |p, l| m.read(p, l)).unwrap();
    assert_eq!(a.gic.version, 3);
    assert_eq!(a.gic.gicr, Some((0x080a_0000, 0x00f6_0000)));
    assert_eq!(a.mpidrs.as_slice(), &[0, 1, 2, 3]); // the disabled GICC is left out
    assert_eq!(a.psci, Some(Conduit::Hvc));
    assert_eq!(a.uart.unwrap().kind, UartKind::Pl011);
    assert_eq!(a.uart.unwrap().gsiv, 33);
    assert_eq!((a.timer_phys, a.timer_virt, a.timer_hyp), (30, 27, 26));

    let mut buf = [0u8; 4096];
    let n = fdt::write(&a, &[(0x4000_0000, 0x2000_0000)], &mut buf).unwrap();
    let p = Platform::parse(&buf[..n]).unwrap();
    assert_eq!(p.compatible, Some("aiolos,acpi"));
    let gic = p.gic.as_ref().unwrap();
    assert!(format!("{gic:?}").contains("gic-v3"), "{gic:?}");
    let cpus = p.cpus.as_ref().unwrap();
    assert_eq!(cpus.list.len(), 4);
    assert!(p.psci.as_ref().unwrap().is_some());
    let console = p.console.as_ref().unwrap().as_ref().unwrap();
    assert!(format!("{console:?}").contains("arm,pl011"), "{console:?}");
    assert!(p.timer.as_ref().unwrap().is_some());
    assert_eq!(p.memory.as_ref().unwrap().ram.list.len(), 1);
    assert!(crate::dtb::bootability(&p).is_ok());
}

#[test]
fn gicv2_smc_and_16550() {
    let m = machine(2, &[0x100], false, 0x12);
    let a = parse(BASE, |p, l| m.read(p, l)).unwrap();
    assert_eq!((a.gic.version, a.gic.gicc), (2, 0x0801_0000));
    assert_eq!(a.psci, Some(Conduit::Smc));
    assert_eq!(a.uart.unwrap().kind, UartKind::Ns16550);
    assert_eq!(a.uart.unwrap().reg_width, 4);
    let mut buf = [0u8; 4096];
    let n = fdt::write(&a, &[(0x4000_0000, 0x1000_0000)], &mut buf).unwrap();
    let p = Platform::parse(&buf[..n]).unwrap();
    assert!(format!("{:?}", p.gic.as_ref().unwrap()).contains("cortex-a15-gic"));
    assert!(crate::dtb::bootability(&p).is_ok());
    let mut small = [0u8; 64];
    assert_eq!(fdt::write(&a, &[], &mut small), Err(fdt::TooSmall));
}

#[test]
fn broken_tables_are_named() {
    let m = machine(3, &[0], true, 3);
    let mut bad = Mem(m.0.clone());
    bad.0[0] = b'X';
    assert!(matches!(
        parse(BASE, |p, l| bad.read(p, l)),
        Err(AcpiError::Bad("RSDP", _))
    ));
    let mut bad = Mem(m.0.clone());
    bad.0[64 + 40] ^= 1; // inside the XSDT
    assert!(matches!(
        parse(BASE, |p, l| bad.read(p, l)),
        Err(AcpiError::Bad("XSDT", _))
    ));
    assert!(matches!(
        parse(BASE + 0x10_0000, |p, l| m.read(p, l)),
        Err(AcpiError::Unreadable(..))
    ));
    // An unknown SPCR interface type: no console, the type kept for the message.
    let m = machine(3, &[0], true, 0x42);
    let a = parse(BASE, |p, l| m.read(p, l)).unwrap();
    assert_eq!((a.uart, a.spcr_type), (None, Some(0x42)));
}
