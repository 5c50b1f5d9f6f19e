//! Decoding ESR_EL1 into words a person can act on (Arm ARM D24.2.45).

/// ESR_EL1.EC: the exception class.
pub fn class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3f) as u8
}

/// The name of an exception class, as the Arm ARM spells it.
pub fn class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "Unknown reason (undefined instruction)",
        0x01 => "Trapped WFI/WFE",
        0x07 => "Trapped SVE/SIMD/FP access",
        0x0e => "Illegal Execution state",
        0x15 => "SVC instruction",
        0x16 => "HVC instruction",
        0x17 => "SMC instruction",
        0x18 => "Trapped MSR/MRS/system instruction",
        0x20 => "Instruction Abort from a lower EL",
        0x21 => "Instruction Abort",
        0x22 => "PC alignment fault",
        0x24 => "Data Abort from a lower EL",
        0x25 => "Data Abort",
        0x26 => "SP alignment fault",
        0x2f => "SError",
        0x30 => "Breakpoint from a lower EL",
        0x31 => "Breakpoint",
        0x32 => "Software step from a lower EL",
        0x33 => "Software step",
        0x34 => "Watchpoint from a lower EL",
        0x35 => "Watchpoint",
        0x3c => "BRK instruction",
        _ => "Reserved/other exception class",
    }
}

/// Whether FAR_EL1 holds a meaningful address for this class.
pub fn far_valid(ec: u8) -> bool {
    matches!(ec, 0x20 | 0x21 | 0x22 | 0x24 | 0x25 | 0x34 | 0x35)
}

/// For aborts: the fault status code (ISS.DFSC/IFSC) in words.
pub fn fault_status(esr: u64) -> &'static str {
    match esr & 0x3f {
        0b000100..=0b000111 => "translation fault",
        0b001001..=0b001011 => "access flag fault",
        0b001101..=0b001111 => "permission fault",
        0b000000..=0b000011 => "address size fault",
        0b100001 => "alignment fault",
        0b010000 => "synchronous external abort",
        0b110000 => "TLB conflict abort",
        _ => "other fault",
    }
}

/// For data aborts: was it a write (ISS.WnR)?
pub fn is_write(esr: u64) -> bool {
    esr & (1 << 6) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn decodes_data_abort() {
        let esr = (0x25u64 << 26) | (1 << 25) | (1 << 6) | 0b000101;
        assert_eq!(class(esr), 0x25);
        assert_eq!(class_name(class(esr)), "Data Abort");
        assert!(far_valid(0x25));
        assert_eq!(fault_status(esr), "translation fault");
        assert!(is_write(esr));
    }
}
