//! The generic PCIe host bridge (`hal::dtb::pci`) on QEMU `virt`'s own DTBs, dumped at test
//! time (GICv2 and GICv3), and negative controls: the same trees with a corrupt
//! `interrupt-map` must give a clear error, not a wrong route.

mod common;

use hal::dtb::{pci_hosts, IntxRoute, PciError, PciSpace, Platform};
use std::process::Command;

fn check_virt(opts: &str) {
    let Some(b) = common::qemu_virt_dtb(opts) else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    let hosts = pci_hosts(&p).unwrap();
    assert_eq!(hosts.list.len(), 1, "{opts}");
    let h = &hosts.list[0];
    assert_eq!(h.node, "pcie@10000000");
    // QEMU's high ECAM: 256 buses at 256 GiB + 256 MiB.
    assert_eq!((h.ecam_base, h.ecam_size), (0x40_1000_0000, 0x1000_0000));
    assert_eq!((h.bus_start, h.bus_end, h.buses()), (0, 255, 256));
    let m32 = h.mem32.unwrap();
    assert_eq!(
        (
            m32.space,
            m32.prefetchable,
            m32.cpu_addr,
            m32.pci_addr,
            m32.size
        ),
        (
            PciSpace::Mem32,
            false,
            0x1000_0000,
            0x1000_0000,
            0x2eff_0000
        )
    );
    let m64 = h.mem64.unwrap();
    assert_eq!((m64.cpu_addr, m64.size), (0x80_0000_0000, 0x80_0000_0000));
    let io = h.io.unwrap();
    assert_eq!(
        (io.cpu_addr, io.pci_addr, io.size),
        (0x3eff_0000, 0, 0x1_0000)
    );
    assert!(h.dma_coherent);
    assert_eq!(h.intx_mask, [0x1800, 0, 0, 7]);
    assert_eq!(h.intx.len(), 16);
    // QEMU wires slot d pin p to SPI 3 + (d + p - 1) mod 4 (the standard swizzle); the map
    // is consulted for every device 0..31 (the mask keeps d mod 4) and every pin.
    for dev in 0..32u8 {
        for pin in 1..=4u8 {
            let want = 32 + 3 + (u32::from(dev) + u32::from(pin) - 1) % 4;
            assert_eq!(
                h.intx(0, dev, 0, pin),
                Some(IntxRoute {
                    intid: want,
                    edge: false
                }),
                "{opts}: dev {dev} pin {pin}"
            );
        }
    }
    assert_eq!(h.intx(0, 1, 0, 0), None, "pin 0 = no interrupt");
    assert_eq!(h.intx(0, 1, 0, 5), None);
    assert_eq!(h.config_address(0, 0, 0), Some(0x40_1000_0000));
    assert_eq!(
        h.config_address(1, 2, 3),
        Some(0x40_1000_0000 + (1 << 20) + (2 << 15) + (3 << 12))
    );
    assert_eq!(h.config_address(0, 32, 0), None);
    assert_eq!(h.config_address(0, 0, 8), None);
    let r = common::report(&b);
    for line in [
        "pci: 1 host bridge(s)",
        "pci: pcie@10000000 ecam 0x4010000000 size 0x10000000, buses 0..=255, dma-coherent",
        "pci: pcie@10000000 mem32: cpu 0x10000000 pci 0x10000000 size 0x2eff0000",
        "pci: pcie@10000000 intx: device 1 INTA -> INTID 36 (level)",
    ] {
        assert!(r.contains(line), "{opts}: no {line:?} in\n{r}");
    }
}

#[test]
fn virt_gicv2() {
    check_virt("gic-version=2");
}

#[test]
fn virt_gicv3() {
    check_virt("gic-version=3");
}

#[test]
fn virt_gicv3_el2() {
    check_virt("gic-version=3,virtualization=on");
}

/// QEMU's GICv3 tree as DTS text, or None (SKIPPED) without QEMU or dtc.
fn virt_dts() -> Option<String> {
    let b = common::qemu_virt_dtb("gic-version=3")?;
    let path = std::env::temp_dir().join(format!("aiolos-pci-{}.dtb", std::process::id()));
    std::fs::write(&path, &b).unwrap();
    let out = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts", "-q"])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8(o.stdout).unwrap()),
        _ => {
            println!("SKIPPED: dtc not found");
            None
        }
    }
}

/// A change to the cells of `interrupt-map`.
type Edit = dyn Fn(&mut Vec<String>);

