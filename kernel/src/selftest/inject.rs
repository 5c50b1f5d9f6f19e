//! Injected failures: each must end the run with a readable report and `exit: fail`.

use crate::api::*;
use crate::println;

async fn panic_here() {
    panic!("injected panic in a task on core {}", this_core());
}
task_pool!(static PANICKER: panic_here, 1);

async fn hold() {
    sleep(ms(10)).await;
}
task_pool!(static TINY: hold, 1);

/// A full task pool is an error the application sees, not a panic or corruption: spawn
/// into a 1-slot pool twice, report, and end normally.
async fn pool_full() {
    let first = TINY.spawn(this_context(), hold());
    let second = TINY.spawn(this_context(), hold());
    match (first, second) {
        (Ok(h), Err(e)) => {
            println!("inject pool-full: second spawn failed as it must: {}", e);
            h.await;
            exit_ok()
        }
        (_, Ok(_)) => exit_fail(format_args!("spawn into a full pool succeeded")),
        (Err(e), _) => exit_fail(format_args!("first spawn failed: {}", e)),
    }
}
task_pool!(static POOL_FULL: pool_full, 1);

pub fn start(what: &str) {
    println!("inject: {}", what);
    match what {
        "panic-secondary" => {
            let core = cores_online() - 1;
            if PANICKER
                .spawn(context(core).expect("online"), panic_here())
                .is_err()
            {
                exit_fail(format_args!("cannot spawn the panicking task"));
            }
        }
        "pool-full" => {
            if POOL_FULL.spawn(this_context(), pool_full()).is_err() {
                exit_fail(format_args!("cannot spawn the pool-full task"));
            }
        }
        "fault" => {
            let guard = crate::boot::layout::stacks().start;
            // SAFETY: deliberately not safe: reads core 0's unmapped guard page to take a
            // data abort and exercise the fault report.
            let v = unsafe { core::ptr::read_volatile(guard as *const u64) };
            println!("read {:#x} from a guard page?", v);
        }
        "fault-in-irq" => {
            // The fault is taken inside an interrupt handler, where the light IRQ path has
            // FP/SIMD off: the report must still come out whole (vectors.S, fp_lazy).
            register_soft_irq(fault_in_handler);
            raise_soft_irq();
        }
        "stack-overflow" => {
            println!("recursed {} times?", recurse(0));
        }
        other => exit_fail(format_args!("unknown injection \"{}\"", other)),
    }
}

/// Reads core 0's unmapped guard page from interrupt context (see `"fault-in-irq"`).
fn fault_in_handler(_intid: u32) {
    let guard = crate::boot::layout::stacks().start;
    // SAFETY: deliberately not safe: takes a data abort inside an interrupt handler to
    // exercise the fault report from there.
    let v = unsafe { core::ptr::read_volatile(guard as *const u64) };
    println!("read {:#x} from a guard page in an interrupt handler?", v);
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let pad = [depth; 64];
    // black_box keeps the frame and the recursion real.
    core::hint::black_box(&pad);
    if core::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + core::hint::black_box(pad[3])
}
