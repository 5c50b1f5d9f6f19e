//! The register state saved by `vectors.S` on every exception.

/// Layout fixed by `vectors.S` (FRAME_* offsets).
#[repr(C, align(16))]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    pub fpcr: u64,
    pub fpsr: u64,
    _pad: u64,
    pub q: [u128; 32],
}

const _: () = assert!(core::mem::offset_of!(TrapFrame, elr) == 248);
const _: () = assert!(core::mem::offset_of!(TrapFrame, spsr) == 256);
const _: () = assert!(core::mem::offset_of!(TrapFrame, fpcr) == 264);
const _: () = assert!(core::mem::offset_of!(TrapFrame, fpsr) == 272);
const _: () = assert!(core::mem::offset_of!(TrapFrame, q) == 288);
const _: () = assert!(core::mem::size_of::<TrapFrame>() == 800);
