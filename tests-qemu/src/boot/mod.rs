//! The boot contract, owned here: every kind of run builds a kernel with [`build`], boots it
//! ([`qemu`]: QEMU TCG or host KVM; [`kvm`]: real KVM nested in an arm64 Linux VM) and reads
//! its serial log with [`verdict`], the one parser of the kernel's `exit:` line.

pub mod build;
pub mod kvm;
pub mod qemu;
pub mod verdict;
