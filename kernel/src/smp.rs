//! Core indices and bringing up the secondary cores.
//!
//! Core index i (0 = the boot core) is kept in TPIDR_EL1 and maps to an MPIDR through
//! [`mpidr_of`]. Secondaries start with PSCI CPU_ON (conduit from the DTB; context_id = the
//! index) or by spin-table release (write the entry address to `cpu-release-addr`, clean it
//! to the point of coherency, DSB, SEV). A core that fails to start is reported and boot
//! goes on with the rest.

use crate::boot::layout::MAX_CPUS;
use crate::boot_cell::BootCell;
use crate::println;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use hal::dtb::EnableMethod;

/// MPIDR (affinity bits) of each core index, read with the MMU off by cores released from
/// a spin table (entry.S walks it), hence `#[no_mangle]` and plain u64s written during
/// single-core boot and cleaned to the point of coherency.
#[no_mangle]
static mut SPIN_TABLE_MPIDRS: [u64; MAX_CPUS] = [u64::MAX; MAX_CPUS];

struct CoreMap {
    mpidr: [u64; MAX_CPUS],
    count: usize,
}

static CORES: BootCell<CoreMap> = BootCell::new();
static ONLINE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static ONLINE_COUNT: AtomicUsize = AtomicUsize::new(1);

pub fn set_core_index(index: usize) {
    // SAFETY: TPIDR_EL1 is ours (no EL0 software, no other use).
    unsafe { core::arch::asm!("msr tpidr_el1, {}", in(reg) index, options(nomem, nostack)) };
}

pub fn core_index() -> usize {
    let index: usize;
    // SAFETY: reading TPIDR_EL1, set on entry of every core.
    unsafe { core::arch::asm!("mrs {}, tpidr_el1", out(reg) index, options(nomem, nostack)) };
    index
}

/// Number of cores that are online.
pub fn online_count() -> usize {
    // Acquire pairs with the Release increment in `mark_online`: whoever sees the count
    // also sees that core's setup.
    ONLINE_COUNT.load(Ordering::Acquire)
}

pub fn is_online(core: usize) -> bool {
    // Acquire pairs with the Release store in `mark_online`.
    core < MAX_CPUS && ONLINE[core].load(Ordering::Acquire)
}

/// Number of cores the DTB describes that we manage (online or not).
pub fn possible_count() -> usize {
    CORES.get().map_or(1, |c| c.count)
}

pub fn mpidr_of(core: usize) -> Option<u64> {
    let cores = CORES.get()?;
    (core < cores.count).then(|| cores.mpidr[core])
}

/// Called by each secondary once its MMU, GIC interface and timer are ready.
pub fn mark_online(core: usize) {
    // Release pairs with the Acquire loads in `is_online` / `online_count`.
    ONLINE[core].store(true, Ordering::Release);
    ONLINE_COUNT.fetch_add(1, Ordering::Release);
}

/// Assign core indices from the DTB's CPU list (boot core = 0) and start every other core.
/// Returns (online, described).
pub fn start_secondaries() -> (usize, usize) {
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
    unsafe {
        for (i, m) in map.mpidr.iter().enumerate() {
            core::ptr::write_volatile(core::ptr::addr_of_mut!(SPIN_TABLE_MPIDRS[i]), *m);
        }
        CORES.set(map);
    }
    crate::arch::dcache_clean_range(
        core::ptr::addr_of!(SPIN_TABLE_MPIDRS) as usize,
        core::mem::size_of::<[u64; MAX_CPUS]>(),
    );
    crate::boot::publish_for_secondaries();
    mark_self_online();

    let cores = CORES.get().expect("set above");
    for core in 1..cores.count {
        let mpidr = cores.mpidr[core];
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
    (online_count(), described)
}

fn mark_self_online() {
    // Release pairs with the Acquire in `is_online`.
    ONLINE[0].store(true, Ordering::Release);
}

fn start_one(core: usize, mpidr: u64, method: &EnableMethod) -> Result<(), StartError> {
    match method {
        EnableMethod::Psci => {
            let conduit = crate::platform::psci_conduit().ok_or(StartError::NoPsci)?;
            hal::psci::cpu_on(
                conduit,
                mpidr,
                crate::boot::secondary_entry_addr() as u64,
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
                core::ptr::write_volatile(
                    addr as *mut u64,
                    crate::boot::spin_table_entry_addr() as u64,
                );
            }
            crate::arch::dcache_clean_range(addr, 8);
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
        if is_online(core) {
            return true;
        }
        core::hint::spin_loop();
    }
    is_online(core)
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

/// Stop every other online core (panic / exit path): an SGI they handle by parking.
pub fn stop_others() {
    crate::irq::send_stop_to_others();
}