/// `dts` with the cells of `interrupt-map` changed by `f`.
fn with_map(dts: &str, f: impl Fn(&mut Vec<String>)) -> String {
    let start = dts.find("interrupt-map = <").unwrap() + "interrupt-map = <".len();
    let end = start + dts[start..].find(">;").unwrap();
    let mut cells: Vec<String> = dts[start..end]
        .split_whitespace()
        .map(String::from)
        .collect();
    f(&mut cells);
    format!("{}{}{}", &dts[..start], cells.join(" "), &dts[end..])
}

fn map_error(dts: &str) -> Option<String> {
    let b = common::dts_src(dts)?;
    let p = Platform::parse(&b).unwrap();
    let msg = match pci_hosts(&p) {
        Ok(h) => panic!("a corrupt interrupt-map parsed: {:?}", h.list[0].intx),
        Err(e) => {
            assert!(matches!(e, PciError::BadInterruptMap { .. }), "{e:?}");
            let r = common::report(&b);
            assert!(r.contains(&format!("pci: error: {e}")), "{r}");
            // The rest of the platform is unaffected.
            assert!(r.ends_with("bootable: yes\n"), "{r}");
            e.to_string()
        }
    };
    Some(msg)
}

#[test]
fn corrupt_interrupt_map_is_a_clear_error() {
    let Some(dts) = virt_dts() else {
        return;
    };
    // Positive control: the tree through dtc and the same cell rewriting, unchanged, parses.
    let same = common::dts_src(&with_map(&dts, |_| {})).unwrap();
    let p = Platform::parse(&same).unwrap();
    assert_eq!(pci_hosts(&p).unwrap().list[0].intx.len(), 16);
    // Each QEMU entry: 3 address + 1 pin + phandle + 2 GIC address + 3 GIC specifier = 10.
    let cases: [(&str, &Edit); 5] = [
        ("truncated", &|c: &mut Vec<String>| {
            c.pop();
        }),
        ("interrupt parent phandle names no node", &|c| {
            c[10 + 4] = "0x7777".into()
        }),
        ("not a GIC SPI", &|c| c[7] = "0x01".into()),
        ("not a GIC SPI", &|c| c[8] = "0x3e8".into()),
        ("child pin is not 1..4", &|c| c[3] = "0x05".into()),
    ];
    for (want, f) in cases {
        let Some(msg) = map_error(&with_map(&dts, f)) else {
            return;
        };
        assert!(msg.contains(want), "want {want:?}, got {msg:?}");
        assert!(
            msg.starts_with("pcie@10000000: interrupt-map entry "),
            "{msg}"
        );
    }
}

#[test]
fn interrupt_parent_not_the_gic_is_refused() {
    let Some(dts) = virt_dts() else {
        return;
    };
    // The map's parent set to the PL061 GPIO controller (an interrupt controller, not the
    // GIC): refused, not read as a GIC specifier.
    let gpio_ph = {
        let at = dts.find("pl061@").unwrap();
        let ph = dts[at..].find("phandle = <").unwrap() + at + "phandle = <".len();
        dts[ph..ph + dts[ph..].find('>').unwrap()].to_string()
    };
    let Some(msg) = map_error(&with_map(&dts, |c| c[4] = gpio_ph.clone())) else {
        return;
    };
    assert!(
        msg.contains("entry 0: its interrupt parent is not the GIC"),
        "{msg}"
    );
}

#[test]
fn no_host_bridge_without_pcie_node() {
    let Some(dts) = virt_dts() else {
        return;
    };
    let b = common::dts_src(&dts.replace("pci-host-ecam-generic", "vendor,other-pci")).unwrap();
    let p = Platform::parse(&b).unwrap();
    assert!(pci_hosts(&p).unwrap().list.is_empty());
    assert!(common::report(&b).contains("pci: 0 host bridge(s)"));
}

#[test]
fn fvp_base_revc_board_dtb() {
    // A real board tree (Arm FVP Base RevC): bus-range 0-1 in a 256 MiB ECAM, one 32-bit
    // window, a mask that ignores the device number (every slot's INTx on the same four SPIs).
    let Some(b) = common::shared_dtb("fvp-base-revc.dtb") else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    let hosts = pci_hosts(&p).unwrap();
    let h = &hosts.list[0];
    assert_eq!((h.ecam_base, h.bus_start, h.bus_end), (0x4000_0000, 0, 1));
    let m = h.mem32.unwrap();
    assert_eq!((m.cpu_addr, m.size), (0x5000_0000, 0x1000_0000));
    assert_eq!((h.mem64, h.io), (None, None));
    assert_eq!(
        h.config_address(2, 0, 0),
        None,
        "bus 2 is outside bus-range"
    );
    for dev in [0u8, 5, 31] {
        assert_eq!(h.intx(0, dev, 0, 2).map(|r| r.intid), Some(201));
    }
}
