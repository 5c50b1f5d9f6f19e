//! PSCI (ARM DEN 0022) over the SMC Calling Convention (ARM DEN 0028): CPU_ON, CPU_OFF,
//! SYSTEM_OFF, SYSTEM_RESET, PSCI_VERSION, AFFINITY_INFO.
//!
//! A dozen lines of `asm!` rather than the `smccc` crate: we need only these calls, want the
//! conduit chosen at run time from the DTB's `/psci/method`, and want our own error type with
//! `Display`. Lock-free and atomic-free: callable before the MMU is on.
//!
//! The conduit: `hvc` for a guest at EL1 under a hypervisor (KVM, QEMU `virt` default);
//! `smc` when the firmware is at EL3 (QEMU `virtualization=on` boots us at EL2, where an `hvc`
//! would trap to ourselves). Always read `/psci/method`.

use core::fmt;

/// PSCI_VERSION.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// CPU_OFF.
pub const CPU_OFF: u32 = 0x8400_0002;
/// CPU_ON, SMC64.
pub const CPU_ON_64: u32 = 0xc400_0003;
/// AFFINITY_INFO, SMC64.
pub const AFFINITY_INFO_64: u32 = 0xc400_0004;
/// SYSTEM_OFF.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// SYSTEM_RESET.
pub const SYSTEM_RESET: u32 = 0x8400_0009;

/// How to reach the PSCI firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`: the hypervisor implements PSCI.
    Hvc,
    /// `smc #0`: EL3 firmware implements PSCI.
    Smc,
}

impl Conduit {
    /// From the DTB's `/psci/method` string (`"hvc"` or `"smc"`).
    pub fn from_dt_method(method: &str) -> Option<Self> {
        match method {
            "hvc" => Some(Conduit::Hvc),
            "smc" => Some(Conduit::Smc),
            _ => None,
        }
    }
}

/// A PSCI error return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciError {
    /// -1
    NotSupported,
    /// -2
    InvalidParameters,
    /// -3
    Denied,
    /// -4
    AlreadyOn,
    /// -5
    OnPending,
    /// -6
    InternalFailure,
    /// -7
    NotPresent,
    /// -8
    Disabled,
    /// -9
    InvalidAddress,
    /// Any other negative value.
    Unknown(i32),
}

impl PsciError {
    /// Decodes a PSCI return value: `Ok(())` for SUCCESS (0), else the error. Other positive
    /// values are not errors of the calls that use this and map to `Ok` as well.
    pub const fn check(ret: i32) -> Result<(), PsciError> {
        Err(match ret {
            r if r >= 0 => return Ok(()),
            -1 => PsciError::NotSupported,
            -2 => PsciError::InvalidParameters,
            -3 => PsciError::Denied,
            -4 => PsciError::AlreadyOn,
            -5 => PsciError::OnPending,
            -6 => PsciError::InternalFailure,
            -7 => PsciError::NotPresent,
            -8 => PsciError::Disabled,
            -9 => PsciError::InvalidAddress,
            r => PsciError::Unknown(r),
        })
    }

    /// The PSCI return code.
    pub const fn code(self) -> i32 {
        match self {
            PsciError::NotSupported => -1,
            PsciError::InvalidParameters => -2,
            PsciError::Denied => -3,
            PsciError::AlreadyOn => -4,
            PsciError::OnPending => -5,
            PsciError::InternalFailure => -6,
            PsciError::NotPresent => -7,
            PsciError::Disabled => -8,
            PsciError::InvalidAddress => -9,
            PsciError::Unknown(r) => r,
        }
    }
}

impl fmt::Display for PsciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            PsciError::NotSupported => "NOT_SUPPORTED",
            PsciError::InvalidParameters => "INVALID_PARAMETERS",
            PsciError::Denied => "DENIED",
            PsciError::AlreadyOn => "ALREADY_ON",
            PsciError::OnPending => "ON_PENDING",
            PsciError::InternalFailure => "INTERNAL_FAILURE",
            PsciError::NotPresent => "NOT_PRESENT",
            PsciError::Disabled => "DISABLED",
            PsciError::InvalidAddress => "INVALID_ADDRESS",
            PsciError::Unknown(r) => return write!(f, "PSCI error {r}"),
        };
        write!(f, "PSCI {} ({})", name, self.code())
    }
}

/// AFFINITY_INFO result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffinityState {
    /// At least one core of the node is on.
    On,
    /// All of its cores are off.
    Off,
    /// A CPU_ON is in progress.
    OnPending,
}

