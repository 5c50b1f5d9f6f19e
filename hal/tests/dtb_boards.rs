//! Real board DTBs from ../shared/dtb (Debian's arm64 kernel package). Skipped with a
//! notice when the directory is absent; never copied into the repository.

mod common;

use hal::dtb::{
    bootability, Conduit, EnableMethod, GicKind, Interrupt, NotBootable, Platform, Ram, UartKind,
};
use hal::uart::{mini_uart, pl011, UartProps};

#[test]
fn raspberry_pi_4() {
    let Some(b) = common::shared_dtb("bcm2711-rpi-4-b.dtb") else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    assert_eq!(p.model, Some("Raspberry Pi 4 Model B"));
    let cpus = p.cpus.as_ref().unwrap();
    let addrs: Vec<_> = cpus
        .list
        .iter()
        .map(|c| match c.enable_method {
            EnableMethod::SpinTable {
                release_addr: Some(a),
            } => (c.mpidr, a),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(addrs, [(0, 0xd8), (1, 0xe0), (2, 0xe8), (3, 0xf0)]);
    assert_eq!(p.psci, Ok(None));
    let gic = p.gic.as_ref().unwrap();
    assert_eq!(gic.compatible, "arm,gic-400");
    // The GIC sits under /soc: 0x4004_1000 translated through 0x4000_0000 -> 0xff80_0000.
    match &gic.kind {
        GicKind::V2 { dist, cpu_if } => {
            assert_eq!((dist.base, cpu_if.base), (0xff84_1000, 0xff84_2000))
        }
        k => panic!("{k:?}"),
    }
    let c = p.console.unwrap().unwrap();
    assert_eq!(
        c.kind,
        UartKind::Driver(&mini_uart::DRIVER, UartProps::default())
    );
    assert_eq!(c.base, 0xfe21_5040);
    assert_eq!((c.path, c.options), ("serial1", Some("115200n8")));
    assert_eq!(c.interrupt, Interrupt::Intid(32 + 93));
    let t = p.timer.unwrap().unwrap();
    assert_eq!(
        (t.secure_phys, t.non_secure_phys, t.virt, t.hyp),
        (29, 30, 27, 26)
    );
    // memory@0 has size 0 in the file: the firmware fills it in.
    let m = p.memory.as_ref().unwrap();
    assert!(m.ram.list.is_empty());
    assert_eq!(m.zero_sized, 1);
    // The firmware fills it in: a yes with that condition, not a no.
    let v = bootability(&p).unwrap();
    assert_eq!(v.ram, Ram::ZeroSized(1));
    assert!(!v.as_is());
    let report = common::report(&b);
    assert!(
        report.contains("bootable: yes, if the bootloader fills in /memory"),
        "{report}"
    );
}

#[test]
fn raspberry_pi_3_has_no_gic() {
    let Some(b) = common::shared_dtb("bcm2837-rpi-3-b.dtb") else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    let why = bootability(&p).unwrap_err().to_string();
    assert!(why.contains("no GIC"), "{why}");
    assert!(why.contains("bcm2836"), "{why}");
    let report = common::report(&b);
    assert!(report
        .lines()
        .last()
        .unwrap()
        .starts_with("bootable: no: interrupt controller: no GIC"));
}

#[test]
fn imx8mp_evk() {
    let Some(b) = common::shared_dtb("imx8mp-evk.dtb") else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    let psci = p.psci.unwrap().unwrap();
    assert_eq!(psci.conduit, Conduit::Smc);
    assert!(matches!(p.gic.as_ref().unwrap().kind, GicKind::V3 { .. }));
    let c = p.console.unwrap().unwrap();
    assert_eq!(c.path, "/soc@0/bus@30800000/serial@30890000");
    assert!(matches!(c.kind, UartKind::Unknown(s) if s.starts_with("fsl,imx")));
    assert_eq!(c.base, 0x3089_0000);
    assert!(matches!(
        bootability(&p),
        Err(NotBootable::ConsoleWithoutDriver { .. })
    ));
    assert_eq!(p.cpus.unwrap().list.len(), 4);
}

#[test]
fn juno_two_clusters() {
    let Some(b) = common::shared_dtb("juno.dtb") else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    let cpus = p.cpus.as_ref().unwrap();
    let mpidrs: Vec<u64> = cpus.list.iter().map(|c| c.mpidr).collect();
    assert_eq!(mpidrs.len(), 6);
    assert_eq!(mpidrs.iter().filter(|m| *m >> 8 == 0).count(), 2);
    assert_eq!(mpidrs.iter().filter(|m| *m >> 8 == 1).count(), 4);
    assert!(cpus
        .list
        .iter()
        .all(|c| c.enable_method == EnableMethod::Psci));
    assert_eq!(p.psci.unwrap().unwrap().conduit, Conduit::Smc);
    assert_eq!(
        p.console.unwrap().unwrap().kind,
        UartKind::Driver(&pl011::DRIVER, UartProps::default())
    );
    assert_eq!(bootability(&p).unwrap().to_string(), "yes");
}

#[test]
fn fvp_base_revc_without_stdout_path_uses_its_first_uart() {
    let Some(b) = common::shared_dtb("fvp-base-revc.dtb") else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    assert_eq!(p.cpus.as_ref().unwrap().list.len(), 8);
    let console = p.console.unwrap().unwrap();
    assert_eq!(console.path, hal::dtb::FIRST_UART);
    assert_eq!(console.node, "serial@90000");
    assert_eq!(
        console.kind,
        UartKind::Driver(&pl011::DRIVER, UartProps::default())
    );
    assert_eq!(console.base, 0x1c09_0000);
}
