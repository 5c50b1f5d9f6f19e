//! Compiles tests-qemu/src/dtb_check.rs (the host `dtb-check` tool) against hal and checks
//! its report and verdict, until the harness wires it into `cargo xtask dtb-check`.

mod common;

#[path = "../../tests-qemu/src/dtb_check.rs"]
mod dtb_check;

#[test]
fn verdicts() {
    if let Some(b) = common::qemu_virt_dtb("gic-version=3") {
        let (text, ok) = dtb_check::check(&b);
        assert!(ok, "{text}");
        for needle in [
            "model: linux,dummy-virt",
            "ram: 0x40000000..0x50000000",
            "console: /pl011@9000000",
            "driver pl011 at 0x9000000",
            "gic: v3",
            "psci: 1.0 method hvc",
            "cpus: 4",
            "timer: timer secure-phys 29 phys 30 virt 27 hyp 26",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert_eq!(text.lines().last(), Some("bootable: yes"));
    }
    if let Some(b) = common::shared_dtb("bcm2837-rpi-3-b.dtb") {
        let (text, ok) = dtb_check::check(&b);
        assert!(!ok);
        assert!(
            text.lines()
                .last()
                .unwrap()
                .starts_with("bootable: no: interrupt controller: no GIC"),
            "{text}"
        );
    }
    let (text, ok) = dtb_check::check(b"not a dtb at all, just text");
    assert!(!ok);
    assert_eq!(
        text,
        "bootable: no: bad magic 0x6e6f7420 (expected 0xd00dfeed)\n"
    );
}

#[test]
fn exit_codes() {
    use std::process::ExitCode;
    assert_eq!(dtb_check::run(&[]), ExitCode::from(2));
    assert_eq!(
        dtb_check::run(&["/nonexistent.dtb".into()]),
        ExitCode::from(1)
    );
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/dtb/juno.dtb");
    if dir.exists() {
        assert_eq!(
            dtb_check::run(&[dir.display().to_string()]),
            ExitCode::SUCCESS
        );
    }
}
