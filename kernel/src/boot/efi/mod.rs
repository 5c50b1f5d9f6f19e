//! The UEFI entry: the Image is also a PE/COFF EFI application (header in `entry.S`), and
//! UEFI firmware (edk2, U-Boot's `bootefi`) enters here.
//!
//! `efi_entry` (`entry.S`) arrives with x0 = ImageHandle, x1 = SystemTable, the firmware's
//! identity map and caches on, at EL2 or EL1, on the firmware's stack; it applies the image's
//! relocations in place (so Rust runs here) and calls [`efi_main`], which:
//!
//! 1. finds the device tree (configuration table GUID b1b621d5-…) and the ACPI 2.0 RSDP
//!    (8868e871-…);
//! 2. reads the bootargs from the load options (`LoadedImage.LoadOptions`, UTF-16: what a
//!    boot entry or the UEFI shell passes; a leading `*.efi` word, the shell's argv[0], is
//!    dropped);
//! 3. picks where the kernel runs: in place if the firmware loaded it at a 2 MiB-aligned
//!    base, else a copy in `AllocatePages` memory rounded up to 2 MiB (the kernel's
//!    requirement: see `early_main`);
//! 4. gets the memory map and calls `ExitBootServices` (again with a fresh map if the key
//!    was stale), records the RAM in the hand-over block ([`handoff`]) of the copy;
//!    Under ACPI only (no device tree), the MADT, SPCR, FADT and GTDT are read before and a
//!    device tree saying the same (with the memory map's RAM) is written after
//!    `ExitBootServices` (`hal::acpi`), so the normal boot path has one platform source;
//! 5. cleans and invalidates the copy and the device tree to the point of coherency and
//!    calls `efi_handoff` (`entry.S`), which turns the MMU and caches off and enters the
//!    copy's `_start` with x0 = the device tree, exactly as a
//!    Linux-protocol loader would. Keeping the firmware's map instead would need a
//!    break-before-make switch to our tables at EL1 or EL2; with the MMU off the normal boot
//!    path runs unchanged.
//!
//! Before `ExitBootServices` a failure is printed on the firmware console and returned as an
//! EFI status (the firmware then tries its next boot option); after it, nothing can fail.
//! The UEFI types are `uefi-raw`'s (the raw `repr(C)` tables of the uefi-rs project, no
//! global state, no allocator).

pub mod handoff;

use super::layout;
use core::fmt::{self, Write};
use handoff::{Handoff, Range, BOOTARGS_MAX, MAGIC, MAX_RAM};
use uefi_raw::protocol::loaded_image::LoadedImageProtocol;
use uefi_raw::table::boot::{AllocateType, BootServices, MemoryDescriptor, MemoryType};
use uefi_raw::table::system::SystemTable;
use uefi_raw::{guid, Guid, Handle, Status};

/// EFI_DTB_TABLE_GUID (Linux's `DEVICE_TREE_GUID`).
const DTB_GUID: Guid = guid!("b1b621d5-f19c-41a5-830b-d9152c69aae0");
/// EFI_ACPI_20_TABLE_GUID.
const ACPI20_GUID: Guid = guid!("8868e871-e4f1-11d3-bc22-0080c73c8881");
const BLOCK_2M: usize = 2 << 20;
const PAGE: usize = 4096;
/// Retries of GetMemoryMap + ExitBootServices when the map key went stale in between.
const EXIT_TRIES: usize = 8;
/// EFI_MEMORY_WB: the range supports write-back caching (what RAM does).
const MEMORY_WB: u64 = 0x8;
/// Room for the device tree made from ACPI tables (a few hundred bytes per CPU).
const ACPI_DT_MAX: usize = 128 * 1024;

extern "C" {
    /// `entry.S`: MMU and caches off, enter the image at `base` with x0 = `dtb`.
    fn efi_handoff(base: usize, dtb: usize) -> !;
}

/// Text on the firmware console (ConOut), converted to UTF-16 in small chunks.
struct ConOut(*const SystemTable);

impl Write for ConOut {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: the system table is the firmware's, valid until ExitBootServices, before
        // which alone this is used.
        let out = unsafe { (*self.0).stdout };
        if out.is_null() {
            return Ok(());
        }
        let mut buf = [0u16; 65];
        let mut n = 0;
        for c in s.chars() {
            if c == '\n' {
                buf[n] = u16::from(b'\r');
                n += 1;
            }
            buf[n] = if (c as u32) < 0x80 {
                c as u16
            } else {
                u16::from(b'?')
            };
            n += 1;
            if n >= buf.len() - 2 {
                buf[n] = 0;
                // SAFETY: a NUL-terminated UCS-2 string on the firmware's output protocol.
                let _ = unsafe { ((*out).output_string)(out, buf.as_ptr()) };
                n = 0;
            }
        }
        buf[n] = 0;
        // SAFETY: as above.
        let _ = unsafe { ((*out).output_string)(out, buf.as_ptr()) };
        Ok(())
    }
}

