// EL1 exception vectors. Two entry paths:
//
// - IRQ from kernel code (slot 1: current EL, SP_EL0, where every task and the executor's
//   loop run) takes the light path, `irq_entry`: it saves what the AAPCS64 lets a called
//   function change of the general registers, x0-x18, x29, x30, plus ELR/SPSR, calls
//   `irq_handle` (Rust) and returns. x19-x28 are callee-saved: the Rust code preserves them
//   itself, and nothing reads the interrupted x19-x28 on this path.
//   FP/SIMD is saved lazily: the kernel is built with FP/SIMD and the compiler may use
//   vector registers anywhere, and an interrupt lands where all 128 bits of any of q0-q31
//   may be live (only the low halves of v8-v15 are callee-saved), but the IRQ path itself
//   uses none. So `irq_entry` turns FP/SIMD off (CPACR_EL1.FPEN = 0b00) for the handler and
//   keeps the frame's address in TPIDR_EL0 (nothing runs at EL0). The first FP/SIMD
//   instruction in the handler traps (synchronous, slot 4), and `fp_lazy` turns FP/SIMD
//   back on, saves q0-q31/FPCR/FPSR into the IRQ frame, marks it, and retries the
//   instruction; `irq_entry` restores them on the way out only if marked. Any other
//   exception taken while FP/SIMD is off (a fault in a handler) gets the same save first,
//   then the normal report path with FP/SIMD on. Layout: IRQ_* below.
// - Everything else (synchronous exceptions: faults, the semihosting trap; an IRQ taken
//   while on the exception stack; FIQ/SError; the lower-EL slots) saves the full
//   interrupted state (x0-x30, ELR, SPSR, q0-q31/FPCR/FPSR) into a TrapFrame, so a fault
//   report can read any register, and calls `exception_dispatch`. Layout must match
//   kernel/src/exception/frame.rs.

.equ FRAME_GPRS,   0            // x0..x30: 31 * 8
.equ FRAME_ELR,    248
.equ FRAME_SPSR,   256
.equ FRAME_FPCR,   264
.equ FRAME_FPSR,   272
.equ FRAME_Q,      288          // q0..q31: 32 * 16, 16-byte aligned
.equ FRAME_SIZE,   800

// The light IRQ frame (irq_entry): x0-x18, x29, x30, ELR, SPSR, the interrupted CPACR_EL1,
// whether fp_lazy saved FP/SIMD (0 = no), and then FPCR, FPSR, q0-q31 (written only by
// fp_lazy).
.equ IRQ_X18_X29,   144
.equ IRQ_X30_ELR,   160
.equ IRQ_SPSR_CPACR, 176
.equ IRQ_FP_SAVED,  192
.equ IRQ_FPCR,      200
.equ IRQ_FPSR,      208
.equ IRQ_Q,         224         // 16-byte aligned
.equ IRQ_FRAME_SIZE, 736        // IRQ_Q + 32 * 16; a multiple of 16
.equ CPACR_FPEN,    (3 << 20)   // CPACR_EL1.FPEN: 0b11 no traps, 0b00 FP/SIMD traps at EL1
.equ EC_FP_ACCESS,  0x07        // ESR_EL1.EC of a trapped FP/SIMD access

// A vector slot holds only 32 instructions: save x0/x1, load the slot number, and let
// save_common store the rest.
.macro VECTOR kind
.balign 128
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       save_common
.endm

.section .text.vectors, "ax"
.balign 2048
.global exception_vectors
exception_vectors:
// 0-3: current EL with SP_EL0 (kernel code: tasks and the executor's loop); 4-7: current
// EL with SP_ELx (inside an exception handler, on the exception stack); 8-15: lower EL
// AArch64/AArch32 (nothing runs there). Order within each group: synchronous, IRQ, FIQ,
// SError. exception_dispatch (Rust) sorts out all but slot 1 (irq_entry).
    VECTOR 0
