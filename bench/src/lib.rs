//! Host half of `cargo xtask bench`: the same workloads on aiolos (`executor`),
//! embassy-executor 0.10 (`platform-std`) and tokio 1.x `current_thread`, in one process.
//!
//! Each workload's async body is written once here (`work`) and only spawned and run by
//! each executor's module; a sample is the wall time measured *inside* the workload (from
//! its first to its last operation), so executor construction is not counted. The driver
//! (`src/main.rs`) interleaves executors and workloads round-robin so that a load change on
//! the machine hits all three alike; `benches/peers.rs` is the same set under divan.

pub mod aiolos;
pub mod embassy;
pub mod tokio_rt;
pub mod work;

use std::time::Duration;

/// One of the executors compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exec {
    Aiolos,
    Embassy,
    Tokio,
}

impl Exec {
    pub const ALL: [Exec; 3] = [Exec::Aiolos, Exec::Embassy, Exec::Tokio];

    pub fn name(self) -> &'static str {
        match self {
            Exec::Aiolos => "aiolos",
            Exec::Embassy => "embassy",
            Exec::Tokio => "tokio",
        }
    }
}

/// One workload, with its size. Every variant's figure is nanoseconds per operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// One task wakes itself and returns `Pending`, `n` times (op: one wake + one poll).
    SelfWake { n: u64 },
    /// A task spawns `batch` trivial tasks, waits for all to run, `total / batch` times
    /// (op: one spawned task, run to completion).
    Spawn { batch: u64, total: u64 },
    /// A plain thread wakes a task on the executor's thread and spins until the task answers,
    /// `n` times (op: one round trip). `busy`: another task keeps the executor's loop running
    /// (it never sleeps); otherwise it parks between wakes.
    Cross { n: u64, busy: bool },
    /// `fan` tasks each wait on their own mailbox; a plain thread wakes all of them and waits
    /// for all answers, `rounds` times (op: one wake, answered).
    FanIn { fan: u64, rounds: u64 },
}

impl Workload {
    /// The key used in the key=value output and the table.
    pub fn key(self) -> String {
        match self {
            Workload::SelfWake { .. } => "self_wake".into(),
            Workload::Spawn { batch, .. } => format!("spawn_b{batch}"),
            Workload::Cross { busy: true, .. } => "cross_busy".into(),
            Workload::Cross { busy: false, .. } => "cross_parked".into(),
            Workload::FanIn { fan, .. } => format!("fan_in_{fan}"),
        }
    }

    /// Operations per sample.
    pub fn ops(self) -> u64 {
        match self {
            Workload::SelfWake { n } => n,
            Workload::Spawn { total, .. } => total,
            Workload::Cross { n, .. } => n,
            Workload::FanIn { fan, rounds } => fan * rounds,
        }
    }

    /// The full set; `quick` shrinks every size (for CI: does the command work).
    pub fn set(quick: bool) -> Vec<Workload> {
        let s = if quick { 100 } else { 1 };
        vec![
            Workload::SelfWake { n: 1_000_000 / s },
            Workload::Spawn {
                batch: 1,
                total: 100_000 / s,
            },
            Workload::Spawn {
                batch: 100,
                total: 100_000 / s,
            },
            Workload::Spawn {
                batch: 1000,
                total: 100_000 / s,
            },
            Workload::Cross {
                n: 5_000 / s,
                busy: true,
            },
            Workload::Cross {
                n: 5_000 / s,
                busy: false,
            },
            Workload::FanIn {
                fan: 64,
                rounds: 500 / s,
            },
        ]
    }
}

/// Runs `w` once on `e`; the workload's own time.
pub fn run(e: Exec, w: Workload) -> Duration {
    match e {
        Exec::Aiolos => aiolos::run(w),
        Exec::Embassy => embassy::run(w),
        Exec::Tokio => tokio_rt::run(w),
    }
}

/// Nanoseconds per operation of one sample.
pub fn ns_per_op(w: Workload, d: Duration) -> f64 {
    d.as_nanos() as f64 / w.ops() as f64
}
