//! Helpers shared by the host tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use executor::{Bh, Clock, Context, EventNotifier, HostClock, HostNotifier};

pub static CLOCK: HostClock = HostClock::new();

pub fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

/// A fresh context attached to a fresh HostNotifier.
pub fn context(id: usize) -> &'static Context {
    context_and_event(id).0
}

/// A fresh context and its HostNotifier (for checks on the event).
pub fn context_and_event(id: usize) -> (&'static Context, &'static HostNotifier) {
    let ctx = leak(Context::new(id));
    let event = leak(HostNotifier::new());
    ctx.attach(event, &CLOCK).unwrap();
    (ctx, event)
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
        let thread = self.thread.take().unwrap();
        if std::thread::panicking() {
            // The test already failed; a second panic here would abort the test binary.
            return;
        }
        join_within(thread, OWNER_DEADLINE, "Runner's owner thread after stop");
    }
}

/// How long a test waits for an owner thread before calling it a lost wakeup. Every host
/// wakeup takes microseconds; seconds leave room for a loaded machine.
pub const OWNER_DEADLINE: Duration = Duration::from_secs(10);

/// Joins `thread` within `deadline`, or panics naming `what`: a thread that is still
/// running is an owner asleep through its wakeup (or spinning), and the test must fail in
/// seconds rather than wait for the harness's step limit. The thread is left behind (it
/// ends with the test process). A panic in the thread is passed on.
pub fn join_within<T>(thread: JoinHandle<T>, deadline: Duration, what: &str) -> T {
    let start = Instant::now();
    while !thread.is_finished() {
        assert!(
            start.elapsed() < deadline,
            "{what}: still running after {deadline:?}: lost wakeup (owner asleep with work queued)?"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    thread
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
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

/// Joins `thread`, failing as soon as `progress()` has not changed for `stall`: a stress
/// owner asleep through its wakeup shows up in seconds, whatever the test's total length.
/// The panic names `what` and appends `report()` (the handshake state, for the reader).
pub fn join_watching<T>(
    thread: JoinHandle<T>,
    stall: Duration,
    what: &str,
    progress: impl Fn() -> u64,
    report: impl Fn() -> String,
) -> T {
    let mut last = progress();
    let mut since = Instant::now();
    while !thread.is_finished() {
        std::thread::sleep(Duration::from_millis(2));
        let now = progress();
        if now != last {
            (last, since) = (now, Instant::now());
        }
        assert!(
            since.elapsed() < stall,
            "{what}: no progress for {stall:?} at {last}: lost wakeup? {}",
            report()
        );
    }
    thread
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}
