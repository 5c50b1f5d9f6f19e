//! `cargo bench -p bench --target host-tuple`: the workloads of `cargo xtask bench` under
//! divan, one benchmark per (workload, executor); the sizes are the quick set's so that
//! divan can take many samples. Per-operation time = divan's time / the workload's `ops`.

use bench::{run, Exec, Workload};

fn main() {
    divan::main();
}

fn each(e: Exec, w: Workload) {
    divan::black_box(run(e, w));
}

macro_rules! workload {
    ($name:ident, $i:expr) => {
        #[divan::bench(args = [Exec::Aiolos, Exec::Embassy, Exec::Tokio], sample_count = 10)]
        fn $name(e: Exec) {
            each(e, Workload::set(true)[$i]);
        }
    };
}

workload!(self_wake, 0);
workload!(spawn_b1, 1);
workload!(spawn_b100, 2);
workload!(spawn_b1000, 3);
workload!(cross_busy, 4);
workload!(cross_parked, 5);
workload!(fan_in_64, 6);
