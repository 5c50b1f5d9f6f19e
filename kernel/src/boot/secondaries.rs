//! Bringing up the secondary cores.
//!
//! The primary assigns core indices from the DTB's CPU list (itself = 0) into the per-core
//! table ([`crate::smp`]), then starts every other core with PSCI CPU_ON (conduit from the
//! DTB; context_id = the index) or by spin-table release (write the entry address to
//! `cpu-release-addr`, clean it to the point of coherency, DSB, SEV). A core that fails to
//! start is reported and boot goes on with the rest.

use super::arena;
use crate::println;
use crate::smp::{self, CoreFlags, CoreMap};
use core::sync::atomic::{AtomicBool, AtomicU8};
use hal::dtb::StartMethod;

/// Assign core indices from the DTB's CPU list (boot core = 0) in the order and by the
/// method of `hal::dtb::cpu_plan` (what `dtb-check` judges), and install the per-core table
/// for exactly that many cores (boot arena). Before the GIC and the runtime, which size
/// their per-core state by it.
pub fn plan() {
    let platform = crate::platform::get();
    let me = hal::cpu::core_mpidr();
    let planned = hal::dtb::cpu_plan(platform, me)
        .filter(|(_, how)| matches!(how, Ok(m) if *m != StartMethod::Boot))
        .count()
        + 1;
    // SAFETY: single-core boot, MMU on, IRQs masked.
    let (mpidr, online, gicv2_if) = unsafe {
        (
            arena::alloc_slice(planned, |_| u64::MAX),
            arena::alloc_slice(planned, |_| AtomicBool::new(false)),
            arena::alloc_slice(planned, |_| AtomicU8::new(0)),
        )
    };
    let (Some(mpidr), Some(online), Some(gicv2_if)) = (mpidr, online, gicv2_if) else {
        crate::exit::fail(format_args!("boot arena exhausted by the core table"));
    };
    mpidr[0] = me;
    let mut count = 1;
    for (cpu, how) in hal::dtb::cpu_plan(platform, me) {
        match how {
            Ok(StartMethod::Boot) => {}
            Err(why) => println!(
                "cpu {} (mpidr {:#x}): cannot be started: {}",
                cpu.node, cpu.mpidr, why
            ),
            Ok(_) => {
                if let Some(slot) = mpidr.get_mut(count) {
                    *slot = cpu.mpidr;
                    count += 1;
                }
            }
        }
    }
    // SAFETY: still single-core (no secondary started yet), IRQs masked.
    unsafe { smp::install(CoreMap { mpidr }, CoreFlags { online, gicv2_if }) };
    smp::mark_primary_online();
}

/// Start every core [`plan`] assigned an index. Returns (online, described).
pub fn start() -> (usize, usize) {
    let platform = crate::platform::get();
    let me = hal::cpu::core_mpidr();
    super::publish_for_secondaries();
    let mut described = 0;
    let mut core = 1;
    for (cpu, how) in hal::dtb::cpu_plan(platform, me) {
        described += 1;
        let method = match how {
            Ok(StartMethod::Boot) | Err(_) => continue,
            Ok(m) => m,
        };
        if smp::mpidr_of(core) != Some(cpu.mpidr) {
            break;
        }
        if let Err(why) = start_one(core, cpu.mpidr, method) {
            println!(
                "cpu {} (mpidr {:#x}): not started: {}",
                core, cpu.mpidr, why
            );
        } else if !wait_online(core) {
            println!(
                "cpu {} (mpidr {:#x}): did not come online within 1 s",
                core, cpu.mpidr
            );
        }
        core += 1;
    }
    (smp::online_count(), described.max(1))
}

fn start_one(core: usize, mpidr: u64, method: StartMethod) -> Result<(), hal::psci::PsciError> {
    match method {
        StartMethod::Psci { conduit, .. } => {
            let conduit = match conduit {
                hal::dtb::Conduit::Hvc => hal::psci::Conduit::Hvc,
                hal::dtb::Conduit::Smc => hal::psci::Conduit::Smc,
            };
            hal::psci::cpu_on(
                conduit,
                mpidr,
                super::secondary_entry_addr() as u64,
                core as u64,
            )
        }
        StartMethod::SpinTable { release_addr } => {
            let addr = release_addr as usize;
            // SAFETY: the DTB names this word as the core's release address; the firmware's
            // holding pen polls it. Clean to PoC: the waiting core reads with its MMU off.
            unsafe {
                core::ptr::write_volatile(addr as *mut u64, super::spin_table_entry_addr() as u64);
            }
            hal::cache::dcache_clean_range(addr, 8);
            hal::cpu::sev();
            Ok(())
        }
        StartMethod::Boot => Ok(()),
    }
}

fn wait_online(core: usize) -> bool {
    let freq = hal::timer::frequency().max(1);
    let deadline = hal::timer::counter() + freq;
    while hal::timer::counter() < deadline {
        if smp::is_online(core) {
            return true;
        }
        core::hint::spin_loop();
    }
    smp::is_online(core)
}
