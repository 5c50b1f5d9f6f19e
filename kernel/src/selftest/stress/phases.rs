//! The stress workloads: `launch(phase)` spawns a phase's tasks and returns its target count.

use super::progress::{bump, count, workers, Phase};
use crate::api::*;
use crate::boot::layout::MAX_CPUS;
use core::cell::RefCell;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use core::task::{Poll, Waker};
use critical_section::Mutex;

/// The worker after `core` (cyclically).
fn next_worker(core: usize) -> usize {
    let w = workers();
    if core + 1 < w.end {
        core + 1
    } else {
        w.start
    }
}

/// The worker before `core` (cyclically).
fn prev_worker(core: usize) -> usize {
    let w = workers();
    if core > w.start {
        core - 1
    } else {
        w.end - 1
    }
}

fn spawn_failed(what: &str, core: usize) -> ! {
    exit_fail(format_args!(
        "stress: cannot spawn {} on core {}",
        what, core
    ))
}

// ---- ring -------------------------------------------------------------------------------

static TOKEN: [Signal; MAX_CPUS] = [const { Signal::new() }; MAX_CPUS];
/// Hops made (the ring's own stop condition; the progress counter is the watchdog's).
static HOPS: AtomicU64 = AtomicU64::new(0);

async fn member(core: usize, cores: usize, total: u64) {
    loop {
        TOKEN[core].wait().await;
        // Relaxed: the token (Signal) orders the hops; this only counts them.
        let hop = HOPS.fetch_add(1, Ordering::Relaxed) + 1;
        bump(Phase::Ring, core);
        if hop >= total {
            // Release the other members so that they finish too.
            for token in &TOKEN[..cores] {
                token.raise();
            }
            return;
        }
        TOKEN[(core + 1) % cores].raise();
    }
}
task_pool!(static MEMBERS: member, 16);

// ---- naps (and the mixed-in timers) -----------------------------------------------------

async fn napper(core: usize, n: u64) {
    for i in 0..n {
        sleep(us(1 + (i * 7 + core as u64) % 32)).await;
        bump(Phase::Naps, core);
    }
}
task_pool!(static NAPPERS: napper, 16);

/// Set to stop the mixed-in nappers; they count themselves out in `MIX_RUNNING`.
static MIX_STOP: AtomicBool = AtomicBool::new(false);
static MIX_RUNNING: AtomicUsize = AtomicUsize::new(0);

async fn mixer(core: usize) {
    let mut i = core as u64;
    // Relaxed: a stop request; the nappers' exit is observed through MIX_RUNNING.
    while !MIX_STOP.load(Ordering::Relaxed) {
        sleep(us(2 + (i * 13) % 61)).await;
        bump(Phase::Mix, core);
        i += 1;
    }
    // Release: pairs with the Acquire load in `mix_running`.
    MIX_RUNNING.fetch_sub(1, Ordering::Release);
}
task_pool!(static MIXERS: mixer, 16);

/// Start one timer task on every worker, racing the phase's notifies (unless `stress_mix=0`:
/// the nested-KVM soak runs without them until its lost timer wakeups are understood).
pub fn mix_start() {
    if bootarg(Phase::Mix.key()) == Some("0") {
        return;
    }
    // Relaxed: set before the mixers are spawned (spawning publishes it).
    MIX_STOP.store(false, Ordering::Relaxed);
    for core in workers() {
        // Relaxed: only counts; the decrement's Release orders each exit.
        MIX_RUNNING.fetch_add(1, Ordering::Relaxed);
        if MIXERS
            .spawn(context(core).expect("online"), mixer(core))
            .is_err()
        {
            spawn_failed("a mixer", core);
        }
    }
}

/// Ask the mixed-in timers to stop.
pub fn mix_stop() {
    // Relaxed: a stop request polled by the mixers.
    MIX_STOP.store(true, Ordering::Relaxed);
}

/// Mixed-in timer tasks still running.
pub fn mix_running() -> usize {
    // Acquire: pairs with the Release decrement in `mixer`.
    MIX_RUNNING.load(Ordering::Acquire)
}

// ---- fan-in -----------------------------------------------------------------------------

static FANIN_ITEM: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static FANIN_ACK: [Signal; MAX_CPUS] = [const { Signal::new() }; MAX_CPUS];
static FANIN_CONSUMER: Signal = Signal::new();

async fn fanin_producer(core: usize, n: u64) {
    for _ in 0..n {
        // Release: pairs with the Acquire swap in the consumer.
        FANIN_ITEM[core].store(true, Ordering::Release);
        FANIN_CONSUMER.raise();
        FANIN_ACK[core].wait().await;
    }
}
task_pool!(static FANIN_PRODUCERS: fanin_producer, 16);

async fn fanin_consumer(core: usize, total: u64) {
    let mut got = 0;
    while got < total {
        FANIN_CONSUMER.wait().await;
        for p in workers() {
            // Acquire: pairs with the Release store in `fanin_producer`.
            if p != core && FANIN_ITEM[p].swap(false, Ordering::Acquire) {
                got += 1;
                bump(Phase::FanIn, core);
                FANIN_ACK[p].raise();
            }
        }
    }
}
task_pool!(static FANIN_CONSUMERS: fanin_consumer, 1);

