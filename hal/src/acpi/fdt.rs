//! A device tree describing what the ACPI tables ([`super::Acpi`]) and the UEFI memory map
//! say, in the bindings `crate::dtb::Platform` reads: the kernel then has one platform path
//! for both. Written into a caller's buffer (no allocator).
//!
//! ```text
//! / { #address-cells = 2; #size-cells = 2; compatible = "aiolos,acpi"; interrupt-parent = <1>;
//!     chosen { stdout-path = "/uart@BASE"; }
//!     memory@BASE { device_type = "memory"; reg = <RAM ranges>; }
//!     cpus { #address-cells = 2; #size-cells = 0;
//!            cpu@N { device_type = "cpu"; compatible = "arm,armv8"; reg = <MPIDR>;
//!                    enable-method = "psci"; } ... }
//!     psci { compatible = "arm,psci-1.0", "arm,psci-0.2"; method = "hvc" | "smc"; }
//!     intc@GICD { compatible = "arm,gic-v3" | "arm,cortex-a15-gic"; interrupt-controller;
//!                 #interrupt-cells = 3; reg = <GICD, GICR range | GICC>; phandle = <1>; }
//!     timer { compatible = "arm,armv8-timer"; interrupts = <PPIs from the GTDT>; }
//!     uart@BASE { compatible = "arm,pl011" | "ns16550a"; reg = <...>; interrupts = <SPI>; } }
//! ```

use super::{Acpi, Conduit, UartKind};

/// A RAM range `(base, size)` from the UEFI memory map.
pub type Range = (u64, u64);

/// The buffer was too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooSmall;

const STRINGS_MAX: usize = 512;
const HEADER_LEN: usize = 40;
const RSV_LEN: usize = 16;

struct Writer<'b> {
    out: &'b mut [u8],
    pos: usize,
    strings: [u8; STRINGS_MAX],
    strings_len: usize,
    err: bool,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        match self.out.get_mut(self.pos..self.pos + b.len()) {
            Some(dst) => dst.copy_from_slice(b),
            None => self.err = true,
        }
        self.pos += b.len();
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    fn pad(&mut self) {
        while !self.pos.is_multiple_of(4) {
            self.bytes(&[0]);
        }
    }
    fn begin(&mut self, name: &str) {
        self.u32(1);
        self.bytes(name.as_bytes());
        self.bytes(&[0]);
        self.pad();
    }
    fn begin_at(&mut self, name: &str, addr: u64) {
        let mut buf = [0u8; 40];
        let n = name.len();
        buf[..n].copy_from_slice(name.as_bytes());
        buf[n] = b'@';
        let hex = hex(addr, &mut buf[n + 1..]);
        let len = n + 1 + hex;
        // Only ASCII went in.
        self.begin(core::str::from_utf8(&buf[..len]).unwrap_or(name));
    }
    fn end(&mut self) {
        self.u32(2);
    }
    fn name_off(&mut self, name: &str) -> u32 {
        let s = &self.strings[..self.strings_len];
        let mut at = 0;
        while at < s.len() {
            let end = s[at..]
                .iter()
                .position(|&c| c == 0)
                .map_or(s.len(), |e| at + e);
            if &s[at..end] == name.as_bytes() {
                return at as u32;
            }
            at = end + 1;
        }
        let off = self.strings_len;
        if off + name.len() + 1 > STRINGS_MAX {
            self.err = true;
            return 0;
        }
        self.strings[off..off + name.len()].copy_from_slice(name.as_bytes());
        self.strings[off + name.len()] = 0;
        self.strings_len += name.len() + 1;
        off as u32
    }
    fn prop(&mut self, name: &str, value: &[u8]) {
        let off = self.name_off(name);
        self.u32(3);
        self.u32(value.len() as u32);
        self.u32(off);
        self.bytes(value);
        self.pad();
    }
    /// A property of big-endian cells.
    fn cells(&mut self, name: &str, cells: &[u32]) {
        let off = self.name_off(name);
        self.u32(3);
        self.u32(4 * cells.len() as u32);
        self.u32(off);
        for &c in cells {
            self.u32(c);
        }
    }
    /// A property of (u64 address, u64 size) pairs in 2+2 cells.
    fn reg(&mut self, pairs: &[(u64, u64)]) {
        let off = self.name_off("reg");
        self.u32(3);
        self.u32(16 * pairs.len() as u32);
        self.u32(off);
        for &(a, s) in pairs {
            for v in [a, s] {
                self.u32((v >> 32) as u32);
                self.u32(v as u32);
            }
        }
    }
    fn string(&mut self, name: &str, s: &str) {
        let off = self.name_off(name);
        self.u32(3);
        self.u32(s.len() as u32 + 1);
        self.u32(off);
        self.bytes(s.as_bytes());
        self.bytes(&[0]);
        self.pad();
    }
}

/// Lower-case hex without leading zeros; returns the length written.
fn hex(v: u64, out: &mut [u8]) -> usize {
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1) as usize;
    for i in 0..digits.min(out.len()) {
        let d = ((v >> (4 * (digits - 1 - i))) & 0xf) as u8;
        out[i] = if d < 10 { b'0' + d } else { b'a' + d - 10 };
    }
    digits.min(out.len())
}

