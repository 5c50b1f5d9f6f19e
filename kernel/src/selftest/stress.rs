//! `stress` on the command line: a token passed around a ring of tasks, one per core, for a
//! fixed number of hops. Every hop wakes a task on another core that is usually asleep in
//! WFE/WFI, so it runs the whole notify path (fence, `notify_me`, the SGI kick) each time.
//! A watchdog on core 0 fails the run if the token stops moving for [`STALL_MS`]: a lost
//! wakeup leaves the receiving core asleep forever, since nothing else would wake it.
//!
//! Then every core but 0 runs a storm of very short sleeps (1–32 us) with nothing else going
//! on: each arms the virtual timer just ahead of now, the window where a timer interrupt
//! handled before the WFI (and so disarmed) would leave the core asleep for good.
//!
//! Kernel mutants (`--cfg aiolos_mutant="..."`, built by the harness) must make this fail.

use crate::api::*;
use crate::boot::layout::MAX_CPUS;
use crate::println;
use core::sync::atomic::{AtomicU64, Ordering};

const HOPS_PER_CORE: u64 = 5_000;
const NAPS_PER_CORE: u64 = 1_000;
const STALL_MS: u64 = 3_000;

static TOKEN: [Signal; MAX_CPUS] = [const { Signal::new() }; MAX_CPUS];
/// Hops made so far (the watchdog's view of progress).
static HOPS: AtomicU64 = AtomicU64::new(0);
/// Short sleeps finished so far, all cores.
static NAPS: AtomicU64 = AtomicU64::new(0);

async fn napper(core: usize) {
    for i in 0..NAPS_PER_CORE {
        sleep(us(1 + (i * 7 + core as u64) % 32)).await;
        // Relaxed: a progress counter.
        NAPS.fetch_add(1, Ordering::Relaxed);
    }
}
task_pool!(static NAPPERS: napper, 16);

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
    let mut naps_started = false;
    loop {
        sleep(ms(50)).await;
        // Relaxed: progress sampling only.
        let hops = HOPS.load(Ordering::Relaxed);
        // Relaxed: progress sampling only.
        let naps = NAPS.load(Ordering::Relaxed);
        let all_naps = NAPS_PER_CORE * (cores_online() as u64 - 1);
        if hops >= total && !naps_started {
            naps_started = true;
            for core in 1..cores_online() {
                if NAPPERS
                    .spawn(context(core).expect("online"), napper(core))
                    .is_err()
                {
                    exit_fail(format_args!(
                        "stress: cannot spawn the napper on core {}",
                        core
                    ));
                }
            }
        }
        if hops >= total && naps >= all_naps {
            let t = now() - start;
            println!(
                "stress: {} hops around {} cores and {} short sleeps in {} ms",
                hops,
                cores_online(),
                naps,
                ticks_to_us(t) / 1000
            );
            print_stats();
            exit_ok();
        }
        if hops + naps != last {
            last = hops + naps;
            last_change = now();
        } else if now() - last_change > ms(STALL_MS) {
            print_stats();
            exit_fail(format_args!(
                "lost wakeup: no progress for {} ms ({} of {} hops, {} of {} short sleeps)",
                STALL_MS, hops, total, naps, all_naps
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