/// A failure before ExitBootServices: what to print and the status to return.
struct Failure {
    status: Status,
    what: &'static str,
}

fn check(status: Status, what: &'static str) -> Result<(), Failure> {
    if status == Status::SUCCESS {
        Ok(())
    } else {
        Err(Failure { status, what })
    }
}

/// Called by `efi_entry` (`entry.S`) with the image relocated in place. Returns only on
/// failure, with the EFI status for the firmware.
#[no_mangle]
extern "C" fn efi_main(
    image: Handle,
    st: *const SystemTable,
    image_base: usize,
    entry_el: u64,
) -> Status {
    // SAFETY: the firmware passes its valid system table (checked by signature first).
    let Err(err) = unsafe { run(image, st, image_base, entry_el) };
    let mut con = ConOut(st);
    let _ = writeln!(
        con,
        "aiolos: EFI entry failed: {} (status {:#x})",
        err.what, err.status.0
    );
    err.status
}

/// The EFI entry's work; on success it never returns.
///
/// # Safety
/// `st` is the firmware's system table and boot services are still running.
unsafe fn run(
    image: Handle,
    st: *const SystemTable,
    image_base: usize,
    entry_el: u64,
) -> Result<core::convert::Infallible, Failure> {
    // SAFETY: the caller passes the firmware's table; its header is read before anything else.
    if st.is_null() || unsafe { (*st).header.signature } != SystemTable::SIGNATURE {
        return Err(Failure {
            status: Status::INVALID_PARAMETER,
            what: "x1 is not an EFI system table",
        });
    }
    // SAFETY: checked just above.
    let st_ref = unsafe { &*st };
    // SAFETY: boot services are valid until ExitBootServices.
    let bs = unsafe { &*st_ref.boot_services };

    let (dtb, rsdp) = config_tables(st_ref);
    if dtb == 0 && rsdp == 0 {
        return Err(Failure {
            status: Status::UNSUPPORTED,
            what: "neither a device tree nor ACPI 2.0 tables in the EFI configuration table",
        });
    }

    // ACPI only: the tables are read now (boot services still map them), and a device tree
    // saying the same is written into a pool buffer after ExitBootServices, when the RAM of
    // the final memory map is known (hal::acpi).
    let acpi = if dtb == 0 {
        let read = |addr: u64, len: usize| {
            (addr != 0).then(|| {
                // SAFETY: the firmware's ACPI tables: identity-mapped memory it keeps for
                // the OS; lengths come from the tables' own headers.
                unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
            })
        };
        match hal::acpi::parse(rsdp as u64, read) {
            Ok(a) => Some(a),
            Err(e) => {
                let mut con = ConOut(st);
                let _ = writeln!(con, "aiolos: {e}");
                return Err(Failure {
                    status: Status::UNSUPPORTED,
                    what: "the ACPI tables cannot be used (see above)",
                });
            }
        }
    } else {
        None
    };
    let mut dt_buf: *mut u8 = core::ptr::null_mut();
    if acpi.is_some() {
        // SAFETY: an ordinary boot-services call with valid pointers.
        let status =
            unsafe { (bs.allocate_pool)(MemoryType::LOADER_DATA, ACPI_DT_MAX, &mut dt_buf) };
        check(status, "AllocatePool for the device tree made from ACPI")?;
    }

    let mut args = [0u8; BOOTARGS_MAX];
    // SAFETY: boot services are running; `image` is our handle.
    let args_len = unsafe { load_options(bs, image, &mut args) };

    let whole = layout::image();
    let file = layout::image_file();
    let base = if image_base.is_multiple_of(BLOCK_2M) {
        image_base
    } else {
        let pages = (whole.len() + BLOCK_2M) / PAGE;
        let mut addr: u64 = 0;
        // SAFETY: an ordinary boot-services call with valid pointers.
        let status = unsafe {
            (bs.allocate_pages)(
                AllocateType::ANY_PAGES,
                MemoryType::LOADER_DATA,
                pages,
                &mut addr,
            )
        };
        check(
            status,
            "AllocatePages for a 2 MiB-aligned copy of the image",
        )?;
        let base = (addr as usize).next_multiple_of(BLOCK_2M);
        // SAFETY: [base, base + whole) lies inside the pages just allocated; the source is
        // our own image, which does not overlap them.
        unsafe {
            core::ptr::copy_nonoverlapping(file.start as *const u8, base as *mut u8, file.len());
            // BSS and stacks are zeroed by `_start`; the rest of the copy is left as is.
        }
        base
    };
    // The copy's hand-over block (at the same offset from its base as ours).
    let slot = (base + (handoff::addr() - whole.start)) as *mut Handoff;
    let mut block = Handoff::EMPTY;
    block.dtb = dtb as u64;
    block.acpi_rsdp = rsdp as u64;
    block.efi_el = entry_el;
    block.loaded_at = image_base as u64;
    block.bootargs[..args_len].copy_from_slice(&args[..args_len]);
    block.bootargs_len = args_len as u64;

    // SAFETY: boot services are running; on success they are gone afterwards and nothing
    // below calls them.
    unsafe { exit_boot_services(bs, image, &mut block) }?;

    let mut dtb = dtb;
    if let Some(acpi) = &acpi {
        let mut ram = [(0u64, 0u64); MAX_RAM];
        for (slot, r) in ram.iter_mut().zip(block.ram()) {
            *slot = (r.base, r.size);
        }
        // SAFETY: the pool buffer of ACPI_DT_MAX bytes allocated above, ours now.
        let out = unsafe { core::slice::from_raw_parts_mut(dt_buf, ACPI_DT_MAX) };
        // Nothing can be reported after ExitBootServices but through the kernel: on a
        // failure x0 stays 0 and early_main says "ACPI-only platform".
        if hal::acpi::fdt::write(acpi, &ram[..block.ram().len()], out).is_ok() {
            dtb = dt_buf as usize;
        }
    }
    block.magic = MAGIC;
    // SAFETY: `slot` is inside the image copy (or the image itself), which is ours.
    unsafe { slot.write(block) };
    hal::cache::dcache_clean_invalidate_range(base, whole.len());
    if dtb != 0 {
        // SAFETY: the firmware's device tree; its header was found through the table.
        let len = unsafe { fdt_totalsize(dtb) };
        hal::cache::dcache_clean_invalidate_range(dtb, len);
    }
    // SAFETY: the image at `base` is complete and cleaned to the PoC; `_start` takes over.
    unsafe { efi_handoff(base, dtb) }
}

