//! aiolos: a bare-metal, multi-core async executor for aarch64 virtual-machine guests.
//!
//! This crate is the unikernel: boot (`boot/`), exceptions (`exception/`), interrupts
//! (`irq`), the per-core table (`smp`), the console, and the glue that gives each core an
//! executor context woken by SGIs (`runtime/`). Its files stand on one-way floors (each
//! names only files of its own floor or below): the table "Kernel floors" in
//! docs/ARCHITECTURE.md, checked by `kernel/check-floors.sh`. This file is the top floor.
#![no_std]
#![deny(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn
)]

#[cfg(feature = "heap")]
extern crate alloc;

// The public API, under semver: `api`, the `entry!` and `println!`/`print!` macros. The
// modules marked `#[doc(hidden)]` are public only because those macros expand to them and the
// in-tree demo/test binary (`main.rs`: `selftest`) reaches them; they, the test hooks and the
// `aiolos_mutant` cfgs are not part of the API and may change in any release.
pub mod api;
mod boot;
mod boot_cell;
#[doc(hidden)]
pub mod console;
mod drivers;
mod exception;
#[doc(hidden)]
pub mod exit;
#[doc(hidden)]
pub mod io;
mod irq;
#[cfg(feature = "net")]
mod net;
mod panic;
mod percpu;
#[doc(hidden)]
pub mod platform;
#[doc(hidden)]
pub mod runtime;
#[doc(hidden)]
pub mod selftest;
#[doc(hidden)]
pub mod smp;

/// Primary core, MMU and caches on (called by `entry.S` after `boot::early_main`): bring the
/// machine up and run the application.
#[no_mangle]
extern "C" fn kernel_main() -> ! {
    let platform = platform::get();
    banner(platform);
    // The per-core table first: the GIC and the runtime size their per-core state by it.
    boot::secondaries::plan();
    drivers::init_gic_primary(platform);
    runtime::init_primary();
    io::init(platform);
    io::print_summary();
    let (online, described) = boot::secondaries::start();
    println!("cpus online: {}/{}", online, described);
    extern "Rust" {
        /// The application's entry, defined with [`entry!`].
        fn aiolos_app_main();
    }
    // SAFETY: defined by the application through `entry!` with this exact signature.
    unsafe { aiolos_app_main() };
    runtime::run_this_core()
}

/// Secondary core, MMU and caches on (called by `entry.S` after `boot::secondary_early`).
#[no_mangle]
extern "C" fn secondary_main(core: usize) -> ! {
    drivers::init_gic_cpu();
    runtime::init_secondary();
    smp::mark_online(core);
    runtime::run_this_core()
}

fn banner(p: &hal::dtb::Platform) {
    let info = boot::info();
    println!();
    println!(
        "aiolos {} — {}",
        env!("CARGO_PKG_VERSION"),
        p.model.unwrap_or("unknown machine")
    );
    println!(
        "boot: entered at EL{}{}, image at {:#x} ({} KiB), dtb at {:#x} ({} bytes)",
        info.entry_el,
        if info.entry_el == 2 {
            " (dropped to EL1)"
        } else {
            ""
        },
        info.image_base,
        boot::layout::image().len() / 1024,
        info.dtb_addr,
        info.dtb_len
    );
    if let Some(efi) = boot::efi::handoff::get() {
        let ram: u64 = efi.ram().iter().map(|r| r.size).sum();
        println!(
            "efi: started at EL{} as an EFI application loaded at {:#x}; {} MiB RAM in {} range(s) \
             in the memory map; ACPI RSDP {:#x}; load options \"{}\"",
            efi.efi_el,
            efi.loaded_at,
            ram >> 20,
            efi.ram().len(),
            efi.acpi_rsdp,
            efi.bootargs()
        );
    }
    if let Ok(memory) = &p.memory {
        for r in memory.ram.list.iter() {
            println!(
                "memory: {:#x}..{:#x} ({} MiB)",
                r.base,
                r.base + r.size,
                r.size >> 20
            );
        }
    }
    println!("{}", drivers::ConsoleSummary(p));
    println!("{}", drivers::GicSummary(p));
    match &p.psci {
        Ok(Some(psci)) => println!("psci: {:?} via {:?}", psci.version, psci.conduit),
        _ => println!("psci: none"),
    }
    println!(
        "timer: virtual, {} Hz, intid {}",
        hal::timer::frequency(),
        drivers::virt_timer_intid(p)
    );
    if let Ok(cpus) = &p.cpus {
        for (i, cpu) in cpus.list.iter().enumerate() {
            println!(
                "cpu{}: mpidr {:#x}, {}",
                i,
                cpu.mpidr,
                drivers::EnableMethodName(&cpu.enable_method)
            );
        }
    }
}
