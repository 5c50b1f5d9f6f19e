//! ARM generic timer, EL1 virtual timer (CNTV_*): the one every hypervisor gives a guest.
//! Its interrupt is PPI 11 = INTID 27 ([`crate::gic::VIRT_TIMER_INTID`]), level-triggered.
//!
//! Boot requirement (kernel's job at EL2, if entered there): CNTVOFF_EL2 = 0 (or any fixed
//! value) and CNTHCTL_EL2.EL1PCTEN/EL1PCEN = 1; the virtual timer itself needs no EL2 enable.
//! If the kernel stays at EL2 with HCR_EL2.E2H = 0, CNTV_* still work as here.
//!
//! The conversions are pure and exist on the host too; the register accessors only on aarch64.

#[cfg(target_arch = "aarch64")]
use aarch64_cpu::registers::{CNTFRQ_EL0, CNTVCT_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0};
#[cfg(target_arch = "aarch64")]
use tock_registers::interfaces::{Readable, Writeable};

const NS_PER_S: u64 = 1_000_000_000;

/// Counter frequency in Hz (CNTFRQ_EL0, set by firmware / the VMM). Never assume a value.
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get() & 0xffff_ffff
}

/// The virtual count (CNTVCT_EL0), after an ISB so the read is not hoisted above earlier
/// instructions.
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn counter() -> u64 {
    crate::cpu::isb();
    CNTVCT_EL0.get()
}

/// Fires the virtual timer interrupt once the counter reaches `deadline` (absolute ticks):
/// CNTV_CVAL_EL0 = deadline, then CNTV_CTL_EL0 = ENABLE, IMASK clear. A deadline in the past
/// fires at once. Re-arming replaces the previous deadline.
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn arm_at(deadline: u64) {
    CNTV_CVAL_EL0.set(deadline);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    crate::cpu::isb();
}

/// Fires the virtual timer `ticks` from now.
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn arm_after(ticks: u64) {
    arm_at(counter().saturating_add(ticks));
}

/// Stops the virtual timer (ENABLE = 0): its level interrupt drops.
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn disarm() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
    crate::cpu::isb();
}

/// The event stream's trigger bit for an event at least every `period_us` microseconds at
/// `freq_hz` (and at most twice as often): CNTKCTL_EL1.EVNTI selects the counter bit whose
/// 0->1 transition generates an event, i.e. one event per 2^(EVNTI+1) ticks, so EVNTI =
/// floor(log2(half the period in ticks)), at most 15.
pub const fn event_stream_evnti(period_us: u64, freq_hz: u64) -> u64 {
    let half_period = us_to_ticks(period_us / 2, freq_hz);
    let half_period = if half_period == 0 { 1 } else { half_period };
    let evnti = half_period.ilog2() as u64;
    if evnti > 15 {
        15
    } else {
        evnti
    }
}

/// Turns on the generic timer's event stream (CNTKCTL_EL1.EVNTEN, EVNTI from
/// [`event_stream_evnti`] at this counter's frequency): a WFE event at least every
/// `period_us` (at most twice as often),
/// which bounds every monitor wait even if no store ever comes. EL0 access bits stay off.
#[cfg(target_arch = "aarch64")]
pub fn enable_event_stream(period_us: u64) {
    const EVNTEN: u64 = 1 << 2;
    let evnti = event_stream_evnti(period_us, frequency());
    // SAFETY: CNTKCTL_EL1 only controls EL0 timer access and the event stream.
    unsafe {
        core::arch::asm!("msr cntkctl_el1, {}", "isb", in(reg) EVNTEN | evnti << 4, options(nostack))
    };
}

/// The EL1 physical timer (CNTP), a second, independent interrupt source: the kernel keeps
/// the virtual timer for the executor's deadlines, applications may use this one as a
/// one-shot device interrupt. Compared against the physical count CNTPCT_EL0 (the virtual
/// count minus CNTVOFF, which a hypervisor may set). EL2 must grant EL1 access
/// (CNTHCTL_EL2.EL1PCEN; the kernel's EL2 drop does).
#[cfg(target_arch = "aarch64")]
pub mod phys {
    use aarch64_cpu::registers::{CNTPCT_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0};
    use tock_registers::interfaces::{Readable, Writeable};

    /// CNTPCT_EL0, after an ISB.
    #[inline]
    pub fn counter() -> u64 {
        crate::cpu::isb();
        CNTPCT_EL0.get()
    }

    /// Fires the physical timer interrupt `ticks` from now (CNTP_CVAL_EL0, CNTP_CTL_EL0).
    /// Returns the compare value: the [`counter`] value from which the interrupt is raised.
    #[inline]
    pub fn arm_after(ticks: u64) -> u64 {
        let at = counter().saturating_add(ticks);
        CNTP_CVAL_EL0.set(at);
        CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
        crate::cpu::isb();
        at
    }