/// The device tree and the ACPI 2.0 RSDP named by the configuration table (0 when absent).
fn config_tables(st: &SystemTable) -> (usize, usize) {
    let (mut dtb, mut rsdp) = (0, 0);
    let n = st.number_of_configuration_table_entries;
    for i in 0..n {
        // SAFETY: the firmware's table has `n` entries.
        let t = unsafe { &*st.configuration_table.add(i) };
        if t.vendor_guid == DTB_GUID {
            dtb = t.vendor_table as usize;
        } else if t.vendor_guid == ACPI20_GUID {
            rsdp = t.vendor_table as usize;
        }
    }
    (dtb, rsdp)
}

/// The device tree header's `totalsize` (big-endian, at offset 4).
///
/// # Safety
/// `dtb` points at a device tree header.
unsafe fn fdt_totalsize(dtb: usize) -> usize {
    // SAFETY: per the contract, 8 readable bytes.
    let raw = unsafe { core::ptr::read_unaligned((dtb + 4) as *const u32) };
    u32::from_be(raw) as usize
}

/// Copies the load options, as ASCII, into `out`; returns the length. Options that are not
/// UCS-2 text (a boot entry's binary OptionalData) give none.
///
/// # Safety
/// Boot services are running and `image` is our image handle.
unsafe fn load_options(bs: &BootServices, image: Handle, out: &mut [u8]) -> usize {
    let mut li: *mut core::ffi::c_void = core::ptr::null_mut();
    // SAFETY: an ordinary boot-services call with valid pointers.
    let status = unsafe { (bs.handle_protocol)(image, &LoadedImageProtocol::GUID, &mut li) };
    if status != Status::SUCCESS || li.is_null() {
        return 0;
    }
    // SAFETY: the firmware's loaded-image protocol for our image.
    let li = unsafe { &*(li as *const LoadedImageProtocol) };
    if li.load_options.is_null() {
        return 0;
    }
    let units = li.load_options_size as usize / 2;
    // SAFETY: the firmware says `load_options_size` bytes are there (2-aligned for UCS-2).
    let opts = unsafe { core::slice::from_raw_parts(li.load_options as *const u16, units) };
    options_to_ascii(opts, out)
}

