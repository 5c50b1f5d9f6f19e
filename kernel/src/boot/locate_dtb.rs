//! Finding the device tree.
//!
//! 1. x0 at entry (the Linux arm64 boot protocol, used by QEMU for `-kernel Image`,
//!    Firecracker, cloud-hypervisor, crosvm, U-Boot).
//! 2. The start of the 1 GiB-aligned region holding the image: QEMU's ELF boot leaves x0 = 0
//!    and puts the DTB at the start of RAM (0x4000_0000 on `virt`); so does its "firmware"
//!    boot (no -kernel, image placed with `-device loader`).

use core::fmt;
use hal::dtb::DtbError;

const GIB: usize = 1 << 30;

pub enum LocateError {
    /// Something was named as the DTB but is not a valid one.
    Invalid {
        addr: usize,
        from: &'static str,
        err: DtbError<'static>,
    },
    /// Nothing was named and nothing was found.
    Missing {
        probed: usize,
        err: DtbError<'static>,
    },
}

impl fmt::Display for LocateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocateError::Invalid { addr, from, err } => {
                write!(f, "bad device tree at {:#x} (from {}): {}", addr, from, err)
            }
            LocateError::Missing { probed, err } => write!(
                f,
                "no device tree: x0 was 0 and none at {:#x} ({})",
                probed, err
            ),
        }
    }
}

pub fn locate(x0: usize, image_base: usize) -> Result<&'static [u8], LocateError> {
    if x0 != 0 {
        // SAFETY: the boot protocol names x0 as the DTB's address; the header is validated
        // before anything beyond it is read.
        return unsafe { hal::dtb::dtb_slice_from_ptr(x0) }.map_err(|err| LocateError::Invalid {
            addr: x0,
            from: "x0",
            err,
        });
    }
    let probed = image_base & !(GIB - 1);
    // SAFETY: the start of the RAM region we were loaded into is readable memory; the header
    // is validated before anything beyond it is read.
    unsafe { hal::dtb::dtb_slice_from_ptr(probed) }
        .map_err(|err| LocateError::Missing { probed, err })
}
