//! The demo unikernel that `cargo run` boots: on all cores, a cross-core ping-pong, a bottom
//! half scheduled from an interrupt, timers of several lengths and a worker-pool offload;
//! with `interactive` on the command line, an echo of console input. It ends with the
//! per-core statistics table and `exit: ok`. `blk-test` and `blk-bench` need feature `virtio`,
//! `serve` feature `serve` (all in the package's defaults); a build without them says so and
//! fails.
//! (The guest benchmarks of `cargo xtask bench` are the package's second binary,
//! `demo/bench.rs`.)
#![no_std]
#![no_main]

#[cfg(feature = "heap")]
extern crate alloc;

mod demo;

use kernel::api::*;

kernel::entry!(main);

fn main() {
    if kernel::selftest::requested() {
        kernel::selftest::start();
        return;
    }
    if has_bootarg("blk-test") {
        #[cfg(feature = "virtio")]
        return demo::blk::start();
        #[cfg(not(feature = "virtio"))]
        exit_fail(format_args!("blk-test: built without feature `virtio`"));
    }
    if bootarg("blk-bench").is_some() {
        #[cfg(feature = "virtio")]
        return demo::blk_bench::start();
        #[cfg(not(feature = "virtio"))]
        exit_fail(format_args!("blk-bench: built without feature `virtio`"));
    }
    if demo::MAIN.spawn(this_context(), demo::run()).is_err() {
        exit_fail(format_args!("cannot spawn the demo task"));
    }
}
