//! Boot: entry (`entry.S`), EL drop, self-relocation, MMU, and the hand-over to Rust on
//! the primary ([`early_main`]) and on secondaries ([`secondary_early`]).
//!
//! Order on the primary, and why:
//! 1. `entry.S`: mask DAIF, leave EL2, install the vectors, enable FP/SIMD, relocate,
//!    zero BSS, set up stacks.
//! 2. [`early_main`] (MMU off, no atomics): find and parse the DTB, pick the console,
//!    build the page tables from the DTB's RAM ranges, turn the MMU and caches on.
//! 3. `early_main` returns to `entry.S`, which calls the crate root's `kernel_main`
//!    (so boot, a lower floor, never names the top one): locks, atomics, the GIC,
//!    secondaries ([`secondaries`]).

pub mod arena;
pub mod efi;
pub mod layout;
mod locate_dtb;
mod mmu;
pub mod secondaries;

use crate::boot_cell::BootCell;
use layout::{Span, EXC_STACK_TOP, PAGE_SIZE, STACK_STRIDE};

core::arch::global_asm!(
    include_str!("entry.S"),
    stack_stride = const STACK_STRIDE,
    exc_stack_top = const EXC_STACK_TOP,
);

extern "C" {
    fn secondary_entry();
    fn spin_table_entry();
}

/// How we were started, for the banner.
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// The exception level `entry.S` was entered at (1 or 2).
    pub entry_el: u64,
    /// Where the image runs (its load address, 2 MiB-aligned).
    pub image_base: usize,
    /// The device tree's address.
    pub dtb_addr: usize,
    /// The device tree's size (its header's `totalsize`).
    pub dtb_len: usize,
}

static BOOT_INFO: BootCell<BootInfo> = BootCell::new();
/// The translation regime, set before the primary turns its MMU on; secondaries read it
/// with their MMU off, so it is also cleaned to the point of coherency before they start.
static MMU: BootCell<mmu::MmuConfig> = BootCell::new();
/// The banner's facts about this boot.
pub fn info() -> BootInfo {
    *BOOT_INFO
        .get()
        .expect("boot info is set before the MMU is on")
}

/// Physical entry point for secondary cores (PSCI CPU_ON; x0 = core index).
pub fn secondary_entry_addr() -> usize {
    secondary_entry as *const () as usize
}

/// Entry point for cores released from a spin table.
pub fn spin_table_entry_addr() -> usize {
    spin_table_entry as *const () as usize
}

/// Primary core, MMU off. Returns (to `entry.S`, which calls `kernel_main`) with the MMU on.
#[no_mangle]
extern "C" fn early_main(dtb_ptr: usize, entry_el: u64, image_base: usize) {
    crate::smp::set_core_index(0);
    if let Some(efi) = efi::handoff::get() {
        if efi.dtb == 0 && dtb_ptr == 0 {
            // Started by UEFI firmware that described the machine with ACPI tables only, and
            // the EFI entry could not write the device tree saying the same (it checks the
            // tables before ExitBootServices, so only a tree too big for its buffer is
            // left): there is no device tree to probe for. Said on the semihosting console.
            crate::exit::fail(format_args!(
                "ACPI-only platform (RSDP at {:#x}): no device tree could be made from its \
                 tables",
                efi.acpi_rsdp
            ));
        }
    }
    let dtb = match locate_dtb::locate(dtb_ptr, image_base) {
        Ok(dtb) => dtb,
        Err(err) => {
            // SAFETY: single-core boot; no DTB means nothing better is known.
            unsafe { crate::console::init_fallback() };
            crate::exit::fail(format_args!("{}", err));
        }
    };
    // SAFETY: single-core boot, MMU off: nothing reads the cell concurrently.
    unsafe {
        BOOT_INFO.set(BootInfo {
            entry_el,
            image_base,
            dtb_addr: dtb.as_ptr() as usize,
            dtb_len: dtb.len(),
        })
    };
    let platform = crate::platform::discover(dtb);
    // The base must be 2 MiB-aligned (the Image header promises a 2 MiB-aligned load address
    // plus text_offset 0): `.stacks` is 2 MiB-aligned at link time so that one level-3 table
    // can unmap every guard page, and the MMU maps the image in 2 MiB blocks. At another base
    // the kernel would still run, but the stacks of the higher cores would straddle two
    // blocks and lose their guard pages: refuse, with the console already up.
    if !image_base.is_multiple_of(2 << 20) {
        crate::exit::fail(format_args!(
            "image at {:#x} is not 2 MiB-aligned: load it at a 2 MiB-aligned base",
            image_base
        ));
    }

    let mut ram = [Span { start: 0, end: 0 }; hal::dtb::platform::MAX_RANGES];
    let mut n = 0;
    if let Ok(memory) = &platform.memory {
        for (slot, r) in ram.iter_mut().zip(memory.ram.list.iter()) {
            *slot = Span {
                start: r.base as usize,
                end: r.base.saturating_add(r.size) as usize,
            };
            n += 1;
        }
    }
    let ram = &ram[..n];
    let (stacks, arena) = place_arena(platform, ram, dtb);
    place_heap(platform, ram, dtb, arena);
    // SAFETY: primary core, before the MMU and before any secondary runs.
    unsafe {
        let cfg = mmu::build(ram, stacks);
        MMU.set(cfg);
        mmu::invalidate_tables(stacks);
        mmu::enable(&cfg);
        crate::boot_cell::set_mmu_on();
    }
}

