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
    // --- arm64 Linux Image header (Documentation/arch/arm64/booting.rst), which is also
    // --- the DOS stub of a PE/COFF EFI application (UEFI spec 2.10 sec. 2.1.1) ---
    // code0: "MZ" (the DOS magic) in its low half, and an instruction that changes nothing
    // we rely on: ccmp x18, #0, #0xd, pl (only NZCV, which nothing reads before setting).
    .inst   0xfa405a4d
    b       primary_entry               // code1: branch to the real entry
    .quad   0                           // text_offset: load at a 2 MiB-aligned base
    .quad   __image_size                // image_size, BSS and stacks included
    .quad   0xa                         // flags: LE, 4 KiB pages, anywhere in RAM
    .quad   0                           // res2
    .quad   0                           // res3
    .quad   0                           // res4
    .ascii  "ARM\x64"                   // magic
    .long   pe_header - _start          // res5 = e_lfanew (offset 0x3c): the PE header

// PE/COFF header (Microsoft PE format; layout as Linux's arch/arm64/kernel/efi-header.S).
// One section covers everything after the 4 KiB of headers: the file's bytes, then (virtual
// size beyond the raw size, zero-filled by the loader) BSS and stacks. It is RWX: the image
// is one RWX segment (linker/kernel.ld), and the EFI entry relocates it in place.
// No base relocations: the EFI entry applies its own R_AARCH64_RELATIVE ones (ImageBase 0,
// relocations not stripped, so a loader may place it anywhere).
    .balign 8
pe_header:
    .ascii  "PE\0\0"
    .short  0xaa64                      // Machine: AArch64
    .short  1                           // NumberOfSections
    .long   0                           // TimeDateStamp
    .long   0                           // PointerToSymbolTable
    .long   0                           // NumberOfSymbols
    .short  pe_sections - pe_optional   // SizeOfOptionalHeader
    .short  0x206                       // Characteristics: executable, no line numbers, no debug
pe_optional:
    .short  0x20b                       // Magic: PE32+
    .byte   0                           // MajorLinkerVersion
    .byte   0                           // MinorLinkerVersion
    .long   __pe_raw_size               // SizeOfCode
    .long   0                           // SizeOfInitializedData
    .long   __pe_bss_size               // SizeOfUninitializedData
    .long   efi_entry - _start          // AddressOfEntryPoint
    .long   pe_text - _start            // BaseOfCode
    .quad   0                           // ImageBase
    .long   0x1000                      // SectionAlignment
    .long   0x1000                      // FileAlignment
    .short  0, 0                        // Major/MinorOperatingSystemVersion
    .short  0, 0                        // Major/MinorImageVersion
    .short  0, 0                        // Major/MinorSubsystemVersion
    .long   0                           // Win32VersionValue
    .long   __image_size                // SizeOfImage: BSS and stacks included
    .long   pe_text - _start            // SizeOfHeaders
    .long   0                           // CheckSum
    .short  10                          // Subsystem: EFI application
    .short  0                           // DllCharacteristics (not NX_COMPAT: one RWX section)
    .quad   0                           // SizeOfStackReserve
    .quad   0                           // SizeOfStackCommit
    .quad   0                           // SizeOfHeapReserve
    .quad   0                           // SizeOfHeapCommit
    .long   0                           // LoaderFlags
    .long   (pe_sections - pe_dirs) / 8 // NumberOfRvaAndSizes
pe_dirs:
    .quad   0                           // Export
    .quad   0                           // Import
    .quad   0                           // Resource
    .quad   0                           // Exception
    .quad   0                           // Certificate
    .quad   0                           // BaseRelocation: none
pe_sections:
    .ascii  ".text\0\0\0"
    .long   __pe_virt_size              // VirtualSize
    .long   pe_text - _start            // VirtualAddress
    .long   __pe_raw_size               // SizeOfRawData
    .long   pe_text - _start            // PointerToRawData
    .long   0                           // PointerToRelocations
    .long   0                           // PointerToLinenumbers
    .short  0                           // NumberOfRelocations
    .short  0                           // NumberOfLinenumbers
    .long   0xe0000020                  // Characteristics: code, read, write, execute

    .balign 0x1000                      // the headers end; the section starts here
pe_text:

// UEFI entry (AddressOfEntryPoint; boot/efi/mod.rs): x0 = ImageHandle, x1 = SystemTable,
// the firmware's identity map and caches on, EL2 or EL1, on the firmware's stack. Applies the
// relocations in place (idempotent: each slot gets addend + delta, so the copy made later is
// relocated again by _start) and calls efi_main(handle, table, base, EL), which returns only
// on failure, with the EFI status for the firmware in x0.
efi_entry:
    stp     x29, x30, [sp, #-32]!
    mov     x29, sp
    stp     x20, x21, [sp, #16]         // callee-saved registers used here
    adr     x21, _start
    bl      apply_relocations
    mov     x2, x21
    mrs     x3, CurrentEL
    lsr     x3, x3, #2
    bl      efi_main
    ldp     x20, x21, [sp, #16]
    ldp     x29, x30, [sp], #32
    ret

// After ExitBootServices (boot/efi/mod.rs): x0 = base of the 2 MiB-aligned image to run,
// cleaned and invalidated to the point of coherency, x1 = DTB or 0. Turns the MMU and the
// caches off at the current EL (the firmware's map was the identity, so the PC stays valid)
// and enters that image's _start as a Linux-protocol loader would: x0 = DTB, x1-x3 = 0.
.global efi_handoff
efi_handoff:
    msr     daifset, #0xf
    mov     x19, x0
    mov     x20, x1
    mrs     x9, CurrentEL
    cmp     x9, #(2 << 2)
    b.eq    1f
    mrs     x9, sctlr_el1
    bic     x9, x9, #(1 << 0)           // M: stage 1 translation off
    bic     x9, x9, #(1 << 2)           // C: data caches off
    bic     x9, x9, #(1 << 12)          // I: instruction caches off
    msr     sctlr_el1, x9
    b       2f
1:  mrs     x9, sctlr_el2
    bic     x9, x9, #(1 << 0)
    bic     x9, x9, #(1 << 2)
    bic     x9, x9, #(1 << 12)
    msr     sctlr_el2, x9
2:  isb
    ic      iallu                       // no stale instructions of the copy's addresses
    dsb     nsh
    isb
    mov     x0, x20
    mov     x1, xzr
    mov     x2, xzr
    mov     x3, xzr
    br      x19

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
