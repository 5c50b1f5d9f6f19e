//! The application API: what a unikernel built on aiolos uses, without touching kernel
//! internals.
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use kernel::api::*;
//!
//! async fn hello(core: usize) -> usize {
//!     sleep(ms(10)).await;
//!     kernel::println!("hello from core {}", this_core());
//!     core
//! }
//! task_pool!(static HELLO: hello, 8);
//!
//! kernel::entry!(main);
//! fn main() {
//!     // Runs once on core 0 after every core is online; spawn the first tasks here.
//!     for core in 0..cores_online() {
//!         HELLO.spawn(context(core).unwrap(), hello(core)).unwrap();
//!     }
//!     // ... and end the run from a task with `exit_ok()`.
//! }
//! ```

pub use crate::runtime::console_rx::read_line;
pub use crate::runtime::signal::Signal;
pub use crate::runtime::stats_table::{CoreStats, WakeStats};
pub use executor::{
    co_schedule, current_context, sleep, sleep_until, task_pool, with_timeout, Bh, Context,
    Elapsed, JoinHandle, PollParams, PoolFull, ScheduleError, SpawnError, TaskPool, WorkerPool,
};

/// Number of cores online.
pub fn cores_online() -> usize {
    crate::smp::online_count()
}

/// Index of the calling core (0 = boot core).
pub fn this_core() -> usize {
    crate::smp::core_index()
}

/// The executor context of an online core.
#[inline]
pub fn context(core: usize) -> Option<&'static Context> {
    crate::smp::is_online(core).then(|| crate::runtime::context(core))
}

/// The calling core's context.
pub fn this_context() -> &'static Context {
    crate::runtime::this_context()
}

/// The clock: virtual counter ticks.
pub fn now() -> u64 {
    hal::timer::counter()
}

/// Clock ticks per second (CNTFRQ_EL0).
pub fn ticks_per_second() -> u64 {
    hal::timer::frequency()
}

/// `n` milliseconds in clock ticks.
pub fn ms(n: u64) -> u64 {
    hal::timer::ns_to_ticks(n.saturating_mul(1_000_000), ticks_per_second())
}

/// `n` microseconds in clock ticks.
pub fn us(n: u64) -> u64 {
    hal::timer::ns_to_ticks(n.saturating_mul(1_000), ticks_per_second())
}

/// Clock ticks in microseconds.
pub fn ticks_to_us(ticks: u64) -> u64 {
    hal::timer::ticks_to_ns(ticks, ticks_per_second()) / 1_000
}

/// Boot argument `key=value` (from `/chosen/bootargs`).
pub fn bootarg(key: &str) -> Option<&'static str> {
    crate::platform::bootarg(key)
}

/// Whether the bare word `arg` is among the boot arguments.
pub fn has_bootarg(arg: &str) -> bool {
    crate::platform::has_bootarg(arg)
}

/// Turn on console input (the UART RX interrupt) for [`read_line`]. False if the DTB gives
/// the console no interrupt.
pub fn enable_console_input() -> bool {
    crate::runtime::console_rx::enable()
}

/// Print the per-core statistics table (one line saying so if built without feature `stats`).
pub fn print_stats() {
    crate::runtime::stats_table::print()
}

/// One core's statistics as values (`None` if `core` is not online); what
/// [`print_stats`] prints, for an application to report itself (e.g. as JSON).
pub fn core_stats(core: usize) -> Option<CoreStats> {
    crate::runtime::stats_table::core_stats(core)
}

/// Highest core index plus one that may be online (iterate `0..possible_cores()`).
pub fn possible_cores() -> usize {
    crate::smp::possible_count()
}

/// The network: virtio-net and a TCP/IP stack (smoltcp). [`net::start`] on the core that
/// should own the stack, then [`net::tcp_socket`]s used by tasks on any core. Feature `net`.
#[cfg(feature = "net")]
pub mod net {
    pub use crate::net::{stack, start, tcp_socket, NetError, Stack, TcpError, TcpSocket};
}

/// End the run successfully (`exit: ok`).
pub fn exit_ok() -> ! {
    crate::exit::ok()
}