// Slot 1, IRQ from kernel code: the light path.
.balign 128
    sub     sp, sp, #IRQ_FRAME_SIZE
    stp     x0, x1, [sp, #0]
    b       irq_entry
    VECTOR 2
    VECTOR 3
// Slot 4, synchronous on the exception stack: with FP/SIMD off we are inside irq_entry's
// handler (the only code that turns it off), so fp_lazy first.
.balign 128
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mrs     x0, cpacr_el1
    tbz     x0, #20, fp_lazy
    mov     x1, #4
    b       save_common
    VECTOR 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

// x1 = vector slot; x0/x1 already saved at [sp].
save_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x0, elr_el1
    stp     x30, x0, [sp, #240]
    mrs     x0, spsr_el1
    mrs     x2, fpcr
    stp     x0, x2, [sp, #FRAME_SPSR]
    mrs     x0, fpsr
    str     x0, [sp, #FRAME_FPSR]
    stp     q0, q1, [sp, #FRAME_Q + 0]
    stp     q2, q3, [sp, #FRAME_Q + 32]
    stp     q4, q5, [sp, #FRAME_Q + 64]
    stp     q6, q7, [sp, #FRAME_Q + 96]
    stp     q8, q9, [sp, #FRAME_Q + 128]
    stp     q10, q11, [sp, #FRAME_Q + 160]
    stp     q12, q13, [sp, #FRAME_Q + 192]
    stp     q14, q15, [sp, #FRAME_Q + 224]
    stp     q16, q17, [sp, #FRAME_Q + 256]
    stp     q18, q19, [sp, #FRAME_Q + 288]
    stp     q20, q21, [sp, #FRAME_Q + 320]
    stp     q22, q23, [sp, #FRAME_Q + 352]
    stp     q24, q25, [sp, #FRAME_Q + 384]
    stp     q26, q27, [sp, #FRAME_Q + 416]
    stp     q28, q29, [sp, #FRAME_Q + 448]
    stp     q30, q31, [sp, #FRAME_Q + 480]
    mov     x0, sp                      // exception_dispatch(frame, slot)
    bl      exception_dispatch

exception_return:
    ldp     q0, q1, [sp, #FRAME_Q + 0]
    ldp     q2, q3, [sp, #FRAME_Q + 32]
    ldp     q4, q5, [sp, #FRAME_Q + 64]
    ldp     q6, q7, [sp, #FRAME_Q + 96]
    ldp     q8, q9, [sp, #FRAME_Q + 128]
    ldp     q10, q11, [sp, #FRAME_Q + 160]
    ldp     q12, q13, [sp, #FRAME_Q + 192]
    ldp     q14, q15, [sp, #FRAME_Q + 224]
    ldp     q16, q17, [sp, #FRAME_Q + 256]
    ldp     q18, q19, [sp, #FRAME_Q + 288]
    ldp     q20, q21, [sp, #FRAME_Q + 320]
    ldp     q22, q23, [sp, #FRAME_Q + 352]
    ldp     q24, q25, [sp, #FRAME_Q + 384]
    ldp     q26, q27, [sp, #FRAME_Q + 416]
    ldp     q28, q29, [sp, #FRAME_Q + 448]
    ldp     q30, q31, [sp, #FRAME_Q + 480]
    ldp     x0, x1, [sp, #FRAME_SPSR]
    msr     spsr_el1, x0
    msr     fpcr, x1
    ldr     x0, [sp, #FRAME_FPSR]
    msr     fpsr, x0
    ldp     x30, x0, [sp, #240]
    msr     elr_el1, x0
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    add     sp, sp, #FRAME_SIZE
    eret

// x0/x1 already saved at [sp]; IRQ_FRAME_SIZE reserved.
irq_entry:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    mrs     x0, elr_el1
    stp     x18, x29, [sp, #IRQ_X18_X29]
    stp     x30, x0, [sp, #IRQ_X30_ELR]
    mrs     x0, spsr_el1
    mrs     x1, cpacr_el1
    stp     x0, x1, [sp, #IRQ_SPSR_CPACR]
    str     xzr, [sp, #IRQ_FP_SAVED]
    bic     x1, x1, #CPACR_FPEN         // FP/SIMD off: the first use traps to fp_lazy
    msr     cpacr_el1, x1
    mov     x0, sp
    msr     tpidr_el0, x0               // where fp_lazy saves
    isb                                 // the CPACR_EL1 write takes effect before the handler
    bl      irq_handle
    ldp     x0, x1, [sp, #IRQ_SPSR_CPACR]
    msr     spsr_el1, x0
    msr     cpacr_el1, x1               // FP/SIMD as it was (eret synchronizes it)
    ldr     x0, [sp, #IRQ_FP_SAVED]
    cbnz    x0, irq_fp_restore
irq_restore_gprs:
    ldp     x30, x0, [sp, #IRQ_X30_ELR]
    msr     elr_el1, x0
    ldp     x18, x29, [sp, #IRQ_X18_X29]
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    add     sp, sp, #IRQ_FRAME_SIZE
    eret

// The handler used FP/SIMD (fp_lazy saved the interrupted values): put them back.
irq_fp_restore:
    isb                                 // FP/SIMD on (the msr above) before the loads
    ldp     q0, q1, [sp, #IRQ_Q + 0]
    ldp     q2, q3, [sp, #IRQ_Q + 32]
    ldp     q4, q5, [sp, #IRQ_Q + 64]
    ldp     q6, q7, [sp, #IRQ_Q + 96]
    ldp     q8, q9, [sp, #IRQ_Q + 128]
    ldp     q10, q11, [sp, #IRQ_Q + 160]
    ldp     q12, q13, [sp, #IRQ_Q + 192]
    ldp     q14, q15, [sp, #IRQ_Q + 224]
    ldp     q16, q17, [sp, #IRQ_Q + 256]
    ldp     q18, q19, [sp, #IRQ_Q + 288]
    ldp     q20, q21, [sp, #IRQ_Q + 320]
    ldp     q22, q23, [sp, #IRQ_Q + 352]
    ldp     q24, q25, [sp, #IRQ_Q + 384]
    ldp     q26, q27, [sp, #IRQ_Q + 416]
    ldp     q28, q29, [sp, #IRQ_Q + 448]
    ldp     q30, q31, [sp, #IRQ_Q + 480]
    ldr     x0, [sp, #IRQ_FPCR]
    msr     fpcr, x0
    ldr     x0, [sp, #IRQ_FPSR]
    msr     fpsr, x0
    b       irq_restore_gprs

// From slot 4 with FP/SIMD off: x0 = CPACR_EL1, x0/x1 saved at [sp] (FRAME_SIZE reserved).
// Only x0/x1 are used: for an FP trap the handler resumes with every other register as it
// was. FP/SIMD on, then the interrupted code's FP/SIMD state (still in the registers: the
// handler could not touch them) into the light IRQ frame (TPIDR_EL0), marked saved.
fp_lazy:
    orr     x0, x0, #CPACR_FPEN
    msr     cpacr_el1, x0
    isb                                 // FP/SIMD on before the stores below
    mrs     x1, tpidr_el0
    stp     q0, q1, [x1, #IRQ_Q + 0]
    stp     q2, q3, [x1, #IRQ_Q + 32]
    stp     q4, q5, [x1, #IRQ_Q + 64]
    stp     q6, q7, [x1, #IRQ_Q + 96]
    stp     q8, q9, [x1, #IRQ_Q + 128]
    stp     q10, q11, [x1, #IRQ_Q + 160]
    stp     q12, q13, [x1, #IRQ_Q + 192]
    stp     q14, q15, [x1, #IRQ_Q + 224]
    stp     q16, q17, [x1, #IRQ_Q + 256]
    stp     q18, q19, [x1, #IRQ_Q + 288]
    stp     q20, q21, [x1, #IRQ_Q + 320]
    stp     q22, q23, [x1, #IRQ_Q + 352]
    stp     q24, q25, [x1, #IRQ_Q + 384]
    stp     q26, q27, [x1, #IRQ_Q + 416]
    stp     q28, q29, [x1, #IRQ_Q + 448]
    stp     q30, q31, [x1, #IRQ_Q + 480]
    mrs     x0, fpcr
    str     x0, [x1, #IRQ_FPCR]
    mrs     x0, fpsr
    str     x0, [x1, #IRQ_FPSR]
    str     x1, [x1, #IRQ_FP_SAVED]     // non-zero: saved
    mrs     x0, esr_el1
    lsr     x0, x0, #26
    cmp     x0, #EC_FP_ACCESS
    b.ne    1f
    ldp     x0, x1, [sp, #0]            // the FP/SIMD access trap: retry the instruction
    add     sp, sp, #FRAME_SIZE
    eret
1:  mov     x1, #4                      // anything else: the normal path (a fault report)
    b       save_common
