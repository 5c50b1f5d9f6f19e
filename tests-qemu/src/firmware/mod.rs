//! Booting the kernel through real firmware on QEMU `virt`.

pub mod uefi;
