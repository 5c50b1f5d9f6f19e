//! `cargo xtask new-app DIR`: a standalone aiolos application crate from `template/` (the
//! README's "Writing an application" example, the link setup and a runner that boots it in
//! QEMU through this checkout's harness), and `cargo xtask new-app --test`: generate one in a
//! temporary directory outside the workspace, build it, boot it, and `cargo run` it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use crate::boot::qemu::BootConfig;
use crate::boot::verdict::{self, Expect};
use crate::util;

pub const HELP: &str = "\
usage: cargo xtask new-app [--name NAME] DIR
       cargo xtask new-app --test [--keep]

Creates DIR (which must not exist or be empty) holding a standalone aiolos application:
  Cargo.toml           depends on this checkout's runtime crate by path
                       (package `aiolos`, library `kernel`)
  .cargo/config.toml   target aarch64-unknown-none, the link setup (-Taiolos.ld and the
                       position-independence flags) and a runner that boots the ELF in QEMU
                       through this checkout's harness
  rust-toolchain.toml  the toolchain aiolos is pinned to
  src/main.rs          the README's \"Writing an application\" example
  README.md
Then: cd DIR && cargo run [-- --smp N --gic 2|3 --el 1|2 --accel tcg|kvm|auto ...]

options:
  --name NAME   package name (default: DIR's last component); letters, digits, `-`, `_`
  --test        generate an application in a temporary directory outside the workspace,
                build it, boot it under QEMU (expects `exit: ok`), then `cargo run` it
  --keep        with --test: keep the temporary directory";

/// The template, compiled in so that the harness binary is all `new-app` needs. The
/// toolchain file is the workspace's own, so an application uses the pinned toolchain.
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../template/Cargo.toml")),
    (
        ".cargo/config.toml",
        include_str!("../../template/.cargo/config.toml"),
    ),
    ("src/main.rs", include_str!("../../template/src/main.rs")),
    ("README.md", include_str!("../../template/README.md")),
    (".gitignore", include_str!("../../template/.gitignore")),
    (
        "rust-toolchain.toml",
        include_str!("../../rust-toolchain.toml"),
    ),
];

/// Names that cannot be the application's package: the runtime's own package and library
/// names (the dependency would clash) and the names Cargo or rustc reserve.
const RESERVED: &[&str] = &[
    "aiolos",
    "kernel",
    "core",
    "std",
    "alloc",
    "test",
    "proc_macro",
    "self",
    "crate",
    "super",
];

/// Checks a package name: ASCII letter first, then letters, digits, `-`, `_`.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!(
            "`{name}` is not a package name (an ASCII letter, then letters, digits, `-`, `_`); \
             pass --name NAME"
        ));
    }
    if RESERVED.contains(&name.replace('-', "_").as_str()) {
        return Err(format!("`{name}` is reserved; pass --name NAME"));
    }
    Ok(())
}

/// `s` as a TOML basic string, quotes included.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One template file with its placeholders filled in: `{{name}}`, `{{aiolos}}` (the checkout's
/// root, TOML-escaped inside TOML strings), `{{runner}}` (a TOML string).
pub fn render(file: &str, text: &str, name: &str, aiolos: &str) -> String {
    let is_toml = file.ends_with(".toml");
    let root = if is_toml {
        // Inside "...": the escaped string without its quotes.
        let q = toml_string(aiolos);
        q[1..q.len() - 1].to_string()
    } else {
        aiolos.to_string()
    };
    let runner = toml_string(&format!("{aiolos}/tests-qemu/runner.sh"));
    text.replace("{{name}}", name)
        .replace("{{aiolos}}", &root)
        .replace("{{runner}}", &runner)
}

/// Writes the application crate into `dir` (created; refused when it exists and is not empty).
pub fn generate(dir: &Path, name: &str) -> Result<(), String> {
    check_name(name)?;
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e} (not a directory?)", dir.display()))?;
        if entries.next().is_some() {
            return Err(format!("{} exists and is not empty", dir.display()));
        }
    }
    let root = util::workspace_root();
    let aiolos = root
        .to_str()
        .ok_or_else(|| format!("{}: not a UTF-8 path", root.display()))?;
    for (file, text) in FILES {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, render(file, text, name, aiolos))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

