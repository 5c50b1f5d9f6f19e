//! Link setup for every binary built on this crate, the way embedded runtimes provide it
//! (cortex-m-rt's `link.x`, aarch64-rt's `image.ld`): the linker script `link/aiolos.ld` is
//! copied into `OUT_DIR`, and `OUT_DIR` goes on the linker's search path of whatever crate
//! links against this one. An application then names the script with `-Taiolos.ld` in its
//! `.cargo/config.toml`, together with the position-independence flags (see README.md,
//! "Writing an application"); the in-tree demo binary uses the same lines
//! (`.cargo/config.toml` at the workspace root).
//!
//! A build script cannot pass `-T` or `-pie` to a *dependent* crate's link (Cargo's
//! `rustc-link-arg` only reaches this package's own targets), and `relocation-model=pie`
//! must reach the code generation of every crate, hence the rustflags block.

use std::path::PathBuf;
use std::{env, fs};

/// The name applications pass to the linker: `-C link-arg=-Taiolos.ld`.
const SCRIPT: &str = "aiolos.ld";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let src = manifest.join("link").join(SCRIPT);
    if let Err(e) = fs::copy(&src, out.join(SCRIPT)) {
        panic!("cannot copy {} into {}: {e}", src.display(), out.display());
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=link/{SCRIPT}");
    println!("cargo:rerun-if-changed=build.rs");
}
