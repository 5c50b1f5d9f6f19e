//! smoltcp's `phy::Device` over a virtio-net device (`virtio-drivers`' `VirtIONetRaw`).
//!
//! The raw driver, not `VirtIONet`: the latter's `send` adds a buffer, notifies and then
//! spins until the device used it, and the rule here is that every completion is noticed
//! through the used-buffer interrupt. With the raw driver:
//!
//! - **receive**: all [`QUEUE`] receive buffers sit in the receive queue from the start; a
//!   used one is copied out into the `RxToken` (one Ethernet frame, so at most 1514 bytes)
//!   and handed straight back to the device.
//! - **transmit**: a frame is built in one of [`TX_BUFS`] buffers behind the virtio-net
//!   header and added to the transmit queue; the buffer comes back to the free list when
//!   the device has used it ([`NetDevice::reclaim_tx`], run by the stack task after the
//!   interrupt woke it). With every buffer in flight `transmit` returns `None` and smoltcp
//!   keeps the data in the socket until the next poll.
//!
//! The device belongs to the stack (`net/stack.rs`), which holds it under the stack's lock.

use alloc::boxed::Box;
use alloc::vec;
use core::sync::atomic::{fence, Ordering};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::Transport;
use virtio_drivers::Hal;

/// Descriptors per virtqueue (a power of two; QEMU offers 256).
pub const QUEUE: usize = 64;
/// Transmit buffers (each takes one descriptor of the transmit queue).
pub const TX_BUFS: usize = 32;
/// One buffer: the virtio-net header (10 or 12 bytes) and a 1514-byte frame, as the driver's
/// minimum receive length (1526) wants.
const BUF: usize = 1536;
/// Largest Ethernet frame without the FCS.
pub const MTU: usize = 1514;

type Buf = [u8; BUF];

pub struct NetDevice<H: Hal, T: Transport> {
    raw: VirtIONetRaw<H, T, QUEUE>,
    /// Receive buffers; `rx_of_token[t]` names the one the device holds under token `t`.
    rx: Box<[Buf]>,
    rx_of_token: [Option<u8>; QUEUE],
    tx: Box<[Buf]>,
    /// The transmit buffer in flight under each token.
    tx_of_token: [Option<u8>; QUEUE],
    tx_free: heapless::Vec<u8, TX_BUFS>,
    /// Frames received / sent, and frames dropped (for the banner line and `/stats`).
    pub counts: Counts,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub rx_frames: u64,
    pub tx_frames: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

impl<H: Hal, T: Transport> NetDevice<H, T> {
    /// Initialises the device behind `transport` and fills its receive queue.
    pub fn new(transport: T) -> Result<Self, virtio_drivers::Error> {
        let raw = VirtIONetRaw::new(transport)?;
        let mut dev = NetDevice {
            raw,
            rx: vec![[0u8; BUF]; QUEUE].into_boxed_slice(),
            rx_of_token: [None; QUEUE],
            tx: vec![[0u8; BUF]; TX_BUFS].into_boxed_slice(),
            tx_of_token: [None; QUEUE],
            tx_free: (0..TX_BUFS as u8).collect(),
            counts: Counts::default(),
        };
        for i in 0..QUEUE {
            dev.submit_rx(i)?;
        }
        dev.raw.enable_interrupts();
        Ok(dev)
    }

    pub fn mac_address(&self) -> [u8; 6] {
        self.raw.mac_address()
    }

    /// Hands receive buffer `i` to the device.
    fn submit_rx(&mut self, i: usize) -> Result<(), virtio_drivers::Error> {
        // SAFETY: `rx[i]` lives in a heap block owned by `self` for as long as the queue,
        // and is not touched again until its token comes back through `poll_receive` and
        // `receive_complete` (in `receive`).
        let token = unsafe { self.raw.receive_begin(&mut self.rx[i])? };
        self.rx_of_token[usize::from(token) % QUEUE] = Some(i as u8);
        Ok(())
    }

    /// Whether the device has used buffers the stack has not taken yet (a frame it can
    /// receive now, or a finished transmission), checked after a full fence.
    ///
    /// Why: with `VIRTIO_F_EVENT_IDX` (which the driver crate negotiates) the device
    /// interrupts only when its used index passes the `used_event` the driver wrote when it
    /// popped its last buffer. That store and the driver's last look at the used index are
    /// a Release store and an Acquire load, which may be reordered; if the device adds a
    /// buffer in between and reads the old `used_event`, neither side notices and no
    /// interrupt ever comes for that queue (virtio 1.2, 2.7.10: the driver must re-check
    /// after publishing `used_event`, with a barrier between). The stack task calls this
    /// after each poll and polls again if it is true.
    pub fn has_work(&mut self) -> bool {
        // SeqCst fence: orders the `used_event` stores of the pops before (virtio-drivers'
        // Release stores in `pop_used`) against the used-index loads below; pairs with the
        // device's barrier between writing a used entry and reading `used_event`.
        fence(Ordering::SeqCst);
        let rx = self.raw.poll_receive().is_some() && self.can_transmit();
        rx || self.raw.poll_transmit().is_some()
    }