/// The heap's RAM (`Span` of length 0 when none could be placed), set by [`early_main`]
/// and handed to the allocator (`io::heap`) once the MMU is on.
static HEAP: BootCell<Span> = BootCell::new();

/// The RAM set aside for the heap (empty if there was no room).
#[cfg(feature = "heap")]
pub fn heap_span() -> Span {
    HEAP.get().copied().unwrap_or(Span { start: 0, end: 0 })
}

/// The heap's size: a quarter of the RAM, at most 64 MiB (enough for virtqueues, DMA
/// buffers and a TCP/IP stack's sockets), rounded down to 2 MiB.
fn heap_len(ram: &[Span]) -> usize {
    let total: usize = ram.iter().map(|r| r.end - r.start).sum();
    (total / 4).min(64 << 20) & !((2 << 20) - 1)
}

/// Place the heap in RAM the DTB names, clear of the image, the DTB, the reserved ranges
/// and the boot arena, below [`mmu::FINE_LIMIT`] (mapped Normal at 2 MiB granularity).
/// Without room the heap stays empty and the first allocation reports out of memory.
fn place_heap(platform: &hal::dtb::Platform<'static>, ram: &[Span], dtb: &[u8], arena: Span) {
    let (avoid, k) = avoid_list(platform, dtb, Some(arena));
    let len = heap_len(ram);
    let span = (len > 0)
        .then(|| {
            arena::place(ram, &avoid[..k], arena.end, len, mmu::FINE_LIMIT)
                .or_else(|| arena::place(ram, &avoid[..k], 0, len, mmu::FINE_LIMIT))
        })
        .flatten()
        .unwrap_or(Span { start: 0, end: 0 });
    // SAFETY: single-core boot, MMU off: nothing reads the cell concurrently.
    unsafe { HEAP.set(span) };
}

/// What RAM placement must avoid: the image, the DTB, the reserved ranges and `extra`.
fn avoid_list(
    platform: &hal::dtb::Platform<'static>,
    dtb: &[u8],
    extra: Option<Span>,
) -> ([Span; 3 + 2 * hal::dtb::platform::MAX_RANGES], usize) {
    let mut avoid = [Span { start: 0, end: 0 }; 3 + 2 * hal::dtb::platform::MAX_RANGES];
    let mut k = 0;
    let mut push = |s: Span| {
        if let Some(slot) = avoid.get_mut(k) {
            *slot = s;
            k += 1;
        }
    };
    push(layout::image());
    push(Span {
        start: dtb.as_ptr() as usize,
        end: dtb.as_ptr() as usize + dtb.len(),
    });
    if let Some(s) = extra {
        push(s);
    }
    if let Ok(m) = &platform.memory {
        for r in m.reserved.list.iter().chain(m.rsvmap.list.iter()) {
            push(Span {
                start: r.base as usize,
                end: r.base.saturating_add(r.size) as usize,
            });
        }
    }
    (avoid, k)
}

