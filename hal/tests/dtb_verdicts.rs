//! The verdicts of issue 12 ("dtb-check must agree with the kernel, on real boards"), each on
//! a small DTS compiled with dtc at test time: PSCI under /firmware, GICs reached through
//! an interrupt-parent chain, every compatible Linux's GIC drivers take, 64 CPUs, /memory
//! of size 0 or missing, a CPU without an enable-method. Skipped (notice) without dtc.

mod common;

use hal::dtb::{bootability, cpu_plan, Interrupt, Platform, StartMethod, GICV2_COMPATIBLES};

/// The parts of a board tree a test varies.
struct Board<'s> {
    /// Extra root properties (e.g. `interrupt-parent = <&gpc>;`).
    root_props: &'s str,
    memory: &'s str,
    gic_compatible: &'s str,
    /// Nodes between the GIC and the devices (a GPC, an ictlr).
    controllers: &'s str,
    /// The UART's interrupt-parent label.
    uart_parent: &'s str,
    uart_compatible: &'s str,
    /// `psci { ... }` at the root, or under `firmware { }`, or nothing.
    psci: &'s str,
    cpus: String,
}

fn psci_cpus(n: usize, method: &str) -> String {
    (0..n)
        .map(|i| {
            format!(
                "cpu@{i:x} {{ device_type = \"cpu\"; reg = <0x{:x}>; {method} }};\n",
                ((i / 8) << 8) | (i % 8)
            )
        })
        .collect()
}

impl Default for Board<'_> {
    fn default() -> Self {
        Board {
            root_props: "interrupt-parent = <&gic>;",
            memory: "memory@40000000 { device_type = \"memory\"; reg = <0x0 0x40000000 0x0 0x20000000>; };",
            gic_compatible: "arm,gic-400",
            controllers: "",
            uart_parent: "gic",
            uart_compatible: "arm,pl011\", \"arm,primecell",
            psci: "psci { compatible = \"arm,psci-1.0\", \"arm,psci-0.2\"; method = \"smc\"; };",
            cpus: psci_cpus(2, "enable-method = \"psci\";"),
        }
    }
}

impl Board<'_> {
    fn dts(&self) -> String {
        let v3 = self.gic_compatible == "arm,gic-v3";
        let gic_reg = if v3 {
            "<0x0 0x8000000 0x0 0x10000>, <0x0 0x80a0000 0x0 0xf60000>"
        } else {
            "<0x0 0x8000000 0x0 0x10000>, <0x0 0x8010000 0x0 0x10000>"
        };
        format!(
            r#"/dts-v1/;
/ {{
    model = "issue 12 fixture"; compatible = "aiolos,fixture";
    #address-cells = <2>; #size-cells = <2>;
    {root_props}
    chosen {{ stdout-path = "/uart@9000000"; }};
    {memory}
    cpus {{ #address-cells = <1>; #size-cells = <0>;
{cpus}    }};
    {psci}
    gic: interrupt-controller@8000000 {{
        compatible = "{gic}"; interrupt-controller; #interrupt-cells = <3>;
        reg = {gic_reg};
    }};
    {controllers}
    timer {{ compatible = "arm,armv8-timer"; interrupt-parent = <&gic>;
        interrupts = <1 13 4>, <1 14 4>, <1 11 4>, <1 10 4>; }};
    uart@9000000 {{ compatible = "{uart}"; reg = <0x0 0x9000000 0x0 0x1000>;
        interrupt-parent = <&{uart_parent}>; interrupts = <0 1 4>; }};
}};
"#,
            root_props = self.root_props,
            memory = self.memory,
            cpus = self.cpus,
            psci = self.psci,
            gic = self.gic_compatible,
            controllers = self.controllers,
            uart = self.uart_compatible,
            uart_parent = self.uart_parent,
        )
    }
}

