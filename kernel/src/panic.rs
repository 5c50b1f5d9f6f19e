//! A panic on any core: report core, message and location, stop the others, fail the run.

use crate::println_forced;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hal::cpu::irq_disable();
    let core = crate::smp::core_index();
    match info.location() {
        Some(loc) => println_forced!(
            "core {} panicked at {}:{}:{}: {}",
            core,
            loc.file(),
            loc.line(),
            loc.column(),
            info.message()
        ),
        None => println_forced!("core {} panicked: {}", core, info.message()),
    }
    crate::exit::fail(format_args!("panic on core {}", core))
}
