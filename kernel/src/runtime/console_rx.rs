//! Console input: the UART RX interrupt fills a ring; tasks read lines from it.
//!
//! One producer (the RX interrupt, on whichever core the SPI is routed to: the primary) and
//! one consumer (the task reading lines). Head and tail are atomics; the waiting reader is
//! woken through a [`Signal`].

use super::signal::Signal;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

const RING: usize = 256;

struct Ring {
    buf: [UnsafeCell<u8>; RING],
    head: AtomicUsize,
    tail: AtomicUsize,
}

// SAFETY: single producer (RX IRQ) writes only `buf[head % RING]` before publishing `head`;
// single consumer reads only `buf[tail % RING]` below `head` before publishing `tail`.
unsafe impl Sync for Ring {}

static RX: Ring = Ring {
    buf: [const { UnsafeCell::new(0) }; RING],
    head: AtomicUsize::new(0),
    tail: AtomicUsize::new(0),
};
static RX_READY: Signal = Signal::new();

/// Enable console input (the RX interrupt). False if the console has no interrupt.
pub fn enable() -> bool {
    crate::console::enable_rx(on_rx)
}

/// The console's RX sink, called from its interrupt handler: move received bytes into the
/// ring.
fn on_rx(uart: &hal::uart::Uart) {
    while let Some(b) = uart.try_getc() {
        // Relaxed: only the producer writes `head`.
        let head = RX.head.load(Ordering::Relaxed);
        // Acquire: pairs with the consumer's Release store of `tail` (slot free again).
        if head - RX.tail.load(Ordering::Acquire) == RING {
            continue; // full: drop the byte
        }
        // SAFETY: the slot at `head` is not visible to the consumer until `head` moves.
        unsafe { *RX.buf[head % RING].get() = b };
        // Release: publishes the byte; pairs with the consumer's Acquire load of `head`.
        RX.head.store(head + 1, Ordering::Release);
    }
    uart.ack_rx_interrupt();
    RX_READY.raise();
}

fn pop() -> Option<u8> {
    // Relaxed: only the consumer writes `tail`.
    let tail = RX.tail.load(Ordering::Relaxed);
    // Acquire: pairs with the producer's Release store of `head`.
    if tail == RX.head.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: the slot below `head` was published by the producer and is ours until `tail`
    // moves past it.
    let b = unsafe { *RX.buf[tail % RING].get() };
    // Release: pairs with the producer's Acquire load of `tail`.
    RX.tail.store(tail + 1, Ordering::Release);
    Some(b)
}

/// Read one line (without the terminator) into `buf`; returns its length. Bytes beyond
/// `buf` are dropped.
pub async fn read_line(buf: &mut [u8]) -> usize {
    let mut n = 0;
    loop {
        while let Some(b) = pop() {
            match b {
                b'\r' | b'\n' => return n,
                _ if n < buf.len() => {
                    buf[n] = b;
                    n += 1;
                }
                _ => {}
            }
        }
        RX_READY.wait().await;
    }
}
