//! The TCP/IP stack: one smoltcp `Interface`, its sockets and the virtio-net device under
//! one lock, and the task that drives them (see `net/mod.rs` for why it is built this way).
//!
//! The stack task ([`run`]) sleeps until one of three things happens, then polls smoltcp
//! once (receive everything the device used, transmit what sockets queued, run TCP's and
//! DHCP's timers) and computes its next deadline:
//!
//! - the device's used-buffer interrupt (`io::virtio`'s handler acknowledges it and fires
//!   the device's [`IrqWake`]);
//! - a socket user changed something smoltcp must act on (data queued, buffer space freed,
//!   a close): [`Stack::kick`] fires the stack's own `IrqWake`;
//! - the deadline smoltcp asked for (`poll_delay`: retransmission, delayed ACK, DHCP
//!   renewal), an executor timer on the stack task's core.
//!
//! Nothing here polls in a loop: with no traffic and no timer due the core sleeps in WFI.

use alloc::vec;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::task::Poll;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};
use virtio_drivers::transport::SomeTransport;

use super::config::IpConfig;
use super::deadline::Deadlines;
use super::device::{Counts, NetDevice};
use crate::io::dma::VirtioHal;
use crate::io::IrqWake;

/// The device type the stack drives.
pub type Dev = NetDevice<VirtioHal, SomeTransport<'static>>;

/// Sockets the stack can hold (TCP sockets the application makes, plus DHCP's).
pub const MAX_SOCKETS: usize = 128;

pub(super) struct Inner {
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    pub dev: Dev,
    dhcp: Option<SocketHandle>,
    /// Timeouts of socket calls (see `net/deadline.rs`).
    pub deadlines: Deadlines,
}

/// The stack: made once by `net::start`, shared by every core.
pub struct Stack {
    pub(super) inner: spin::Mutex<Inner>,
    /// Fired by socket users ([`Stack::kick`]); awaited by the stack task.
    kicked: IrqWake,
    /// The device's interrupt.
    irq: &'static IrqWake,
    /// The IPv4 address (packed `a.b.c.d` << 8 | prefix) once configured, else 0.
    addr: AtomicU64,
    /// Fired when the address is configured (awaited by [`Stack::wait_configured`]).
    configured: IrqWake,
    polls: AtomicU64,
    started: AtomicBool,
}

/// Microseconds of the executor's clock, as smoltcp's `Instant`.
fn now() -> Instant {
    let ticks = hal::timer::counter();
    let us = hal::timer::ticks_to_ns(ticks, hal::timer::frequency()) / 1_000;
    Instant::from_micros(us as i64)
}

/// smoltcp's `Duration` in clock ticks (at least 1).
fn ticks(d: Duration) -> u64 {
    hal::timer::ns_to_ticks(
        d.total_micros().saturating_mul(1_000),
        hal::timer::frequency(),
    )
    .max(1)
}

fn cidr(addr: [u8; 4], prefix_len: u8) -> Ipv4Cidr {
    Ipv4Cidr::new(Ipv4Address::from_octets(addr), prefix_len)
}

