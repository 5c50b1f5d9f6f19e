//! The workloads on embassy-executor 0.10 (`platform-std`): one `Executor` running forever on
//! its own thread (as an embassy application runs it), fed through a `SendSpawner`; tasks in
//! the `#[task]` macro's static pools. The bench thread waits on a condvar meanwhile.
//!
//! Not a fresh executor per sample: embassy marks a task woken while it is being polled as
//! run-queued even if that poll completes it, and clears the mark at the executor's next
//! poll; an executor dropped after its last task leaves such a slot busy for good.

use std::sync::atomic::AtomicU64;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use embassy_executor::{Executor, SendSpawner, SpawnError, SpawnToken};

use crate::work::{self, Cross};
use crate::Workload;

/// The driver's result.
static OUT: Mutex<Option<Duration>> = Mutex::new(None);
/// Tasks of the current sample that have finished, and its condvar.
static FINISHED: Mutex<u64> = Mutex::new(0);
static FINISHED_CV: Condvar = Condvar::new();
static DONE: AtomicU64 = AtomicU64::new(0);

fn put(d: Option<Duration>) {
    *OUT.lock().unwrap() = d;
}

fn take() -> Duration {
    OUT.lock().unwrap().take().expect("result")
}

#[embassy_executor::task]
async fn self_wake(n: u64) {
    put(Some(work::self_wake(n).await));
    finish();
}

#[embassy_executor::task]
async fn spawner_task(spawner: SendSpawner, batch: u64, total: u64) {
    // A `SendSpawner` (the executor's, made on its thread): `spawn` is the same raw spawn as
    // `Spawner`'s.
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

/// A task ended: counted; the bench thread waits for all of a sample's tasks.
fn finish() {
    *FINISHED.lock().unwrap() += 1;
    FINISHED_CV.notify_all();
}

/// The executor's thread, started once.
fn spawner() -> SendSpawner {
    static SPAWNER: OnceLock<SendSpawner> = OnceLock::new();
    *SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ex: &'static mut Executor = Box::leak(Box::new(Executor::new()));
            ex.run(|s| tx.send(s.make_send()).expect("the bench thread waits"))
        });
        rx.recv().expect("the executor thread starts")
    })
}

/// Spawns a task from the bench thread. A task counts itself finished just before its last
/// poll returns, so its slot may still be taken for a moment: retry until it is free.
fn spawn_retry<S: Send>(
    s: SendSpawner,
    mut token: impl FnMut() -> Result<SpawnToken<S>, SpawnError>,
) {
    loop {
        match token() {
            Ok(t) => return s.spawn(t),
            Err(_) => std::thread::yield_now(),
        }
    }
}

/// Spawns a sample's tasks with `init` and waits until `tasks` of them have finished.
fn run_tasks(tasks: u64, init: impl FnOnce(SendSpawner)) {
    *FINISHED.lock().unwrap() = 0;
    init(spawner());
    let mut f = FINISHED.lock().unwrap();
    while *f < tasks {
        f = FINISHED_CV.wait(f).unwrap();
    }
}

pub fn run(w: Workload) -> Duration {
    match w {
        Workload::SelfWake { n } => {
            run_tasks(1, |s| spawn_retry(s, || self_wake(n)));
            take()
        }
        Workload::Spawn { batch, total } => {
            run_tasks(1, |s| spawn_retry(s, || spawner_task(s, batch, total)));
            take()
        }
        Workload::Cross { n, busy: b } => {
            let x = Cross::new(1);
            let t = work::sender(x, n);
            run_tasks(1 + b as u64, |s| {
                if b {
                    spawn_retry(s, || busy(x));
                }
                spawn_retry(s, || receiver(x, n));
            });
            t.join().expect("sender")
        }
        Workload::FanIn { fan, rounds } => {
            let x = Cross::new(fan as usize);
            let t = work::fan_sender(x, rounds);
            run_tasks(fan, |s| {
                for i in 0..fan as usize {
                    spawn_retry(s, || member(x, i, rounds));
                }
            });
            t.join().expect("sender")
        }
    }
}
