//! Worker-pool offload: blocking jobs run on the other cores; each completion comes back to
//! the submitting core through a bottom half.

use kernel::api::*;
use kernel::println;

const JOBS: u64 = 8;
const WORK: u64 = 20_000;

/// A deliberately blocking job: a few thousand rounds of a hash.
fn crunch(seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..WORK {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

static WORKERS: spin::Once<heapless::Vec<&'static Context, 16>> = spin::Once::new();
static POOL: spin::Once<WorkerPool<u64, u64, 8>> = spin::Once::new();

fn pool(cores: usize) -> &'static WorkerPool<u64, u64, 8> {
    POOL.call_once(|| {
        let workers = WORKERS.call_once(|| {
            // Cores 1.. (at most 16) are workers; on one core, the core itself.
            (1..cores.max(2))
                .take(16)
                .map(|c| context(c.min(cores - 1)).expect("online"))
                .collect()
        });
        WorkerPool::new(workers)
    })
}

pub async fn run(cores: usize) {
    let pool = pool(cores);
    let start = now();
    let mut futures: heapless::Vec<_, 8> = heapless::Vec::new();
    for seed in 1..=JOBS {
        match pool.submit(this_context(), crunch, seed) {
            Ok(f) => {
                let _ = futures.push((seed, f));
            }
            Err(e) => exit_fail(format_args!("worker pool: {}", e)),
        }
    }
    for (seed, f) in futures {
        let got = f.await;
        if got != crunch(seed) {
            exit_fail(format_args!("worker job {} returned {:#x}", seed, got));
        }
    }
    println!(
        "workers: {} jobs on {} worker core(s), results checked, {} us",
        JOBS,
        cores.saturating_sub(1).max(1),
        ticks_to_us(now() - start)
    );
}
