//! [`VirtioHal`]: `virtio-drivers`' `Hal` for aiolos. DMA memory comes from the kernel heap
//! (page-aligned, zeroed); the map is the identity, so a buffer's physical address is its
//! address. Caches: RAM is mapped Normal write-back inner-shareable, and the virtual devices
//! of QEMU (TCG or KVM) access guest RAM coherently, so no cache maintenance is needed
//! (a non-coherent DMA master would need clean/invalidate in `share`/`unshare`).

use super::heap;
use core::alloc::Layout;
use core::ptr::NonNull;
use virtio_drivers::{BufferDirection, PhysAddr, PAGE_SIZE};

/// The `virtio_drivers::Hal` implementation: use it as the drivers' `H` parameter.
pub struct VirtioHal;

fn pages_layout(pages: usize) -> Option<Layout> {
    Layout::from_size_align(pages.checked_mul(PAGE_SIZE)?.max(PAGE_SIZE), PAGE_SIZE).ok()
}

/// `pages` zeroed, page-aligned pages of DMA memory (physical = virtual address), or `None`
/// when the heap cannot provide them.
pub fn dma_alloc(pages: usize) -> Option<NonNull<u8>> {
    heap::try_alloc_zeroed(pages_layout(pages)?)
}

/// Free memory from [`dma_alloc`].
///
/// # Safety
/// `p` came from `dma_alloc(pages)` and the device no longer uses it.
pub unsafe fn dma_free(p: NonNull<u8>, pages: usize) {
    if let Some(layout) = pages_layout(pages) {
        // SAFETY: forwarded contract; same layout as the allocation.
        unsafe { heap::dealloc(p, layout) };
    }
}

// SAFETY: `dma_alloc` returns fresh, zeroed, page-aligned heap memory (or 0 on failure,
// which virtio-drivers turns into `Error::DmaError`); the identity map makes every address
// its own physical address; MMIO addresses are identity mapped as Device memory by the
// boot page tables (below 4 GiB outside RAM, and every GiB above 4 GiB that is not RAM).
unsafe impl virtio_drivers::Hal for VirtioHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match dma_alloc(pages) {
            Some(p) => (p.as_ptr() as PhysAddr, p),
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: virtio-drivers passes back what `dma_alloc` returned (trait contract).
        unsafe { dma_free(vaddr, pages) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr() as *mut u8 as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
