//! Memory layout constants shared by `entry.S`, `linker/kernel.ld` and the MMU setup.
//!
//! Each core owns one block of the `.stacks` section, low to high:
//!
//! | offset             | size   | what                                   |
//! |--------------------|--------|----------------------------------------|
//! | 0                  | 4 KiB  | guard page (unmapped)                  |
//! | 4 KiB              | 16 KiB | exception stack (SP_EL1)               |
//! | 20 KiB             | 4 KiB  | guard page (unmapped)                  |
//! | 24 KiB             | 64 KiB | main stack (SP_EL0, kernel code)       |

/// Most cores the kernel brings up (the GICv2 limit is 8; GICv3 platforms may have more).
pub const MAX_CPUS: usize = 16;
/// Size of one page of the kernel's 4 KiB translation granule.
pub const PAGE_SIZE: usize = 4096;
/// Per-core exception stack size.
pub const EXC_STACK_SIZE: usize = 16 * 1024;
/// Per-core main stack size.
pub const MAIN_STACK_SIZE: usize = 64 * 1024;
/// Offset of the exception stack's top within a core's block.
pub const EXC_STACK_TOP: usize = PAGE_SIZE + EXC_STACK_SIZE;
/// Bytes per core in `.stacks`; `linker/kernel.ld` has the same number.
pub const STACK_STRIDE: usize = EXC_STACK_TOP + PAGE_SIZE + MAIN_STACK_SIZE;
/// Offsets of the two guard pages within a core's block.
pub const GUARD_OFFSETS: [usize; 2] = [0, EXC_STACK_TOP];

const _: () = assert!(
    STACK_STRIDE == 0x16000,
    "keep linker/kernel.ld STACK_STRIDE in step"
);
const _: () = assert!(
    MAX_CPUS * STACK_STRIDE <= 2 * 1024 * 1024,
    "stacks must fit one L3 table"
);

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

/// The `.stacks` section.
pub fn stacks() -> Span {
    Span {
        start: core::ptr::addr_of!(__stacks_start) as usize,
        end: core::ptr::addr_of!(__stacks_end) as usize,
    }
}

/// Whether `addr` is one of the unmapped guard pages below the stacks.
pub fn is_guard_page(addr: usize) -> bool {
    let stacks = stacks();
    if addr < stacks.start || addr >= stacks.end {
        return false;
    }
    let offset = (addr - stacks.start) % STACK_STRIDE;
    GUARD_OFFSETS
        .iter()
        .any(|g| offset >= *g && offset < g + PAGE_SIZE)
}