// ---- fan-out ----------------------------------------------------------------------------

static FANOUT: [Signal; MAX_CPUS] = [const { Signal::new() }; MAX_CPUS];
static FANOUT_ACKS: AtomicUsize = AtomicUsize::new(0);
static FANOUT_SOURCE: Signal = Signal::new();

async fn fanout_source(core: usize, n: u64) {
    let receivers = workers().len() - 1;
    for _ in 0..n {
        // Relaxed: reset before the raises below publish the round (Signal's Release).
        FANOUT_ACKS.store(0, Ordering::Relaxed);
        for c in workers().filter(|&c| c != core) {
            FANOUT[c].raise();
        }
        // Acquire: pairs with the AcqRel increments of the receivers.
        while FANOUT_ACKS.load(Ordering::Acquire) < receivers {
            FANOUT_SOURCE.wait().await;
        }
    }
}
task_pool!(static FANOUT_SOURCES: fanout_source, 1);

async fn fanout_receiver(core: usize, n: u64) {
    let receivers = workers().len() - 1;
    for _ in 0..n {
        FANOUT[core].wait().await;
        bump(Phase::FanOut, core);
        // AcqRel: pairs with the source's Acquire load and its Relaxed reset (ordered by
        // the Signal that started the round).
        if FANOUT_ACKS.fetch_add(1, Ordering::AcqRel) + 1 == receivers {
            FANOUT_SOURCE.raise();
        }
    }
}
task_pool!(static FANOUT_RECEIVERS: fanout_receiver, 16);

// ---- wakes from interrupt handlers ------------------------------------------------------

static IRQ_SIG: [Signal; MAX_CPUS] = [const { Signal::new() }; MAX_CPUS];
static IRQ_ACK: [Signal; MAX_CPUS] = [const { Signal::new() }; MAX_CPUS];
/// What the physical-timer handler on a core does next: true = schedule the target's BH.
static IRQ_BH_MODE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Targets the soft-IRQ handler (core 0) must wake, one bit per core.
static SOFT_TARGETS: AtomicUsize = AtomicUsize::new(0);
static IRQ_BH: [Bh; MAX_CPUS] = [const { Bh::new(irq_bh) }; MAX_CPUS];

/// Physical-timer handler (interrupt context, on the driving core).
fn on_phys() {
    let core = this_core();
    let target = next_worker(core);
    // Relaxed: written by this core's own driver task before it armed the timer.
    if IRQ_BH_MODE[core].load(Ordering::Relaxed) {
        IRQ_BH[target].schedule(context(target).expect("online"));
    } else {
        IRQ_SIG[target].raise();
    }
}

/// Soft-IRQ handler (interrupt context, on the primary core).
fn on_soft(_intid: u32) {
    // Acquire: pairs with the Release fetch_or in `irq_driver`.
    let mut targets = SOFT_TARGETS.swap(0, Ordering::Acquire);
    while targets != 0 {
        let t = targets.trailing_zeros() as usize;
        targets &= targets - 1;
        IRQ_SIG[t].raise();
    }
}

fn irq_bh(ctx: &'static Context) {
    let core = ctx.id();
    bump(Phase::Irq, core);
    IRQ_ACK[prev_worker(core)].raise();
}

async fn irq_driver(core: usize, n: u64) {
    let target = next_worker(core);
    for r in 0..n {
        match r % 3 {
            0 | 1 => {
                // Relaxed: read by this core's own timer handler, after the arm below.
                IRQ_BH_MODE[core].store(r % 3 == 1, Ordering::Relaxed);
                device_irq_after(us(2 + (r * 5 + core as u64) % 40), on_phys);
            }
            _ => {
                // Release: pairs with the Acquire swap in `on_soft`.
                SOFT_TARGETS.fetch_or(1 << target, Ordering::Release);
                raise_soft_irq();
            }
        }
        IRQ_ACK[core].wait().await;
    }
}
task_pool!(static IRQ_DRIVERS: irq_driver, 16);

/// Rounds of `n` in which the target is woken through its Signal (not its BH).
fn signal_rounds(n: u64) -> u64 {
    n - (n + 1) / 3
}

async fn irq_target(core: usize, n: u64) {
    for _ in 0..signal_rounds(n) {
        IRQ_SIG[core].wait().await;
        bump(Phase::Irq, core);
        IRQ_ACK[prev_worker(core)].raise();
    }
}
task_pool!(static IRQ_TARGETS: irq_target, 16);

// ---- bottom halves and co_schedule from other cores ------------------------------------

static REMOTE_BH: [Bh; MAX_CPUS] = [const { Bh::new(remote_bh) }; MAX_CPUS];
static BH_ACK: [Signal; MAX_CPUS] = [const { Signal::new() }; MAX_CPUS];
static PARKED: [Mutex<RefCell<Option<Waker>>>; MAX_CPUS] =
    [const { Mutex::new(RefCell::new(None)) }; MAX_CPUS];
