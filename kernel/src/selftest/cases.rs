//! The in-guest test cases. Every wait is bounded by `with_timeout`, so a broken wakeup
//! path fails its test instead of hanging the run.

use super::failure::{ensure, Failure};
use crate::api::*;
use core::cell::RefCell;
use core::future::poll_fn;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::{Poll, Waker};
use critical_section::Mutex;

type TestResult = Result<(), Failure>;

/// Generous bound for "how late may a wakeup be" under TCG on a loaded 2-core host.
const LATE_BOUND_MS: u64 = 100;

async fn bounded<F: core::future::Future>(what: &str, fut: F) -> Result<F::Output, Failure> {
    with_timeout(ms(2_000), fut)
        .await
        .map_err(|_| Failure::new(format_args!("{} did not complete within 2 s", what)))
}

// ---------------------------------------------------------------------------------------

async fn probe() -> usize {
    this_core()
}
task_pool!(static PROBE: probe, 1);

/// Spawn, retrying while the pool's single slot is still being released (a finished
/// task's slot is freed by its owner context after the join handle has its output).
async fn spawn_retry<F, const S: usize, const N: usize>(
    pool: &'static TaskPool<S, N>,
    ctx: &'static Context,
    mut make: impl FnMut() -> F,
) -> Result<JoinHandle<F::Output>, Failure>
where
    F: core::future::Future + Send + 'static,
    F::Output: Send,
{
    for _ in 0..1000 {
        match pool.spawn(ctx, make()) {
            Ok(h) => return Ok(h),
            Err(SpawnError::PoolFull) => sleep(us(20)).await,
            Err(e) => return Err(Failure::new(format_args!("spawn: {}", e))),
        }
    }
    Err(Failure::new(format_args!("pool stayed full")))
}

async fn relay(to: usize) -> (usize, usize) {
    match spawn_retry(&PROBE, context(to).expect("online"), probe).await {
        Ok(h) => (this_core(), h.await),
        Err(_) => (usize::MAX, usize::MAX),
    }
}
task_pool!(static RELAY: relay, 1);

