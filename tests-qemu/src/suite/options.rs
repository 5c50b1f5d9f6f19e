//! `cargo xtask test`'s options.

use std::path::PathBuf;
use std::time::Duration;

pub struct Options {
    pub quick: bool,
    pub filters: Vec<String>,
    pub jobs: usize,
    pub timeout: Duration,
    /// Boot this ELF instead of building the kernel.
    pub kernel: Option<PathBuf>,
    /// Print the selected checks and boots, run nothing.
    pub list: bool,
}

pub const HELP: &str =
    "  --quick             reduced matrix (smp 1,4; cpu max) + all bad-input cases; no KVM checks
  --filter SUBSTR     only checks/boots whose name contains SUBSTR (repeatable: any matches)
  --jobs N            parallel QEMU boots (default 3)
  --timeout SECS      per-boot timeout (default 60)
  --kernel PATH       boot this ELF instead of building the kernel (no build-kernel step)
  --list              print the names of the selected checks and boots, run nothing";

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        filters: Vec::new(),
        jobs: 3,
        timeout: Duration::from_secs(60),
        kernel: None,
        list: false,
    };
    let mut args = crate::args::Args::new(args);
    while let Some(k) = args.next_key() {
        match k {
            "--" => {}
            "--quick" => o.quick = true,
            "--list" => o.list = true,
            "--kernel" => o.kernel = Some(PathBuf::from(args.value()?)),
            "--filter" => o.filters.push(args.value()?),
            "--jobs" | "-j" => {
                o.jobs = args.value()?.parse().map_err(|_| "--jobs: not a number")?
            }
            "--timeout" => {
                o.timeout = Duration::from_secs(
                    args.value()?
                        .parse()
                        .map_err(|_| "--timeout: not a number")?,
                )
            }
            _ => return Err(format!("unknown option `{k}`")),
        }
    }
    o.jobs = o.jobs.max(1);
    Ok(o)
}

impl Options {
    pub fn selected(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = parse(&[
            "--quick".into(),
            "--filter=gic2".into(),
            "-j".into(),
            "2".into(),
        ])
        .unwrap();
        assert!(o.quick && o.jobs == 2);
        assert!(o.selected("gic2-el1") && !o.selected("gic3-el1"));
        assert!(parse(&["--nope".into()]).is_err());
    }
}
