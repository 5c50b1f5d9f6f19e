//! What can be wrong with a DTB, named so a person can fix it.

use core::fmt;

/// An error found while reading a flattened device tree.
///
/// The lifetime is that of the DTB: variants that name a node or a compatible string borrow
/// it from the blob, so no allocation is needed to report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtbError<'a> {
    /// The pointer handed over by the boot loader is null or not 8-byte aligned.
    BadPointer(usize),
    /// The buffer is shorter than the 40-byte header.
    TooShort(usize),
    /// The first word is not 0xd00dfeed.
    BadMagic(u32),
    /// `totalsize` is larger than the buffer holding the blob.
    Truncated {
        /// The header's `totalsize`.
        totalsize: u32,
        /// Bytes in the buffer.
        available: usize,
    },
    /// `totalsize` is below the header size or above [`super::MAX_TOTALSIZE`].
    BadTotalsize(u32),
    /// `version` below 16 or `last_comp_version` above 17.
    UnsupportedVersion {
        /// The header's `version`.
        version: u32,
        /// The header's `last_comp_version`.
        last_comp_version: u32,
    },
    /// A header offset or size points outside `totalsize` (or is misaligned).
    BadHeaderField(&'static str),
    /// The structure block ends in the middle of a token, name or property.
    StructureOverflow {
        /// Where in the structure block.
        offset: usize,
    },
    /// A token that may not appear here (the offset is within the structure block).
    BadToken {
        /// The token value.
        token: u32,
        /// Where in the structure block.
        offset: usize,
    },
    /// A property's name offset is outside the strings block, or the name is not terminated.
    BadStringOffset(u32),
    /// A node name or string property is not NUL-terminated UTF-8.
    BadString {
        /// Where in the structure block.
        offset: usize,
    },
    /// Nodes nest deeper than [`super::fdt::MAX_DEPTH`].
    TooDeep,
    /// The structure block does not start with the root node.
    NoRoot,
    /// A property has a length that is not what its kind requires.
    BadPropertyLength {
        /// The node's name.
        node: &'a str,
        /// The property.
        property: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// `#address-cells` / `#size-cells` / `#interrupt-cells` values we cannot use (> 2 for
    /// addresses and sizes; we read at most 64-bit numbers).
    UnsupportedCells {
        /// The node's name.
        node: &'a str,
        /// The property.
        property: &'static str,
        /// Its value.
        value: u32,
    },
    /// A path (stdout-path, an alias) names no node.
    NoSuchNode(&'a str),
    /// An alias is used but not defined in `/aliases`.
    NoSuchAlias(&'a str),
    /// A phandle refers to no node.
    NoSuchPhandle(u32),
    /// The node has no `reg`, or fewer entries than needed.
    MissingReg {
        /// The node's name.
        node: &'a str,
    },
    /// An address cannot be translated to a CPU physical address: `node` has no `ranges`.
    NotTranslatable {
        /// The ancestor without `ranges`.
        node: &'a str,
    },
    /// An address is covered by no entry of `node`'s `ranges`.
    OutsideRanges {
        /// The ancestor whose `ranges` miss the address.
        node: &'a str,
        /// The address, in that ancestor's child address space.
        address: u64,
    },
    /// No node has `device_type = "memory"`.
    MissingMemory,
    /// The console's compatible names a UART we have no driver for.
    UnknownConsole {
        /// The console node's name.
        node: &'a str,
        /// Its first `compatible` string.
        compatible: &'a str,
    },
    /// No interrupt-controller node at all.
    NoInterruptController,
    /// The interrupt controller is not a GIC we support.
    UnsupportedGic {
        /// The controller node's name.
        node: &'a str,
        /// Its first `compatible` string.
        compatible: &'a str,
    },
    /// `/psci` has a `method` other than "hvc" or "smc".
    UnknownPsciMethod(&'a str),
    /// `/psci` has none of the compatibles we know.
    UnknownPsciVersion(&'a str),
    /// An interrupt specifier we cannot read (wrong cell count, unknown type).
    BadInterrupt {
        /// The node whose specifier it is.
        node: &'a str,
    },
    /// A timer node without the four architected interrupts.
    BadTimer {
        /// The timer node's name.
        node: &'a str,
    },
    /// `/cpus` is missing.
    MissingCpus,
}

impl fmt::Display for DtbError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadPointer(p) => write!(f, "DTB pointer {p:#x} is null or not 8-byte aligned"),
            Self::TooShort(n) => write!(f, "truncated: {n} bytes, the header alone needs 40"),
            Self::BadMagic(m) => write!(f, "bad magic {m:#010x} (expected 0xd00dfeed)"),
            Self::Truncated { totalsize, available } => write!(
                f,
                "truncated: header totalsize {totalsize} is larger than the {available} bytes available"
            ),
            Self::BadTotalsize(t) => write!(f, "header totalsize {t} is not sane"),
            Self::UnsupportedVersion { version, last_comp_version } => write!(
                f,
                "unsupported version {version} (last compatible {last_comp_version}); need 16 or 17"
            ),
            Self::BadHeaderField(name) => write!(
                f,
                "header field {name} points outside the blob (truncated or corrupt)"
            ),
            Self::StructureOverflow { offset } => {
                write!(f, "structure block overflow at offset {offset:#x}")
            }
            Self::BadToken { token, offset } => {
                write!(f, "unexpected token {token:#x} at structure offset {offset:#x}")
            }
            Self::BadStringOffset(o) => write!(f, "property name offset {o:#x} outside strings block"),
            Self::BadString { offset } => {
                write!(f, "unterminated or non-UTF-8 string at offset {offset:#x}")
            }
            Self::TooDeep => write!(f, "nodes nest too deeply"),
            Self::NoRoot => write!(f, "structure block does not begin with the root node"),
            Self::BadPropertyLength { node, property, len } => {
                write!(f, "{node}: property {property} has a bad length {len}")
            }
            Self::UnsupportedCells { node, property, value } => {
                write!(f, "{node}: {property} = {value} is not supported")
            }
            Self::NoSuchNode(p) => write!(f, "no node at path \"{p}\""),
            Self::NoSuchAlias(a) => write!(f, "alias \"{a}\" is not defined in /aliases"),
            Self::NoSuchPhandle(p) => write!(f, "no node has phandle {p:#x}"),
            Self::MissingReg { node } => write!(f, "{node}: missing or short reg"),
            Self::NotTranslatable { node } => {
                write!(f, "address not translatable: bus {node} has no ranges")
            }
            Self::OutsideRanges { node, address } => {
                write!(f, "address {address:#x} is outside every ranges entry of {node}")
            }
            Self::MissingMemory => write!(f, "missing /memory: no node has device_type \"memory\""),
            Self::UnknownConsole { node, compatible } => {
                write!(f, "unknown console compatible \"{compatible}\" ({node}): no driver")
            }
            Self::NoInterruptController => write!(f, "no interrupt controller"),
            Self::UnsupportedGic { node, compatible } => write!(
                f,
                "no GIC (interrupt controller {node} \"{compatible}\" is not supported)"
            ),
            Self::UnknownPsciMethod(m) => write!(f, "unknown PSCI method \"{m}\""),
            Self::UnknownPsciVersion(c) => write!(f, "unknown PSCI compatible \"{c}\""),
            Self::BadInterrupt { node } => write!(f, "{node}: unreadable interrupt specifier"),
            Self::BadTimer { node } => write!(f, "{node}: the timer needs 4 interrupts on the GIC"),
            Self::MissingCpus => write!(f, "missing /cpus"),
        }
    }
}
