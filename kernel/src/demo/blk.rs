//! `blk-test`: the virtio-blk check the harness runs on a disk image it makes.
//!
//! First boot (no marker in sector 0): requests outside the disk and of a bad length must be
//! refused before the device; then [`REQS`] tasks spread over every core each write a
//! 4 KiB region with a pattern derived from a per-run seed (all in flight at once), read it
//! back and compare; a read with the wrong seed must mismatch (the compare can fail); then
//! flush, write the marker (magic + seed) to sector 0, flush, and reset the machine with PSCI
//! SYSTEM_RESET (`round: ok`). Second boot (marker found): read every region, compare with
//! the marker's seed, clear the marker, `exit: ok`.
//! `blk-no-reset`: end the first boot with `exit: ok` instead of the reset.
//!
//! The whole test runs under a watchdog ([`WATCHDOG_MS`]): a completion that is never
//! noticed (the `virtio_no_wake` mutant) ends the run `exit: fail: blk-test: timed out`.

use alloc::vec;
use alloc::vec::Vec;
use kernel::api::io::{Blk, BlkError, SECTOR_SIZE};
use kernel::api::*;
use kernel::println;

const MAGIC: &[u8; 16] = b"aiolos-blk-test\0";
/// Concurrent requests per phase.
pub const REQS: usize = 48;
const REGION: usize = 4096;
const REGION_SECTORS: u64 = (REGION / SECTOR_SIZE) as u64;
/// Sector 0 holds the marker; the regions start here.
const FIRST: u64 = 8;
const WATCHDOG_MS: u64 = 8_000;

task_pool!(static MAIN: run, 1);
// Twice the tasks of a phase: a joined task's slot is freed by its core a moment later.
task_pool!(static WORKERS: region, 2 * REQS);

/// Start the test on this core (the disk's interrupt and bottom half stay here).
pub fn start() {
    if MAIN.spawn(this_context(), run()).is_err() {
        exit_fail(format_args!("blk-test: cannot spawn"));
    }
}

