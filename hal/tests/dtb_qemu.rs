//! DTBs dumped by `qemu-system-aarch64 -M virt,...,dumpdtb=` at test time (skipped with a
//! notice when QEMU is absent).

mod common;

use hal::dtb::{bootability, Conduit, EnableMethod, GicKind, Platform, UartKind};
use hal::uart::{pl011, UartProps};

fn check_virt(opts: &str, v3: bool, conduit: Conduit) {
    let Some(b) = common::qemu_virt_dtb(opts) else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    let gic = p.gic.as_ref().unwrap();
    match &gic.kind {
        GicKind::V2 { dist, cpu_if } => {
            assert!(!v3, "{opts}: got v2");
            assert_eq!((dist.base, cpu_if.base), (0x800_0000, 0x801_0000));
        }
        GicKind::V3 {
            dist,
            redistributors,
            ..
        } => {
            assert!(v3, "{opts}: got v3");
            assert_eq!(dist.base, 0x800_0000);
            assert_eq!(redistributors.first().map(|r| r.base), Some(0x80a_0000));
        }
    }
    assert_eq!(p.psci.unwrap().unwrap().conduit, conduit, "{opts}");
    let cpus = p.cpus.as_ref().unwrap();
    assert_eq!(cpus.list.len(), 4);
    assert!(cpus
        .list
        .iter()
        .all(|c| c.enable_method == EnableMethod::Psci && !c.disabled));
    let c = p.console.unwrap().unwrap();
    assert_eq!(
        (c.kind, c.base),
        (
            UartKind::Driver(&pl011::DRIVER, UartProps::default()),
            0x900_0000
        )
    );
    let ram = &p.memory.as_ref().unwrap().ram.list;
    assert_eq!(ram.len(), 1);
    assert_eq!((ram[0].base, ram[0].size), (0x4000_0000, 256 << 20));
    let t = p.timer.unwrap().unwrap();
    assert_eq!(
        (t.secure_phys, t.non_secure_phys, t.virt, t.hyp),
        (29, 30, 27, 26)
    );
    assert_eq!(bootability(&p).unwrap().to_string(), "yes");
    assert!(common::report(&b).ends_with("bootable: yes\n"));
}

#[test]
fn virt_gicv2_el1() {
    check_virt("gic-version=2", false, Conduit::Hvc);
}

#[test]
fn virt_gicv3_el1() {
    check_virt("gic-version=3", true, Conduit::Hvc);
}

#[test]
fn virt_gicv3_el2() {
    check_virt("gic-version=3,virtualization=on", true, Conduit::Smc);
}

#[test]
fn virt_gicv2_el2() {
    check_virt("gic-version=2,virtualization=on", false, Conduit::Smc);
}

/// The structure block is read a word at a time where it is 4-byte aligned in memory, a byte
/// at a time otherwise: both paths must find the same platform and the same nodes.
#[test]
fn aligned_and_unaligned_blobs_parse_alike() {
    let Some(b) = common::qemu_virt_dtb("gic-version=3") else {
        return;
    };
    let mut buf = vec![0u8; b.len() + 4];
    let start = (4 - buf.as_ptr() as usize % 4) % 4 + 1; // 1 past an aligned address
    buf[start..start + b.len()].copy_from_slice(&b);
    let unaligned = &buf[start..start + b.len()];
    assert_ne!(unaligned.as_ptr() as usize % 4, 0);
    let mut abuf = vec![0u8; b.len() + 4];
    let astart = (4 - abuf.as_ptr() as usize % 4) % 4;
    abuf[astart..astart + b.len()].copy_from_slice(&b);
    let aligned = &abuf[astart..astart + b.len()];
    assert_eq!(aligned.as_ptr() as usize % 4, 0);
    let names = |blob: &[u8]| -> Vec<String> {
        let fdt = hal::dtb::fdt::Fdt::new(blob).unwrap();
        fdt.validate().unwrap();
        fdt.nodes()
            .map(|n| {
                let (n, d) = n.unwrap();
                format!("{d}:{}", n.name)
            })
            .collect()
    };
    let (na, nu) = (names(aligned), names(unaligned));
    assert!(na.len() > 20, "{} nodes", na.len());
    assert_eq!(na, nu);
    // Everything the platform found (its `fdt` field holds the blob itself).
    let found = |blob| {
        let p = Platform::parse(blob).unwrap();
        format!(
            "{:?}",
            (
                p.model,
                p.compatible,
                p.bootargs,
                p.memory,
                p.console,
                p.gic,
                p.psci,
                p.cpus,
                p.timer
            )
        )
    };
    assert_eq!(found(aligned), found(unaligned));
}
