//! Timers of several lengths on every core at once; reports how late each one woke.

use kernel::api::*;
use kernel::println;

const LENGTHS_US: [u64; 3] = [500, 2_000, 10_000];

async fn sleeper(length_us: u64) -> u64 {
    let start = now();
    sleep(us(length_us)).await;
    (now() - start).saturating_sub(us(length_us))
}
task_pool!(static SLEEPER: sleeper, 48);

pub async fn run(cores: usize) {
    for length in LENGTHS_US {
        let mut worst = 0;
        // The pool is static: more than 16 cores are timed 16 at a time.
        for first in (0..cores).step_by(16) {
            let mut handles: heapless::Vec<JoinHandle<u64>, 16> = heapless::Vec::new();
            for core in first..(first + 16).min(cores) {
                match SLEEPER.spawn(context(core).expect("online"), sleeper(length)) {
                    Ok(h) => {
                        let _ = handles.push(h);
                    }
                    Err(e) => exit_fail(format_args!("timers: {}", e)),
                }
            }
            for h in handles {
                worst = worst.max(h.await);
            }
        }
        println!(
            "timers: {} us on {} core(s): latest wakeup {} us after the deadline",
            length,
            cores,
            ticks_to_us(worst)
        );
    }
}
