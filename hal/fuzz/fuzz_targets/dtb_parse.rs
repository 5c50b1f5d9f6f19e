//! `cargo +nightly fuzz run dtb_parse --target x86_64-unknown-linux-gnu`: any input must
//! give Ok or Err from `Platform::parse`, and the full report must render, without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::fmt::Write;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = hal::dtb::Platform::parse(data) {
        let mut s = String::new();
        let _ = write!(s, "{}", hal::dtb::Report(&p));
    }
});
