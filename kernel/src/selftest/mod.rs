//! In-guest tests (`test` on the kernel command line) and injected failures (`inject=...`).
//!
//! Each test is an `async fn() -> Result<(), Failure>` run in order by one task on core 0;
//! the console gets `test NAME ... ok` or `test NAME ... FAILED: why`, then a summary line
//! `N passed, M failed` and the verdict. Injections end the run the way a real fault would
//! (a panic on a secondary core, a data abort, a stack overflow) so the harness can check
//! the reports.

mod cases;
mod failure;
mod inject;
mod stress;

use crate::api::*;
use crate::println;
use failure::Failure;

/// Whether the command line asks for tests or an injection.
pub fn requested() -> bool {
    has_bootarg("test") || stress::requested() || bootarg("inject").is_some()
}

/// Start the tests (or the injection) from the application's entry.
pub fn start() {
    if let Some(what) = bootarg("inject") {
        inject::start(what);
        return;
    }
    if stress::requested() {
        stress::start();
        return;
    }
    if RUNNER.spawn(this_context(), run_all()).is_err() {
        exit_fail(format_args!("cannot spawn the test runner"));
    }
}

task_pool!(static RUNNER: run_all, 1);

#[derive(Default)]
struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn record(&mut self, name: &str, result: Result<(), Failure>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("test {} ... ok", name);
            }
            Err(Failure(why)) => {
                self.failed += 1;
                println!("test {} ... FAILED: {}", name, why);
            }
        }
    }
}

macro_rules! run_tests {
    ($tally:ident: $($name:ident),* $(,)?) => {
        $( $tally.record(stringify!($name), cases::$name().await); )*
    };
}

async fn run_all() {
    let mut t = Tally::default();
    run_tests!(t:
        cross_core_wake_every_pair,
        bh_from_irq,
        bh_scheduled_twice_runs_once,
        bh_cancel,
        timer_order_and_accuracy,
        with_timeout_expires,
        spawn_into_full_pool_is_an_error,
        wake_of_finished_task_is_a_noop,
        double_schedule_is_detected,
        sgi_to_offline_core_is_an_error,
        unregistered_irq_is_counted_and_harmless,
        irq_handler_fp_use_is_invisible,
        worker_completion_returns_to_submitter,
        console_tx_interrupt_drains_the_ring,
    );
    // Reads the wake-path counters, which exist only with feature `stats` (default).
    #[cfg(feature = "stats")]
    run_tests!(t: skipped_notifies_and_kicks_both_happen);
    let (passed, failed) = (t.passed, t.failed);
    println!("tests: {} passed, {} failed", passed, failed);
    print_stats();
    if failed == 0 {
        exit_ok()
    } else {
        exit_fail(format_args!("{} in-guest test(s) failed", failed))
    }
}