/// UCS-2 load options to ASCII bootargs: stops at NUL; gives nothing for non-text
/// (any unit outside printable ASCII); drops a first word ending in `.efi` (the UEFI shell
/// passes the command line with the image's own name first); trims spaces.
pub fn options_to_ascii(opts: &[u16], out: &mut [u8]) -> usize {
    let end = opts.iter().position(|&u| u == 0).unwrap_or(opts.len());
    let opts = &opts[..end];
    if opts
        .iter()
        .any(|&u| !(0x20..0x7f).contains(&u) && u != u16::from(b'\t'))
    {
        return 0;
    }
    let mut n = 0;
    let mut words = opts.split(|&u| u == u16::from(b' ') || u == u16::from(b'\t'));
    let mut first = true;
    for w in words.by_ref() {
        if w.is_empty() {
            continue;
        }
        let is_efi = w.len() > 4
            && w[w.len() - 4..]
                .iter()
                .map(|&u| (u as u8).to_ascii_lowercase())
                .eq(*b".efi");
        if first && is_efi {
            first = false;
            continue;
        }
        first = false;
        if n != 0 && n < out.len() {
            out[n] = b' ';
            n += 1;
        }
        if n + w.len() > out.len() {
            break;
        }
        for &u in w {
            out[n] = u as u8;
            n += 1;
        }
    }
    n
}

/// GetMemoryMap + ExitBootServices, retried with a fresh map when the key went stale; the
/// final map's RAM goes into `block`.
///
/// # Safety
/// Boot services are running and `image` is our image handle. On success they are not.
unsafe fn exit_boot_services(
    bs: &BootServices,
    image: Handle,
    block: &mut Handoff,
) -> Result<(), Failure> {
    let (mut size, mut key, mut desc_size, mut version) = (0usize, 0usize, 0usize, 0u32);
    // SAFETY: asking for the size only (a null buffer of size 0).
    let status = unsafe {
        (bs.get_memory_map)(
            &mut size,
            core::ptr::null_mut(),
            &mut key,
            &mut desc_size,
            &mut version,
        )
    };
    if status != Status::BUFFER_TOO_SMALL {
        check(status, "GetMemoryMap (size)")?;
    }
    // Room for the descriptors the pool allocation itself and later changes add.
    let cap = size + 16 * desc_size.max(core::mem::size_of::<MemoryDescriptor>());
    let mut buf: *mut u8 = core::ptr::null_mut();
    // SAFETY: an ordinary boot-services call with valid pointers.
    let status = unsafe { (bs.allocate_pool)(MemoryType::LOADER_DATA, cap, &mut buf) };
    check(status, "AllocatePool for the memory map")?;
    for _ in 0..EXIT_TRIES {
        size = cap;
        // SAFETY: `buf` holds `cap` bytes.
        let status = unsafe {
            (bs.get_memory_map)(
                &mut size,
                buf as *mut MemoryDescriptor,
                &mut key,
                &mut desc_size,
                &mut version,
            )
        };
        check(status, "GetMemoryMap")?;
        // SAFETY: our handle and the key of the map just read.
        let status = unsafe { (bs.exit_boot_services)(image, key) };
        if status == Status::SUCCESS {
            // SAFETY: `size` bytes of `desc_size`-strided descriptors were written to `buf`
            // (loader data, ours now that boot services are gone).
            unsafe { record_ram(buf, size, desc_size, block) };
            return Ok(());
        }
        if status != Status::INVALID_PARAMETER {
            return Err(Failure {
                status,
                what: "ExitBootServices",
            });
        }
        // A stale key: an event changed the map in between. Only GetMemoryMap may be
        // called now; read it again into the same buffer and retry.
    }
    Err(Failure {
        status: Status::INVALID_PARAMETER,
        what: "ExitBootServices: the memory map key stayed stale",
    })
}

/// RAM (write-back capable, not MMIO or reserved) from an EFI memory map into `block`,
/// adjacent ranges merged, sorted by address as the firmware gives them.
///
/// # Safety
/// `buf` holds `size` bytes of descriptors `desc_size` apart.
unsafe fn record_ram(buf: *const u8, size: usize, desc_size: usize, block: &mut Handoff) {
    let mut n = 0usize;
    let mut off = 0;
    while desc_size != 0 && off + core::mem::size_of::<MemoryDescriptor>() <= size {
        // SAFETY: inside the buffer per the contract; descriptors may be unaligned.
        let d: MemoryDescriptor =
            unsafe { core::ptr::read_unaligned(buf.add(off) as *const MemoryDescriptor) };
        off += desc_size;
        let ram = d.att.bits() & MEMORY_WB != 0
            && !matches!(
                d.ty,
                MemoryType::RESERVED
                    | MemoryType::UNUSABLE
                    | MemoryType::MMIO
                    | MemoryType::MMIO_PORT_SPACE
            );
        if !ram {
            continue;
        }
        let r = Range {
            base: d.phys_start,
            size: d.page_count * PAGE as u64,
        };
        if n > 0 && block.ram[n - 1].base + block.ram[n - 1].size == r.base {
            block.ram[n - 1].size += r.size;
        } else if n < MAX_RAM {
            block.ram[n] = r;
            n += 1;
        }
    }
    block.ram_count = n as u64;
}
