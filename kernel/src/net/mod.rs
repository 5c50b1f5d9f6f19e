//! The network: virtio-net driven by the executor, smoltcp for IPv4/TCP/DHCP, and async TCP
//! sockets for tasks on any core.
//!
//! | file | holds |
//! | --- | --- |
//! | `config.rs` | the `ip=` boot argument (static address, or DHCP) |
//! | `device.rs` | smoltcp's `phy::Device` over `virtio-drivers`' `VirtIONetRaw` |
//! | `stack.rs` | the `Interface`, the sockets and the device under one lock; the stack task |
//! | `tcp.rs` | [`TcpSocket`]: `accept`, `read`, `write_all`, `close` for any task |
//! | `deadline.rs` | the timeouts of socket calls, all kept by the stack task's one timer |
//!
//! # Who owns what, and why
//!
//! One stack, owned by one task on one core: the core [`start`] runs on, which is also
//! where the device's interrupt is routed (`io::virtio`'s `bind_irq`). That task alone
//! moves frames between the device and smoltcp and runs TCP's timers. Connections are
//! served by tasks on every core: each holds a [`TcpSocket`] and copies bytes into and out
//! of its smoltcp socket under the stack's lock; smoltcp's socket wakers (feature `async`)
//! wake them from the stack task's poll, across cores through the executor's ordinary
//! cross-core wake, and they kick the stack task after each change.
//!
//! Why one owner: virtio-net as QEMU and Firecracker offer it here has one receive and one
//! transmit queue, and smoltcp's `Interface` is one object whose `poll` must not run twice
//! at once; per-queue stacks (one per core, RSS) would need a multi-queue device and one
//! smoltcp interface per queue with its own address. What scales with the cores is the
//! per-connection work (parsing, building responses, copying), and that runs where the
//! connection's task runs. The lock is held only to copy bytes or for one `poll`, never
//! across an `.await`, and never taken in an interrupt handler.

pub mod config;
mod deadline;
mod device;
mod stack;
mod tcp;

pub use stack::Stack;
pub use tcp::{TcpError, TcpSocket};

use crate::io::virtio::{self, DeviceError, DeviceType};
use crate::println;

/// Why the network did not start.
#[derive(Debug)]
pub enum NetError {
    /// No virtio-net device in the DTB (QEMU: `-device virtio-net-device,netdev=...`).
    NoDevice,
    /// The device could not be claimed or its interrupt bound.
    Device(DeviceError),
    /// The driver refused the device.
    Driver(virtio_drivers::Error),
    /// A bad `ip=` boot argument.
    BadConfig(&'static str),
    /// Already started, or the stack task could not be spawned.
    Started,
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NetError::NoDevice => f.write_str(
                "no virtio-net device (QEMU: -netdev user,id=n0 -device virtio-net-device,netdev=n0)",
            ),
            NetError::Device(e) => write!(f, "virtio-net: {e}"),
            NetError::Driver(e) => write!(f, "virtio-net driver: {e}"),
            NetError::BadConfig(why) => f.write_str(why),
            NetError::Started => f.write_str("the network is already started"),
        }
    }
}

static STACK: spin::Once<Stack> = spin::Once::new();
executor::task_pool!(static STACK_TASK: stack::run, 1);

/// Start the network on the calling core: claim the first virtio-net device, route its
/// interrupt here, and spawn the stack task on this core's context. The address comes from
/// `ip=ADDR/PREFIX[,gw=ADDR]` or DHCP ([`Stack::wait_configured`]). Once per boot.
pub fn start() -> Result<&'static Stack, NetError> {
    let ip = config::parse(crate::platform::bootarg("ip")).map_err(NetError::BadConfig)?;
    if STACK.get().is_some() {
        return Err(NetError::Started);
    }
    let found = virtio::find(DeviceType::Network).ok_or(NetError::NoDevice)?;
    let transport = found.claim().map_err(NetError::Device)?;
    let irq = found.bind_irq().map_err(NetError::Device)?;
    let dev = device::NetDevice::new(transport).map_err(NetError::Driver)?;
    let m = dev.mac_address();
    println!(
        "net: virtio-net {} mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} irq {} on core {}",
        found.node,
        m[0],
        m[1],
        m[2],
        m[3],
        m[4],
        m[5],
        found.irq.unwrap_or(0),
        crate::smp::core_index()
    );
    let stack = STACK.call_once(|| Stack::new(dev, ip, irq));
    // Detached: the stack task runs for the rest of the boot.
    if STACK_TASK
        .spawn(crate::runtime::this_context(), stack::run(stack))
        .is_err()
    {
        return Err(NetError::Started);
    }
    Ok(stack)
}

/// The stack, once [`start`]ed.
pub fn stack() -> Option<&'static Stack> {
    STACK.get()
}

/// A new TCP socket with `rx` and `tx` bytes of buffer (`None`: not started, or the
/// stack's socket table is full).
pub fn tcp_socket(rx: usize, tx: usize) -> Option<TcpSocket> {
    let s = STACK.get()?;
    s.add_tcp(rx, tx).map(|(h, i)| TcpSocket::new(s, h, i))
}