/// A GIC PPI/SPI specifier `<type number flags>` from a GSIV (level-high flags).
fn irq(gsiv: u32) -> [u32; 3] {
    if gsiv < 32 {
        [1, gsiv.saturating_sub(16), 4]
    } else {
        [0, gsiv - 32, 4]
    }
}

/// Writes the device tree for `acpi` and `ram` into `out`; returns its length.
pub fn write(acpi: &Acpi, ram: &[Range], out: &mut [u8]) -> Result<usize, TooSmall> {
    let mut w = Writer {
        out,
        pos: HEADER_LEN + RSV_LEN,
        strings: [0; STRINGS_MAX],
        strings_len: 0,
        err: false,
    };
    w.begin("");
    w.cells("#address-cells", &[2]);
    w.cells("#size-cells", &[2]);
    w.string("compatible", "aiolos,acpi");
    let mut model = *b"ACPI: ______";
    model[6..].copy_from_slice(&acpi.oem_id);
    for c in model[6..].iter_mut() {
        if !c.is_ascii_graphic() {
            *c = b' ';
        }
    }
    w.string("model", core::str::from_utf8(&model).unwrap_or("ACPI"));
    w.cells("interrupt-parent", &[1]);

    if let Some(u) = &acpi.uart {
        let mut path = [0u8; 40];
        path[..6].copy_from_slice(b"/uart@");
        let n = 6 + hex(u.base, &mut path[6..]);
        w.begin("chosen");
        w.string(
            "stdout-path",
            core::str::from_utf8(&path[..n]).unwrap_or("/"),
        );
        w.end();
    }

    if let Some(first) = ram.first() {
        w.begin_at("memory", first.0);
        w.string("device_type", "memory");
        w.reg(ram);
        w.end();
    }

    w.begin("cpus");
    w.cells("#address-cells", &[2]);
    w.cells("#size-cells", &[0]);
    for &m in acpi.mpidrs.iter() {
        w.begin_at("cpu", m);
        w.string("device_type", "cpu");
        w.string("compatible", "arm,armv8");
        w.cells("reg", &[(m >> 32) as u32, m as u32]);
        if acpi.psci.is_some() {
            w.string("enable-method", "psci");
        }
        w.end();
    }
    w.end();

    if let Some(c) = acpi.psci {
        w.begin("psci");
        w.prop("compatible", b"arm,psci-1.0\0arm,psci-0.2\0");
        w.string(
            "method",
            match c {
                Conduit::Hvc => "hvc",
                Conduit::Smc => "smc",
            },
        );
        w.end();
    }

    let g = &acpi.gic;
    w.begin_at("intc", g.gicd);
    if g.version == 3 {
        w.string("compatible", "arm,gic-v3");
        let (base, len) = g.gicr.unwrap_or((0, 0));
        w.reg(&[(g.gicd, 0x1_0000), (base, len)]);
    } else {
        w.string("compatible", "arm,cortex-a15-gic");
        w.reg(&[(g.gicd, 0x1000), (g.gicc, 0x2000)]);
    }
    w.prop("interrupt-controller", &[]);
    w.cells("#interrupt-cells", &[3]);
    w.cells("phandle", &[1]);
    w.end();

    w.begin("timer");
    w.string("compatible", "arm,armv8-timer");
    // Secure EL1 physical (not ours; given as the non-secure one), non-secure EL1
    // physical, virtual, EL2: the binding's order.
    let mut ints = [0u32; 12];
    for (i, gsiv) in [
        acpi.timer_phys,
        acpi.timer_phys,
        acpi.timer_virt,
        acpi.timer_hyp,
    ]
    .into_iter()
    .enumerate()
    {
        ints[3 * i..3 * i + 3].copy_from_slice(&irq(gsiv));
    }
    w.cells("interrupts", &ints);
    w.end();

    if let Some(u) = &acpi.uart {
        w.begin_at("uart", u.base);
        match u.kind {
            UartKind::Pl011 | UartKind::SbsaGeneric => w.string("compatible", "arm,pl011"),
            UartKind::Ns16550 => {
                w.string("compatible", "ns16550a");
                w.cells("reg-shift", &[if u.reg_width == 4 { 2 } else { 0 }]);
                w.cells("reg-io-width", &[u32::from(u.reg_width)]);
            }
        }
        w.reg(&[(u.base, 0x1000)]);
        if u.gsiv >= 32 {
            w.cells("interrupts", &irq(u.gsiv));
        }
        w.end();
    }

    w.end();
    w.u32(9);
    let struct_end = w.pos;
    let strings_len = w.strings_len;
    let strings = w.strings;
    w.bytes(&strings[..strings_len]);
    let total = w.pos;
    if w.err {
        return Err(TooSmall);
    }
    let out = w.out;
    let struct_off = HEADER_LEN + RSV_LEN;
    let header = [
        0xd00d_feed,
        total as u32,
        struct_off as u32,
        struct_end as u32,
        HEADER_LEN as u32,
        17,
        16,
        0,
        strings_len as u32,
        (struct_end - struct_off) as u32,
    ];
    for (i, v) in header.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    out[HEADER_LEN..HEADER_LEN + RSV_LEN].fill(0);
    Ok(total)
}
