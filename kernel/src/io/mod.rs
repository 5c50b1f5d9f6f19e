//! Real I/O: the kernel heap, DMA for virtio, virtio device discovery and interrupt wiring,
//! and the drivers built on them (virtio-blk here; virtio-net and the TCP/IP stack build on
//! the same pieces).
//!
//! - [`heap`]: the global allocator over RAM `boot` set aside (OOM = `exit: fail`).
//! - [`dma`]: [`dma::VirtioHal`], `virtio-drivers`' `Hal` (DMA from the heap, identity map).
//! - [`virtio`]: the devices found in the DTB; `claim` a transport, `bind_irq` its
//!   interrupt to get an [`IrqWake`].
//! - [`irq_wake`]: [`IrqWake`], what an interrupt handler fires and a task awaits.
//! - [`pci`]: virtio over PCIe ECAM: enumerate, place BARs, route INTx.
//! - [`irq_lock`]: [`IrqLock`], a spin lock held with IRQs masked.
//! - [`blk`]: the async virtio-blk driver.

#[cfg(feature = "virtio")]
pub mod blk;
#[cfg(feature = "virtio")]
pub mod dma;
#[cfg(feature = "heap")]
pub mod heap;
pub mod irq_lock;
pub mod irq_wake;
#[cfg(feature = "virtio")]
pub mod pci;
#[cfg(feature = "virtio")]
pub mod virtio;

pub use irq_lock::IrqLock;
pub use irq_wake::IrqWake;

/// Bring up I/O on the primary core during boot, after the GIC and the runtime: the heap,
/// then the virtio devices of the DTB.
/// Each part only with its feature (`heap`, `virtio`; kernel/Cargo.toml).
pub fn init(p: &hal::dtb::Platform<'static>) {
    #[cfg(feature = "heap")]
    heap::init();
    #[cfg(feature = "virtio")]
    virtio::discover(p);
    #[cfg(not(feature = "virtio"))]
    let _ = p;
}

/// The banner's lines: the heap, and each virtio device found.
pub fn print_summary() {
    #[cfg(feature = "heap")]
    print_heap();
    #[cfg(feature = "virtio")]
    print_virtio();
}

#[cfg(feature = "heap")]
fn print_heap() {
    let span = crate::boot::heap_span();
    let (size, _) = heap::usage();
    if size == 0 {
        crate::println!("heap: none (no room in RAM)");
    } else {
        crate::println!(
            "heap: {:#x}..{:#x} ({} MiB)",
            span.start,
            span.end,
            size >> 20
        );
    }
}

#[cfg(feature = "virtio")]
fn print_virtio() {
    for d in virtio::devices() {
        match d.transport {
            virtio::Transport::Mmio { base, version, .. } => crate::println!(
                "virtio: {:?} on mmio {:#x} (v{}, {}), irq {}",
                d.kind,
                base,
                version,
                d.node,
                IrqName(d.irq, d.edge)
            ),
            virtio::Transport::Pci(f) => crate::println!(
                "virtio: {:?} on pci {:02x}:{:02x}.{} ({}, bar {:#x}), irq {}",
                d.kind,
                f.bus,
                f.device,
                f.function,
                d.node,
                f.bar,
                IrqName(d.irq, d.edge)
            ),
        }
    }
}

#[cfg(feature = "virtio")]
struct IrqName(Option<u32>, bool);

#[cfg(feature = "virtio")]
impl core::fmt::Display for IrqName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(i) => write!(f, "{} {}", i, if self.1 { "edge" } else { "level" }),
            None => write!(f, "none"),
        }
    }
}
