//! Arm semihosting (`hlt #0xf000` on AArch64): console output, the command line, and exit
//! with a status code, for QEMU with `-semihosting`.
//!
//! Where semihosting does not exist (KVM, Firecracker, QEMU without `-semihosting`) the `hlt`
//! is an UNDEFINED instruction. The kernel's synchronous exception handler recognises it
//! (the instruction at ELR is [`HLT_SEMIHOSTING`]), calls [`mark_unavailable`], sets x0 to
//! -1 and steps over it; from then on every call here returns at once without trapping.
//!
//! Lock-free: the availability flag is a plain (Relaxed load/store, no read-modify-write)
//! atomic, so all of this is usable before the MMU is on.

use core::sync::atomic::{AtomicBool, Ordering};

/// The encoding of `hlt #0xf000`: HLT is 0xd440_0000 | imm16 << 5.
pub const HLT_SEMIHOSTING: u32 = 0xd440_0000 | (0xf000 << 5);

/// SYS_WRITEC: one character at `[x1]`.
pub const SYS_WRITEC: u64 = 0x03;
/// SYS_WRITE0: the NUL-terminated string at x1.
pub const SYS_WRITE0: u64 = 0x04;
/// SYS_GET_CMDLINE: x1 -> [buffer, length].
pub const SYS_GET_CMDLINE: u64 = 0x15;
/// SYS_EXIT: with the extended form, x1 -> [reason, subcode].
pub const SYS_EXIT: u64 = 0x18;
/// ADP_Stopped_ApplicationExit: the reason that carries an exit code.
pub const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// Cleared by [`mark_unavailable`]. Relaxed is enough: only the same core's exception handler
/// writes it in between two of its own calls, and other cores merely trap once more.
static AVAILABLE: AtomicBool = AtomicBool::new(true);

/// Records that semihosting traps as an undefined instruction here (called by the kernel's
/// exception handler); later calls return at once.
pub fn mark_unavailable() {
    AVAILABLE.store(false, Ordering::Relaxed);
}

/// False once a semihosting call has trapped (see [`mark_unavailable`]). True before the
/// first call even where semihosting does not exist.
pub fn is_available() -> bool {
    AVAILABLE.load(Ordering::Relaxed)
}

/// One semihosting call: operation `op` in w0, `param` in x1; returns x0 (u64::MAX if the
/// kernel's handler stepped over an undefined `hlt`).
///
/// # Safety
/// `param` must be what `op` expects (usually a pointer to a parameter block the host reads
/// or writes).
#[cfg(target_arch = "aarch64")]
#[inline]
pub unsafe fn call(op: u64, param: u64) -> u64 {
    if !is_available() {
        return u64::MAX;
    }
    let mut x0 = op;
    // SAFETY: the caller's contract on `param`; the debugger/QEMU reads and writes only the
    // memory `param` describes (no `readonly`/`nomem`: it may write, e.g. GET_CMDLINE).
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            inout("x0") x0,
            in("x1") param,
            options(nostack, preserves_flags)
        )
    };
    x0
}

/// Writes `s` to the semihosting console (SYS_WRITE0 in chunks; NUL bytes are dropped).
#[cfg(target_arch = "aarch64")]
pub fn write_str(s: &str) {
    write(s.as_bytes());
}

/// Writes `bytes` to the semihosting console (SYS_WRITE0 in chunks; NUL bytes are dropped).
#[cfg(target_arch = "aarch64")]
pub fn write(bytes: &[u8]) {
    let mut buf = [0u8; 128];
    let mut n = 0;
    for &b in bytes {
        if !is_available() {
            return;
        }
        if b == 0 {
            continue;
        }
        buf[n] = b;
        n += 1;
        if n == buf.len() - 1 {
            buf[n] = 0;
            write0(&buf[..=n]);
            n = 0;
        }
    }
    if n > 0 {
        buf[n] = 0;
        write0(&buf[..=n]);
    }
}

/// SYS_WRITE0 of a NUL-terminated byte string (anything after the first NUL is ignored).
/// Does nothing if `s` has no NUL.
#[cfg(target_arch = "aarch64")]
pub fn write0(s: &[u8]) {
    if s.contains(&0) {
        // SAFETY: `s` is a readable, NUL-terminated string, as SYS_WRITE0 requires.
        unsafe { call(SYS_WRITE0, s.as_ptr() as u64) };
    }
}

/// SYS_WRITEC: one byte.
#[cfg(target_arch = "aarch64")]
pub fn writec(c: u8) {
    // SAFETY: x1 points at one readable byte, as SYS_WRITEC requires.
    unsafe { call(SYS_WRITEC, &c as *const u8 as u64) };
}

/// The command line (QEMU: `-append`) into `buf`, as UTF-8. `None` without semihosting, if
/// it does not fit, or if it is not UTF-8.
#[cfg(target_arch = "aarch64")]
pub fn get_cmdline(buf: &mut [u8]) -> Option<&str> {
    let mut block = [buf.as_mut_ptr() as u64, buf.len() as u64];
    // SAFETY: the block names `buf` and its length; the host writes at most that many bytes
    // into it and the actual length back into block[1].
    let r = unsafe { call(SYS_GET_CMDLINE, block.as_mut_ptr() as u64) };
    if r != 0 {
        return None;
    }
    let len = (block[1] as usize).min(buf.len());
    let line = &buf[..len];
    let line = line.split(|&b| b == 0).next().unwrap_or(line);
    core::str::from_utf8(line).ok()
}

/// SYS_EXIT with ADP_Stopped_ApplicationExit and `code`: QEMU exits with status `code`.
///
/// Returns only if semihosting is unavailable (the `hlt` was stepped over), so the caller can
/// fall back to PSCI SYSTEM_OFF.
#[cfg(target_arch = "aarch64")]
pub fn exit(code: u32) {
    let block = [ADP_STOPPED_APPLICATION_EXIT, code as u64];
    // SAFETY: x1 points at the two-word parameter block of the extended SYS_EXIT.
    unsafe { call(SYS_EXIT, block.as_ptr() as u64) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hlt_encoding() {
        assert_eq!(HLT_SEMIHOSTING, 0xd45e_0000);
        // Little-endian bytes as they sit in the image (objdump: "00 00 5e d4").
        assert_eq!(HLT_SEMIHOSTING.to_le_bytes(), [0x00, 0x00, 0x5e, 0xd4]);
    }

    #[test]
    fn availability_flag() {
        assert!(is_available());
        mark_unavailable();
        assert!(!is_available());
        AVAILABLE.store(true, Ordering::Relaxed);
    }
}
