#![no_std]
#![no_main]
use kernel::api::*;

/// The most cores aiolos brings up.
const MAX_CORES: usize = 16;

async fn hello(n: u64) -> usize {
    sleep(ms(n)).await; // per-core tickless timer
    kernel::println!("hello from core {}", this_core());
    this_core()
}
task_pool!(static HELLO: hello, MAX_CORES); // static storage, no allocator

async fn greet_all() {
    // One task on every core's context, then wait for each (woken across cores).
    let mut tasks = [const { None }; MAX_CORES];
    for (core, task) in tasks.iter_mut().enumerate().take(cores_online()) {
        *task = Some(HELLO.spawn(context(core).unwrap(), hello(10)).unwrap());
    }
    for (core, task) in tasks.into_iter().enumerate() {
        if let Some(task) = task {
            let ran_on = task.await;
            if ran_on != core {
                exit_fail(format_args!("the task for core {core} ran on core {ran_on}"));
            }
        }
    }
    kernel::println!("greeted {} cores", cores_online());
    exit_ok(); // last line `exit: ok`; QEMU exits with status 0
}
task_pool!(static MAIN: greet_all, 1);

kernel::entry!(main);
fn main() {
    // Runs once on core 0 when every core is online; spawn onto any core's context.
    // The task runs detached (its handle is dropped) and ends the run itself.
    if MAIN.spawn(this_context(), greet_all()).is_err() {
        exit_fail(format_args!("cannot spawn the main task"));
    }
}
