//! MMIO register types for `register_structs!`, accessed with single plain `ldr`/`str`.
//!
//! tock-registers' own `ReadWrite`/`ReadOnly`/`WriteOnly` use `read_volatile` and
//! `write_volatile`, and the compiler is free to emit those as post-indexed or pair accesses
//! (`str w0, [x1], #4`, `ldp`) in loops. For such instructions the CPU reports no syndrome
//! (ESR_EL2.ISV = 0) when the access traps to a hypervisor, so KVM cannot emulate the
//! device access and QEMU injects a synchronous external abort into the guest: GIC setup
//! died under KVM exactly like that, while TCG (which emulates every addressing mode) was
//! fine. Like Linux's `readl`/`writel`, these types do each access as one inline-asm
//! `ldr`/`str` of the register's width with a plain base register, which always has a
//! valid syndrome.
//!
//! They implement tock-registers' `Readable`/`Writeable` (and so `ReadWriteable`), so
//! drivers keep the bitfield API.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{RegisterLongName, UIntLike};

/// Widths we can access with a single plain load/store.
pub trait MmioWord: UIntLike {
    /// # Safety
    /// `ptr` must be a valid, aligned device register address.
    unsafe fn mmio_read(ptr: *const Self) -> Self;
    /// # Safety
    /// `ptr` must be a valid, aligned device register address.
    unsafe fn mmio_write(ptr: *mut Self, value: Self);
}

macro_rules! mmio_word {
    ($t:ty, $ldr:literal, $str:literal, $reg:ident) => {
        impl MmioWord for $t {
            #[inline(always)]
            unsafe fn mmio_read(ptr: *const Self) -> Self {
                #[cfg(target_arch = "aarch64")]
                {
                    let v: $t;
                    // SAFETY: the caller guarantees a valid register address; one plain
                    // load, no writeback.
                    unsafe {
                        core::arch::asm!(concat!($ldr, " {v:", stringify!($reg), "}, [{p}]"),
                            p = in(reg) ptr, v = out(reg) v, options(nostack, preserves_flags));
                    }
                    v
                }
                #[cfg(not(target_arch = "aarch64"))]
                // SAFETY: as above (host builds: plain memory in tests).
                unsafe {
                    core::ptr::read_volatile(ptr)
                }
            }

            #[inline(always)]
            unsafe fn mmio_write(ptr: *mut Self, value: Self) {
                #[cfg(target_arch = "aarch64")]
                // SAFETY: the caller guarantees a valid register address; one plain store,
                // no writeback.
                unsafe {
                    core::arch::asm!(concat!($str, " {v:", stringify!($reg), "}, [{p}]"),
                        p = in(reg) ptr, v = in(reg) value, options(nostack, preserves_flags));
                }
                #[cfg(not(target_arch = "aarch64"))]
                // SAFETY: as above (host builds: plain memory in tests).
                unsafe {
                    core::ptr::write_volatile(ptr, value)
                }
            }
        }
    };
}

mmio_word!(u8, "ldrb", "strb", w);
mmio_word!(u16, "ldrh", "strh", w);
mmio_word!(u32, "ldr", "str", w);
mmio_word!(u64, "ldr", "str", x);

macro_rules! register_type {
    ($(#[$doc:meta])* $name:ident, read: $r:tt, write: $w:tt) => {
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name<T: MmioWord, R: RegisterLongName = ()> {
            value: UnsafeCell<T>,
            associated_register: PhantomData<R>,
        }
        register_type!(@read $r, $name);
        register_type!(@write $w, $name);
    };
    (@read yes, $name:ident) => {
        impl<T: MmioWord, R: RegisterLongName> Readable for $name<T, R> {
            type T = T;
            type R = R;
            #[inline(always)]
            fn get(&self) -> T {
                // SAFETY: register blocks are only ever placed over device memory by their
                // drivers' `unsafe fn new(base)`, whose callers vouch for the address.
                unsafe { T::mmio_read(self.value.get()) }
            }
        }
    };
    (@read no, $name:ident) => {};
    (@write yes, $name:ident) => {
        impl<T: MmioWord, R: RegisterLongName> Writeable for $name<T, R> {
            type T = T;
            type R = R;
            #[inline(always)]
            fn set(&self, value: T) {
                // SAFETY: as for `get`.
                unsafe { T::mmio_write(self.value.get(), value) }
            }
        }
    };
    (@write no, $name:ident) => {};
}

register_type!(
    /// A read-write device register.
    ReadWrite, read: yes, write: yes
);
register_type!(
    /// A read-only device register.
    ReadOnly, read: yes, write: no
);
register_type!(
    /// A write-only device register.
    WriteOnly, read: no, write: yes
);
