//! The platform as the DTB describes it, discovered once by the primary with the MMU off:
//! the console it names is installed and the PSCI conduit handed to `exit`.

use crate::boot_cell::BootCell;
use hal::dtb::Platform;

static PLATFORM: BootCell<Platform<'static>> = BootCell::new();

/// QEMU virt's root compatible: the one platform whose console address we may assume.
const QEMU_VIRT: &str = "linux,dummy-virt";

/// Parse the DTB, install the console it names, check it describes a bootable machine.
/// Any failure ends the run with a message naming what is wrong.
pub fn discover(dtb: &'static [u8]) -> &'static Platform<'static> {
    let platform = match Platform::parse(dtb) {
        Ok(p) => p,
        Err(err) => {
            // SAFETY: single-core boot; with no readable DTB nothing better is known.
            unsafe { crate::console::init_fallback() };
            crate::exit::fail(format_args!(
                "bad device tree at {:#x}: {}",
                dtb.as_ptr() as usize,
                err
            ));
        }
    };
    match crate::drivers::uart_from_dtb(&platform) {
        // SAFETY: single-core boot; the DTB names this device as the console.
        Ok(uart) => unsafe { crate::console::init(uart) },
        Err(why) => {
            if platform.compatible == Some(QEMU_VIRT) {
                // SAFETY: single-core boot; this is QEMU virt, whose PL011 is known.
                unsafe { crate::console::init_fallback() };
            }
            crate::exit::fail(format_args!("unusable console: {}", why));
        }
    }
    // The verdict `dtb-check` prints, from the same function, for this core as the boot CPU.
    // CPUs that cannot be started do not stop the boot (secondaries.rs reports each one).
    match hal::dtb::bootability_on(&platform, hal::cpu::core_mpidr()) {
        Ok(b) if b.as_is() => {}
        Ok(b) => crate::exit::fail(format_args!(
            "device tree not bootable as it is: {} (the bootloader did not)",
            b
        )),
        Err(why) => crate::exit::fail(format_args!("device tree not bootable: {}", why)),
    }
    // SAFETY: single-core boot, before any reader.
    unsafe { PLATFORM.set(platform) };
    if let Some(conduit) = psci_conduit() {
        // SAFETY: single-core boot.
        unsafe { crate::exit::set_psci(conduit) };
    }
    get()
}

/// The platform [`discover`] found.
pub fn get() -> &'static Platform<'static> {
    PLATFORM
        .get()
        .expect("the platform is discovered first thing at boot")
}

/// The PSCI conduit the DTB names (`/psci/method`), if it has a PSCI node.
pub fn psci_conduit() -> Option<hal::psci::Conduit> {
    match PLATFORM.get()?.psci {
        Ok(Some(psci)) => Some(match psci.conduit {
            hal::dtb::Conduit::Hvc => hal::psci::Conduit::Hvc,
            hal::dtb::Conduit::Smc => hal::psci::Conduit::Smc,
        }),
        _ => None,
    }
}

/// The bootargs, split on spaces: the EFI load options when the image was started as an EFI
/// application with some (a boot entry's options, or the UEFI shell's command line), else
/// `/chosen/bootargs`.
pub fn bootargs() -> impl Iterator<Item = &'static str> {
    crate::boot::efi::handoff::get()
        .map(|h| h.bootargs())
        .filter(|a| !a.is_empty())
        .or_else(|| PLATFORM.get().and_then(|p| p.bootargs))
        .unwrap_or("")
        .split_ascii_whitespace()
}

/// Whether the bootargs contain `arg` (a bare word) .
pub fn has_bootarg(arg: &str) -> bool {
    bootargs().any(|a| a == arg)
}

/// The value of `key=value` in the bootargs.
pub fn bootarg(key: &str) -> Option<&'static str> {
    bootargs().find_map(|a| a.strip_prefix(key)?.strip_prefix('='))
}