impl Stack {
    /// A stack over `dev` with the address `config` asks for (DHCP until configured).
    pub(super) fn new(mut dev: Dev, config: IpConfig, irq: &'static IrqWake) -> Stack {
        let mac = EthernetAddress(dev.mac_address());
        let mut cfg = Config::new(HardwareAddress::Ethernet(mac));
        // Seeds TCP's initial sequence numbers and DHCP's transaction ids.
        cfg.random_seed = hal::timer::counter()
            ^ u64::from_le_bytes([
                mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5], 0, 0,
            ]);
        let mut iface = Interface::new(cfg, &mut dev, now());
        // A `Vec` (feature `alloc`): the set grows as sockets are added, up to MAX_SOCKETS.
        let mut sockets = SocketSet::new(Vec::with_capacity(MAX_SOCKETS));
        let stack_addr = AtomicU64::new(0);
        let mut dhcp = None;
        match config {
            IpConfig::Static {
                addr,
                prefix_len,
                gateway,
            } => {
                iface.update_ip_addrs(|a| {
                    let _ = a.push(IpCidr::Ipv4(cidr(addr, prefix_len)));
                });
                if let Some(gw) = gateway {
                    let _ = iface
                        .routes_mut()
                        .add_default_ipv4_route(Ipv4Address::from_octets(gw));
                }
                // Relaxed: not yet shared.
                stack_addr.store(pack(addr, prefix_len), Ordering::Relaxed);
            }
            IpConfig::Dhcp => dhcp = Some(sockets.add(dhcpv4::Socket::new())),
        }
        Stack {
            inner: spin::Mutex::new(Inner {
                iface,
                sockets,
                dev,
                dhcp,
                deadlines: Deadlines::new(),
            }),
            kicked: IrqWake::new(),
            irq,
            addr: stack_addr,
            configured: IrqWake::new(),
            polls: AtomicU64::new(0),
            started: AtomicBool::new(false),
        }
    }

    /// Ask the stack task to poll soon (from any core: after queuing data, reading data
    /// out, closing).
    pub fn kick(&self) {
        self.kicked.wake();
    }

    /// The configured address and prefix length, if any yet.
    pub fn address(&self) -> Option<([u8; 4], u8)> {
        // Acquire pairs with the Release store in `poll_once`.
        unpack(self.addr.load(Ordering::Acquire))
    }

    /// Wait until the interface has an address (at once with `ip=`); one waiter at a time.
    pub async fn wait_configured(&self) -> ([u8; 4], u8) {
        poll_fn(|cx| {
            if let Some(a) = self.address() {
                return Poll::Ready(a);
            }
            let _ = self.configured.poll_wait(cx);
            match self.address() {
                Some(a) => Poll::Ready(a),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Frames and errors of the device, and stack polls so far.
    pub fn counts(&self) -> (Counts, u64) {
        let c = self.inner.lock().dev.counts;
        // Relaxed: a statistics counter.
        (c, self.polls.load(Ordering::Relaxed))
    }

    /// Device interrupts seen so far.
    pub fn interrupts(&self) -> u64 {
        self.irq.count()
    }

    /// One pass of smoltcp; returns how long it may sleep (`None`: until woken).
    fn poll_once(&self) -> Option<u64> {
        // Relaxed: a statistics counter.
        self.polls.fetch_add(1, Ordering::Relaxed);
        let mut g = self.inner.lock();
        let Inner {
            iface,
            sockets,
            dev,
            dhcp,
            deadlines,
        } = &mut *g;
        let t = now();
        iface.poll(t, dev, sockets);
        if let Some(h) = *dhcp {
            match sockets.get_mut::<dhcpv4::Socket>(h).poll() {
                Some(dhcpv4::Event::Configured(c)) => {
                    iface.update_ip_addrs(|a| {
                        a.clear();
                        let _ = a.push(IpCidr::Ipv4(c.address));
                    });
                    match c.router {
                        Some(r) => {
                            let _ = iface.routes_mut().add_default_ipv4_route(r);
                        }
                        None => {
                            let _ = iface.routes_mut().remove_default_ipv4_route();
                        }
                    }
                    let a = c.address.address().octets();
                    // Release pairs with the Acquire load in `address`.
                    self.addr
                        .store(pack(a, c.address.prefix_len()), Ordering::Release);
                    self.configured.wake();
                    // The new address may have unblocked sockets: poll again at once.
                    return Some(0);
                }
                Some(dhcpv4::Event::Deconfigured) => {
                    iface.update_ip_addrs(|a| a.clear());
                    let _ = iface.routes_mut().remove_default_ipv4_route();
                    // Release pairs with the Acquire load in `address`.
                    self.addr.store(0, Ordering::Release);
                }
                None => {}
            }
        }
        if dev.has_work() {
            // Used buffers arrived after this poll looked (see `NetDevice::has_work`).
            deadlines.planned_wake = 0;
            return Some(0);
        }
        let clock = hal::timer::counter();
        let stack_wait = match iface.poll_delay(t, sockets) {
            // smoltcp has frames to send but every transmit buffer is with the device: the
            // transmit interrupt wakes the task when one comes back (no polling meanwhile).
            Some(d) if d.total_micros() == 0 && !dev.can_transmit() => None,
            d => d.map(ticks),
        };
        let call_wait = match deadlines.expire(clock) {
            u64::MAX => None,
            d => Some(d.saturating_sub(clock).max(1)),
        };
        let wait = match (stack_wait, call_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Read by socket calls under this lock (`Deadlines::set`).
        deadlines.planned_wake = wait.map_or(u64::MAX, |w| clock.saturating_add(w));
        wait
    }

    /// A new TCP socket with `rx` and `tx` bytes of buffer, and its deadline entry; `None`
    /// if the set is full.
    pub(super) fn add_tcp(&self, rx: usize, tx: usize) -> Option<(SocketHandle, usize)> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; rx]),
            tcp::SocketBuffer::new(vec![0u8; tx]),
        );
        // Request/response traffic: send each write at once (a response is one write).
        s.set_nagle_enabled(false);
        // No smoltcp timeout: it also aborts a connection whose peer is merely silent (an
        // idle keep-alive connection); the socket calls' deadlines bound every wait instead.
        let mut g = self.inner.lock();
        // The set would grow past MAX_SOCKETS; keep the bound the docs state.
        if g.sockets.iter().count() >= MAX_SOCKETS {
            return None;
        }
        let h = g.sockets.add(s);
        Some((h, g.deadlines.add()))
    }
}

/// `a.b.c.d/p` in one word (non-zero: the prefix is 1..=32 and bit 40 is set).
fn pack(a: [u8; 4], prefix_len: u8) -> u64 {
    1 << 40 | u64::from(u32::from_be_bytes(a)) << 8 | u64::from(prefix_len)
}

fn unpack(w: u64) -> Option<([u8; 4], u8)> {
    (w != 0).then(|| (((w >> 8) as u32).to_be_bytes(), w as u8))
}

/// Returns `Pending` once (after waking itself), so the executor runs the core's other
/// ready tasks before this one continues.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// The stack task: poll, sleep until the device, a socket user or the deadline wakes it.
/// Runs on the core the device's interrupt is routed to, forever.
pub async fn run(stack: &'static Stack) {
    // Relaxed: only guards against a second stack task (a programming error).
    if stack.started.swap(true, Ordering::Relaxed) {
        return;
    }
    loop {
        let wait = stack.poll_once();
        if wait == Some(0) {
            // More to do at once: let the other tasks of this core run first.
            yield_now().await;
            continue;
        }
        let woken = poll_fn(|cx| {
            // Poll both (each registers this task's waker) so either can wake it.
            let irq = stack.irq.poll_wait(cx).is_ready();
            let kick = stack.kicked.poll_wait(cx).is_ready();
            if irq || kick {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        match wait {
            Some(t) => {
                let _ = executor::with_timeout(t, woken).await;
            }
            None => woken.await,
        }
    }
}