static PARK_READY: [Signal; MAX_CPUS] = [const { Signal::new() }; MAX_CPUS];
static UNPARKED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

fn remote_bh(ctx: &'static Context) {
    let core = ctx.id();
    bump(Phase::Bh, core);
    BH_ACK[prev_worker(core)].raise();
}

async fn bh_driver(core: usize, n: u64) {
    let target = next_worker(core);
    for r in 0..n {
        if r % 2 == 0 {
            REMOTE_BH[target].schedule(context(target).expect("online"));
        } else {
            PARK_READY[target].wait().await;
            let waker = critical_section::with(|cs| PARKED[target].borrow_ref_mut(cs).take());
            let Some(waker) = waker else {
                exit_fail(format_args!(
                    "stress: parked task on core {} left no waker",
                    target
                ));
            };
            // Release: pairs with the Acquire swap in `parked`.
            UNPARKED[target].store(true, Ordering::Release);
            if let Err(e) = co_schedule(&waker) {
                exit_fail(format_args!(
                    "stress: co_schedule onto core {}: {:?}",
                    target, e
                ));
            }
        }
        BH_ACK[core].wait().await;
    }
}
task_pool!(static BH_DRIVERS: bh_driver, 16);

/// A task that parks (leaves its waker for another core) and is `co_schedule`d back.
async fn parked(core: usize, n: u64) {
    for _ in 0..n / 2 {
        poll_fn(|cx| {
            // Acquire: pairs with the Release store in `bh_driver`.
            if UNPARKED[core].swap(false, Ordering::Acquire) {
                return Poll::Ready(());
            }
            critical_section::with(|cs| {
                *PARKED[core].borrow_ref_mut(cs) = Some(cx.waker().clone())
            });
            PARK_READY[core].raise();
            Poll::Pending
        })
        .await;
        bump(Phase::Bh, core);
        BH_ACK[prev_worker(core)].raise();
    }
}
task_pool!(static PARKED_TASKS: parked, 16);

// ---- launching --------------------------------------------------------------------------

/// Spawn `phase`'s tasks; returns the progress count at which it is complete.
pub fn launch(phase: Phase) -> u64 {
    let n = count(phase);
    let w = workers();
    let nw = w.len() as u64;
    let ctx = |c: usize| context(c).expect("online");
    match phase {
        Phase::Ring => {
            let cores = cores_online();
            let total = n * cores as u64;
            for c in 0..cores {
                if MEMBERS.spawn(ctx(c), member(c, cores, total)).is_err() {
                    spawn_failed("a ring member", c);
                }
            }
            // Start on core 1, so core 0 (watchdog) is never the only one moving.
            TOKEN[1].raise();
            total
        }
        Phase::Naps => {
            for c in w {
                if NAPPERS.spawn(ctx(c), napper(c, n)).is_err() {
                    spawn_failed("a napper", c);
                }
            }
            n * nw
        }
        Phase::FanIn => {
            let consumer = w.start;
            if FANIN_CONSUMERS
                .spawn(ctx(consumer), fanin_consumer(consumer, n * (nw - 1)))
                .is_err()
            {
                spawn_failed("the fan-in consumer", consumer);
            }
            for c in w.skip(1) {
                if FANIN_PRODUCERS.spawn(ctx(c), fanin_producer(c, n)).is_err() {
                    spawn_failed("a fan-in producer", c);
                }
            }
            n * (nw - 1)
        }
        Phase::FanOut => {
            let source = w.start;
            for c in w.clone().skip(1) {
                if FANOUT_RECEIVERS
                    .spawn(ctx(c), fanout_receiver(c, n))
                    .is_err()
                {
                    spawn_failed("a fan-out receiver", c);
                }
            }
            if FANOUT_SOURCES
                .spawn(ctx(source), fanout_source(source, n))
                .is_err()
            {
                spawn_failed("the fan-out source", source);
            }
            n * (nw - 1)
        }
        Phase::Irq => {
            register_soft_irq(on_soft);
            for c in w.clone() {
                if IRQ_TARGETS.spawn(ctx(c), irq_target(c, n)).is_err() {
                    spawn_failed("an irq target", c);
                }
            }
            for c in w {
                if IRQ_DRIVERS.spawn(ctx(c), irq_driver(c, n)).is_err() {
                    spawn_failed("an irq driver", c);
                }
            }
            n * nw
        }
        Phase::Bh => {
            for c in w.clone() {
                if PARKED_TASKS.spawn(ctx(c), parked(c, n)).is_err() {
                    spawn_failed("a parked task", c);
                }
            }
            for c in w {
                if BH_DRIVERS.spawn(ctx(c), bh_driver(c, n)).is_err() {
                    spawn_failed("a bh driver", c);
                }
            }
            n * nw
        }
        Phase::Mix => 0,
    }
}
