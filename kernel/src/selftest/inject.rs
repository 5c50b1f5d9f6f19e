//! Injected failures: each must end the run with a readable report and `exit: fail`.

use crate::api::*;
use crate::println;

async fn panic_here() {
    panic!("injected panic in a task on core {}", this_core());
}
task_pool!(static PANICKER: panic_here, 1);

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
        "fault" => {
            let guard = crate::boot::layout::stacks().start;
            // SAFETY: deliberately not safe: reads core 0's unmapped guard page to take a
            // data abort and exercise the fault report.
            let v = unsafe { core::ptr::read_volatile(guard as *const u64) };
            println!("read {:#x} from a guard page?", v);
        }
        "stack-overflow" => {
            println!("recursed {} times?", recurse(0));
        }
        other => exit_fail(format_args!("unknown injection \"{}\"", other)),
    }
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