pub fn cmd(args: &[String]) -> ExitCode {
    let mut name = None;
    let mut dir = None;
    let (mut test, mut keep) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                return ExitCode::SUCCESS;
            }
            "--test" => test = true,
            "--keep" => keep = true,
            "--name" => match it.next() {
                Some(n) => name = Some(n.clone()),
                None => return usage_error("--name needs a value"),
            },
            s if s.starts_with("--name=") => name = Some(s["--name=".len()..].to_string()),
            s if s.starts_with('-') => return usage_error(&format!("unknown option `{s}`")),
            s if dir.is_none() => dir = Some(PathBuf::from(s)),
            s => return usage_error(&format!("unexpected argument `{s}`")),
        }
    }
    if test {
        if dir.is_some() || name.is_some() {
            return usage_error("--test takes no DIR or --name");
        }
        return self_test(keep);
    }
    if keep {
        return usage_error("--keep goes with --test");
    }
    let Some(dir) = dir else {
        return usage_error("missing DIR");
    };
    let name = match name {
        Some(n) => n,
        None => match dir.file_name().and_then(|n| n.to_str()) {
            Some(n) => n.to_string(),
            None => return usage_error(&format!("cannot take a name from `{}`", dir.display())),
        },
    };
    match generate(&dir, &name) {
        Ok(()) => {
            println!("created application `{name}` in {}", dir.display());
            println!(
                "next: cd {} && cargo run",
                util::shell_quote(&dir.display().to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("new-app: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("new-app: {msg}\n\n{HELP}");
    ExitCode::from(2)
}

/// Cargo in the generated crate, with nothing inherited that would override its own
/// configuration (rustflags, target, target directory).
fn app_cargo(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(args).current_dir(dir);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// The template as an application named `name`, generated afresh in `dir` and built with
/// `cargo build --release` in `target_dir`: `cargo xtask bench`'s smallest real
/// application (its Image size). Progress goes to stderr. Returns the ELF.
pub fn build_template(dir: &Path, name: &str, target_dir: &Path) -> Result<PathBuf, String> {
    let _ = std::fs::remove_dir_all(dir);
    generate(dir, name)?;
    let mut cmd = app_cargo(dir, &["build", "--release"]);
    cmd.env("CARGO_TARGET_DIR", target_dir);
    eprintln!("{}", util::display_command(&cmd));
    let c = util::run_captured(&mut cmd, Duration::from_secs(1200))
        .map_err(|e| format!("template build: cannot run cargo: {e}"))?;
    if !c.success() {
        return Err(format!(
            "template build: exit status {:?}{}\n{}",
            c.code,
            if c.timed_out { ", timed out" } else { "" },
            util::tail(&c.stderr, 40)
        ));
    }
    let elf = target_dir.join("aarch64-unknown-none/release").join(name);
    if !elf.exists() {
        return Err(format!("{} was not produced", elf.display()));
    }
    Ok(elf)
}

fn run_ok(what: &str, cmd: &mut Command, timeout_s: u64) -> Result<util::Captured, String> {
    println!("==> {what}: {}", util::display_command(cmd));
    let c = util::run_captured(cmd, Duration::from_secs(timeout_s))
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    let out = || util::tail(&format!("{}{}", c.stdout, c.stderr), 40);
    if c.timed_out {
        return Err(format!("{what}: timed out after {timeout_s}s\n{}", out()));
    }
    if !c.success() {
        return Err(format!(
            "{what}: exit status {}\n{}",
            c.code.unwrap_or(-1),
            out()
        ));
    }
    Ok(c)
}

/// What a run of the template prints on `smp` cores, besides `exit: ok`.
fn template_expect(smp: u32) -> Expect {
    let mut e = Expect::ok(smp);
    e.log_contains = vec![
        format!("hello from core {}", smp - 1),
        format!("greeted {smp} cores"),
    ];
    e
}

fn self_test(keep: bool) -> ExitCode {
    let base = std::env::temp_dir().join(format!("aiolos-new-app-{}", std::process::id()));
    let result = self_test_in(&base);
    match &result {
        Ok(()) if !keep => {
            let _ = std::fs::remove_dir_all(&base);
        }
        _ => println!("(application kept in {})", base.display()),
    }
    match result {
        Ok(()) => {
            println!("new-app: ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("new-app: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn self_test_in(base: &Path) -> Result<(), String> {
    let root = util::workspace_root();
    if base.starts_with(&root) {
        return Err(format!(
            "{} is inside the workspace {}; set TMPDIR elsewhere",
            base.display(),
            root.display()
        ));
    }
    let _ = std::fs::remove_dir_all(base);
    let name = "hello-aiolos";
    let dir = base.join(name);
    generate(&dir, name)?;
    println!("==> generated {}", dir.display());

    run_ok("build", &mut app_cargo(&dir, &["build", "--release"]), 1200)?;
    // The README's example is warning-free, as an application author would want it.
    run_ok(
        "clippy",
        &mut app_cargo(&dir, &["clippy", "--release", "--", "-D", "warnings"]),
        900,
    )?;
    let elf = dir.join("target/aarch64-unknown-none/release").join(name);
    if !elf.exists() {
        return Err(format!("{} was not produced", elf.display()));
    }

    // Boot the ELF as the harness boots the demo.
    let cfg = BootConfig::default();
    let mut boot = cfg.command(&elf, true);
    println!("==> boot: {}", util::display_command(&boot));
    let cap = util::run_captured(&mut boot, Duration::from_secs(120))
        .map_err(|e| format!("boot: cannot run QEMU: {e}"))?;
    let code = if cap.timed_out { None } else { cap.code };
    verdict::check(&cap.stdout, code, &template_expect(cfg.smp))
        .map_err(|e| format!("boot: {e}\n{}", util::tail(&cap.stdout, 40)))?;

    // `cargo run` through the runner, with boot options passed on.
    let smp = 2;
    let run = run_ok(
        "cargo run",
        &mut app_cargo(
            &dir,
            &[
                "run",
                "--release",
                "--",
                "--smp",
                &smp.to_string(),
                "--gic",
                "2",
                "--el",
                "2",
            ],
        ),
        600,
    )?;
    // The runner prints QEMU's command line first; the guest's console follows.
    if !run.stdout.contains("gic-version=2") {
        return Err(format!(
            "cargo run: the options did not reach QEMU (no `gic-version=2`)\n{}",
            util::tail(&run.stdout, 40)
        ));
    }
    verdict::check(&run.stdout, run.code, &template_expect(smp))
        .map_err(|e| format!("cargo run: {e}\n{}", util::tail(&run.stdout, 40)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `rustflags = [...]` block of a `.cargo/config.toml`, comments dropped.
    fn rustflags(config: &str) -> Vec<String> {
        let start = config.find("rustflags = [").expect("a rustflags block");
        let body = &config[start..];
        let end = body.find(']').expect("closing bracket");
        body[..end]
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    #[test]
    fn template_link_setup_is_the_workspaces() {
        let workspace = rustflags(include_str!("../../.cargo/config.toml"));
        let template = rustflags(include_str!("../../template/.cargo/config.toml"));
        assert!(workspace.iter().any(|l| l.contains("-Taiolos.ld")));
        assert_eq!(workspace, template);
        // Negative control: a template that dropped a flag is told apart.
        let mut broken = template.clone();
        broken.retain(|l| !l.contains("-pie"));
        assert_ne!(workspace, broken);
    }

    /// The first ```rust block after `heading` in `markdown`.
    fn rust_block_after<'a>(markdown: &'a str, heading: &str) -> &'a str {
        let section = &markdown[markdown.find(heading).expect("heading")..];
        let start = section.find("```rust\n").expect("a rust block") + "```rust\n".len();
        let len = section[start..].find("```").expect("block end");
        &section[start..start + len]
    }

    #[test]
    fn readme_example_is_the_template() {
        let readme = include_str!("../../README.md");
        let shown = rust_block_after(readme, "## Writing an application");
        assert_eq!(shown, include_str!("../../template/src/main.rs"));
    }

    #[test]
    fn render_fills_every_placeholder() {
        for (file, text) in FILES {
            let out = render(file, text, "app", "/some/where \"x\\y\"");
            assert!(!out.contains("{{"), "{file}: placeholder left");
        }
        let cfg = render(
            ".cargo/config.toml",
            include_str!("../../template/.cargo/config.toml"),
            "app",
            "/a \"b\"",
        );
        assert!(cfg.contains(r#"runner = ["/a \"b\"/tests-qemu/runner.sh"]"#));
        let cargo = render(
            "Cargo.toml",
            include_str!("../../template/Cargo.toml"),
            "my-app",
            "/r",
        );
        assert!(cargo.contains("name = \"my-app\""));
        assert!(cargo.contains(r#"path = "/r/kernel""#));
    }

    #[test]
    fn names() {
        assert!(check_name("hello-aiolos").is_ok());
        assert!(check_name("a_1").is_ok());
        for bad in ["", "1app", "my app", "kernel", "aiolos", "core", "-x", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn refuses_a_non_empty_dir() {
        let base = std::env::temp_dir().join(format!("aiolos-new-app-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        // Empty: accepted.
        generate(&base, "app").unwrap();
        assert!(base.join("src/main.rs").exists());
        assert!(base.join("rust-toolchain.toml").exists());
        // Now not empty: refused, and nothing is overwritten.
        std::fs::write(base.join("src/main.rs"), "mine").unwrap();
        let err = generate(&base, "app").unwrap_err();
        assert!(err.contains("not empty"), "{err}");
        assert_eq!(
            std::fs::read_to_string(base.join("src/main.rs")).unwrap(),
            "mine"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
