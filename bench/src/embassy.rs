//! The workloads on embassy-executor 0.10 (`platform-std`): a fresh `Executor` per sample
//! (its `run_until` needs `&'static mut`; construction is outside the timed part), tasks in
//! the `#[task]` macro's static pools.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use embassy_executor::{Executor, Spawner};

use crate::work::{self, Cross};
use crate::Workload;

/// The driver's result and the executor's stop flag.
struct Out {
    done: AtomicBool,
    value: Mutex<Option<Duration>>,
}

static OUT: Out = Out {
    done: AtomicBool::new(false),
    value: Mutex::new(None),
};
static FINISHED: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);

fn put(d: Option<Duration>) {
    *OUT.value.lock().unwrap() = d;
}

#[embassy_executor::task]
async fn self_wake(n: u64) {
    put(Some(work::self_wake(n).await));
    finish();
}

#[embassy_executor::task]
async fn spawner_task(spawner: Spawner, batch: u64, total: u64) {
    let spawn = |done: &'static AtomicU64| spawner.spawn(child(done).expect("a free slot"));
    put(Some(work::spawn_batches(batch, total, &DONE, spawn).await));
    finish();
}

#[embassy_executor::task(pool_size = 1000)]
async fn child(done: &'static AtomicU64) {
    work::child(done).await
}

#[embassy_executor::task]
async fn receiver(x: &'static Cross, n: u64) {
    work::receiver(x, n).await;
    finish();
}

#[embassy_executor::task]
async fn busy(x: &'static Cross) {
    work::busy(x).await;
    finish();
}

#[embassy_executor::task(pool_size = 64)]
async fn member(x: &'static Cross, i: usize, rounds: u64) {
    work::member(x, i, rounds).await;
    finish();
}

/// A task ended: counted, the executor stops when all its tasks have.
fn finish() {
    // Relaxed: read on the same thread by `run_until`'s `done` closure.
    FINISHED.fetch_add(1, Ordering::Relaxed);
}

/// Runs a fresh executor until `tasks` tasks spawned by `init` have finished.
fn run_tasks(tasks: u64, init: impl FnOnce(Spawner)) {
    // Relaxed: single thread.
    FINISHED.store(0, Ordering::Relaxed);
    OUT.done.store(false, Ordering::Relaxed);
    let ex: &'static mut Executor = Box::leak(Box::new(Executor::new()));
    ex.run_until(init, || FINISHED.load(Ordering::Relaxed) >= tasks);
}

pub fn run(w: Workload) -> Duration {
    match w {
        Workload::SelfWake { n } => {
            run_tasks(1, |s| s.spawn(self_wake(n).expect("slot")));
            OUT.value.lock().unwrap().take().expect("result")
        }
        Workload::Spawn { batch, total } => {
            run_tasks(1, |s| s.spawn(spawner_task(s, batch, total).expect("slot")));
            OUT.value.lock().unwrap().take().expect("result")
        }
        Workload::Cross { n, busy: b } => {
            let x = Cross::new(1);
            let t = work::sender(x, n);
            run_tasks(1 + b as u64, |s| {
                if b {
                    s.spawn(busy(x).expect("slot"));
                }
                s.spawn(receiver(x, n).expect("slot"));
            });
            t.join().expect("sender")
        }
        Workload::FanIn { fan, rounds } => {
            let x = Cross::new(fan as usize);
            let t = work::fan_sender(x, rounds);
            run_tasks(fan, |s| {
                for i in 0..fan as usize {
                    s.spawn(member(x, i, rounds).expect("slot"));
                }
            });
            t.join().expect("sender")
        }
    }
}