/// One SMCCC call: function `fid`, arguments x1..x3; returns x0.
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn call(conduit: Conduit, fid: u32, a1: u64, a2: u64, a3: u64) -> u64 {
    let mut x0 = fid as u64;
    // SAFETY: an SMCCC call to PSCI firmware, which follows the SMC Calling Convention: x0..x3
    // carry arguments and results, x4..x17 may be clobbered by SMCCC v1.0 implementations
    // (covered by `clobber_abi("C")`), nothing else changes. The calls we make do not touch
    // our memory except where documented (CPU_ON starts another core at `entry`, which the
    // caller vouches for).
    unsafe {
        match conduit {
            Conduit::Hvc => core::arch::asm!(
                "hvc #0",
                inout("x0") x0,
                inout("x1") a1 => _,
                inout("x2") a2 => _,
                inout("x3") a3 => _,
                clobber_abi("C"),
                options(nostack)
            ),
            Conduit::Smc => core::arch::asm!(
                "smc #0",
                inout("x0") x0,
                inout("x1") a1 => _,
                inout("x2") a2 => _,
                inout("x3") a3 => _,
                clobber_abi("C"),
                options(nostack)
            ),
        }
    }
    x0
}

/// PSCI_VERSION as (major, minor).
#[cfg(target_arch = "aarch64")]
pub fn version(conduit: Conduit) -> (u16, u16) {
    let v = call(conduit, PSCI_VERSION, 0, 0, 0) as u32;
    ((v >> 16) as u16, v as u16)
}

/// CPU_ON: starts the core `target_mpidr` (affinity bits of its MPIDR, as in the DTB) at the
/// physical address `entry_phys` with the MMU off, x0 = `context_id`, at the exception level
/// the caller booted at.
///
/// Issues a DSB SY first, so the entry code and data the caller wrote for the new core have
/// reached memory (it starts with caches and MMU off).
#[cfg(target_arch = "aarch64")]
pub fn cpu_on(
    conduit: Conduit,
    target_mpidr: u64,
    entry_phys: u64,
    context_id: u64,
) -> Result<(), PsciError> {
    crate::cpu::dsb_sy();
    PsciError::check(call(conduit, CPU_ON_64, target_mpidr, entry_phys, context_id) as i32)
}

/// AFFINITY_INFO for one core (lowest affinity level 0).
#[cfg(target_arch = "aarch64")]
pub fn affinity_info(conduit: Conduit, target_mpidr: u64) -> Result<AffinityState, PsciError> {
    match call(conduit, AFFINITY_INFO_64, target_mpidr, 0, 0) as i32 {
        0 => Ok(AffinityState::On),
        1 => Ok(AffinityState::Off),
        2 => Ok(AffinityState::OnPending),
        r => Err(PsciError::check(r).err().unwrap_or(PsciError::Unknown(r))),
    }
}

/// CPU_OFF: powers this core down. Returns only on failure (e.g. DENIED for the last core
/// under a Trusted OS).
#[cfg(target_arch = "aarch64")]
pub fn cpu_off(conduit: Conduit) -> PsciError {
    let r = call(conduit, CPU_OFF, 0, 0, 0) as i32;
    PsciError::check(r).err().unwrap_or(PsciError::Unknown(r))
}

/// SYSTEM_OFF. QEMU exits with status 0. If the call returns (it should not), parks the core.
#[cfg(target_arch = "aarch64")]
pub fn system_off(conduit: Conduit) -> ! {
    call(conduit, SYSTEM_OFF, 0, 0, 0);
    park()
}

/// SYSTEM_RESET. If the call returns (it should not), parks the core.
#[cfg(target_arch = "aarch64")]
pub fn system_reset(conduit: Conduit) -> ! {
    call(conduit, SYSTEM_RESET, 0, 0, 0);
    park()
}

#[cfg(target_arch = "aarch64")]
fn park() -> ! {
    loop {
        crate::cpu::wfi();
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn decoding() {
        assert_eq!(PsciError::check(0), Ok(()));
        assert_eq!(PsciError::check(-1), Err(PsciError::NotSupported));
        assert_eq!(PsciError::check(-4), Err(PsciError::AlreadyOn));
        assert_eq!(PsciError::check(-9), Err(PsciError::InvalidAddress));
        assert_eq!(PsciError::check(-42), Err(PsciError::Unknown(-42)));
        for code in -9..=-1 {
            assert_eq!(PsciError::check(code).unwrap_err().code(), code);
        }
        // The u64 the firmware leaves in x0 for -2, as the callers truncate it.
        assert_eq!(
            PsciError::check(0xffff_ffff_ffff_fffe_u64 as i32),
            Err(PsciError::InvalidParameters)
        );
        assert_eq!(PsciError::Denied.to_string(), "PSCI DENIED (-3)");
        assert_eq!(PsciError::Unknown(-12).to_string(), "PSCI error -12");
        assert_eq!(Conduit::from_dt_method("smc"), Some(Conduit::Smc));
        assert_eq!(Conduit::from_dt_method("psci"), None);
    }
}
