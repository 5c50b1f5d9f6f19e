//! A bottom half scheduled from an interrupt handler: a device interrupt (the physical timer,
//! armed for 200 us) arrives while core 0 sleeps; the handler only schedules the BH, whose
//! notify finds the owner asleep (a kick); the BH runs on core 0's context and raises a
//! signal the demo task awaits.

use core::sync::atomic::{AtomicU32, Ordering};
use kernel::api::*;
use kernel::println;

const TIMES: u32 = 10;

static RUNS: AtomicU32 = AtomicU32::new(0);
static DONE: Signal = Signal::new();

fn bh(_ctx: &'static Context) {
    // Relaxed: a counter read after the signal (which orders it).
    RUNS.fetch_add(1, Ordering::Relaxed);
    DONE.raise();
}
static BH: Bh = Bh::new(bh);

fn on_device_irq() {
    BH.schedule(context(0).expect("core 0 is online"));
}

pub async fn run() {
    let start = now();
    for _ in 0..TIMES {
        device_irq_after(us(200), on_device_irq);
        DONE.wait().await;
    }
    // Relaxed: the last DONE.wait() ordered the BH's increments before this load.
    println!(
        "bh from irq: {} interrupts, {} bottom-half runs, {} us each",
        TIMES,
        RUNS.load(Ordering::Relaxed),
        ticks_to_us(now() - start) / TIMES as u64
    );
}
