//! `hal::dtb::virtio_mmio`: every enabled transport, in tree order, with its `reg`
//! translated and its interrupt resolved. The discovery reads a parent's `reg` cells and
//! inherited `interrupt-parent` once for its children; the transport after a bus (back under
//! the root) must get the root's again, not the bus's.

mod common;

use hal::dtb::{virtio_mmio, Interrupt, Platform};

const TREE: &str = r#"
/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <1>;
	interrupt-parent = <&gic>;
	memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x10000000>; };
	gic: interrupt-controller@8000000 {
		compatible = "arm,gic-v3";
		interrupt-controller;
		#interrupt-cells = <3>;
		phandle = <0x55>;
		reg = <0x0 0x8000000 0x10000>, <0x0 0x80a0000 0xf60000>;
	};
	intc: interrupt-controller@9000000 {
		compatible = "vendor,intc";
		interrupt-controller;
		#interrupt-cells = <1>;
		phandle = <0x77>;
		reg = <0x0 0x9000000 0x1000>;
	};
	virtio_mmio@a000000 { compatible = "virtio,mmio"; reg = <0x0 0xa000000 0x200>; interrupts = <0 16 1>; };
	virtio_mmio@a000200 { compatible = "virtio,mmio"; reg = <0x0 0xa000200 0x200>; interrupts = <0 17 1>; status = "disabled"; };
	virtio_mmio@a000400 { compatible = "virtio,mmio"; reg = <0x0 0xa000400 0x200>; interrupts = <0 18 4>; };
	bus@10000000 {
		compatible = "simple-bus";
		#address-cells = <1>;
		#size-cells = <1>;
		ranges = <0x0 0x0 0x10000000 0x100000>;
		interrupt-parent = <&intc>;
		virtio_mmio@1000 { compatible = "virtio,mmio"; reg = <0x1000 0x200>; interrupts = <7>; };
		virtio_mmio@2000 { compatible = "virtio,mmio"; reg = <0x2000 0x200>; interrupt-parent = <&gic>; interrupts = <0 20 4>; };
		virtio_mmio@3000 { compatible = "virtio,mmio"; reg = <0x3000 0x200>; interrupts = <9>; };
	};
	virtio_mmio@a000600 { compatible = "virtio,mmio"; reg = <0x0 0xa000600 0x200>; interrupts = <0 19 1>; };
};
"#;

#[test]
fn transports_in_tree_order_with_reg_and_interrupt() {
    let Some(b) = common::dts_src(TREE) else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    let v = virtio_mmio(&p).unwrap();
    assert!(!v.truncated);
    let got: Vec<_> = v
        .list
        .iter()
        .map(|d| (d.node, d.base, d.size, d.interrupt, d.edge))
        .collect();
    assert_eq!(
        got,
        [
            (
                "virtio_mmio@a000000",
                0xa00_0000,
                0x200,
                Interrupt::Intid(48),
                true
            ),
            (
                "virtio_mmio@a000400",
                0xa00_0400,
                0x200,
                Interrupt::Intid(50),
                false
            ),
            (
                "virtio_mmio@1000",
                0x1000_1000,
                0x200,
                Interrupt::NotGic(0x77),
                false
            ),
            (
                "virtio_mmio@2000",
                0x1000_2000,
                0x200,
                Interrupt::Intid(52),
                false
            ),
            (
                "virtio_mmio@3000",
                0x1000_3000,
                0x200,
                Interrupt::NotGic(0x77),
                false
            ),
            (
                "virtio_mmio@a000600",
                0xa00_0600,
                0x200,
                Interrupt::Intid(51),
                true
            ),
        ]
    );
}

/// A transport whose specifier the GIC cannot take fails the whole list (as `dtb-check`
/// reports it), not just that transport.
#[test]
fn a_bad_specifier_is_an_error() {
    let Some(b) = common::dts_src(&TREE.replace("<0 19 1>", "<7 19 1>")) else {
        return;
    };
    let p = Platform::parse(&b).unwrap();
    assert!(virtio_mmio(&p).is_err());
}