    /// A transmit buffer and room in the transmit queue are free (`receive` and `transmit`
    /// make tokens only then).
    pub fn can_transmit(&self) -> bool {
        !self.tx_free.is_empty() && self.raw.can_send()
    }

    /// Takes back every transmit buffer the device has finished with.
    pub fn reclaim_tx(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some(i) = self.tx_of_token[usize::from(token) % QUEUE].take() else {
                // Not ours: the queue and our table disagree; stop rather than guess.
                self.counts.tx_errors += 1;
                return;
            };
            // SAFETY: `tx[i]` is the buffer passed to `transmit_begin` under this token.
            if unsafe { self.raw.transmit_complete(token, &self.tx[usize::from(i)]) }.is_err() {
                self.counts.tx_errors += 1;
            }
            // Cannot overflow: at most TX_BUFS indices exist.
            let _ = self.tx_free.push(i);
        }
    }

    /// The next received frame, copied out; its buffer goes straight back to the device.
    fn take_frame(&mut self) -> Option<RxFrame> {
        loop {
            let token = self.raw.poll_receive()?;
            let Some(i) = self.rx_of_token[usize::from(token) % QUEUE].take() else {
                self.counts.rx_errors += 1;
                return None;
            };
            let i = usize::from(i);
            // SAFETY: `rx[i]` is the buffer passed to `receive_begin` under this token.
            let got = unsafe { self.raw.receive_complete(token, &mut self.rx[i]) };
            let frame = match got {
                Ok((hdr, len)) if len <= MTU => {
                    let mut f = RxFrame {
                        data: [0; MTU],
                        len,
                    };
                    f.data[..len].copy_from_slice(&self.rx[i][hdr..hdr + len]);
                    Some(f)
                }
                _ => None,
            };
            if self.submit_rx(i).is_err() {
                self.counts.rx_errors += 1;
            }
            match frame {
                Some(f) => {
                    self.counts.rx_frames += 1;
                    return Some(f);
                }
                None => self.counts.rx_errors += 1,
            }
        }
    }
}

/// A received Ethernet frame.
pub struct RxFrame {
    data: [u8; MTU],
    len: usize,
}

impl phy::RxToken for RxFrame {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.data[..self.len])
    }
}

/// Room to send one frame (a free transmit buffer was seen when it was made).
pub struct TxSlot<'a, H: Hal, T: Transport> {
    dev: &'a mut NetDevice<H, T>,
}

impl<H: Hal, T: Transport> phy::TxToken for TxSlot<'_, H, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let dev = self.dev;
        let mut scratch = [0u8; MTU];
        let Some(i) = dev.tx_free.pop() else {
            // `transmit`/`receive` only make a slot when a buffer is free and nothing else
            // takes one in between; still, never panic: build the frame and drop it.
            dev.counts.tx_errors += 1;
            return f(&mut scratch[..len.min(MTU)]);
        };
        let buf = &mut dev.tx[usize::from(i)];
        let hdr = dev.raw.fill_buffer_header(buf).unwrap_or(0);
        let len = len.min(MTU);
        let r = f(&mut buf[hdr..hdr + len]);
        let frame = &buf[..hdr + len];
        // SAFETY: `tx[i]` stays in `self` and is not written again until `reclaim_tx` has
        // seen its token come back from the device.
        match unsafe { dev.raw.transmit_begin(frame) } {
            Ok(token) => {
                dev.tx_of_token[usize::from(token) % QUEUE] = Some(i);
                dev.counts.tx_frames += 1;
            }
            Err(_) => {
                let _ = dev.tx_free.push(i);
                dev.counts.tx_errors += 1;
            }
        }
        r
    }
}

impl<H: Hal, T: Transport> phy::Device for NetDevice<H, T> {
    type RxToken<'a>
        = RxFrame
    where
        Self: 'a;
    type TxToken<'a>
        = TxSlot<'a, H, T>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.reclaim_tx();
        // A reply (an ACK) may go out with the frame: only take one with a buffer free.
        if !self.can_transmit() {
            return None;
        }
        let frame = self.take_frame()?;
        Some((frame, TxSlot { dev: self }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        self.reclaim_tx();
        self.can_transmit().then_some(TxSlot { dev: self })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(TX_BUFS);
        caps
    }
}
