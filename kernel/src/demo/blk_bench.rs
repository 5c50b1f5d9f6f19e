//! `blk-bench=QD[,QD...]`: virtio-blk read throughput for `cargo xtask bench`.
//!
//! For each queue depth QD in turn: QD tasks spread over the cores, each reading its own
//! contiguous region of the disk in 4 KiB requests one after another (so QD requests are in
//! flight at once), [`DEFAULT_N`] reads in all (`blk-bench-n=N` to change it). Each pass
//! prints one line of raw figures, `blk-bench: qd=QD n=N bytes=4096 ticks=T ticks_per_s=F
//! max_in_flight=M`, which the harness turns into IOPS; then `exit: ok`. Reads only: the disk
//! is not changed. The whole run is under a watchdog ([`WATCHDOG_MS`]).

use alloc::vec;
use alloc::vec::Vec;
use kernel::api::io::{Blk, SECTOR_SIZE};
use kernel::api::*;
use kernel::println;

/// Reads per pass unless `blk-bench-n=` says otherwise.
pub const DEFAULT_N: u64 = 4096;
const REQ: usize = 4096;
const REQ_SECTORS: u64 = (REQ / SECTOR_SIZE) as u64;
/// The deepest queue accepted (the virtqueue's size is 128 descriptors, 3 per request).
const MAX_QD: usize = 40;
const WATCHDOG_MS: u64 = 120_000;

task_pool!(static MAIN: run, 1);
// Twice the deepest pass: a joined task's slot is freed by its core a moment later.
task_pool!(static READERS: reader, 2 * MAX_QD);

/// Starts the bench on this core; the disk's interrupt and bottom half stay here.
pub fn start() {
    if MAIN.spawn(this_context(), run()).is_err() {
        exit_fail(format_args!("blk-bench: cannot spawn"));
    }
}

/// `n` reads of [`REQ`] bytes, one after another, from sector `first` on.
async fn reader(disk: &'static Blk, first: u64, n: u64) -> Result<(), kernel::api::io::BlkError> {
    let mut buf = vec![0u8; REQ];
    for i in 0..n {
        disk.read(first + i * REQ_SECTORS, &mut buf).await?;
    }
    Ok(())
}

fn parse(list: &str) -> Option<Vec<usize>> {
    let qds: Option<Vec<usize>> = list.split(',').map(|q| q.parse().ok()).collect();
    qds.filter(|v| !v.is_empty() && v.iter().all(|q| (1..=MAX_QD).contains(q)))
}

async fn run() {
    let list = bootarg("blk-bench").unwrap_or("1,32");
    let Some(qds) = parse(list) else {
        exit_fail(format_args!(
            "blk-bench: `{}` is not a list of queue depths 1..={}",
            list, MAX_QD
        ))
    };
    let n = match bootarg("blk-bench-n").map(str::parse::<u64>) {
        None => DEFAULT_N,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => exit_fail(format_args!("blk-bench-n: not a positive number")),
    };
    let disk = match Blk::open() {
        Ok(d) => d,
        Err(e) => exit_fail(format_args!("blk-bench: {}", e)),
    };
    if with_timeout(ms(WATCHDOG_MS), passes(disk, &qds, n))
        .await
        .is_err()
    {
        exit_fail(format_args!(
            "blk-bench: timed out after {} ms: {} completions, {} in flight",
            WATCHDOG_MS,
            disk.completed(),
            disk.in_flight()
        ));
    }
    exit_ok()
}

async fn passes(disk: &'static Blk, qds: &[usize], n: u64) {
    for &qd in qds {
        let per = n / qd as u64;
        if per == 0 || per * qd as u64 * REQ_SECTORS > disk.capacity() {
            exit_fail(format_args!(
                "blk-bench: {} reads of {} bytes at depth {} do not fit the disk ({} sectors)",
                n,
                REQ,
                qd,
                disk.capacity()
            ));
        }
        let cores = cores_online();
        let t0 = now();
        let mut handles = Vec::with_capacity(qd);
        for k in 0..qd {
            let ctx = context(k % cores).unwrap_or(this_context());
            let first = k as u64 * per * REQ_SECTORS;
            let mut tries = 0;
            loop {
                match READERS.spawn(ctx, reader(disk, first, per)) {
                    Ok(h) => break handles.push(h),
                    Err(SpawnError::PoolFull) if tries < 100 => {
                        tries += 1;
                        sleep(ms(1)).await;
                    }
                    Err(e) => exit_fail(format_args!("blk-bench: cannot spawn: {:?}", e)),
                }
            }
        }
        for h in handles {
            if let Err(e) = h.await {
                exit_fail(format_args!("blk-bench: read failed: {}", e));
            }
        }
        let ticks = now() - t0;
        println!(
            "blk-bench: qd={} n={} bytes={} ticks={} ticks_per_s={} max_in_flight={}",
            qd,
            per * qd as u64,
            REQ,
            ticks,
            ticks_per_second(),
            disk.max_in_flight()
        );
    }
}
