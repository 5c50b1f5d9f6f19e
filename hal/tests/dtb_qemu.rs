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
