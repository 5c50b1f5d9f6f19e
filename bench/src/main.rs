//! `bench [--quick] [--reps N]`: every workload on aiolos, embassy-executor and tokio,
//! interleaved (rep by rep, the executors' order rotating), one warm-up round first. Prints
//! `host.WORKLOAD.EXEC.min_ns=` and `.median_ns=` lines (ns per operation), which
//! `cargo xtask bench` reads.

use std::process::ExitCode;

use bench::{ns_per_op, run, Exec, Workload};

const HELP: &str = "usage: bench [--quick] [--reps N] [--only KEY] [--exec NAME]

Runs each workload (self-wake, spawn in batches of 1/100/1000, cross-thread wake with the
receiver busy and parked, fan-in of 64 wakers) on aiolos, embassy-executor 0.10 and tokio
current_thread, interleaved, and prints key=value lines: ns per operation, min and median.

options:
  --quick        sizes / 100 (checks that everything runs; the figures mean little)
  --reps N       samples per figure (default 5, at least 5)
  --only KEY     only this workload (self_wake, spawn_b1, spawn_b100, spawn_b1000,
                 cross_busy, cross_parked, fan_in_64)
  --exec NAME    only this executor (aiolos, embassy, tokio), e.g. to count its system
                 calls: strace -f -c -e trace=futex bench --only cross_parked --exec aiolos";

fn main() -> ExitCode {
    let mut quick = false;
    let mut reps = 5usize;
    let mut only: Option<String> = None;
    let mut execs: Vec<Exec> = Exec::ALL.to_vec();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--help" | "-h" => {
                println!("{HELP}");
                return ExitCode::SUCCESS;
            }
            "--quick" => quick = true,
            "--reps" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n >= 5 => reps = n,
                _ => {
                    eprintln!("bench: --reps needs a number >= 5\n\n{HELP}");
                    return ExitCode::from(2);
                }
            },
            "--only" => match args.next() {
                Some(k) if Workload::set(false).iter().any(|w| w.key() == k) => only = Some(k),
                k => {
                    eprintln!("bench: --only needs a workload key, not {k:?}\n\n{HELP}");
                    return ExitCode::from(2);
                }
            },
            "--exec" => match args
                .next()
                .and_then(|n| Exec::ALL.into_iter().find(|e| e.name() == n))
            {
                Some(e) => execs = vec![e],
                None => {
                    eprintln!("bench: --exec needs aiolos, embassy or tokio\n\n{HELP}");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("bench: unknown argument `{other}`\n\n{HELP}");
                return ExitCode::from(2);
            }
        }
    }
    let mut set = Workload::set(quick);
    set.retain(|w| only.as_ref().is_none_or(|k| *k == w.key()));
    // samples[w][e]
    let mut samples = vec![vec![Vec::new(); execs.len()]; set.len()];
    for rep in 0..=reps {
        for (wi, &w) in set.iter().enumerate() {
            for k in 0..execs.len() {
                let ei = (k + rep) % execs.len();
                let ns = ns_per_op(w, run(execs[ei], w));
                // Round 0 warms up (pools, page faults, the runtimes' first allocations).
                if rep > 0 {
                    samples[wi][ei].push(ns);
                }
            }
        }
        eprintln!("bench: host round {rep}/{reps} done");
    }
    println!("host.reps={reps}");
    println!("host.quick={}", quick as u8);
    for (wi, w) in set.iter().enumerate() {
        println!("host.{}.ops={}", w.key(), w.ops());
        for (ei, e) in execs.iter().enumerate() {
            let s = &mut samples[wi][ei];
            s.sort_by(f64::total_cmp);
            println!("host.{}.{}.min_ns={:.1}", w.key(), e.name(), s[0]);
            println!(
                "host.{}.{}.median_ns={:.1}",
                w.key(),
                e.name(),
                s[s.len() / 2]
            );
        }
    }
    ExitCode::SUCCESS
}
