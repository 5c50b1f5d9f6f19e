//! The workloads on aiolos: one `Context` on the calling thread with the host notifier
//! (Mutex + Condvar) and clock (`Instant`), tasks in static pools.

use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::Duration;

use executor::{Context, HostClock, HostNotifier, TaskPool};

use crate::work::{self, Cross};
use crate::Workload;

static CLOCK: HostClock = HostClock::new();
static CTX: OnceLock<&'static Context> = OnceLock::new();

static DRIVER: TaskPool<512, 1> = TaskPool::new();
static BUSY: TaskPool<256, 1> = TaskPool::new();
static CHILDREN: TaskPool<64, 1000> = TaskPool::new();
static MEMBERS: TaskPool<256, 64> = TaskPool::new();
static DONE: AtomicU64 = AtomicU64::new(0);

/// The bench's context (only ever polled by the thread that runs the benches).
fn ctx() -> &'static Context {
    CTX.get_or_init(|| {
        let ctx: &'static Context = Box::leak(Box::new(Context::new(0)));
        ctx.attach(Box::leak(Box::new(HostNotifier::new())), &CLOCK)
            .expect("a new context");
        ctx
    })
}

pub fn run(w: Workload) -> Duration {
    let c = ctx();
    match w {
        Workload::SelfWake { n } => {
            let mut h = DRIVER.spawn(c, work::self_wake(n)).expect("driver");
            c.run_until(|| h.is_finished());
            h.try_take().expect("finished")
        }
        Workload::Spawn { batch, total } => {
            // The children go to the spawning task's own context (as `tokio::spawn` and
            // embassy's `Spawner` do); the join handle is dropped: the task frees its slot
            // when it ends.
            let spawn = move |done: &'static AtomicU64| {
                drop(CHILDREN.spawn(c, work::child(done)).expect("a free slot"));
            };
            let mut h = DRIVER
                .spawn(c, work::spawn_batches(batch, total, &DONE, spawn))
                .expect("driver");
            c.run_until(|| h.is_finished());
            h.try_take().expect("finished")
        }
        Workload::Cross { n, busy } => {
            let x = Cross::new(1);
            let busy_task = busy.then(|| BUSY.spawn(c, work::busy(x)).expect("busy"));
            let h = DRIVER.spawn(c, work::receiver(x, n)).expect("receiver");
            let t = work::sender(x, n);
            c.run_until(|| h.is_finished() && busy_task.as_ref().is_none_or(|b| b.is_finished()));
            t.join().expect("sender")
        }
        Workload::FanIn { fan, rounds } => {
            let x = Cross::new(fan as usize);
            let mut hs: Vec<_> = (0..fan as usize)
                .map(|i| {
                    MEMBERS
                        .spawn(c, work::member(x, i, rounds))
                        .expect("member")
                })
                .collect();
            let t = work::fan_sender(x, rounds);
            c.run_until(|| hs.iter_mut().all(|h| h.is_finished()));
            t.join().expect("sender")
        }
    }
}
