// aiolos entry: arm64 Image header, EL2 -> EL1 drop, self-relocation, BSS, stacks.
//
// Everything here runs with the MMU off and must be position-independent: only PC-relative
// addressing (adr/adrp) and absolute *values* from the linker script (sizes, the link base),
// never an absolute address, until the relocation loop has run.
//
// Register use across the primary path:
//   x19 = DTB physical address from x0 (0 under QEMU's ELF boot: Rust then looks at RAM start)
//   x20 = exception level we were entered at (1 or 2)
//   x21 = runtime base of the image (address of _start)

.section .text.head, "ax"
.global _start
_start:
    // --- arm64 Linux Image header (Documentation/arch/arm64/booting.rst) ---
    b       primary_entry               // code0: branch to the real entry
    .long   0                           // code1
    .quad   0                           // text_offset: load at a 2 MiB-aligned base
    .quad   __image_size                // image_size, BSS and stacks included
    .quad   0xa                         // flags: LE, 4 KiB pages, anywhere in RAM
    .quad   0                           // res2
    .quad   0                           // res3
    .quad   0                           // res4
    .ascii  "ARM\x64"                   // magic
    .long   0                           // res5 (no PE header)

primary_entry:
    msr     daifset, #0xf               // mask D, A, I, F until we are ready
    mov     x19, x0
    bl      drop_to_el1                 // returns x20 = entry EL
    adr     x21, _start

    adr     x9, exception_vectors       // a vector table before anything can fault
    msr     vbar_el1, x9
    isb
    bl      enable_fp

    bl      apply_relocations
    bl      zero_bss

    mov     x0, #0                      // core 0 stacks
    bl      setup_stacks

    mov     x0, x19                     // early_main(dtb, entry_el, image_base)
    mov     x1, x20
    mov     x2, x21
    bl      early_main                  // returns with the MMU on
    bl      kernel_main
1:  wfe                                 // kernel_main never returns
    b       1b

// Secondary cores arrive here from PSCI CPU_ON or a spin-table release with
// x0 = core index (CPU_ON context_id; the spin-table path sets it in spin_table_entry).
.global secondary_entry
secondary_entry:
    msr     daifset, #0xf
    mov     x19, x0
    bl      drop_to_el1
    adr     x9, exception_vectors
    msr     vbar_el1, x9
    isb
    bl      enable_fp
    mov     x0, x19
    bl      setup_stacks
    mov     x0, x19                     // secondary_early(core_index, entry_el)
    mov     x1, x20
    bl      secondary_early             // returns x0 = core index, MMU on
    bl      secondary_main
1:  wfe
    b       1b

// Spin-table release path: firmware jumps here with no argument. The core index is
// recovered from its MPIDR by the table the primary published (see smp.rs).
.global spin_table_entry
spin_table_entry:
    msr     daifset, #0xf
    mrs     x0, mpidr_el1
    mov     x9, #0xffffff               // Aff2..Aff0
    movk    x9, #0xff, lsl #32          // Aff3
    and     x0, x0, x9
    adrp    x9, SPIN_TABLE_MPIDRS       // the table's address (boot arena), see smp.rs
    ldr     x9, [x9, :lo12:SPIN_TABLE_MPIDRS]
    adrp    x3, SPIN_TABLE_COUNT
    ldr     x3, [x3, :lo12:SPIN_TABLE_COUNT]
    mov     x1, #0