#[test]
fn psci_under_firmware_is_found() {
    let board = Board {
        psci: "firmware { psci { compatible = \"arm,psci-1.0\"; method = \"smc\"; }; };",
        ..Board::default()
    };
    let Some(b) = common::dts_src(&board.dts()) else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    assert!(p.psci.unwrap().is_some(), "{}", common::report(&b));
    assert_eq!(common::verdict(&b), "bootable: yes");
    // Negative control: without any PSCI node the second CPU cannot be started.
    let board = Board {
        psci: "",
        ..Board::default()
    };
    let b = common::dts_src(&board.dts()).unwrap();
    assert!(common::verdict(&b).contains("1 of 2 CPUs cannot be started"));
}

/// i.MX8MQ's GPC and Tegra's ictlr: the root's interrupt-parent is a controller whose own
/// parent is the GIC (two levels here), passing GIC specifiers through.
#[test]
fn gic_through_an_interrupt_parent_chain() {
    let board = Board {
        root_props: "interrupt-parent = <&gpc>;",
        controllers:
            "ictlr: interrupt-controller@60004000 { compatible = \"nvidia,tegra210-ictlr\";
            interrupt-controller; #interrupt-cells = <3>; reg = <0x0 0x60004000 0x0 0x40>;
            interrupt-parent = <&gic>; };
        gpc: gpc@303a0000 { compatible = \"fsl,imx8mq-gpc\"; interrupt-controller;
            #interrupt-cells = <3>; reg = <0x0 0x303a0000 0x0 0x10000>;
            interrupt-parent = <&ictlr>; };",
        uart_parent: "gpc",
        ..Board::default()
    };
    let Some(b) = common::dts_src(&board.dts()) else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    let gic = p.gic.as_ref().unwrap();
    assert_eq!(gic.node, "interrupt-controller@8000000");
    // The UART's SPI 1 through the GPC and the ictlr is GIC INTID 33.
    assert_eq!(p.console.unwrap().unwrap().interrupt, Interrupt::Intid(33));
    assert_eq!(common::verdict(&b), "bootable: yes");
    // Negative control: a chain that never reaches a GIC is still "no GIC", naming it.
    let board = Board {
        root_props: "interrupt-parent = <&gpc>;",
        controllers: "gpc: gpc@303a0000 { compatible = \"fsl,imx8mq-gpc\"; interrupt-controller;
            #interrupt-cells = <3>; reg = <0x0 0x303a0000 0x0 0x10000>; };",
        ..Board::default()
    };
    let b = common::dts_src(&board.dts()).unwrap();
    let v = common::verdict(&b);
    assert!(v.contains("no GIC") && v.contains("fsl,imx8mq-gpc"), "{v}");
}

#[test]
fn every_compatible_linux_gic_drivers_take() {
    for c in GICV2_COMPATIBLES.iter().chain(["arm,gic-v3"].iter()) {
        let board = Board {
            gic_compatible: c,
            ..Board::default()
        };
        let Some(b) = common::dts_src(&board.dts()) else {
            return;
        };
        assert_eq!(common::verdict(&b), "bootable: yes", "{c}");
    }
    for c in [
        "qcom,msm-qgic2",
        "arm,pl390",
        "brcm,brahma-b15-gic",
        "arm,gic-400",
    ] {
        assert!(GICV2_COMPATIBLES.contains(&c), "{c}");
    }
    // With the GIC accepted, the real blocker of such a board is its console: say that.
    let board = Board {
        gic_compatible: "qcom,msm-qgic2",
        uart_compatible: "qcom,msm-uartdm-v1.4",
        ..Board::default()
    };
    let b = common::dts_src(&board.dts()).unwrap();
    let v = common::verdict(&b);
    assert!(
        v.starts_with("bootable: no: console") && v.contains("qcom,msm-uartdm"),
        "{v}"
    );
}

