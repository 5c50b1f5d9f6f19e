//! The workloads' async bodies and the plain-thread sides, shared by all executors.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Wakes the task and returns `Pending` once (the same future on every executor, instead of
/// each runtime's own `yield_now`).
pub struct Yield(bool);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

pub fn yield_now() -> Yield {
    Yield(false)
}

/// A one-way mailbox: the sender raises `seq` and wakes the stored waker.
pub struct Mailbox {
    seq: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Mailbox {
    pub const fn new() -> Self {
        Self {
            seq: AtomicU64::new(0),
            waker: Mutex::new(None),
        }
    }

    pub fn reset(&self) {
        // Relaxed: reset between runs, before the threads that use it start (spawn orders).
        self.seq.store(0, Ordering::Relaxed);
        *self.waker.lock().unwrap() = None;
    }

    pub fn send(&self, v: u64) {
        // Release: pairs with the Acquire loads in `recv`.
        self.seq.store(v, Ordering::Release);
        let w = self.waker.lock().unwrap().take();
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Ready once `seq >= want`.
    pub async fn recv(&self, want: u64) {
        poll_fn(|cx| {
            // Acquire: pairs with the Release store in `send`.
            if self.seq.load(Ordering::Acquire) >= want {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            // Re-check after publishing the waker (a send between the two finds no waker;
            // the mutex orders the store of the waker and `send`'s take).
            if self.seq.load(Ordering::Acquire) >= want {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Self-wake: `n` yields in one task.
pub async fn self_wake(n: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        yield_now().await;
    }
    t.elapsed()
}

/// The trivial spawned task: count itself done.
pub async fn child(done: &'static AtomicU64) {
    // Relaxed: a counter the spawning task polls; nothing is published through it.
    done.fetch_add(1, Ordering::Relaxed);
}

/// Spawn + run: `total / batch` batches of `batch` tasks spawned by `spawn`.
pub async fn spawn_batches(
    batch: u64,
    total: u64,
    done: &'static AtomicU64,
    mut spawn: impl FnMut(&'static AtomicU64),
) -> Duration {
    let t = Instant::now();
    let mut ran = 0;
    while ran < total {
        // Relaxed: only this thread runs the tasks.
        done.store(0, Ordering::Relaxed);
        for _ in 0..batch {
            spawn(done);
        }
        while done.load(Ordering::Relaxed) < batch {
            yield_now().await;
        }
        ran += batch;
    }
    t.elapsed()
}

/// Shared state of the cross-thread and fan-in workloads.
pub struct Cross {
    pub boxes: Vec<Mailbox>,
    /// Answers: the receiver stores the round it saw (cross), or each member adds one (fan-in).
    pub acks: AtomicU64,
    /// Receivers that have started.
    pub ready: AtomicU64,
    /// Tells the busy task to stop.
    pub stop: AtomicBool,
}

impl Cross {
    pub fn new(boxes: usize) -> &'static Cross {
        Box::leak(Box::new(Cross {
            boxes: (0..boxes).map(|_| Mailbox::new()).collect(),
            acks: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }))
    }
}

/// The receiving task of `Cross` (one mailbox): answers each of `n` wakes.
pub async fn receiver(c: &'static Cross, n: u64) {
    // Release: pairs with the Acquire load in `sender`.
    c.ready.fetch_add(1, Ordering::Release);
    for i in 1..=n {
        c.boxes[0].recv(i).await;
        // Release: pairs with the sender's Acquire spin.
        c.acks.store(i, Ordering::Release);
    }
    // Release: pairs with the Acquire load in `busy`.
    c.stop.store(true, Ordering::Release);
}

/// Keeps the executor's loop busy until `stop`.
pub async fn busy(c: &'static Cross) {
    // Acquire: pairs with the Release store at the end of `receiver`.
    while !c.stop.load(Ordering::Acquire) {
        yield_now().await;
    }
}

/// A fan-in member: answers `rounds` wakes on mailbox `i`.
pub async fn member(c: &'static Cross, i: usize, rounds: u64) {
    // Release: pairs with the Acquire load in `fan_sender`.
    c.ready.fetch_add(1, Ordering::Release);
    for r in 1..=rounds {
        c.boxes[i].recv(r).await;
        // Release: pairs with the sender's Acquire spin.
        c.acks.fetch_add(1, Ordering::Release);
    }
}

/// The plain thread of `Cross`: `n` round trips, timed from the first wake.
pub fn sender(c: &'static Cross, n: u64) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        // Acquire: pairs with the Release RMW in `receiver`.
        while c.ready.load(Ordering::Acquire) < 1 {
            std::hint::spin_loop();
        }
        let t = Instant::now();
        for i in 1..=n {
            c.boxes[0].send(i);
            // Acquire: pairs with the receiver's Release store of the answer.
            while c.acks.load(Ordering::Acquire) < i {
                std::hint::spin_loop();
            }
        }
        t.elapsed()
    })
}

/// The plain thread of fan-in: `rounds` times, wake every member and wait for every answer.
pub fn fan_sender(c: &'static Cross, rounds: u64) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let fan = c.boxes.len() as u64;
        // Acquire: pairs with the Release RMW in `member`.
        while c.ready.load(Ordering::Acquire) < fan {
            std::hint::spin_loop();
        }
        let t = Instant::now();
        for r in 1..=rounds {
            for b in &c.boxes {
                b.send(r);
            }
            // Acquire: pairs with the members' Release RMWs.
            while c.acks.load(Ordering::Acquire) < r * fan {
                std::hint::spin_loop();
            }
        }
        t.elapsed()
    })
}
