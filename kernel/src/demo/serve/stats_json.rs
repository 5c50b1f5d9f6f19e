//! The JSON body of `GET /stats`: one object per core, each a list of named counters.
//!
//! Pure `core` (host-tested like `http.rs`, through `tests-qemu/src/main.rs`). The caller
//! names the fields (`serve/pages.rs` takes them from `kernel::api::core_stats`), so this
//! file only knows JSON:
//!
//! ```text
//! {"ticks_per_us":62,"cores":[{"core":0,"kicks":3,...},{"core":1,...}]}
//! ```

use core::fmt::{self, Write};

/// Writes the document; `cores` yields each core's index and its `(name, value)` fields.
/// Names are written as given: they must be plain identifiers (no quotes or backslashes).
pub fn write<'a, F: AsRef<[(&'a str, u64)]>>(
    out: &mut impl Write,
    ticks_per_us: u64,
    cores: impl IntoIterator<Item = (usize, F)>,
) -> fmt::Result {
    write!(out, "{{\"ticks_per_us\":{ticks_per_us},\"cores\":[")?;
    for (i, (core, fields)) in cores.into_iter().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        write!(out, "{{\"core\":{core}")?;
        for (name, value) in fields.as_ref() {
            debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            write!(out, ",\"{name}\":{value}")?;
        }
        out.write_char('}')?;
    }
    out.write_str("]}\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_cores() {
        let a: &[(&str, u64)] = &[("kicks", 3), ("p99", 40)];
        let b: &[(&str, u64)] = &[("kicks", 0), ("p99", 7)];
        let mut s = String::new();
        super::write(&mut s, 62, [(0, a), (3, b)]).unwrap();
        assert_eq!(
            s,
            "{\"ticks_per_us\":62,\"cores\":[{\"core\":0,\"kicks\":3,\"p99\":40},{\"core\":3,\"kicks\":0,\"p99\":7}]}\n"
        );
        let mut s = String::new();
        super::write::<[(&str, u64); 0]>(&mut s, 1, []).unwrap();
        assert_eq!(s, "{\"ticks_per_us\":1,\"cores\":[]}\n");
    }
}
