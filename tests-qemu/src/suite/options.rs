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
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (k, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut val = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{k} needs a value"))
        };
        match k {
            "--" => {}
            "--quick" => o.quick = true,
            "--list" => o.list = true,
            "--kernel" => o.kernel = Some(PathBuf::from(val()?)),
            "--filter" => o.filters.push(val()?),
            "--jobs" | "-j" => o.jobs = val()?.parse().map_err(|_| "--jobs: not a number")?,
            "--timeout" => {
                o.timeout =
                    Duration::from_secs(val()?.parse().map_err(|_| "--timeout: not a number")?)
            }
            _ => return Err(format!("unknown option `{a}`")),
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
