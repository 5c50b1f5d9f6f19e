//! Cross-core ping-pong: every core sends a ball to the next core (a task spawned on that
//! core's context) and waits for it to come back (the join handle wakes the sender's task
//! from the other core).

use kernel::api::*;
use kernel::println;

const ROUNDS: u32 = 50;

async fn pong(ball: u32) -> (u32, usize) {
    (ball + 1, this_core())
}
task_pool!(static PONG: pong, 16);

async fn server(from: usize, to: usize) -> u64 {
    let start = now();
    for round in 0..ROUNDS {
        let ctx = context(to).expect("online");
        let handle = loop {
            match PONG.spawn(ctx, pong(round)) {
                Ok(h) => break h,
                // Other servers hold slots: yield a moment and retry.
                Err(SpawnError::PoolFull) => sleep(us(50)).await,
                Err(e) => exit_fail(format_args!("ping-pong spawn: {}", e)),
            }
        };
        let (ball, on) = handle.await;
        if ball != round + 1 || on != to {
            exit_fail(format_args!(
                "ping-pong {}->{}: got {} from core {}",
                from, to, ball, on
            ));
        }
    }
    now() - start
}
task_pool!(static SERVER: server, BATCH);

/// A joined task's slot is freed by its owner core just after it wakes the joiner (the
/// output is read first), so the previous batch's last slot can still be in teardown when
/// the next batch starts: retry a bounded number of times, then fail (a leak, not a race).
async fn spawn_server(from: usize, to: usize) -> JoinHandle<u64> {
    for _ in 0..1000 {
        match SERVER.spawn(context(from).expect("online"), server(from, to)) {
            Ok(h) => return h,
            Err(SpawnError::PoolFull) => sleep(us(50)).await,
            Err(e) => exit_fail(format_args!("ping-pong: {}", e)),
        }
    }
    exit_fail(format_args!(
        "ping-pong: task pool full for 50 ms after the last join"
    ))
}

/// Servers run at once (the pools are static): more cores are played in batches.
const BATCH: usize = 16;

pub async fn run(cores: usize) {
    for first in (0..cores).step_by(BATCH) {
        let mut handles: heapless::Vec<(usize, JoinHandle<u64>), BATCH> = heapless::Vec::new();
        for from in first..(first + BATCH).min(cores) {
            let to = (from + 1) % cores;
            let h = spawn_server(from, to).await;
            let _ = handles.push((from, h));
        }
        for (from, h) in handles {
            let ticks = h.await;
            println!(
                "ping-pong: core {} -> core {}: {} round trips, {} us each",
                from,
                (from + 1) % cores,
                ROUNDS,
                ticks_to_us(ticks) / ROUNDS as u64
            );
        }
    }
}
