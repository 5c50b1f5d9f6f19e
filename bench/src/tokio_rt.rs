//! The workloads on tokio 1.x `current_thread` (no I/O or time driver: it parks on a
//! condvar), each spawned as a task (`tokio::spawn`) and awaited from `block_on`.

use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};

use crate::work::{self, Cross};
use crate::Workload;

static DONE: AtomicU64 = AtomicU64::new(0);

/// One runtime for the process (tokio's `Runtime` is `Sync`; only the bench thread uses it).
fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Builder::new_current_thread()
            .build()
            .expect("a tokio runtime")
    })
}

pub fn run(w: Workload) -> Duration {
    let rt = rt();
    match w {
        Workload::SelfWake { n } => rt
            .block_on(async { tokio::spawn(work::self_wake(n)).await })
            .expect("task"),
        Workload::Spawn { batch, total } => rt
            .block_on(async {
                tokio::spawn(work::spawn_batches(batch, total, &DONE, |done| {
                    drop(tokio::spawn(work::child(done)));
                }))
                .await
            })
            .expect("task"),
        Workload::Cross { n, busy } => {
            let x = Cross::new(1);
            let t = work::sender(x, n);
            rt.block_on(async {
                let b = busy.then(|| tokio::spawn(work::busy(x)));
                tokio::spawn(work::receiver(x, n)).await.expect("task");
                if let Some(b) = b {
                    b.await.expect("task");
                }
            });
            t.join().expect("sender")
        }
        Workload::FanIn { fan, rounds } => {
            let x = Cross::new(fan as usize);
            let t = work::fan_sender(x, rounds);
            rt.block_on(async {
                let hs: Vec<_> = (0..fan as usize)
                    .map(|i| tokio::spawn(work::member(x, i, rounds)))
                    .collect();
                for h in hs {
                    h.await.expect("task");
                }
            });
            t.join().expect("sender")
        }
    }
}
