//! Memory layout constants shared by `entry.S`, `kernel/link/aiolos.ld` and the MMU setup.
//!
//! Each core owns one stack block, low to high (core 0's is the image's `.stacks` section;
//! the secondaries' are allocated at boot, one after the other, from the boot arena
//! (`boot/arena.rs`), so there is no fixed number of them):
//!
//! | offset             | size   | what                                   |
//! |--------------------|--------|----------------------------------------|
//! | 0                  | 4 KiB  | guard page (unmapped)                  |
//! | 4 KiB              | 16 KiB | exception stack (SP_EL1)               |
//! | 20 KiB             | 4 KiB  | guard page (unmapped)                  |
//! | 24 KiB             | 64 KiB | main stack (SP_EL0, kernel code)       |

/// Not a core cap: the kernel brings up every core the DTB lists (to the GIC's limit), with
/// stacks and state from the boot arena. Only the stress test's token array
/// (`selftest/stress.rs`) is still sized by this.
pub const MAX_CPUS: usize = 16;
/// Size of one page of the kernel's 4 KiB translation granule.
pub const PAGE_SIZE: usize = 4096;
/// Per-core exception stack size.
pub const EXC_STACK_SIZE: usize = 16 * 1024;
/// Per-core main stack size.
pub const MAIN_STACK_SIZE: usize = 64 * 1024;
/// Offset of the exception stack's top within a core's block.
pub const EXC_STACK_TOP: usize = PAGE_SIZE + EXC_STACK_SIZE;
/// Bytes per core in `.stacks`; `kernel/link/aiolos.ld` has the same number.
pub const STACK_STRIDE: usize = EXC_STACK_TOP + PAGE_SIZE + MAIN_STACK_SIZE;
/// Offsets of the two guard pages within a core's block.
pub const GUARD_OFFSETS: [usize; 2] = [0, EXC_STACK_TOP];

const _: () = assert!(
    STACK_STRIDE == 0x16000,
    "keep kernel/link/aiolos.ld STACK_STRIDE in step"
);

/// Where the secondaries' stack blocks start (block of core i at `+ (i - 1) * STACK_STRIDE`);
/// `entry.S` reads it with the MMU off. Written once by the primary during single-core boot
/// (with the MMU off, so it is in memory for them).
#[no_mangle]
static mut SECONDARY_STACKS_BASE: u64 = 0;

static SECONDARY_STACKS: crate::boot_cell::BootCell<Span> = crate::boot_cell::BootCell::new();

/// Record the secondaries' stack blocks (boot arena memory).
///
/// # Safety
/// Single-core boot, MMU off, before any secondary starts.
pub unsafe fn set_secondary_stacks(span: Span) {
    // SAFETY: single-core boot (contract).
    unsafe {
        core::ptr::write_volatile(
            core::ptr::addr_of_mut!(SECONDARY_STACKS_BASE),
            span.start as u64,
        );
        SECONDARY_STACKS.set(span);
    }
}

/// The secondaries' stack blocks (empty before boot placed them, or with one core).
pub fn secondary_stacks() -> Span {
    SECONDARY_STACKS
        .get()
        .copied()
        .unwrap_or(Span { start: 0, end: 0 })
}

/// Clean what `entry.S` reads with the MMU off to the point of coherency.
pub fn publish_secondary_stacks() {
    hal::cache::dcache_clean_range(
        core::ptr::addr_of!(SECONDARY_STACKS_BASE) as usize,
        core::mem::size_of::<u64>(),
    );
}

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
    static __image_file_end: u8;
    static __stacks_start: u8;
    static __stacks_end: u8;
}

/// A range of addresses `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn len(&self) -> usize {
        self.end - self.start
    }
}

/// The running image (after relocation these are runtime addresses: they are computed
/// PC-relatively).
pub fn image() -> Span {
    // Linker-defined symbols: only their addresses are taken, never their contents.
    Span {
        start: core::ptr::addr_of!(__image_start) as usize,
        end: core::ptr::addr_of!(__image_end) as usize,
    }
}

/// The part of the running image that is the Image file's bytes (`[start, file end)`); the
/// rest (BSS and stacks, up to [`image`]'s end) is zero-filled at boot.
pub fn image_file() -> Span {
    // Linker-defined symbols: only their addresses are taken, never their contents.
    Span {
        start: core::ptr::addr_of!(__image_start) as usize,
        end: core::ptr::addr_of!(__image_file_end) as usize,
    }
}

/// The `.stacks` section (core 0's stack block).
pub fn stacks() -> Span {
    Span {
        start: core::ptr::addr_of!(__stacks_start) as usize,
        end: core::ptr::addr_of!(__stacks_end) as usize,
    }
}

/// Whether `addr` is a guard page of the stack blocks laid out from `blocks.start`.
pub fn is_guard_in(blocks: Span, addr: usize) -> bool {
    if addr < blocks.start || addr >= blocks.end {
        return false;
    }
    let offset = (addr - blocks.start) % STACK_STRIDE;
    GUARD_OFFSETS
        .iter()
        .any(|g| offset >= *g && offset < g + PAGE_SIZE)
}

/// Whether `addr` is one of the unmapped guard pages below the stacks (any core's).
pub fn is_guard_page(addr: usize) -> bool {
    is_guard_in(stacks(), addr) || is_guard_in(secondary_stacks(), addr)
}