#[test]
fn sixty_four_cpus_are_all_kept() {
    let board = Board {
        gic_compatible: "arm,gic-v3",
        cpus: psci_cpus(64, "enable-method = \"psci\";"),
        ..Board::default()
    };
    let Some(b) = common::dts_src(&board.dts()) else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    assert_eq!(p.cpus.as_ref().unwrap().list.len(), 64);
    assert!(common::report(&b).contains("\ncpus: 64\n"));
    assert_eq!(common::verdict(&b), "bootable: yes");
    let started = cpu_plan(&p, 0).filter(|(_, how)| how.is_ok()).count();
    assert_eq!(started, 64);
    // GICv2 reaches 8 cores: the same tree on a GIC-400 boots 8 and says so.
    let board = Board {
        cpus: psci_cpus(64, "enable-method = \"psci\";"),
        ..Board::default()
    };
    let b = common::dts_src(&board.dts()).unwrap();
    let v = common::verdict(&b);
    assert!(
        v.starts_with("bootable: yes; warning: 56 of 64 CPUs cannot be started")
            && v.contains("GICv2 reaches only 8"),
        "{v}"
    );
}

#[test]
fn memory_the_bootloader_fills_in() {
    for (memory, says) in [
        (
            "memory@0 { device_type = \"memory\"; reg = <0x0 0x0 0x0 0x0>; };",
            "size 0",
        ),
        ("", "no memory node"),
    ] {
        let board = Board {
            memory,
            ..Board::default()
        };
        let Some(b) = common::dts_src(&board.dts()) else {
            return;
        };
        let v = common::verdict(&b);
        assert!(
            v.starts_with("bootable: yes, if the bootloader fills in /memory") && v.contains(says),
            "{v}"
        );
        // The kernel, handed the tree as it is, must refuse it (`as_is`).
        let p = Platform::parse(&b).unwrap();
        assert!(!bootability(&p).unwrap().as_is());
    }
}

#[test]
fn a_cpu_without_enable_method_is_a_warning() {
    let board = Board {
        cpus: "cpu@0 { device_type = \"cpu\"; reg = <0x0>; enable-method = \"psci\"; };
               cpu@1 { device_type = \"cpu\"; reg = <0x1>; };\n"
            .into(),
        ..Board::default()
    };
    let Some(b) = common::dts_src(&board.dts()) else {
        return;
    };
    assert_eq!(
        common::verdict(&b),
        "bootable: yes; warning: 1 of 2 CPUs cannot be started: cpu cpu@1 (MPIDR 0x1): no enable-method"
    );
    // The kernel's bring-up plan is the verdict's: the boot CPU, and cpu@1 refused.
    let p = Platform::parse(&b).unwrap();
    let plan: Vec<_> = cpu_plan(&p, 0)
        .map(|(c, how)| (c.node, how.is_ok()))
        .collect();
    assert_eq!(plan, [("cpu@0", true), ("cpu@1", false)]);
    assert_eq!(cpu_plan(&p, 0).next().unwrap().1, Ok(StartMethod::Boot));
}

/// Discovery lists the root's children once (up to 128) and finds /memory and the
/// `stdout-path` node among them; with more children it walks them again. Either way it
/// must find what the tree without the extra nodes gives.
#[test]
fn many_root_children_find_the_same_platform() {
    let found = |pad: usize| -> Option<String> {
        let nodes: String = (0..pad)
            .map(|i| format!("pad@{i:x} {{ reg = <0x1 0x{i:x} 0x0 0x10>; }};\n"))
            .collect();
        let root_props = format!("interrupt-parent = <&gic>;\n{nodes}");
        let board = Board {
            root_props: &root_props,
            ..Board::default()
        };
        let b = common::dts_src(&board.dts())?;
        let p = Platform::parse(&b).unwrap();
        assert!(p.console.as_ref().unwrap().is_some(), "{pad} pads");
        Some(format!("{:?} {:?}", p.memory, p.console))
    };
    let Some(plain) = found(0) else {
        return;
    };
    for pad in [100, 127, 128, 200] {
        assert_eq!(found(pad).unwrap(), plain, "{pad} extra root children");
    }
}
