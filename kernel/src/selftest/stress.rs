//! `stress` on the command line: a token passed around a ring of tasks, one per core, for a
//! fixed number of hops. Every hop wakes a task on another core that is usually asleep in
//! WFE/WFI, so it runs the whole notify path (fence, `notify_me`, the SGI kick) each time.
//! A watchdog on core 0 fails the run if the token stops moving for [`STALL_MS`]: a lost
//! wakeup leaves the receiving core asleep forever, since nothing else would wake it.
//!
//! Kernel mutants (`--cfg aiolos_mutant="..."`, built by the harness) must make this fail.

use crate::api::*;
use crate::boot::layout::MAX_CPUS;
use crate::println;
use core::sync::atomic::{AtomicU64, Ordering};

const HOPS_PER_CORE: u64 = 5_000;
const STALL_MS: u64 = 3_000;

static TOKEN: [Signal; MAX_CPUS] = [const { Signal::new() }; MAX_CPUS];
/// Hops made so far (the watchdog's view of progress).
static HOPS: AtomicU64 = AtomicU64::new(0);

async fn member(core: usize, cores: usize, total: u64) {
    loop {
        TOKEN[core].wait().await;
        // Relaxed: a progress counter; the token (Signal) orders the hops themselves.
        let hop = HOPS.fetch_add(1, Ordering::Relaxed) + 1;
        if hop >= total {
            return;
        }
        TOKEN[(core + 1) % cores].raise();
    }
}
task_pool!(static MEMBERS: member, 16);

async fn watchdog(total: u64) {
    let start = now();
    let mut last = 0;
    let mut last_change = now();
    loop {
        sleep(ms(50)).await;
        // Relaxed: progress sampling only.
        let hops = HOPS.load(Ordering::Relaxed);
        if hops >= total {
            let t = now() - start;
            println!(
                "stress: {} hops around {} cores in {} ms, {} us per hop",
                hops,
                cores_online(),
                ticks_to_us(t) / 1000,
                ticks_to_us(t) / hops.max(1)
            );
            print_stats();
            exit_ok();
        }
        if hops != last {
            last = hops;
            last_change = now();
        } else if now() - last_change > ms(STALL_MS) {
            print_stats();
            exit_fail(format_args!(
                "lost wakeup: the token stopped after {} of {} hops ({} ms without progress)",
                hops, total, STALL_MS
            ));
        }
    }
}
task_pool!(static WATCHDOG: watchdog, 1);

pub fn start() {
    let cores = cores_online();
    if cores < 2 {
        println!("stress: needs at least 2 cores; nothing to do");
        exit_ok();
    }
    let total = HOPS_PER_CORE * cores as u64;
    for core in 0..cores {
        if MEMBERS
            .spawn(context(core).expect("online"), member(core, cores, total))
            .is_err()
        {
            exit_fail(format_args!(
                "stress: cannot spawn ring member on core {}",
                core
            ));
        }
    }
    if WATCHDOG.spawn(this_context(), watchdog(total)).is_err() {
        exit_fail(format_args!("stress: cannot spawn the watchdog"));
    }
    // Start the token on core 1, so core 0 (watchdog) is never the only one moving.
    TOKEN[1].raise();
}
