//! A test's failure and the `ensure!` that returns one.

use core::fmt;

/// Why a test failed.
pub struct Failure(pub(super) heapless::String<160>);

impl Failure {
    /// The failure message, formatted (cut at 160 bytes).
    pub fn new(args: fmt::Arguments) -> Self {
        let mut s = heapless::String::new();
        let _ = fmt::write(&mut s, args);
        Failure(s)
    }
}

/// `ensure!(cond, "why {}", x)`: fail the test with that message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err($crate::selftest::failure::Failure::new(format_args!($($arg)*)));
        }
    };
}
pub(crate) use ensure;
