//! Helpers shared by the host tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use executor::{Bh, Clock, Context, EventNotifier, HostClock, HostNotifier};

pub static CLOCK: HostClock = HostClock::new();

pub fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

/// A fresh context attached to a fresh HostNotifier.
pub fn context(id: usize) -> &'static Context {
    let ctx = leak(Context::new(id));
    ctx.attach(leak(HostNotifier::new()), &CLOCK).unwrap();
    ctx
}

/// A notifier that records every call, for exact-sequence tests.
#[derive(Default)]
pub struct Recording {
    inner: HostNotifier,
    pub log: Mutex<Vec<&'static str>>,
}

impl Recording {
    pub fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl EventNotifier for Recording {
    fn set(&self) {
        self.log.lock().unwrap().push("set");
        self.inner.set();
    }
    fn test_and_clear(&self) -> bool {
        let r = self.inner.test_and_clear();
        self.log.lock().unwrap().push(if r {
            "test_and_clear:true"
        } else {
            "test_and_clear:false"
        });
        r
    }
    fn wait(&self, deadline: Option<u64>) {
        self.log.lock().unwrap().push(if deadline.is_some() {
            "wait(deadline)"
        } else {
            "wait"
        });
        self.inner.wait(deadline);
    }
}

/// Runs `ctx` on a new thread until `stop` is called.
pub struct Runner {
    ctx: &'static Context,
    stop: &'static AtomicBool,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Runner {
    pub fn start(ctx: &'static Context) -> Runner {
        let stop: &'static AtomicBool = leak(AtomicBool::new(false));
        let thread = std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                ctx.poll(true);
            }
        });
        Runner {
            ctx,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // The flag is not "work": schedule a BH so a sleeping owner wakes and sees it.
        let bh: &'static Bh = leak(Bh::new(|_| {}));
        bh.schedule(self.ctx);
        self.thread.take().unwrap().join().unwrap();
    }
}

/// Polls `ctx` on this thread until `done` or a 10 s timeout (panics on timeout).
pub fn run_until(ctx: &'static Context, mut done: impl FnMut() -> bool) {
    let start = CLOCK.now();
    while !done() {
        ctx.poll(false);
        if done() {
            break;
        }
        // Sleep at most 10 ms per round so a lost wakeup shows up as a timeout, not a hang.
        std::thread::sleep(std::time::Duration::from_micros(50));
        assert!(CLOCK.now() - start < 10_000_000_000, "run_until timed out");
    }
}
