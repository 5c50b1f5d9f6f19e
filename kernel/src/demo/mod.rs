//! The demo's steps, one file each.

mod bh_irq;
#[cfg(feature = "virtio")]
pub mod blk;
#[cfg(feature = "virtio")]
pub mod blk_bench;
mod echo;
mod ping_pong;
#[cfg(feature = "serve")]
mod serve;
mod timers;
mod workers;

use kernel::api::*;
use kernel::println;

task_pool!(pub static MAIN: run, 1);

pub async fn run() {
    if has_bootarg("serve") {
        // Serves until QEMU is stopped: no `exit:` line.
        #[cfg(feature = "serve")]
        return serve::run().await;
        #[cfg(not(feature = "serve"))]
        exit_fail(format_args!("serve: built without feature `serve`"));
    }
    let cores = cores_online();
    println!("demo: {} core(s), {} ticks/s", cores, ticks_per_second());
    ping_pong::run(cores).await;
    bh_irq::run().await;
    timers::run(cores).await;
    workers::run(cores).await;
    if has_bootarg("interactive") {
        echo::run().await;
    }
    print_stats();
    exit_ok()
}