    /// Stops the physical timer: its level interrupt drops.
    #[inline]
    pub fn disarm() {
        CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::CLEAR + CNTP_CTL_EL0::IMASK::SET);
        crate::cpu::isb();
    }
}

/// Whether the timer is enabled and its condition met (CNTV_CTL_EL0.ISTATUS; IMASK does not
/// matter).
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn is_pending() -> bool {
    let ctl = CNTV_CTL_EL0.extract();
    ctl.is_set(CNTV_CTL_EL0::ENABLE) && ctl.is_set(CNTV_CTL_EL0::ISTATUS)
}

/// CNTV_CTL_EL0 and CNTV_CVAL_EL0 as they are (diagnostics: is the deadline armed, unmasked,
/// its condition met?).
#[cfg(target_arch = "aarch64")]
pub fn virtual_state() -> (u64, u64) {
    (CNTV_CTL_EL0.get(), CNTV_CVAL_EL0.get())
}

/// Nanoseconds in `ticks` at `freq_hz`, rounded down, saturating; 0 if `freq_hz` is 0.
/// Exact without 128-bit arithmetic for any frequency up to 2^34 Hz.
pub const fn ticks_to_ns(ticks: u64, freq_hz: u64) -> u64 {
    if freq_hz == 0 {
        return 0;
    }
    let secs = ticks / freq_hz;
    let rem = ticks % freq_hz; // < freq_hz, so rem * 1e9 fits in u64 for freq_hz < 2^34
    secs.saturating_mul(NS_PER_S)
        .saturating_add(rem * NS_PER_S / freq_hz)
}

/// Ticks in `ns` nanoseconds at `freq_hz`, rounded up (a deadline never fires early),
/// saturating. Exact for any frequency up to 2^34 Hz.
pub const fn ns_to_ticks(ns: u64, freq_hz: u64) -> u64 {
    let secs = ns / NS_PER_S;
    let rem = ns % NS_PER_S; // < 1e9 < 2^30, so rem * freq_hz fits for freq_hz < 2^34
    secs.saturating_mul(freq_hz)
        .saturating_add((rem * freq_hz).div_ceil(NS_PER_S))
}

/// Microseconds in `ticks` (rounded down).
pub const fn ticks_to_us(ticks: u64, freq_hz: u64) -> u64 {
    ticks_to_ns(ticks, freq_hz) / 1_000
}

/// Ticks in `us` microseconds (rounded up).
pub const fn us_to_ticks(us: u64, freq_hz: u64) -> u64 {
    ns_to_ticks(us.saturating_mul(1_000), freq_hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        // QEMU: 62.5 MHz (16 ns per tick); Pi 4: 54 MHz; ARMv8.6+: 1 GHz.
        assert_eq!(ticks_to_ns(1, 62_500_000), 16);
        assert_eq!(ticks_to_ns(62_500_000, 62_500_000), NS_PER_S);
        assert_eq!(ns_to_ticks(16, 62_500_000), 1);
        assert_eq!(ns_to_ticks(17, 62_500_000), 2); // rounded up
        assert_eq!(ns_to_ticks(1_000, 54_000_000), 54);
        assert_eq!(ticks_to_ns(54, 54_000_000), 1_000);
        assert_eq!(ticks_to_ns(u64::MAX, 1_000_000_000), u64::MAX);
        // Large counts: no overflow (a year of 1 GHz ticks).
        let year = 365 * 24 * 3600 * NS_PER_S;
        assert_eq!(ticks_to_ns(year, 1_000_000_000), year);
        assert_eq!(ns_to_ticks(year, 54_000_000), 365 * 24 * 3600 * 54_000_000);
        assert_eq!(ns_to_ticks(u64::MAX, 1_000_000_000), u64::MAX);
        assert_eq!(ticks_to_ns(5, 0), 0);
        assert_eq!(us_to_ticks(1, 62_500_000), 63);
        assert_eq!(ticks_to_us(62_500, 62_500_000), 1_000);
    }

    #[test]
    fn event_stream_period() {
        // Half period 16 us: 62.5 MHz -> 1000 ticks -> bit 9 (an event every 1024 ticks,
        // 16.4 us); 1 GHz -> 16000 -> bit 13; 54 MHz (Pi 4) -> 864 -> bit 9; a tiny frequency
        // still gives bit 0, a huge one at most 15.
        assert_eq!(event_stream_evnti(32, 62_500_000), 9);
        assert_eq!(event_stream_evnti(32, 1_000_000_000), 13);
        assert_eq!(event_stream_evnti(32, 54_000_000), 9);
        assert_eq!(event_stream_evnti(32, 1), 0);
        assert_eq!(event_stream_evnti(32, u32::MAX as u64 * 1000), 15);
    }
}
