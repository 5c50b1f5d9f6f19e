//! An asynchronous virtio-blk driver: [`Blk::read`], [`Blk::write`], [`Blk::flush`] are
//! futures, any number of them in flight at once (up to the queue's [`QUEUE_SIZE`]
//! requests; more wait for room).
//!
//! Built on `virtio-drivers`' transport and [`VirtQueue`] rather than its `VirtIOBlk`, whose
//! flush is blocking (it spins on the used ring) and whose request types are private: the
//! request header (virtio 1.2, 5.2.6) is 16 bytes we write ourselves.
//!
//! Completion is interrupt-driven: the device's interrupt acknowledges the device and
//! schedules this driver's bottom half ([`super::virtio::on_irq`]); the bottom half pops
//! every finished request off the used ring, records its status byte and wakes the task
//! waiting for it. Nothing polls the device.
//!
//! Each request owns its buffers (header, a heap copy of the data, status byte) in a slot
//! indexed by the descriptor chain's head: a future dropped while its request is in flight
//! leaves the slot to the bottom half, which frees it when the device is done with the
//! memory (so cancelling never lets the device write into reused memory).

use super::dma::VirtioHal;
use super::irq_lock::IrqLock;
use super::virtio::{DeviceError, DeviceType, VirtioDevice};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::task::{Poll, Waker};
use executor::{Bh, BhHandler, Context};
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{SomeTransport, Transport};

/// Bytes per sector.
pub const SECTOR_SIZE: usize = 512;
/// Descriptors in the request queue (with indirect descriptors, also requests in flight).
pub const QUEUE_SIZE: usize = 128;
/// Request slots: those in flight plus those finished but not yet collected.
const SLOTS: usize = 2 * QUEUE_SIZE;
/// Largest single request, in bytes.
pub const MAX_REQUEST: usize = 1 << 20;

bitflags::bitflags! {
    /// The feature bits this driver accepts (virtio 1.2, 5.2.3 and 6).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        const RO = 1 << 5;
        const FLUSH = 1 << 9;
        const RING_INDIRECT_DESC = 1 << 28;
        const VERSION_1 = 1 << 32;
    }
}

// Request types and status values (virtio 1.2, 5.2.6).
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;
/// Written into the status byte before submission: a device that completes a request
/// without writing its status leaves this.
const S_UNSET: u8 = 0xff;

/// Why a block request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlkError {
    /// The request reaches past the end of the disk (refused before the device sees it).
    OutOfRange {
        /// First sector asked for.
        sector: u64,
        /// Sectors asked for.
        count: u64,
        /// The disk's size in sectors.
        capacity: u64,
    },
    /// The buffer is empty, not a multiple of [`SECTOR_SIZE`], or above [`MAX_REQUEST`].
    BadLength(usize),
    /// A write to a read-only disk (refused before the device sees it).
    ReadOnly,
    /// The device answered VIRTIO_BLK_S_IOERR.
    IoError,
    /// The device answered VIRTIO_BLK_S_UNSUPP.
    Unsupported,
    /// The device answered another status byte (or none: 0xff).
    Status(u8),
    /// No memory for the request's buffers.
    NoMemory,
    /// The virtqueue refused the request.
    Queue,
}

impl core::fmt::Display for BlkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BlkError::OutOfRange {
                sector,
                count,
                capacity,
            } => write!(
                f,
                "sectors {}..{} out of range (disk has {} sectors)",
                sector,
                sector.saturating_add(*count),
                capacity
            ),
            BlkError::BadLength(n) => write!(
                f,
                "buffer of {} bytes: need a non-zero multiple of {} up to {}",
                n, SECTOR_SIZE, MAX_REQUEST
            ),
            BlkError::ReadOnly => write!(f, "the disk is read-only"),
            BlkError::IoError => write!(f, "device reported an I/O error"),
            BlkError::Unsupported => write!(f, "device reported the request unsupported"),
            BlkError::Status(s) => write!(f, "device returned status {:#x}", s),
            BlkError::NoMemory => write!(f, "out of memory for the request"),
            BlkError::Queue => write!(f, "virtqueue refused the request"),
        }
    }
}

