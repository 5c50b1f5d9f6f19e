//! ACPI tables as UEFI firmware hands them to an OS on an arm64 server or VM (QEMU `virt`
//! under edk2, arm64 cloud VMs): from the RSDP through the XSDT to what aiolos needs.
//!
//! | table | what is taken |
//! |-------|---------------|
//! | MADT (`APIC`) | GICC entries (MPIDR, GICv2 CPU interface base), GICD (base, version), GICR (redistributor range) |
//! | SPCR | the console: PL011, SBSA generic UART (a PL011 subset), 16550 |
//! | FADT (`FACP`) | ARM boot flags: PSCI_COMPLIANT, PSCI_USE_HVC |
//! | GTDT | the EL1 physical, virtual and EL2 timer GSIVs |
//!
//! Tables are read through a `read(phys, len)` function (the identity map in the kernel, a
//! buffer in tests); every length is checked against the table's own header and checksums
//! are verified. [`fdt`] turns the result into a device tree, so the kernel's one platform
//! path (`crate::dtb::Platform`) serves ACPI machines too.

pub mod fdt;
mod tables;

pub use tables::{parse, Acpi, AcpiError, Conduit, Gic, Uart, UartKind, MAX_CPUS};

#[cfg(test)]
mod tests;