/// Reset the machine (PSCI SYSTEM_RESET) after printing `round: ok`: QEMU without
/// `-no-reboot` boots the same image again. Without PSCI it ends the run with `exit: ok`.
pub fn system_reset() -> ! {
    crate::exit::reboot()
}

/// End the run as a failure (`exit: fail: <reason>`).
pub fn exit_fail(reason: core::fmt::Arguments) -> ! {
    crate::exit::fail(reason)
}

/// Run `handler` in interrupt context on the calling core after `ticks` (a one-shot device
/// interrupt: the EL1 physical timer). A new call replaces a pending one. Returns the
/// [`device_clock`] value at which the interrupt is raised (the timer's compare value), so
/// a caller can measure its interrupt latency exactly.
pub fn device_irq_after(ticks: u64, handler: fn()) -> u64 {
    crate::runtime::device_timer::after(ticks, handler)
}

/// The clock [`device_irq_after`] compares with (the physical counter): the same rate as
/// [`now`]'s, but a hypervisor may offset the two, so compare its values only with each other.
pub fn device_clock() -> u64 {
    crate::runtime::device_timer::clock()
}

/// A software interrupt for applications and tests: the highest SPI the GIC implements
/// (no device drives it), raised by [`raise_soft_irq`]; its handler runs in interrupt
/// context on the primary core.
pub fn soft_irq() -> u32 {
    crate::irq::soft_irq()
}

/// Register the handler of [`soft_irq`].
pub fn register_soft_irq(handler: fn(u32)) {
    crate::irq::register(soft_irq(), handler);
}

/// Make [`soft_irq`] pending.
pub fn raise_soft_irq() {
    crate::irq::gic_cpu().set_pending(soft_irq());
}

/// Real I/O: the virtio devices the DTB describes, the async block driver, DMA memory and
/// the interrupt-to-task signal drivers are built on.
///
/// ```ignore
/// use kernel::api::io::*;
/// // Block: opened on the calling core (its interrupt and bottom half run there).
/// let disk = Blk::open()?;
/// disk.write(8, &buf).await?; disk.read(8, &mut buf).await?; disk.flush().await?;
/// // Any other device (e.g. network) with virtio-drivers' own driver:
/// let dev = find_virtio(DeviceType::Network).unwrap();
/// let transport = dev.claim()?;        // virtio_drivers::transport::SomeTransport<'static>
/// let irq = dev.bind_irq()?;           // &'static IrqWake, routed to this core
/// let net = virtio_drivers::device::net::VirtIONet::<VirtioHal, _, 16>::new(transport, 2048);
/// loop { irq.wait().await; /* process the device's queues */ }
/// ```
///
/// `IrqLock` and `IrqWake` are always there; `heap_usage` needs feature `heap`, the rest
/// feature `virtio`.
pub mod io {
    #[cfg(feature = "virtio")]
    pub use crate::io::blk::{Blk, BlkError, OpenError, MAX_REQUEST, QUEUE_SIZE, SECTOR_SIZE};
    #[cfg(feature = "virtio")]
    pub use crate::io::dma::{dma_alloc, dma_free, VirtioHal};
    #[cfg(feature = "heap")]
    pub use crate::io::heap::usage as heap_usage;
    pub use crate::io::irq_lock::{IrqGuard, IrqLock};
    pub use crate::io::irq_wake::IrqWake;
    #[cfg(feature = "virtio")]
    pub use crate::io::virtio::{
        devices as virtio_devices, find as find_virtio, DeviceError, DeviceType, Transport,
        VirtioDevice,
    };
    /// The `virtio-drivers` crate aiolos builds on (its drivers take [`VirtioHal`]).
    #[cfg(feature = "virtio")]
    pub use virtio_drivers;
}

/// Declare the application's entry function (`fn()`), run once on core 0 once all cores are
/// online, before the cores start running their contexts.
#[macro_export]
macro_rules! entry {
    ($path:path) => {
        #[no_mangle]
        fn aiolos_app_main() {
            let f: fn() = $path;
            f()
        }
    };
}
