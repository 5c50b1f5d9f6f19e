//! Host tests of the `serve` demo's pure code (`kernel/src/demo/serve/http.rs` and
//! `stats_json.rs`) and of the network's `ip=` parser (`kernel/src/net/config.rs`): the kernel package is target-only, so its tests run here, where the
//! workspace already runs host tests (`cargo test -p aiolos-hal --target host-tuple`). The
//! `tests` modules inside those files are the cases; this file adds a property: no input,
//! however broken, makes the parser panic, and a rejected head is never served.

#[path = "../../kernel/src/demo/serve/http.rs"]
#[allow(dead_code)]
mod http;
#[path = "../../kernel/src/net/config.rs"]
mod net_config;
#[path = "../../kernel/src/demo/serve/stats_json.rs"]
mod stats_json;

use proptest::prelude::*;

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), full: bool) {
        let _ = http::parse(&bytes, full);
    }

    #[test]
    fn a_full_buffer_always_gets_an_answer(line in "[A-Z]{1,8} /[a-z0-9/]{0,40}( HTTP/1\\.[01])?(\r\n[A-Za-z-]{1,10}: [a-z ]{0,20}){0,3}") {
        // `full` means no more bytes will fit: the parser must decide, never say Partial.
        prop_assert_ne!(http::parse(line.as_bytes(), true), http::Parsed::Partial);
    }
}
