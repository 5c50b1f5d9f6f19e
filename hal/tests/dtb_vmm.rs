//! Firecracker / cloud-hypervisor / crosvm layouts (our DTS in tests/dts, compiled with
//! dtc at test time), plus a synthetic tree for ranges, aliases and interrupt routing.

mod common;

use hal::dtb::fdt::Fdt;
use hal::dtb::{
    bootability, Conduit, DtbError, EnableMethod, GicKind, Interrupt, Platform, PsciVersion,
    UartKind,
};
use hal::uart::{ns16550, pl011, UartProps};

#[test]
fn firecracker() {
    let Some(b) = common::dts("firecracker.dts") else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    assert_eq!(p.memory.as_ref().unwrap().ram.list[0].base, 0x8000_0000);
    let c = p.console.unwrap().unwrap();
    assert_eq!(
        c.kind,
        UartKind::Driver(
            &ns16550::DRIVER,
            UartProps {
                reg_shift: 0,
                reg_io_width: 1
            }
        )
    );
    assert_eq!((c.base, c.interrupt), (0x4000_2000, Interrupt::Intid(32)));
    assert_eq!(c.path, hal::dtb::FIRST_UART);
    assert!(matches!(p.gic.as_ref().unwrap().kind, GicKind::V3 { .. }));
    assert_eq!(p.psci.unwrap().unwrap().conduit, Conduit::Hvc);
    assert_eq!(p.bootargs, Some("console=ttyS0 reboot=k panic=1"));
    assert_eq!(bootability(&p).unwrap().to_string(), "yes");
}

#[test]
fn cloud_hypervisor() {
    let Some(b) = common::dts("cloud-hypervisor.dts") else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    assert_eq!(p.memory.as_ref().unwrap().ram.list[0].base, 0x4000_0000);
    let c = p.console.unwrap().unwrap();
    assert_eq!(
        (c.kind, c.base),
        (
            UartKind::Driver(&pl011::DRIVER, UartProps::default()),
            0x900_0000
        )
    );
    match &p.gic.as_ref().unwrap().kind {
        GicKind::V3 {
            dist,
            redistributors,
            ..
        } => {
            assert_eq!(dist.base, 0x8ff_0000);
            assert_eq!(redistributors[0].base, 0x8f9_0000);
        }
        k => panic!("{k:?}"),
    }
    let psci = p.psci.unwrap().unwrap();
    assert_eq!(
        (psci.version, psci.conduit),
        (PsciVersion::V1_0, Conduit::Hvc)
    );
    assert_eq!(p.cpus.as_ref().unwrap().list.len(), 3);
    assert_eq!(bootability(&p).unwrap().to_string(), "yes");
}

#[test]
fn crosvm_linux_stdout_path_and_gicv2() {
    let Some(b) = common::dts("crosvm.dts") else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    let c = p.console.unwrap().unwrap();
    assert_eq!(
        (c.kind, c.base),
        (
            UartKind::Driver(
                &ns16550::DRIVER,
                UartProps {
                    reg_shift: 0,
                    reg_io_width: 1
                }
            ),
            0x3f8
        )
    );
    assert!(matches!(p.gic.as_ref().unwrap().kind, GicKind::V2 { .. }));
    assert_eq!(p.psci.unwrap().unwrap().conduit, Conduit::Hvc);
    assert_eq!(bootability(&p).unwrap().to_string(), "yes");
}

#[test]
fn synthetic_ranges_aliases_interrupts() {
    let Some(b) = common::dts("synthetic.dts") else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    let m = p.memory.as_ref().unwrap();
    let ram: Vec<_> = m.ram.list.iter().map(|r| (r.base, r.size)).collect();
    assert_eq!(
        ram,
        [(0x8000_0000, 0x1000_0000), (0x1_0000_0000, 0x2000_0000)]
    );
    assert_eq!(m.zero_sized, 1);
    assert_eq!(m.reserved.list.len(), 1);
    assert_eq!(m.reserved.list[0].base, 0x8f00_0000);
    assert_eq!(m.rsvmap.list[0].base, 0x1000_0000);
    // 0x100 -> sub@0 ranges (+0x200000) -> bus ranges (+0x10_0000_0000).
    let c = p.console.unwrap().unwrap();
    assert_eq!(c.base, 0x10_0020_0100);
    assert_eq!(
        c.kind,
        UartKind::Driver(
            &ns16550::DRIVER,
            UartProps {
                reg_shift: 2,
                reg_io_width: 4
            }
        )
    );
    assert_eq!(c.compatible, "snps,dw-apb-uart");
    assert_eq!(c.options, Some("1500000n8"));
    assert_eq!(
        c.interrupt,
        Interrupt::Intid(132),
        "interrupt-parent inherited from the bus"
    );
    match &p.gic.as_ref().unwrap().kind {
        GicKind::V3 {
            redistributors,
            redistributor_stride,
            ..
        } => {
            assert_eq!(redistributors.len(), 2);
            assert_eq!(*redistributor_stride, Some(0x40000));
        }
        k => panic!("{k:?}"),
    }
    let t = p.timer.unwrap().unwrap();
    assert_eq!(
        (t.secure_phys, t.non_secure_phys, t.virt, t.hyp),
        (29, 30, 27, 26)
    );
    let psci = p.psci.unwrap().unwrap();
    assert_eq!(
        (psci.version, psci.conduit, psci.cpu_on),
        (PsciVersion::V0_1, Conduit::Smc, Some(0x8400_0003))
    );
    let cpus = &p.cpus.as_ref().unwrap().list;
    assert_eq!(cpus.len(), 3, "cpu-map is not a cpu");
    assert_eq!(
        cpus[1].enable_method,
        EnableMethod::SpinTable {
            release_addr: Some(0xe0)
        }
    );
    assert_eq!(cpus[1].mpidr, 0x100);
    assert!(cpus[2].disabled);
    assert_eq!(bootability(&p).unwrap().to_string(), "yes");
    // A bus without `ranges` cannot be translated through.
    let fdt = Fdt::new(&b).unwrap();
    let dev = fdt
        .find("/bus@1000000000/nobus@300000/dev@0")
        .unwrap()
        .unwrap();
    assert_eq!(
        fdt.reg_translated(&dev, 0),
        Err(DtbError::NotTranslatable {
            node: "nobus@300000"
        })
    );
}
