//! Exception entry (`vectors.S`) and dispatch: IRQs to [`crate::irq`] (those from kernel
//! code through a light entry that saves only the caller-saved registers), everything else
//! is a decoded report and a failed run — except the one trap we expect, a semihosting
//! `hlt` where no debugger listens.

mod esr;
mod frame;

pub use frame::TrapFrame;

use crate::println_forced;

core::arch::global_asm!(include_str!("vectors.S"));

/// Vector slot groups (see `vectors.S`).
const FROM_KERNEL_SP_EL0: u64 = 0;
const FROM_KERNEL_SP_EL1: u64 = 1;

const KIND_SYNC: u64 = 0;
const KIND_IRQ: u64 = 1;

/// The light IRQ path's Rust half (`irq_entry` in `vectors.S`: an IRQ from kernel code,
/// with only the caller-saved registers saved).
#[no_mangle]
extern "C" fn irq_handle() {
    crate::irq::handle()
}

/// Every other exception (`save_common` in `vectors.S`, a full [`TrapFrame`]).
#[no_mangle]
extern "C" fn exception_dispatch(frame: &mut TrapFrame, slot: u64) {
    let (origin, kind) = (slot / 4, slot % 4);
    match (origin, kind) {
        (FROM_KERNEL_SP_EL0 | FROM_KERNEL_SP_EL1, KIND_SYNC) => synchronous(frame, origin),
        (FROM_KERNEL_SP_EL0 | FROM_KERNEL_SP_EL1, KIND_IRQ) => crate::irq::handle(),
        _ => unexpected(frame, slot),
    }
}

fn synchronous(frame: &mut TrapFrame, origin: u64) {
    let (esr, far) = hal::cpu::esr_far_el1();
    let ec = esr::class(esr);
    if ec == 0 && origin == FROM_KERNEL_SP_EL0 && is_semihosting_call(frame.elr) {
        // No semihosting here (KVM, Firecracker, QEMU without -semihosting): the `hlt`
        // is undefined. Remember, fail the call and step over it.
        hal::semihosting::mark_unavailable();
        frame.x[0] = u64::MAX;
        frame.elr += 4;
        return;
    }
    let core = crate::smp::core_index();
    println_forced!(
        "core {}: synchronous exception: {} (EC {:#04x}), ESR {:#010x}",
        core,
        esr::class_name(ec),
        ec,
        esr
    );
    if esr::far_valid(ec) {
        let what = if ec == 0x24 || ec == 0x25 {
            if esr::is_write(esr) {
                "write"
            } else {
                "read"
            }
        } else {
            "fetch"
        };
        println_forced!(
            "  FAR {:#018x} ({} {}){}",
            far,
            esr::fault_status(esr),
            what,
            if crate::boot::layout::is_guard_page(far as usize) {
                ": stack overflow into a guard page"
            } else {
                ""
            }
        );
    }
    println_forced!(
        "  ELR {:#018x}  SPSR {:#010x}  LR {:#018x}  FP {:#018x}",
        frame.elr,
        frame.spsr,
        frame.x[30],
        frame.x[29]
    );
    if origin == FROM_KERNEL_SP_EL1 {
        println_forced!("  (taken while handling another exception)");
    }
    crate::exit::fail(format_args!("{} on core {}", esr::class_name(ec), core))
}

fn is_semihosting_call(elr: u64) -> bool {
    // SAFETY: ELR_EL1 of a synchronous exception from kernel code points at the faulting
    // instruction, inside the (mapped, readable) kernel image.
    let insn = unsafe { core::ptr::read_volatile(elr as *const u32) };
    insn == hal::semihosting::HLT_SEMIHOSTING
}

fn unexpected(frame: &TrapFrame, slot: u64) -> ! {
    let (esr, far) = hal::cpu::esr_far_el1();
    let kind = ["synchronous", "IRQ", "FIQ", "SError"][(slot % 4) as usize];
    println_forced!(
        "core {}: unexpected {} exception (vector slot {}): ESR {:#010x} FAR {:#018x} ELR {:#018x}",
        crate::smp::core_index(),
        kind,
        slot,
        esr,
        far,
        frame.elr
    );
    crate::exit::fail(format_args!("unexpected {} exception", kind))
}