2:  cmp     x1, x3
    b.hs    4f
    ldr     x2, [x9, x1, lsl #3]
    cmp     x2, x0
    b.eq    3f
    add     x1, x1, #1
    b       2b
4:  wfe                                 // not a core we know: park it
    b       4b
3:  mov     x0, x1
    b       secondary_entry

// x0 = core index. Sets up both stacks of that core and leaves SPSel = 0, so kernel code
// runs on SP_EL0 and every exception switches to SP_EL1, a separate exception stack: a
// stack overflow into a guard page is then reported instead of faulting forever.
// Per-core block (low to high, see layout.rs):
//   [guard][exception stack][guard][main stack]
// Core 0's block is the image's .stacks; core i > 0 has block i - 1 of the secondaries'
// blocks in the boot arena (SECONDARY_STACKS_BASE, written by the primary).
// Clobbers x9, x10, x11; keeps x0.
setup_stacks:
    cbnz    x0, 1f
    adrp    x9, __stacks_start
    add     x9, x9, :lo12:__stacks_start
    b       2f
1:  adrp    x9, SECONDARY_STACKS_BASE
    ldr     x9, [x9, :lo12:SECONDARY_STACKS_BASE]
    sub     x11, x0, #1
    ldr     x10, ={stack_stride}
    madd    x9, x11, x10, x9            // block base
2:  add     x10, x9, #{exc_stack_top}
    msr     spsel, #1
    mov     sp, x10                     // SP_EL1: exception stack
    msr     spsel, #0
    add     x10, x9, #{stack_stride}
    mov     sp, x10                     // SP_EL0: main stack
    ret

// Leave EL2 for EL1 (x20 = entry EL). At EL1 this only records the level.
drop_to_el1:
    mrs     x9, CurrentEL
    lsr     x20, x9, #2
    cmp     x20, #2
    b.ne    9f
    mov     x9, #(1 << 31)              // HCR_EL2.RW: EL1 is AArch64; no traps, no stage 2
    msr     hcr_el2, x9
    mov     x9, #3                      // CNTHCTL_EL2.EL1PCTEN | EL1PCEN: timers usable at EL1
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr            // virtual counter == physical counter
    mov     x9, #0x33ff                 // CPTR_EL2: RES1 bits, TFP = 0 (no FP/SIMD trap)
    msr     cptr_el2, x9
    mrs     x9, id_aa64pfr0_el1         // GICv3 system registers implemented?
    ubfx    x9, x9, #24, #4
    cbz     x9, 1f
    mrs     x9, S3_4_C12_C9_5           // ICC_SRE_EL2
    mov     x10, #0x9                   // SRE | Enable (EL1 may use ICC_SRE_EL1)
    orr     x9, x9, x10
    msr     S3_4_C12_C9_5, x9
    isb
1:  msr     vttbr_el2, xzr
    mrs     x9, midr_el1                // EL1 sees the real IDs
    msr     vpidr_el2, x9
    mrs     x9, mpidr_el1
    msr     vmpidr_el2, x9
    ldr     x9, =0x30d00800             // SCTLR_EL1: RES1 bits, MMU and caches off
    msr     sctlr_el1, x9
    mov     x9, #0x3c5                  // SPSR_EL2: EL1h, DAIF masked
    msr     spsr_el2, x9
    adr     x9, 9f
    msr     elr_el2, x9
    eret
9:  ret

enable_fp:
    mrs     x9, cpacr_el1
    orr     x9, x9, #(3 << 20)          // CPACR_EL1.FPEN = 0b11: no FP/SIMD traps at EL1
    msr     cpacr_el1, x9
    isb
    ret

// Apply R_AARCH64_RELATIVE entries: *(offset + delta) = addend + delta, delta = runtime base
// minus link base. Any other relocation type means the image was built wrong: stop.
apply_relocations:
    ldr     x9, =__image_link_base      // absolute symbol: resolved at link time
    sub     x9, x21, x9                 // delta
    adrp    x10, __rela_start
    add     x10, x10, :lo12:__rela_start
    adrp    x11, __rela_end
    add     x11, x11, :lo12:__rela_end
1:  cmp     x10, x11
    b.hs    3f
    ldp     x12, x13, [x10], #16        // r_offset, r_info
    ldr     x14, [x10], #8              // r_addend
    cmp     w13, #1027                  // R_AARCH64_RELATIVE
    b.ne    2f
    add     x14, x14, x9
    str     x14, [x12, x9]
    b       1b
2:  wfe                                 // unsupported relocation: the build is broken
    b       2b
3:  ret

zero_bss:
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
1:  cmp     x9, x10
    b.hs    2f
    stp     xzr, xzr, [x9], #16
    b       1b
2:  ret