/// Core a spawns onto core b and is woken from b, for every ordered pair.
pub async fn cross_core_wake_every_pair() -> TestResult {
    let n = cores_online();
    for a in 0..n {
        for b in 0..n {
            if a == b {
                continue;
            }
            let h = spawn_retry(&RELAY, context(a).expect("online"), || relay(b)).await?;
            let (ran_on, probed_on) = bounded("relay", h).await?;
            ensure!(
                ran_on == a && probed_on == b,
                "pair {}->{}: relay ran on {}, probe on {}",
                a,
                b,
                ran_on,
                probed_on
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------

static IRQ_BH_RUNS: AtomicU32 = AtomicU32::new(0);
static IRQ_BH_DONE: Signal = Signal::new();

fn irq_bh(_ctx: &'static Context) {
    // Relaxed: counter, ordered by the signal.
    IRQ_BH_RUNS.fetch_add(1, Ordering::Relaxed);
    IRQ_BH_DONE.raise();
}
static IRQ_BH: Bh = Bh::new(irq_bh);

fn on_soft_irq(_intid: u32) {
    IRQ_BH.schedule(context(0).expect("core 0"));
}

/// An interrupt handler schedules a BH; it runs on core 0's context.
pub async fn bh_from_irq() -> TestResult {
    register_soft_irq(on_soft_irq);
    for i in 1..=5 {
        raise_soft_irq();
        bounded("the BH", IRQ_BH_DONE.wait()).await?;
        // Relaxed: the signal wait above ordered the BH's increment before this load.
        let runs = IRQ_BH_RUNS.load(Ordering::Relaxed);
        ensure!(
            runs == i,
            "after {} interrupts the BH ran {} times",
            i,
            runs
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------

static TWICE_RUNS: AtomicU32 = AtomicU32::new(0);
fn twice_bh(_ctx: &'static Context) {
    // Relaxed: counter read by the same core after the BH ran.
    TWICE_RUNS.fetch_add(1, Ordering::Relaxed);
}
static TWICE_BH: Bh = Bh::new(twice_bh);

/// Scheduling a BH twice before it runs runs it once (QEMU's PENDING flag).
pub async fn bh_scheduled_twice_runs_once() -> TestResult {
    let ctx = this_context();
    let first = TWICE_BH.schedule(ctx);
    let second = TWICE_BH.schedule(ctx);
    ensure!(
        first && !second,
        "schedule returned {} then {}",
        first,
        second
    );
    sleep(ms(2)).await;
    // Relaxed: the BH ran on this core (same context) before the sleep returned.
    let runs = TWICE_RUNS.load(Ordering::Relaxed);
    ensure!(runs == 1, "BH ran {} times", runs);
    Ok(())
}

static CANCEL_RUNS: AtomicU32 = AtomicU32::new(0);
fn cancel_bh(_ctx: &'static Context) {
    // Relaxed: counter.
    CANCEL_RUNS.fetch_add(1, Ordering::Relaxed);
}
static CANCEL_BH: Bh = Bh::new(cancel_bh);

/// A cancelled BH does not run.
pub async fn bh_cancel() -> TestResult {
    CANCEL_BH.schedule(this_context());
    let cancelled = CANCEL_BH.cancel();
    sleep(ms(2)).await;
    // Relaxed: same core, as above.
    let runs = CANCEL_RUNS.load(Ordering::Relaxed);
    ensure!(
        cancelled && runs == 0,
        "cancel returned {}, BH ran {} times",
        cancelled,
        runs
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------

static WAKE_ORDER: AtomicU32 = AtomicU32::new(0);

/// Sleep until `start + length_ms` (one `start` for all three, taken before spawning: a
/// vCPU paused between the tasks' first polls must not reorder their deadlines).
/// Sleeps until `start + length_ms`; returns its wake ticket, the elapsed ticks and when it
/// armed its timer (its first poll), relative to `start`.
async fn timed(start: u64, length_ms: u64) -> (u32, u64, u64) {
    let armed = now() - start;
    sleep_until(start + ms(length_ms)).await;
    let elapsed = now() - start;
    // Relaxed: a ticket counter on one core.
    (WAKE_ORDER.fetch_add(1, Ordering::Relaxed), elapsed, armed)
}
task_pool!(static TIMED: timed, 6);

/// Timers fire in deadline order, never early, and late by less than a bound.
pub async fn timer_order_and_accuracy() -> TestResult {
    let last = cores_online() - 1;
    for core in [0, last] {
        // The order is only a property of the timer table when all three timers were armed
        // before the first deadline; a host that stalls the vCPU longer than that (TCG on a
        // loaded machine) makes the spawn order (30, 10, 20) the wake order. Such a round is
        // run again, up to three times, and a fourth stall fails the test.
        let mut attempt = 0;
        let ((o1, e1, _), (o2, e2, _), (o3, e3, _)) = loop {
            WAKE_ORDER.store(0, Ordering::Relaxed);
            let ctx = context(core).expect("online");
            let start = now();
            let spawn = |len| TIMED.spawn(ctx, timed(start, len));
            let (h3, h1, h2) = match (spawn(30), spawn(10), spawn(20)) {
                (Ok(a), Ok(b), Ok(c)) => (a, b, c),
                _ => return Err(Failure::new(format_args!("spawn failed"))),
            };
            let r1 = bounded("10 ms timer", h1).await?;
            let r2 = bounded("20 ms timer", h2).await?;
            let r3 = bounded("30 ms timer", h3).await?;
            let armed_late = [r1.2, r2.2, r3.2].into_iter().any(|a| a >= ms(10));
            attempt += 1;
            ensure!(
                !armed_late || attempt < 4,
                "core {}: the timers were armed after the first deadline in {} rounds",
                core,
                attempt
            );
            if !armed_late {
                break (r1, r2, r3);
            }
        };
        ensure!(
            o1 < o2 && o2 < o3,
            "core {}: wake order 10ms:{} 20ms:{} 30ms:{}",
            core,
            o1,
            o2,
            o3
        );
        for (len, e) in [(10, e1), (20, e2), (30, e3)] {
            ensure!(
                e >= ms(len),
                "core {}: {} ms timer woke early after {} us",
                core,
                len,
                ticks_to_us(e)
            );
            ensure!(
                e < ms(len + LATE_BOUND_MS),
                "core {}: {} ms timer woke {} us late",
                core,
                len,
                ticks_to_us(e - ms(len))
            );
        }
    }
    Ok(())
}

/// `with_timeout` gives up at its deadline.
pub async fn with_timeout_expires() -> TestResult {
    let start = now();
    let r = with_timeout(ms(5), sleep(ms(1_000))).await;
    let elapsed = now() - start;
    ensure!(r.is_err(), "the 1 s sleep finished inside a 5 ms timeout");
    ensure!(
        elapsed >= ms(5) && elapsed < ms(5 + LATE_BOUND_MS),
        "timed out after {} us",
        ticks_to_us(elapsed)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------

async fn hold(length_ms: u64) {
    sleep(ms(length_ms)).await;
}
task_pool!(static ONE_SLOT: hold, 1);

/// Spawning into a full pool is an error, not a panic; the slot is reusable afterwards.
pub async fn spawn_into_full_pool_is_an_error() -> TestResult {
    let first = ONE_SLOT
        .spawn(this_context(), hold(20))
        .map_err(|e| Failure::new(format_args!("first spawn: {}", e)))?;
    match ONE_SLOT.spawn(this_context(), hold(0)) {
        Err(e @ SpawnError::PoolFull) => crate::println!("spawn into full pool: {}", e),
        Err(e) => return Err(Failure::new(format_args!("wrong error: {}", e))),
        Ok(_) => {
            return Err(Failure::new(format_args!(
                "second spawn into a 1-slot pool succeeded"
            )))
        }
    }
    bounded("the first task", first).await?;
    let again = ONE_SLOT
        .spawn(this_context(), hold(0))
        .map_err(|e| Failure::new(format_args!("spawn after the slot freed: {}", e)))?;
    bounded("the reused slot", again).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------

static CAPTURED: Mutex<RefCell<Option<Waker>>> = Mutex::new(RefCell::new(None));
static RELEASE: Signal = Signal::new();

async fn capture_waker(then_wait: bool) {
    poll_fn(|cx| {
        critical_section::with(|cs| *CAPTURED.borrow_ref_mut(cs) = Some(cx.waker().clone()));
        Poll::Ready(())
    })
    .await;
    if then_wait {
        RELEASE.wait().await;
    }
}
task_pool!(static CAPTURER: capture_waker, 1);

fn take_captured() -> Option<Waker> {
    critical_section::with(|cs| CAPTURED.borrow_ref_mut(cs).take())
}

/// Waking a task that has finished does nothing.
pub async fn wake_of_finished_task_is_a_noop() -> TestResult {
    let h = CAPTURER
        .spawn(this_context(), capture_waker(false))
        .map_err(|e| Failure::new(format_args!("spawn: {}", e)))?;
    bounded("the capturing task", h).await?;
    let waker = take_captured().ok_or_else(|| Failure::new(format_args!("no waker captured")))?;
    let polled_before = this_context().stats().tasks_polled;
    let r = co_schedule(&waker);
    ensure!(
        r == Err(ScheduleError::NotRunnable),
        "co_schedule of a finished task: {:?}",
        r
    );
    waker.wake();
    sleep(ms(1)).await;
    // Only this test task itself may have been polled again (once, after the sleep).
    let polled = this_context().stats().tasks_polled - polled_before;
    ensure!(
        polled <= 2,
        "{} task polls after waking a finished task",
        polled
    );
    Ok(())
}

/// co_schedule (aio_co_schedule) reports a task that is already scheduled.
pub async fn double_schedule_is_detected() -> TestResult {
    let h = CAPTURER
        .spawn(this_context(), capture_waker(true))
        .map_err(|e| Failure::new(format_args!("spawn: {}", e)))?;
    // Let it run up to its wait.
    sleep(ms(1)).await;
    let waker = take_captured().ok_or_else(|| Failure::new(format_args!("no waker captured")))?;
    let first = co_schedule(&waker);
    let second = co_schedule(&waker);
    RELEASE.raise();
    bounded("the waiting task", h).await?;
    ensure!(
        first.is_ok() && second == Err(ScheduleError::AlreadyScheduled),
        "co_schedule returned {:?} then {:?}",
        first,
        second
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------

/// Sending the wake SGI to a core that is not online is an error.
pub async fn sgi_to_offline_core_is_an_error() -> TestResult {
    let offline = crate::smp::possible_count();
    let r = crate::irq::send_wake(offline);
    ensure!(
        r == Err(crate::irq::SgiError::Offline(offline)),
        "send to core {}: {:?}",
        offline,
        r
    );
    Ok(())
}

/// An interrupt nobody registered is counted, disabled and otherwise ignored.
pub async fn unregistered_irq_is_counted_and_harmless() -> TestResult {
    let nobodys = crate::irq::spare_irq();
    let (_, before) = crate::irq::counts();
    crate::irq::gic_cpu().enable(nobodys, hal::gic::DEFAULT_PRIORITY);
    crate::irq::gic_cpu().set_pending(nobodys);
    sleep(ms(2)).await;
    let (_, after) = crate::irq::counts();
    ensure!(
        after == before + 1,
        "unregistered count went {} -> {}",
        before,
        after
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------

/// Set by [`clobbering_handler`] to its core index + 1 (on the interrupted core itself, so
/// program order orders it for the waiting loop there).
static FP_IRQ_SEEN: AtomicU32 = AtomicU32::new(0);

/// An interrupt handler that uses FP/SIMD: every vector register and FPCR changed.
fn clobbering_handler(_intid: u32) {
    // SAFETY: writes only the registers it declares clobbered (FPCR is restored by the
    // IRQ exit path, which is what the test checks: a handler must not need to).
    unsafe {
        core::arch::asm!(
            "movi v0.16b, #0x5a",
            "movi v1.16b, #0x5a",
            "movi v2.16b, #0x5a",
            "movi v3.16b, #0x5a",
            "movi v4.16b, #0x5a",
            "movi v5.16b, #0x5a",
            "movi v6.16b, #0x5a",
            "movi v7.16b, #0x5a",
            "movi v8.16b, #0x5a",
            "movi v9.16b, #0x5a",
            "movi v10.16b, #0x5a",
            "movi v11.16b, #0x5a",
            "movi v12.16b, #0x5a",
            "movi v13.16b, #0x5a",
            "movi v14.16b, #0x5a",
            "movi v15.16b, #0x5a",
            "movi v16.16b, #0x5a",
            "movi v17.16b, #0x5a",
            "movi v18.16b, #0x5a",
            "movi v19.16b, #0x5a",
            "movi v20.16b, #0x5a",
            "movi v21.16b, #0x5a",
            "movi v22.16b, #0x5a",
            "movi v23.16b, #0x5a",
            "movi v24.16b, #0x5a",
            "movi v25.16b, #0x5a",
            "movi v26.16b, #0x5a",
            "movi v27.16b, #0x5a",
            "movi v28.16b, #0x5a",
            "movi v29.16b, #0x5a",
            "movi v30.16b, #0x5a",
            "movi v31.16b, #0x5a",
            "mrs {t}, fpcr",
            "orr {t}, {t}, #(3 << 22)",
            "msr fpcr, {t}",
            t = out(reg) _,
            out("v0") _,
            out("v1") _,
            out("v2") _,
            out("v3") _,
            out("v4") _,
            out("v5") _,
            out("v6") _,
            out("v7") _,
            out("v8") _,
            out("v9") _,
            out("v10") _,
            out("v11") _,
            out("v12") _,
            out("v13") _,
            out("v14") _,
            out("v15") _,
            out("v16") _,
            out("v17") _,
            out("v18") _,
            out("v19") _,
            out("v20") _,
            out("v21") _,
            out("v22") _,
            out("v23") _,
            out("v24") _,
            out("v25") _,
            out("v26") _,
            out("v27") _,
            out("v28") _,
            out("v29") _,
            out("v30") _,
            out("v31") _,
            options(nostack),
        );
    }
    // Relaxed: read on this same core by the interrupted code (see FP_IRQ_SEEN); the
    // core index + 1 lets the test check that it interrupted the waiting core.
    FP_IRQ_SEEN.store(this_core() as u32 + 1, Ordering::Relaxed);
}

/// An interrupt whose handler uses FP/SIMD leaves the interrupted code's q0-q31 and FPCR
/// as they were (the IRQ path saves FP/SIMD lazily, on the handler's first use).
pub async fn irq_handler_fp_use_is_invisible() -> TestResult {
    let inp: [u128; 32] = core::array::from_fn(|i| {
        0x0123_4567_89ab_cdef_u128.wrapping_mul(i as u128 + 3) << 64
            | 0xfedc_ba98_7654_3210_u128.wrapping_mul(i as u128 + 7)
    });
    let mut out = [0u128; 32];
    register_soft_irq(clobbering_handler);
    // Relaxed: only this core's handler writes it (see FP_IRQ_SEEN).
    FP_IRQ_SEEN.store(0, Ordering::Relaxed);
    let saved = hal::cpu::irq_mask_save();
    raise_soft_irq();
    let (fpcr_before, fpcr_after): (u64, u64);
    // SAFETY: loads/stores only the two arrays and reads the flag it is given; the
    // registers it uses are declared; IRQs are unmasked only around the wait, with the
    // soft interrupt pending, so its handler runs between the fill and the store.
    unsafe {
        core::arch::asm!(
            "mrs {fb}, fpcr",
        "ldp q0, q1, [{inp}, #0]",
        "ldp q2, q3, [{inp}, #32]",
        "ldp q4, q5, [{inp}, #64]",
        "ldp q6, q7, [{inp}, #96]",
        "ldp q8, q9, [{inp}, #128]",
        "ldp q10, q11, [{inp}, #160]",
        "ldp q12, q13, [{inp}, #192]",
        "ldp q14, q15, [{inp}, #224]",
        "ldp q16, q17, [{inp}, #256]",
        "ldp q18, q19, [{inp}, #288]",
        "ldp q20, q21, [{inp}, #320]",
        "ldp q22, q23, [{inp}, #352]",
        "ldp q24, q25, [{inp}, #384]",
        "ldp q26, q27, [{inp}, #416]",
        "ldp q28, q29, [{inp}, #448]",
        "ldp q30, q31, [{inp}, #480]",
            "msr daifclr, #2",
            "2: ldr {w:w}, [{flag}]",
            "cbnz {w:w}, 3f",
            "subs {n}, {n}, #1",
            "b.ne 2b",
            "3: msr daifset, #2",
        "stp q0, q1, [{out}, #0]",
        "stp q2, q3, [{out}, #32]",
        "stp q4, q5, [{out}, #64]",
        "stp q6, q7, [{out}, #96]",
        "stp q8, q9, [{out}, #128]",
        "stp q10, q11, [{out}, #160]",
        "stp q12, q13, [{out}, #192]",
        "stp q14, q15, [{out}, #224]",
        "stp q16, q17, [{out}, #256]",
        "stp q18, q19, [{out}, #288]",
        "stp q20, q21, [{out}, #320]",
        "stp q22, q23, [{out}, #352]",
        "stp q24, q25, [{out}, #384]",
        "stp q26, q27, [{out}, #416]",
        "stp q28, q29, [{out}, #448]",
        "stp q30, q31, [{out}, #480]",
            "mrs {fa}, fpcr",
            inp = in(reg) inp.as_ptr(),
            out = in(reg) out.as_mut_ptr(),
            flag = in(reg) FP_IRQ_SEEN.as_ptr(),
            n = inout(reg) 100_000_000u64 => _,
            w = out(reg) _,
            fb = out(reg) fpcr_before,
            fa = out(reg) fpcr_after,
            out("v0") _,
            out("v1") _,
            out("v2") _,
            out("v3") _,
            out("v4") _,
            out("v5") _,
            out("v6") _,
            out("v7") _,
            out("v8") _,
            out("v9") _,
            out("v10") _,
            out("v11") _,
            out("v12") _,
            out("v13") _,
            out("v14") _,
            out("v15") _,
            out("v16") _,
            out("v17") _,
            out("v18") _,
            out("v19") _,
            out("v20") _,
            out("v21") _,
            out("v22") _,
            out("v23") _,
            out("v24") _,
            out("v25") _,
            out("v26") _,
            out("v27") _,
            out("v28") _,
            out("v29") _,
            out("v30") _,
            out("v31") _,
            options(nostack),
        );
    }
    hal::cpu::irq_restore(saved);
    // Relaxed: see FP_IRQ_SEEN.
    let seen = FP_IRQ_SEEN.load(Ordering::Relaxed);
    ensure!(
        seen == this_core() as u32 + 1,
        "the soft interrupt was not taken on this core during the wait (flag {})",
        seen
    );
    for (i, (a, b)) in inp.iter().zip(out.iter()).enumerate() {
        ensure!(
            a == b,
            "q{} was {:#034x}, is {:#034x} after the interrupt",
            i,
            a,
            b
        );
    }
    ensure!(
        fpcr_before == fpcr_after,
        "FPCR {:#x} became {:#x} across the interrupt",
        fpcr_before,
        fpcr_after
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------

fn where_am_i(_: u64) -> u64 {
    this_core() as u64
}

static WORKERS: spin::Once<heapless::Vec<&'static Context, 16>> = spin::Once::new();
static POOL: spin::Once<WorkerPool<u64, u64, 4>> = spin::Once::new();

/// A worker job runs on a worker core; its completion wakes the submitter on its own core.
pub async fn worker_completion_returns_to_submitter() -> TestResult {
    let n = cores_online();
    let pool = POOL.call_once(|| {
        WorkerPool::new(WORKERS.call_once(|| {
            (1..n.max(2))
                .take(16)
                .map(|c| context(c.min(n - 1)).expect("online"))
                .collect()
        }))
    });
    for _ in 0..4 {
        let f = pool
            .submit(this_context(), where_am_i, 0)
            .map_err(|e| Failure::new(format_args!("submit: {}", e)))?;
        let worker = bounded("the job", f).await? as usize;
        ensure!(
            this_core() == 0,
            "completion resumed on core {}",
            this_core()
        );
        ensure!(
            n == 1 || worker != 0,
            "job ran on core {} with {} cores",
            worker,
            n
        );
    }
    Ok(())
}

/// Buffered output left to the console's TX interrupt reaches the UART (the harness also
/// sees the marker line in the log).
pub async fn console_tx_interrupt_drains_the_ring() -> TestResult {
    let before = crate::console::tx_irq_drains();
    if !crate::console::write_deferred("console: this line was sent by the TX interrupt\n") {
        crate::println!("console: no interrupt in the DTB; output stays synchronous");
        return Ok(());
    }
    sleep(ms(5)).await;
    let drains = crate::console::tx_irq_drains() - before;
    let left = crate::console::tx_pending();
    ensure!(
        drains >= 1 && left == 0,
        "{} TX interrupts drained, {} bytes left",
        drains,
        left
    );
    Ok(())
}

/// Over the run so far, the handshake both skipped notifies (owner awake) and kicked
/// (owner about to sleep). On one core every notify comes from the owner itself or from an
/// interrupt that already woke it, so only skips are possible there.
#[cfg(feature = "stats")]
pub async fn skipped_notifies_and_kicks_both_happen() -> TestResult {
    let (mut kicks, mut skipped, mut sgis) = (0, 0, 0);
    for core in 0..cores_online() {
        let s = crate::runtime::context(core).stats();
        kicks += s.kicks;
        skipped += s.notifies_skipped;
        sgis += crate::runtime::notifier(core).snapshot().sgis_sent;
    }
    ensure!(skipped > 0, "no notify was skipped");
    if cores_online() > 1 {
        ensure!(kicks > 0 && sgis > 0, "kicks {}, SGIs {}", kicks, sgis);
    }
    Ok(())
}
