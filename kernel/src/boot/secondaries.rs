//! Bringing up the secondary cores.
//!
//! The primary assigns core indices from the DTB's CPU list (itself = 0) into the per-core
//! table ([`crate::smp`]), then starts every other core with PSCI CPU_ON (conduit from the
//! DTB; context_id = the index) or by spin-table release (write the entry address to
//! `cpu-release-addr`, clean it to the point of coherency, DSB, SEV). A core that fails to
//! start is reported and boot goes on with the rest.

use super::layout::MAX_CPUS;
use crate::println;
use crate::smp::{self, CoreMap};
use hal::dtb::EnableMethod;

/// Assign core indices from the DTB's CPU list (boot core = 0) and start every other core.
/// Returns (online, described).
pub fn start() -> (usize, usize) {
    let platform = crate::platform::get();
    let me = hal::cpu::core_mpidr();
    let mut map = CoreMap {
        mpidr: [u64::MAX; MAX_CPUS],
        count: 1,
    };
    map.mpidr[0] = me;
    let mut described = 0;
    let list = match &platform.cpus {
        Ok(cpus) => &cpus.list[..],
        Err(_) => &[],
    };
    for cpu in list.iter().filter(|c| !c.disabled) {
        described += 1;
        if cpu.mpidr == me {
            continue;
        }
        if map.count == MAX_CPUS {
            println!(
                "cpu mpidr {:#x}: ignored (more than {} cpus)",
                cpu.mpidr, MAX_CPUS
            );
            continue;
        }
        map.mpidr[map.count] = cpu.mpidr;
        map.count += 1;
    }
    let described = described.max(1);
    // SAFETY: still single-core (no secondary started yet), IRQs masked.
    unsafe { smp::install(map) };
    super::publish_for_secondaries();
    smp::mark_primary_online();

    for core in 1..smp::possible_count() {
        let mpidr = smp::mpidr_of(core).expect("core < possible_count");
        let cpu = list
            .iter()
            .find(|c| c.mpidr == mpidr)
            .expect("the map was built from this list");
        if let Err(why) = start_one(core, mpidr, &cpu.enable_method) {
            println!("cpu {} (mpidr {:#x}): not started: {}", core, mpidr, why);
            continue;
        }
        if !wait_online(core) {
            println!(
                "cpu {} (mpidr {:#x}): did not come online within 1 s",
                core, mpidr
            );
        }
    }
    (smp::online_count(), described)
}

fn start_one(core: usize, mpidr: u64, method: &EnableMethod) -> Result<(), StartError> {
    match method {
        EnableMethod::Psci => {
            let conduit = crate::platform::psci_conduit().ok_or(StartError::NoPsci)?;
            hal::psci::cpu_on(
                conduit,
                mpidr,
                super::secondary_entry_addr() as u64,
                core as u64,
            )
            .map_err(StartError::Psci)
        }
        EnableMethod::SpinTable {
            release_addr: Some(release_addr),
        } => {
            let addr = *release_addr as usize;
            // SAFETY: the DTB names this word as the core's release address; the firmware's
            // holding pen polls it. Clean to PoC: the waiting core reads with its MMU off.
            unsafe {
                core::ptr::write_volatile(addr as *mut u64, super::spin_table_entry_addr() as u64);
            }
            hal::cache::dcache_clean_range(addr, 8);
            hal::cpu::sev();
            Ok(())
        }
        _ => Err(StartError::NoMethod),
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

enum StartError {
    NoPsci,
    NoMethod,
    Psci(hal::psci::PsciError),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::NoPsci => write!(f, "enable-method psci but the DTB has no /psci node"),
            StartError::NoMethod => write!(f, "no supported enable-method"),
            StartError::Psci(e) => write!(f, "PSCI CPU_ON failed: {}", e),
        }
    }
}
