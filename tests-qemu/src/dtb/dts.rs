//! QEMU's device tree for a boot configuration, and source-level edits of it through `dtc`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::boot::qemu::{BootConfig, QEMU};
use crate::util;

/// Asks QEMU for the DTB it would generate for `cfg` (same machine arguments and `-dtb`).
pub fn dump_dtb(cfg: &BootConfig, out: &Path) -> Result<Vec<u8>, String> {
    let _ = std::fs::remove_file(out);
    let mut cmd = Command::new(QEMU);
    cmd.args(cfg.machine_args(Some(out)))
        .args(["-display", "none", "-monitor", "none", "-serial", "none"]);
    // A board without a generated DTB (raspi4b) dumps the one it was given, patched.
    if let Some(dtb) = &cfg.dtb {
        cmd.arg("-dtb").arg(dtb);
    }
    let r = util::run_captured(&mut cmd, Duration::from_secs(30))
        .map_err(|e| format!("cannot run {QEMU}: {e}"))?;
    std::fs::read(out).map_err(|e| {
        format!(
            "dumpdtb produced no file ({e}); {QEMU} said: {}",
            util::tail(&r.stderr, 5)
        )
    })
}

/// `dtc -I dtb -O dts`.
pub fn decompile(dtb: &Path) -> Result<String, String> {
    let mut cmd = Command::new("dtc");
    cmd.args(["-q", "-I", "dtb", "-O", "dts"]).arg(dtb);
    let r = util::run_captured(&mut cmd, Duration::from_secs(30))
        .map_err(|e| format!("cannot run dtc: {e}"))?;
    if !r.success() {
        return Err(format!("dtc failed: {}", util::tail(&r.stderr, 5)));
    }
    Ok(r.stdout)
}

/// `dtc -I dts -O dtb`.
pub fn compile(dts: &str, dts_path: &Path, out: &Path) -> Result<(), String> {
    std::fs::write(dts_path, dts).map_err(|e| format!("{}: {e}", dts_path.display()))?;
    let mut cmd = Command::new("dtc");
    cmd.args(["-q", "-I", "dts", "-O", "dtb", "-o"])
        .arg(out)
        .arg(dts_path);
    let r = util::run_captured(&mut cmd, Duration::from_secs(30))
        .map_err(|e| format!("cannot run dtc: {e}"))?;
    if !r.success() {
        return Err(format!("dtc failed: {}", util::tail(&r.stderr, 5)));
    }
    Ok(())
}

/// Line range `[open, close]` of the node whose header line is `NAME {` (or `label: NAME {`).
fn node_lines(lines: &[String], name: &str) -> Option<(usize, usize)> {
    let open = lines.iter().position(|l| {
        let t = l.trim();
        let t = t.rsplit_once(": ").map(|(_, r)| r).unwrap_or(t);
        t == format!("{name} {{")
    })?;
    let mut depth = 0i32;
    for (i, l) in lines.iter().enumerate().skip(open) {
        depth += l.matches('{').count() as i32;
        depth -= l.matches("};").count() as i32;
        if depth == 0 {
            return Some((open, i));
        }
    }
    None
}

/// Replaces the first direct property `prop = ...;` of node `name` by `prop = VALUE;`.
fn set_node_prop(dts: &str, name: &str, prop: &str, value: &str) -> Result<String, String> {
    let mut lines: Vec<String> = dts.lines().map(String::from).collect();
    let (open, close) = node_lines(&lines, name).ok_or(format!("no node `{name}` in the DTS"))?;
    let mut depth = 0;
    for i in open + 1..close {
        let t = lines[i].trim().to_string();
        if depth == 0 && (t.starts_with(&format!("{prop} =")) || t == format!("{prop};")) {
            let indent: String = lines[i].chars().take_while(|c| c.is_whitespace()).collect();
            lines[i] = format!("{indent}{prop} = {value};");
            return Ok(lines.join("\n") + "\n");
        }
        depth += t.matches('{').count() as i32;
        depth -= t.matches("};").count() as i32;
    }
    Err(format!("node `{name}` has no `{prop}` property"))
}

/// Value of a string property `prop = "v";` inside node `name` (first match).
fn get_node_string(dts: &str, name: &str, prop: &str) -> Option<String> {
    let lines: Vec<String> = dts.lines().map(String::from).collect();
    let (open, close) = node_lines(&lines, name)?;
    lines[open + 1..close].iter().find_map(|l| {
        let t = l.trim();
        let rest = t.strip_prefix(&format!("{prop} = \""))?;
        Some(rest.split('"').next()?.to_string())
    })
}

/// Changes the GIC's compatible (the node with `interrupt-controller;` and a GIC compatible).
pub fn dts_unknown_intc(dts: &str, new_compat: &str) -> Result<String, String> {
    let known = [
        "\"arm,gic-v3\"",
        "\"arm,cortex-a15-gic\"",
        "\"arm,gic-400\"",
    ];
    let mut hits = 0;
    let out: Vec<String> = dts
        .lines()
        .map(|l| {
            let t = l.trim();
            if known.iter().any(|k| t == format!("compatible = {k};")) {
                hits += 1;
                let indent: String = l.chars().take_while(|c| c.is_whitespace()).collect();
                format!("{indent}compatible = \"{new_compat}\";")
            } else {
                l.to_string()
            }
        })
        .collect();
    if hits != 1 {
        return Err(format!(
            "expected exactly one GIC compatible in the DTS, found {hits}"
        ));
    }
    Ok(out.join("\n") + "\n")
}