/// Bytes of per-core state the arena holds for each core beyond its stacks: an executor
/// context, a notifier, the core table's words, `PerCore` slots (with room to spare).
const STATE_PER_CORE: usize = core::mem::size_of::<executor::Context>() + 1024;

/// Size the boot arena for the cores `hal::dtb::cpu_plan` will start, place it in RAM
/// (after the image, clear of the DTB and reserved ranges, in the first 4 GiB that the MMU
/// maps page by page where needed) and lay the secondaries' stack blocks at its start.
/// Returns the stack blocks and where their level-3 tables go, and the arena's span.
fn place_arena(
    platform: &hal::dtb::Platform<'static>,
    ram: &[Span],
    dtb: &[u8],
) -> (mmu::SecondaryStacks, Span) {
    const BLOCK_2M: usize = 2 << 20;
    let cores = hal::dtb::cpu_plan(platform, hal::cpu::core_mpidr())
        .filter(|(_, how)| how.is_ok())
        .count()
        .max(1);
    let stacks_len = ((cores - 1) * STACK_STRIDE).next_multiple_of(BLOCK_2M);
    let l3_len = stacks_len / BLOCK_2M * PAGE_SIZE;
    let state_len = cores * STATE_PER_CORE + 64 * 1024;
    let len = (stacks_len + l3_len + state_len).next_multiple_of(BLOCK_2M);

    let (avoid, k) = avoid_list(platform, dtb, None);
    let image = layout::image();
    let limit = mmu::FINE_LIMIT;
    let Some(span) = arena::place(ram, &avoid[..k], image.end, len, limit)
        .or_else(|| arena::place(ram, &avoid[..k], 0, len, limit))
    else {
        crate::exit::fail(format_args!(
            "no room in RAM below {:#x} for {} cores' stacks and state ({} KiB)",
            limit,
            cores,
            len / 1024
        ));
    };
    let stacks = Span {
        start: span.start,
        end: span.start + (cores - 1) * STACK_STRIDE,
    };
    // SAFETY: single-core boot, MMU off; `span` is RAM nothing else uses.
    unsafe {
        layout::set_secondary_stacks(stacks);
        arena::init(Span {
            start: span.start + stacks_len,
            end: span.end,
        });
    }
    // SAFETY: single-core boot: the bump pointer is ours.
    let l3 = unsafe { arena::alloc_bytes(l3_len, PAGE_SIZE) }.unwrap_or(0);
    (
        mmu::SecondaryStacks {
            blocks: stacks,
            l3_tables: l3,
            l3_count: l3_len / PAGE_SIZE,
        },
        span,
    )
}

/// Make what a secondary reads with its MMU off visible to it.
pub fn publish_for_secondaries() {
    let cell = &MMU as *const _ as usize;
    hal::cache::dcache_clean_range(cell, core::mem::size_of_val(&MMU));
    layout::publish_secondary_stacks();
}

/// Secondary core, MMU off. Returns its core index (to `entry.S`, which calls
/// `secondary_main`) with the MMU on.
#[no_mangle]
extern "C" fn secondary_early(core: usize, _entry_el: u64) -> usize {
    crate::smp::set_core_index(core);
    let cfg = match MMU.get() {
        Some(cfg) => *cfg,
        // Started without the primary having published the tables: nothing safe to do.
        None => hal::cpu::park(),
    };
    // SAFETY: the tables identity-map everything this core uses; they were cleaned to the
    // point of coherency by the primary before starting us.
    unsafe { mmu::enable(&cfg) };
    core
}
