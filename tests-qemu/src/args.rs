//! The option scanner every `cargo xtask` command shares: `--key value`, `--key=value`, flags
//! and positional words; a bare `--` is skipped (cargo's runner and `cargo run --` pass one).

/// Walks a command's arguments one option at a time.
pub struct Args<'a> {
    rest: std::slice::Iter<'a, String>,
    key: &'a str,
    inline: Option<&'a str>,
}

impl<'a> Args<'a> {
    pub fn new(args: &'a [String]) -> Self {
        Args {
            rest: args.iter(),
            key: "",
            inline: None,
        }
    }

    /// The next option (the `--key` of `--key=value`) or positional word.
    pub fn next_key(&mut self) -> Option<&'a str> {
        for a in self.rest.by_ref() {
            if a == "--" {
                continue;
            }
            let (key, inline) = match a.split_once('=') {
                Some((k, v)) if k.starts_with("--") => (k, Some(v)),
                _ => (a.as_str(), None),
            };
            self.key = key;
            self.inline = inline;
            return Some(key);
        }
        None
    }

    /// The current option's value: what follows `=`, else the next argument.
    pub fn value(&mut self) -> Result<String, String> {
        match self.inline.take() {
            Some(v) => Ok(v.to_string()),
            None => self
                .rest
                .next()
                .cloned()
                .ok_or(format!("{} needs a value", self.key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    #[test]
    fn keys_values_and_separators() {
        let v: Vec<String> = [
            "--", "--smp", "4", "--gic=2", "--quick", "file.dtb", "--mem",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut a = Args::new(&v);
        assert_eq!(a.next_key(), Some("--smp"));
        assert_eq!(a.value().unwrap(), "4");
        assert_eq!(a.next_key(), Some("--gic"));
        assert_eq!(a.value().unwrap(), "2");
        assert_eq!(a.next_key(), Some("--quick"));
        assert_eq!(a.next_key(), Some("file.dtb"));
        assert_eq!(a.next_key(), Some("--mem"));
        assert_eq!(a.value().unwrap_err(), "--mem needs a value");
        assert_eq!(a.next_key(), None);
    }
}