/// Why [`Blk::open`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// No unclaimed virtio block device.
    NoDevice,
    /// Claiming or binding the device failed.
    Device(DeviceError),
    /// The device refused initialisation (queue setup, features).
    Init,
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OpenError::NoDevice => write!(f, "no virtio block device"),
            OpenError::Device(e) => write!(f, "{}", e),
            OpenError::Init => write!(f, "the virtio block device refused initialisation"),
        }
    }
}

struct Req {
    header: [u8; 16],
    data: Vec<u8>,
    status: [u8; 1],
    kind: u32,
    /// Set by the bottom half when the device has returned the chain.
    done: bool,
    /// The future no longer waits: free the slot at completion.
    abandoned: bool,
    waker: Option<Waker>,
}

struct Inner {
    transport: SomeTransport<'static>,
    queue: VirtQueue<VirtioHal, QUEUE_SIZE>,
    /// Requests in flight or finished and not yet collected by their future, by slot id.
    /// A slot is freed only when its future collects the request (or, abandoned, when the
    /// device returns it): the queue reuses a descriptor head as soon as it is popped, so
    /// slots cannot be indexed by the head itself.
    slots: [Option<Box<Req>>; SLOTS],
    /// The slot id of each descriptor head in flight.
    by_head: [u16; QUEUE_SIZE],
    /// Tasks waiting for room in the queue.
    room: Vec<Waker>,
}

/// An opened virtio block device.
pub struct Blk {
    inner: IrqLock<Inner>,
    capacity: u64,
    read_only: bool,
    has_flush: bool,
    device: &'static VirtioDevice,
    bh: Bh,
    completed: AtomicU64,
    /// Requests submitted and not yet collected or freed (changed under the lock).
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Blk {
    /// Open the first unclaimed virtio block device, its completions handled on the calling
    /// core (its interrupt is routed here and the bottom half runs on this core's context).
    pub fn open() -> Result<&'static Blk, OpenError> {
        let dev = super::virtio::find(DeviceType::Block).ok_or(OpenError::NoDevice)?;
        Self::open_device(dev)
    }

