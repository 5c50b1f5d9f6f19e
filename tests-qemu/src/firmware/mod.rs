//! Kernels loaded by real firmware on QEMU `virt` (`-bios`).
//!
//! - [`uboot`]: U-Boot's `booti` typed at its prompt, and its standard distro boot of a disk;
//! - [`console`]: the serial console the harness types on (U-Boot's autoboot and prompt);
//! - [`disk`]: `cargo xtask disk`, the disk image distro boot starts aiolos from;
//! - [`uefi`]: the Image as an EFI application under edk2 (device tree or ACPI).
//!
//! The suite's entries are `crate::cases::firmware` and `crate::cases::uefi`.

pub mod console;
pub mod disk;
pub mod uboot;
pub mod uefi;
