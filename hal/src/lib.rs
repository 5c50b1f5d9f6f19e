//! aiolos HAL: aarch64 device drivers and platform discovery, with no policy.
//!
//! Drivers touch hardware only through the register blocks here; anything that is an
//! aarch64 instruction is compiled only for `target_arch = "aarch64"`, so the crate (and
//! above all the DTB parser in [`dtb`]) builds and is tested on the host too.
#![no_std]
#![deny(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn
)]

pub mod acpi;
pub mod cache;
pub mod cpu;
#[cfg(all(feature = "critical-section-impl", target_arch = "aarch64"))]
pub mod critical_section_impl;
pub mod dtb;
pub mod gic;
pub mod mmio;
pub mod mmu;
pub mod psci;
pub mod semihosting;
pub mod timer;
pub mod uart;