    /// Open `dev` (a block device from [`super::virtio::devices`]).
    pub fn open_device(dev: &'static VirtioDevice) -> Result<&'static Blk, OpenError> {
        let mut transport = dev.claim().map_err(OpenError::Device)?;
        let features = transport.begin_init(
            Features::RO | Features::FLUSH | Features::RING_INDIRECT_DESC | Features::VERSION_1,
        );
        // capacity: the config space's first field, a little-endian u64 (5.2.4).
        let capacity = transport
            .read_consistent(|| {
                let lo: u32 = transport.read_config_space(0)?;
                let hi: u32 = transport.read_config_space(4)?;
                Ok(u64::from(lo) | (u64::from(hi) << 32))
            })
            .map_err(|_| OpenError::Init)?;
        let queue = VirtQueue::new(
            &mut transport,
            0,
            features.contains(Features::RING_INDIRECT_DESC),
            false,
        )
        .map_err(|_| OpenError::Init)?;
        transport.finish_init();
        let blk: &'static Blk = Box::leak(Box::new(Blk {
            inner: IrqLock::new(Inner {
                transport,
                queue,
                slots: [const { None }; SLOTS],
                by_head: [0; QUEUE_SIZE],
                room: Vec::new(),
            }),
            capacity,
            read_only: features.contains(Features::RO),
            has_flush: features.contains(Features::FLUSH),
            device: dev,
            bh: Bh::with_handler(),
            completed: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }));
        blk.bh.set_handler(blk);
        let wake = dev.bind_irq().map_err(OpenError::Device)?;
        wake.attach_bh(&blk.bh, crate::runtime::this_context());
        Ok(blk)
    }

    /// The disk's size in sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether the device refuses writes.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The device this driver runs.
    pub fn device(&self) -> &'static VirtioDevice {
        self.device
    }

    /// Requests completed so far.
    pub fn completed(&self) -> u64 {
        // Relaxed: a statistics counter.
        self.completed.load(Ordering::Relaxed)
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        // Relaxed: a statistics counter.
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        // Relaxed: a statistics counter.
        self.max_in_flight.load(Ordering::Relaxed)
    }

    /// Count a request in or out of flight (caller holds the queue lock, so Relaxed
    /// read-modify-writes of statistics suffice).
    fn count_in_flight(&self, up: bool) {
        if up {
            let n = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            self.max_in_flight.fetch_max(n, Ordering::Relaxed);
        } else {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn check(&self, sector: u64, len: usize) -> Result<(), BlkError> {
        if len == 0 || !len.is_multiple_of(SECTOR_SIZE) || len > MAX_REQUEST {
            return Err(BlkError::BadLength(len));
        }
        let count = (len / SECTOR_SIZE) as u64;
        match sector.checked_add(count) {
            Some(end) if end <= self.capacity => Ok(()),
            _ => Err(BlkError::OutOfRange {
                sector,
                count,
                capacity: self.capacity,
            }),
        }
    }

    /// Read `buf.len()` bytes (a multiple of [`SECTOR_SIZE`]) from `sector` on.
    pub async fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlkError> {
        self.check(sector, buf.len())?;
        let req = self.request(T_IN, sector, Vec::new(), buf.len()).await?;
        buf.copy_from_slice(&req.data);
        Ok(())
    }

    /// Write `buf` (a multiple of [`SECTOR_SIZE`] bytes) from `sector` on.
    pub async fn write(&self, sector: u64, buf: &[u8]) -> Result<(), BlkError> {
        self.check(sector, buf.len())?;
        if self.read_only {
            return Err(BlkError::ReadOnly);
        }
        let mut data = Vec::new();
        data.try_reserve_exact(buf.len())
            .map_err(|_| BlkError::NoMemory)?;
        data.extend_from_slice(buf);
        self.request(T_OUT, sector, data, 0).await.map(|_| ())
    }

    /// Make every completed write durable (VIRTIO_BLK_T_FLUSH; a no-op when the device
    /// does not offer VIRTIO_BLK_F_FLUSH, i.e. has no volatile cache).
    pub async fn flush(&self) -> Result<(), BlkError> {
        if !self.has_flush {
            return Ok(());
        }
        self.request(T_FLUSH, 0, Vec::new(), 0).await.map(|_| ())
    }

    /// Submit one request (waiting for room in the queue), then wait for its completion.
    async fn request(
        &self,
        kind: u32,
        sector: u64,
        mut data: Vec<u8>,
        read_len: usize,
    ) -> Result<Box<Req>, BlkError> {
        if read_len > 0 {
            data.try_reserve_exact(read_len)
                .map_err(|_| BlkError::NoMemory)?;
            data.resize(read_len, 0);
        }
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&kind.to_le_bytes());
        header[8..16].copy_from_slice(&sector.to_le_bytes());
        let mut pending = Some(Box::new(Req {
            header,
            data,
            status: [S_UNSET],
            kind,
            done: false,
            abandoned: false,
            waker: None,
        }));
        let id = poll_fn(|cx| self.poll_submit(cx, &mut pending)).await?;
        let mut guard = Abandon {
            blk: self,
            id: Some(id),
        };
        let req = poll_fn(|cx| self.poll_done(cx, id)).await;
        guard.id = None;
        match req.status[0] {
            S_OK => Ok(req),
            S_IOERR => Err(BlkError::IoError),
            S_UNSUPP => Err(BlkError::Unsupported),
            s => Err(BlkError::Status(s)),
        }
    }

    fn poll_submit(
        &self,
        cx: &mut core::task::Context<'_>,
        pending: &mut Option<Box<Req>>,
    ) -> Poll<Result<usize, BlkError>> {
        let Some(mut req) = pending.take() else {
            return Poll::Ready(Err(BlkError::Queue));
        };
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        let Some(id) = inner.slots.iter().position(|s| s.is_none()) else {
            inner.room.push(cx.waker().clone());
            *pending = Some(req);
            return Poll::Pending;
        };
        let r = &mut *req;
        let added = match r.kind {
            // SAFETY: the buffers live in the boxed request, which stays in its slot (or,
            // abandoned, until the bottom half pops it) until `pop_used` returns the chain;
            // nothing else touches them meanwhile. (The same for the two arms below.)
            T_IN => unsafe {
                inner
                    .queue
                    .add(&[&r.header], &mut [&mut r.data[..], &mut r.status])
            },
            // SAFETY: as for T_IN.
            T_OUT => unsafe {
                inner
                    .queue
                    .add(&[&r.header, &r.data[..]], &mut [&mut r.status])
            },
            // SAFETY: as for T_IN.
            _ => unsafe { inner.queue.add(&[&r.header], &mut [&mut r.status]) },
        };
        match added {
            Ok(token) => {
                if inner.queue.should_notify() {
                    inner.transport.notify(0);
                }
                match (
                    inner.slots.get_mut(id),
                    inner.by_head.get_mut(token as usize),
                ) {
                    (Some(slot), Some(head)) => {
                        *slot = Some(req);
                        *head = id as u16;
                        self.count_in_flight(true);
                        Poll::Ready(Ok(id))
                    }
                    // A head index outside the queue: cannot happen (VirtQueue's contract);
                    // keep the request alive rather than free memory the device may use.
                    _ => {
                        Box::leak(req);
                        Poll::Ready(Err(BlkError::Queue))
                    }
                }
            }
            Err(virtio_drivers::Error::QueueFull) => {
                inner.room.push(cx.waker().clone());
                *pending = Some(req);
                Poll::Pending
            }
            Err(_) => Poll::Ready(Err(BlkError::Queue)),
        }
    }

    fn poll_done(&self, cx: &mut core::task::Context<'_>, id: usize) -> Poll<Box<Req>> {
        let mut inner = self.inner.lock();
        let Some(slot) = inner.slots.get_mut(id) else {
            return Poll::Pending;
        };
        match slot {
            Some(req) if req.done => {
                let req = slot.take();
                self.count_in_flight(false);
                let room = core::mem::take(&mut inner.room);
                drop(inner);
                for w in room {
                    w.wake();
                }
                match req {
                    Some(r) => Poll::Ready(r),
                    None => Poll::Pending,
                }
            }
            Some(req) => {
                match &req.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => req.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            None => Poll::Pending,
        }
    }

    /// Pop every finished request (the bottom half). Returns the wakers to wake.
    fn reap(&self) {
        let mut wake: Vec<Waker> = Vec::new();
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let mut freed = false;
        while let Some(token) = inner.queue.peek_used() {
            let id = inner
                .by_head
                .get(token as usize)
                .copied()
                .unwrap_or(u16::MAX) as usize;
            let Some(Some(req)) = inner.slots.get_mut(id) else {
                // A token we never handed out: a device bug; stop rather than guess.
                break;
            };
            let r = &mut **req;
            let popped = match r.kind {
                // SAFETY: the same buffers `poll_submit` added for this token (the same for
                // the two arms below).
                T_IN => unsafe {
                    inner
                        .queue
                        .pop_used(token, &[&r.header], &mut [&mut r.data[..], &mut r.status])
                },
                // SAFETY: as for T_IN.
                T_OUT => unsafe {
                    inner
                        .queue
                        .pop_used(token, &[&r.header, &r.data[..]], &mut [&mut r.status])
                },
                // SAFETY: as for T_IN.
                _ => unsafe {
                    inner
                        .queue
                        .pop_used(token, &[&r.header], &mut [&mut r.status])
                },
            };
            if popped.is_err() {
                break;
            }
            // Relaxed: a statistics counter.
            self.completed.fetch_add(1, Ordering::Relaxed);
            r.done = true;
            if r.abandoned {
                if let Some(slot) = inner.slots.get_mut(id) {
                    *slot = None;
                }
                self.count_in_flight(false);
                freed = true;
            } else if let Some(w) = r.waker.take() {
                wake.push(w);
            }
        }
        if freed {
            wake.append(&mut inner.room);
        }
        drop(guard);
        for w in wake {
            w.wake();
        }
    }
}

impl BhHandler for Blk {
    fn run(&'static self, _ctx: &'static Context) {
        self.reap();
    }
}

/// Drop guard of a request in flight: if its future is dropped before completion, leave
/// the slot to the bottom half (or free it now if the device is already done).
struct Abandon<'a> {
    blk: &'a Blk,
    id: Option<usize>,
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id else {
            return;
        };
        let mut inner = self.blk.inner.lock();
        if let Some(slot) = inner.slots.get_mut(id) {
            match slot {
                Some(req) if req.done => {
                    *slot = None;
                    self.blk.count_in_flight(false);
                }
                Some(req) => {
                    req.abandoned = true;
                    req.waker = None;
                }
                None => {}
            }
        }
    }
}