/// Changes the compatible of the node `/chosen/stdout-path` refers to.
pub fn dts_unknown_console(dts: &str, new_compat: &str) -> Result<String, String> {
    let mut path =
        get_node_string(dts, "chosen", "stdout-path").ok_or("no /chosen/stdout-path in the DTS")?;
    if let Some((p, _opts)) = path.split_once(':') {
        path = p.to_string();
    }
    if !path.starts_with('/') {
        path = get_node_string(dts, "aliases", &path)
            .ok_or(format!("stdout-path alias `{path}` not found"))?;
    }
    let node = path.rsplit('/').next().unwrap_or(&path).to_string();
    set_node_prop(dts, &node, "compatible", &format!("\"{new_compat}\""))
}

/// Sets the `reg` (MPIDR) of cpu node `cpu@N`.
pub fn dts_cpu_reg(dts: &str, cpu_node: &str, mpidr: u64) -> Result<String, String> {
    set_node_prop(dts, cpu_node, "reg", &format!("<{mpidr:#x}>"))
}

/// Adds `bootargs = "ARGS";` to `/chosen` (QEMU's dump has none: it adds them only with -append).
pub fn dts_with_bootargs(dts: &str, args: &str) -> Result<String, String> {
    if args.contains('"') || args.contains('\\') {
        return Err(format!("bootargs `{args}`: no quotes or backslashes"));
    }
    let mut lines: Vec<String> = dts.lines().map(String::from).collect();
    let (open, _close) = node_lines(&lines, "chosen").ok_or("no node `chosen` in the DTS")?;
    if get_node_string(dts, "chosen", "bootargs").is_some() {
        return set_node_prop(dts, "chosen", "bootargs", &format!("\"{args}\""));
    }
    lines.insert(open + 1, format!("\t\tbootargs = \"{args}\";"));
    Ok(lines.join("\n") + "\n")
}

/// QEMU's DTB for `cfg` with `/chosen/bootargs` set, written to `dir/bootargs.dtb`.
pub fn dtb_with_bootargs(cfg: &BootConfig, args: &str, dir: &Path) -> Result<Vec<u8>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let orig = dir.join("qemu.dtb");
    dump_dtb(cfg, &orig)?;
    let dts = dts_with_bootargs(&decompile(&orig)?, args)?;
    let out = dir.join("bootargs.dtb");
    compile(&dts, &dir.join("bootargs.dts"), &out)?;
    std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootargs_into_chosen() {
        let dts = "/ {\n\tchosen {\n\t\tstdout-path = \"/pl011@9000000\";\n\t};\n};\n";
        let out = dts_with_bootargs(dts, "test").unwrap();
        assert!(
            out.contains("\tchosen {\n\t\tbootargs = \"test\";\n"),
            "{out}"
        );
        let again = dts_with_bootargs(&out, "stress").unwrap();
        assert!(again.contains("bootargs = \"stress\";") && !again.contains("\"test\""));
        assert!(dts_with_bootargs(dts, "a\"b").is_err());
        assert!(dts_with_bootargs("/ {\n};\n", "test").is_err());
    }

    const DTS: &str = r#"/dts-v1/;

/ {
	#address-cells = <0x02>;
	compatible = "linux,dummy-virt";

	pl011@9000000 {
		clock-names = "uartclk\0apb_pclk";
		compatible = "arm,pl011\0arm,primecell";
		reg = <0x00 0x9000000 0x00 0x1000>;
	};

	intc@8000000 {
		compatible = "arm,gic-v3";
		interrupt-controller;

		its@8080000 {
			compatible = "arm,gic-v3-its";
		};
	};

	cpus {
		cpu@0 {
			compatible = "arm,arm-v8";
			reg = <0x00>;
		};

		cpu@1 {
			compatible = "arm,arm-v8";
			reg = <0x01>;
		};
	};

	chosen {
		stdout-path = "/pl011@9000000";
	};
};
"#;

    #[test]
    fn dts_edits() {
        let d = dts_unknown_intc(DTS, "acme,foo-intc").unwrap();
        assert!(d.contains("\t\tcompatible = \"acme,foo-intc\";"));
        assert!(d.contains("\"arm,gic-v3-its\""));
        let d = dts_unknown_console(DTS, "acme,uart").unwrap();
        assert!(d.contains("compatible = \"acme,uart\";"));
        assert!(!d.contains("arm,pl011"));
        let d = dts_cpu_reg(DTS, "cpu@1", 0xff00).unwrap();
        assert!(d.contains("reg = <0xff00>;"));
        assert!(d.contains("reg = <0x00>;"));
        assert!(dts_cpu_reg(DTS, "cpu@7", 1).is_err());
    }
}