fn pattern(seed: u64, sector: u64, i: usize) -> u8 {
    // splitmix64 of (seed, sector, word index), one byte per position.
    let mut z = seed
        .wrapping_add(sector.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(((i / 8) as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> ((i % 8) * 8)) as u8
}

fn fill(seed: u64, sector: u64) -> Vec<u8> {
    (0..REGION)
        .map(|i| pattern(seed, sector + (i / SECTOR_SIZE) as u64, i))
        .collect()
}

#[derive(Clone, Copy)]
enum Op {
    Write,
    Verify,
}

/// One region: write it or read and compare it. `Err(offset)` at the first mismatch.
async fn region(disk: &'static Blk, op: Op, seed: u64, k: usize) -> Result<(), (BlkError, usize)> {
    let sector = FIRST + k as u64 * REGION_SECTORS;
    match op {
        Op::Write => disk
            .write(sector, &fill(seed, sector))
            .await
            .map_err(|e| (e, 0)),
        Op::Verify => {
            let mut buf = vec![0u8; REGION];
            disk.read(sector, &mut buf).await.map_err(|e| (e, 0))?;
            match buf
                .iter()
                .zip(fill(seed, sector))
                .position(|(a, b)| *a != b)
            {
                None => Ok(()),
                Some(off) => Err((BlkError::Status(0), off + 1)),
            }
        }
    }
}

/// Run `op` on all regions at once, spread over the cores; the number that failed.
async fn phase(disk: &'static Blk, op: Op, seed: u64) -> usize {
    let cores = cores_online();
    let mut handles = Vec::new();
    for k in 0..REQS {
        let ctx = context(k % cores).unwrap_or(this_context());
        let mut tries = 0;
        loop {
            match WORKERS.spawn(ctx, region(disk, op, seed, k)) {
                Ok(h) => break handles.push(h),
                Err(SpawnError::PoolFull) if tries < 100 => {
                    tries += 1;
                    sleep(ms(1)).await;
                }
                Err(e) => exit_fail(format_args!("blk-test: cannot spawn worker {}: {:?}", k, e)),
            }
        }
    }
    let mut failed = 0;
    for (k, h) in handles.into_iter().enumerate() {
        match h.await {
            Ok(()) => {}
            Err((_, off)) if off > 0 => {
                if failed == 0 && seed != 0 {
                    println!("blk: region {} differs at byte {}", k, off - 1);
                }
                failed += 1;
            }
            Err((e, _)) => exit_fail(format_args!("blk-test: region {}: {}", k, e)),
        }
    }
    failed
}

async fn run() {
    let disk = match Blk::open() {
        Ok(d) => d,
        Err(e) => exit_fail(format_args!("blk-test: {}", e)),
    };
    match with_timeout(ms(WATCHDOG_MS), test(disk)).await {
        Ok(()) => {}
        Err(_) => exit_fail(format_args!(
            "blk-test: timed out after {} ms: {} completions, {} in flight, {} interrupt \
             wakes (a completion never noticed?)",
            WATCHDOG_MS,
            disk.completed(),
            disk.in_flight(),
            disk.device().irq_wake().count()
        )),
    }
}

fn expect_refused(what: &str, r: Result<(), BlkError>, ok: fn(&BlkError) -> bool) {
    match r {
        Err(e) if ok(&e) => println!("blk: {} refused: {}", what, e),
        Err(e) => exit_fail(format_args!("blk-test: {}: wrong error {}", what, e)),
        Ok(()) => exit_fail(format_args!("blk-test: {} was accepted", what)),
    }
}

async fn test(disk: &'static Blk) {
    let cap = disk.capacity();
    println!(
        "blk: {} sectors ({} KiB){}, irq {:?}",
        cap,
        cap / 2,
        if disk.read_only() { ", read-only" } else { "" },
        disk.device().irq
    );
    let need = FIRST + REQS as u64 * REGION_SECTORS;
    if cap < need {
        exit_fail(format_args!(
            "blk-test: disk too small: {} sectors, need {}",
            cap, need
        ));
    }
    let mut marker = vec![0u8; SECTOR_SIZE];
    if let Err(e) = disk.read(0, &mut marker).await {
        exit_fail(format_args!("blk-test: reading sector 0: {}", e));
    }
    if marker.starts_with(MAGIC) {
        let mut s = [0u8; 8];
        s.copy_from_slice(&marker[16..24]);
        let seed = u64::from_le_bytes(s);
        let bad = phase(disk, Op::Verify, seed).await;
        if bad > 0 {
            exit_fail(format_args!(
                "blk-test: after reset: {} of {} regions differ from what was written (seed {:#x})",
                bad, REQS, seed
            ));
        }
        let zero = vec![0u8; SECTOR_SIZE];
        if let Err(e) = disk.write(0, &zero).await.and(disk.flush().await) {
            exit_fail(format_args!("blk-test: clearing the marker: {}", e));
        }
        println!(
            "blk: after reset: {} regions written before the reset read back equal (seed {:#x})",
            REQS, seed
        );
        exit_ok();
    }

    let mut one = vec![0u8; SECTOR_SIZE];
    let mut two = vec![0u8; 2 * SECTOR_SIZE];
    expect_refused(
        "read at the capacity",
        disk.read(cap, &mut one).await,
        |e| matches!(e, BlkError::OutOfRange { .. }),
    );
    expect_refused(
        "write across the end",
        disk.write(cap - 1, &two).await,
        |e| matches!(e, BlkError::OutOfRange { .. }),
    );
    expect_refused(
        "read at u64::MAX",
        disk.read(u64::MAX, &mut one).await,
        |e| matches!(e, BlkError::OutOfRange { .. }),
    );
    expect_refused(
        "read of 100 bytes",
        disk.read(0, &mut two[..100]).await,
        |e| matches!(e, BlkError::BadLength(100)),
    );

    let seed = now() | 1;
    let t0 = now();
    let bad = phase(disk, Op::Write, seed).await + phase(disk, Op::Verify, seed).await;
    if bad > 0 {
        exit_fail(format_args!(
            "blk-test: {} of {} regions read back differ",
            bad, REQS
        ));
    }
    println!(
        "blk: {} x {} bytes written and read back equal on {} core(s) in {} us, up to {} requests in flight",
        REQS,
        REGION,
        cores_online(),
        ticks_to_us(now() - t0),
        disk.max_in_flight()
    );
    if disk.max_in_flight() < 2 {
        exit_fail(format_args!(
            "blk-test: never more than one request in flight"
        ));
    }
    let wrong = phase(disk, Op::Verify, seed ^ 0x5a5a).await;
    if wrong != REQS {
        exit_fail(format_args!(
            "blk-test: compare with a wrong seed matched {} of {} regions",
            REQS - wrong,
            REQS
        ));
    }
    println!(
        "blk: compare with a wrong seed: all {} regions differ (as they must)",
        REQS
    );

    marker.fill(0);
    marker[..16].copy_from_slice(MAGIC);
    marker[16..24].copy_from_slice(&seed.to_le_bytes());
    let r = async {
        disk.flush().await?;
        disk.write(0, &marker).await?;
        disk.flush().await
    }
    .await;
    if let Err(e) = r {
        exit_fail(format_args!("blk-test: writing the marker: {}", e));
    }
    println!(
        "blk: {} completions; flushed; marker written (seed {:#x})",
        disk.completed(),
        seed
    );
    if has_bootarg("blk-no-reset") {
        exit_ok();
    }
    println!("blk: resetting (PSCI SYSTEM_RESET) to check the data persists");
    system_reset()
}
