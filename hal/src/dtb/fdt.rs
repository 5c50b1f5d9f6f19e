//! Raw flattened-device-tree walking: the header, the structure-block tokens, nodes,
//! properties, paths, phandles, `reg` and `ranges`.
//!
//! Every read goes through [`be32`] / [`be64`] on a byte slice, or, for the structure block's
//! tokens when the block is 4-byte aligned in memory (it is wherever a boot loader put the
//! DTB), through its `[u32]` view (one aligned load per word: with `+strict-align` a
//! `be32` on bytes is four byte loads and shifts). Every offset is checked with
//! `get`/`checked_add`, and every loop advances a structure-block offset by at least 4
//! bytes, so it ends within `size_dt_struct / 4` steps. Nesting is bounded by [`MAX_DEPTH`].

use super::error::DtbError;

/// `FDT_MAGIC`, the first big-endian word of every DTB.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of the version-17 header.
pub const HEADER_SIZE: usize = 40;
/// Deepest node nesting we accept (root = depth 1). Real trees stay below 10.
pub const MAX_DEPTH: usize = 32;

const FDT_BEGIN_NODE: u32 = 0x1;
const FDT_END_NODE: u32 = 0x2;
const FDT_PROP: u32 = 0x3;
const FDT_NOP: u32 = 0x4;
const FDT_END: u32 = 0x9;

/// Big-endian u32 at `off`, or `None` when it would run past the slice.
pub fn be32(b: &[u8], off: usize) -> Option<u32> {
    let bytes = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Big-endian u64 at `off`, or `None` when it would run past the slice.
pub fn be64(b: &[u8], off: usize) -> Option<u64> {
    let bytes = b.get(off..off.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Reads a number of `cells` (0..=2) big-endian 32-bit cells at the start of `b`.
pub fn read_cells(b: &[u8], cells: u32) -> Option<u64> {
    match cells {
        0 => Some(0),
        1 => be32(b, 0).map(u64::from),
        2 => be64(b, 0),
        _ => None,
    }
}

fn align4(x: usize) -> Option<usize> {
    Some(x.checked_add(3)? & !3)
}

/// The 40-byte FDT header (all fields big-endian in the blob).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Size of the whole blob in bytes.
    pub totalsize: u32,
    /// Offset of the structure block.
    pub off_dt_struct: u32,
    /// Offset of the strings block.
    pub off_dt_strings: u32,
    /// Offset of the memory reservation block.
    pub off_mem_rsvmap: u32,
    /// Format version (17 today).
    pub version: u32,
    /// Oldest version this blob is compatible with.
    pub last_comp_version: u32,
    /// Physical id of the boot CPU.
    pub boot_cpuid_phys: u32,
    /// Size of the strings block.
    pub size_dt_strings: u32,
    /// Size of the structure block.
    pub size_dt_struct: u32,
}

impl Header {
    /// Reads and validates the header from the first 40 bytes of `b`, without looking at
    /// anything past them: magic, version 16/17, `totalsize` between 40 and
    /// [`super::MAX_TOTALSIZE`], and every block inside `totalsize`.
    pub fn parse(b: &[u8]) -> Result<Header, DtbError<'static>> {
        let field = |i: usize| be32(b, i * 4).ok_or(DtbError::TooShort(b.len()));
        let magic = field(0)?;
        if b.len() < HEADER_SIZE {
            // Say "bad magic" first when it is one: an empty or foreign file is not a DTB.
            return Err(if magic != FDT_MAGIC {
                DtbError::BadMagic(magic)
            } else {
                DtbError::TooShort(b.len())
            });
        }
        if magic != FDT_MAGIC {
            return Err(DtbError::BadMagic(magic));
        }
        let h = Header {
            totalsize: field(1)?,
            off_dt_struct: field(2)?,
            off_dt_strings: field(3)?,
            off_mem_rsvmap: field(4)?,
            version: field(5)?,
            last_comp_version: field(6)?,
            boot_cpuid_phys: field(7)?,
            size_dt_strings: field(8)?,
            size_dt_struct: field(9)?,
        };
        if h.version < 16 || h.last_comp_version > 17 {
            return Err(DtbError::UnsupportedVersion {
                version: h.version,
                last_comp_version: h.last_comp_version,
            });
        }
        let total = h.totalsize as usize;
        if !(HEADER_SIZE..=super::MAX_TOTALSIZE).contains(&total) {
            return Err(DtbError::BadTotalsize(h.totalsize));
        }
        let inside = |off: u32, size: u32| {
            (off as usize) >= HEADER_SIZE
                && (off as usize)
                    .checked_add(size as usize)
                    .is_some_and(|end| end <= total)
        };
        if !h.off_dt_struct.is_multiple_of(4) || !inside(h.off_dt_struct, h.struct_size()) {
            return Err(DtbError::BadHeaderField("off_dt_struct/size_dt_struct"));
        }
        if !inside(h.off_dt_strings, h.size_dt_strings) {
            return Err(DtbError::BadHeaderField("off_dt_strings/size_dt_strings"));
        }
        if !h.off_mem_rsvmap.is_multiple_of(8) || !inside(h.off_mem_rsvmap, 16) {
            return Err(DtbError::BadHeaderField("off_mem_rsvmap"));
        }
        Ok(h)
    }

    /// `size_dt_struct`, or for version 16 (which lacks it) the rest of the blob.
    fn struct_size(&self) -> u32 {
        if self.version >= 17 {
            self.size_dt_struct
        } else {
            self.totalsize.saturating_sub(self.off_dt_struct)
        }
    }
}

/// A validated DTB: the header and the three blocks as sub-slices.
#[derive(Debug, Clone, Copy)]
pub struct Fdt<'a> {
    /// The validated header.
    pub header: Header,
    structs: &'a [u8],
    /// `structs` as whole big-endian words when it is 4-byte aligned in memory (empty
    /// otherwise: every read then goes through [`be32`]); read by [`Fdt::word`].
    words: &'a [u32],
    strings: &'a [u8],
    rsvmap: &'a [u8],
}

/// One structure-block token, with the offset of the token that follows it.
///
/// Names are not decoded here (node names are raw bytes up to their NUL, property names only
/// an offset into the strings block): most walks only skip them or compare them with a known
/// name, so a name is checked as UTF-8 only where a `&str` is handed out, and
/// [`Fdt::validate`] checks all of them once.
enum Token<'a> {
    /// A node's name and the offset of its first byte.
    Begin(&'a [u8], usize),
    End,
    /// A property's name offset in the strings block (looked up only when asked for:
    /// [`Fdt::prop_name`], [`Fdt::prop_name_is`]) and its value.
    Prop(u32, &'a [u8]),
    Nop,
    EndOfTree,
}

impl<'a> Fdt<'a> {
    /// Validates the header against `blob` and splits it into its blocks.
    pub fn new(blob: &'a [u8]) -> Result<Self, DtbError<'a>> {
        let header = Header::parse(blob)?;
        let total = header.totalsize as usize;
        let blob = blob.get(..total).ok_or(DtbError::Truncated {
            totalsize: header.totalsize,
            available: blob.len(),
        })?;
        let slice = |off: u32, len: u32, what| {
            let off = off as usize;
            blob.get(
                off..off
                    .checked_add(len as usize)
                    .ok_or(DtbError::BadHeaderField(what))?,
            )
            .ok_or(DtbError::BadHeaderField(what))
        };
        let structs = slice(header.off_dt_struct, header.struct_size(), "off_dt_struct")?;
        let strings = slice(
            header.off_dt_strings,
            header.size_dt_strings,
            "off_dt_strings",
        )?;
        let rsv_off = header.off_mem_rsvmap as usize;
        let rsvmap = blob
            .get(rsv_off..)
            .ok_or(DtbError::BadHeaderField("off_mem_rsvmap"))?;
        // SAFETY: every bit pattern is a valid u32, and `align_to` hands out only the
        // properly aligned middle part of the slice, borrowed for the same lifetime.
        let (head, words, _) = unsafe { structs.align_to::<u32>() };
        let words = if head.is_empty() { words } else { &[] };
        Ok(Fdt {
            header,
            structs,
            words,
            strings,
            rsvmap,
        })
    }

    /// The big-endian word at structure-block offset `off` (as `be32(structs, off)`): one
    /// aligned load where the block is aligned and `off` is a multiple of 4.
    #[inline(always)]
    fn word(&self, off: usize) -> Option<u32> {
        match self.words.get(off / 4) {
            Some(w) if off.is_multiple_of(4) => Some(u32::from_be(*w)),
            _ => be32(self.structs, off),
        }
    }

    /// The node name starting at structure-block offset `off` (as `cstr(structs, off)`),
    /// searched a word at a time for its NUL where the block is aligned.
    #[inline(always)]
    fn name_at(&self, off: usize) -> Result<&'a [u8], DtbError<'a>> {
        if off.is_multiple_of(4) {
            if let Some(words) = self.words.get(off / 4..) {
                for (i, w) in words.iter().enumerate() {
                    // The bytes in memory order, first byte lowest.
                    let v = u32::from_le(*w);
                    // The classic "has a zero byte" test: the lowest set bit marks the first
                    // zero byte (borrows only ever flag bytes above a real zero).
                    let zero = v.wrapping_sub(0x0101_0101) & !v & 0x8080_8080;
                    if zero != 0 {
                        let len = i * 4 + (zero.trailing_zeros() / 8) as usize;
                        if let Some(name) = self.structs.get(off..off + len) {
                            return Ok(name);
                        }
                        break;
                    }
                }
            }
        }
        Self::cstr(self.structs, off)
    }

    /// The memory reservation block: `(address, size)` pairs up to the `(0, 0)` terminator.
    /// An entry running past the blob ends the list with an error.
    pub fn reservations(&self) -> impl Iterator<Item = Result<(u64, u64), DtbError<'a>>> + 'a {
        let map = self.rsvmap;
        let mut off = 0usize;
        let mut done = false;
        core::iter::from_fn(move || {
            if done {
                return None;
            }
            let entry = be64(map, off).zip(off.checked_add(8).and_then(|o| be64(map, o)));
            off = off.saturating_add(16);
            match entry {
                None => {
                    done = true;
                    Some(Err(DtbError::BadHeaderField("memory reservation block")))
                }
                Some((0, 0)) => {
                    done = true;
                    None
                }
                Some(pair) => Some(Ok(pair)),
            }
        })
    }

    /// The NUL-terminated bytes at `off` (without the NUL).
    fn cstr(b: &'a [u8], off: usize) -> Result<&'a [u8], DtbError<'a>> {
        let rest = b
            .get(off..)
            .ok_or(DtbError::StructureOverflow { offset: off })?;
        let len = rest
            .iter()
            .position(|&c| c == 0)
            .ok_or(DtbError::BadString { offset: off })?;
        rest.get(..len).ok_or(DtbError::BadString { offset: off })
    }

    /// A node name from [`Token::Begin`] as UTF-8 (`off`: where it is, for the error).
    fn name_str(bytes: &'a [u8], off: usize) -> Result<&'a str, DtbError<'a>> {
        core::str::from_utf8(bytes).map_err(|_| DtbError::BadString { offset: off })
    }

    /// The name of a property from its [`Token::Prop`] offset, as UTF-8.
    fn prop_name(&self, nameoff: u32) -> Result<&'a str, DtbError<'a>> {
        let bad = DtbError::BadStringOffset(nameoff);
        let bytes = Self::cstr(self.strings, nameoff as usize).map_err(|_| bad)?;
        core::str::from_utf8(bytes).map_err(|_| bad)
    }

    /// Whether the property name at `nameoff` is `name`: its bytes and then a NUL, compared
    /// in place (no search for the NUL, no UTF-8 decoding).
    fn prop_name_is(&self, nameoff: u32, name: &[u8]) -> bool {
        let start = nameoff as usize;
        let Some(end) = start.checked_add(name.len()) else {
            return false;
        };
        // The NUL first: one load rules out every name of another length.
        self.strings.get(end) == Some(&0) && self.strings.get(start..end) == Some(name)
    }

    /// Checks the whole structure block in one walk: every token, the nesting (at most
    /// [`MAX_DEPTH`]), and every node and property name as UTF-8. After it, lookups only
    /// fail for semantic reasons.
    pub fn validate(&self) -> Result<(), DtbError<'a>> {
        let mut off = self.root()?.off;
        let mut depth = 0usize;
        // Name offsets below 4096 already checked: properties share their names (`dtc`
        // stores each once), so most are checked once, not once per property.
        let mut checked = [0u64; 64];
        loop {
            let (tok, next) = self.step(off, &mut depth)?;
            match tok {
                Token::Begin(name, at) => {
                    Self::name_str(name, at)?;
                }
                Token::End if depth == 0 => return Ok(()),
                Token::Prop(nameoff, _) => {
                    let (word, bit) = (nameoff as usize / 64, 1u64 << (nameoff % 64));
                    match checked.get_mut(word) {
                        Some(w) if *w & bit != 0 => {}
                        Some(w) => {
                            self.prop_name(nameoff)?;
                            *w |= bit;
                        }
                        None => {
                            self.prop_name(nameoff)?;
                        }
                    }
                }
                _ => {}
            }
            off = next;
        }
    }

    /// One step of a walk inside a node: decodes the token at `off` like [`Fdt::token`] and
    /// keeps `depth`, the number of nodes open (`FDT_BEGIN_NODE` adds one, at most
    /// [`MAX_DEPTH`]; `FDT_END_NODE` closes one, and is an error with none open). An
    /// `FDT_END` is an error here: a walk ends when `depth` is back to where it began.
    /// Every walk over the structure block goes through this. Inlined (as is [`Fdt::token`])
    /// so that a walk keeps the token in registers: as calls, moving the `Result` through
    /// memory was most of a walk's instructions.
    #[inline(always)]
    fn step(&self, off: usize, depth: &mut usize) -> Result<(Token<'a>, usize), DtbError<'a>> {
        let (tok, next) = self.token(off)?;
        match tok {
            Token::Begin(..) => {
                *depth += 1;
                if *depth > MAX_DEPTH {
                    return Err(DtbError::TooDeep);
                }
            }
            Token::End => {
                *depth = depth.checked_sub(1).ok_or(DtbError::BadToken {
                    token: FDT_END_NODE,
                    offset: off,
                })?;
            }
            Token::Prop(..) | Token::Nop => {}
            Token::EndOfTree => {
                return Err(DtbError::BadToken {
                    token: FDT_END,
                    offset: off,
                })
            }
        }
        Ok((tok, next))
    }

    /// Decodes the token at `off`; returns it and the offset of the next one (always > off).
    #[inline(always)]
    fn token(&self, off: usize) -> Result<(Token<'a>, usize), DtbError<'a>> {
        let overflow = DtbError::StructureOverflow { offset: off };
        let tag = self.word(off).ok_or(overflow)?;
        let after = off.checked_add(4).ok_or(overflow)?;
        match tag {
            FDT_BEGIN_NODE => {
                let name = self.name_at(after)?;
                let next =
                    align4(after.checked_add(name.len() + 1).ok_or(overflow)?).ok_or(overflow)?;
                Ok((Token::Begin(name, after), next))
            }
            FDT_END_NODE => Ok((Token::End, after)),
            FDT_NOP => Ok((Token::Nop, after)),
            FDT_END => Ok((Token::EndOfTree, after)),
            FDT_PROP => {
                let len = self.word(after).ok_or(overflow)? as usize;
                let nameoff = self.word(after + 4).ok_or(overflow)?;
                let start = after.checked_add(8).ok_or(overflow)?;
                let end = start.checked_add(len).ok_or(overflow)?;
                let value = self.structs.get(start..end).ok_or(overflow)?;
                Ok((Token::Prop(nameoff, value), align4(end).ok_or(overflow)?))
            }
            token => Err(DtbError::BadToken { token, offset: off }),
        }
    }

    /// The node whose `FDT_BEGIN_NODE` token is at `off` (a [`Node::offset`]); an error if
    /// no node begins there.
    pub fn node_at_offset(&self, off: usize) -> Result<Node<'a>, DtbError<'a>> {
        self.node_at(off)
    }

    /// The node whose `FDT_BEGIN_NODE` token is at `off`.
    fn node_at(&self, off: usize) -> Result<Node<'a>, DtbError<'a>> {
        match self.token(off)? {
            (Token::Begin(name, at), body) => Ok(Node {
                fdt: *self,
                off,
                name: Self::name_str(name, at)?,
                body,
            }),
            _ => Err(DtbError::BadToken {
                token: be32(self.structs, off).unwrap_or(0),
                offset: off,
            }),
        }
    }

    /// The root node (after any leading NOPs).
    pub fn root(&self) -> Result<Node<'a>, DtbError<'a>> {
        let mut off = 0;
        loop {
            match self.token(off) {
                Ok((Token::Nop, next)) => off = next,
                Ok((Token::Begin(..), _)) => return self.node_at(off),
                _ => return Err(DtbError::NoRoot),
            }
        }
    }

    /// Offset just past the `FDT_END_NODE` that closes the node beginning at `off`.
    fn skip_node(&self, off: usize) -> Result<usize, DtbError<'a>> {
        let mut depth = 0usize;
        let mut off = off;
        loop {
            let (tok, next) = self.step(off, &mut depth)?;
            if matches!(tok, Token::End) && depth == 0 {
                return Ok(next);
            }
            off = next;
        }
    }

    /// Every node in depth-first order with its depth (root = 0). Yields at most one error,
    /// then stops.
    pub fn nodes(&self) -> impl Iterator<Item = Result<(Node<'a>, usize), DtbError<'a>>> + 'a {
        let fdt = *self;
        let mut off = match self.root() {
            Ok(root) => root.off,
            Err(_) => usize::MAX,
        };
        let mut depth = 0usize;
        let mut failed = false;
        core::iter::from_fn(move || {
            if failed {
                return None;
            }
            if off == usize::MAX {
                failed = true;
                return Some(Err(DtbError::NoRoot));
            }
            loop {
                let (tok, next) = match fdt.step(off, &mut depth) {
                    Ok(t) => t,
                    Err(e) => {
                        failed = true;
                        return Some(Err(e));
                    }
                };
                let here = off;
                off = next;
                match tok {
                    Token::Begin(name, at) => {
                        let name = match Self::name_str(name, at) {
                            Ok(n) => n,
                            Err(e) => {
                                failed = true;
                                return Some(Err(e));
                            }
                        };
                        return Some(Ok((
                            Node {
                                fdt,
                                off: here,
                                name,
                                body: next,
                            },
                            depth - 1,
                        )));
                    }
                    Token::End if depth == 0 => {
                        // The root is closed; FDT_END (possibly after NOPs) must follow,
                        // but nothing else is needed from the walk.
                        failed = true;
                        return None;
                    }
                    _ => {}
                }
            }
        })
    }

    /// The node at an absolute path such as `/soc/serial@7e215040`. A component without a
    /// unit address (`/soc/serial`) matches the first child whose name before `@` is equal.
    pub fn find(&self, path: &'a str) -> Result<Option<Node<'a>>, DtbError<'a>> {
        Ok(self.find_in(path)?.map(|(node, _)| node))
    }

    /// [`Fdt::find`], and the node's ancestors (the nodes the path went through).
    pub fn find_in(
        &self,
        path: &'a str,
    ) -> Result<Option<(Node<'a>, Ancestors<'a>)>, DtbError<'a>> {
        self.find_in_among(path, None)
    }

    /// [`Fdt::find_in`], with the root's children already listed (`root_children`: where
    /// each begins, all of them, in order), so the first component is matched without
    /// walking the tree.
    pub fn find_in_among(
        &self,
        path: &'a str,
        root_children: Option<&[usize]>,
    ) -> Result<Option<(Node<'a>, Ancestors<'a>)>, DtbError<'a>> {
        if !path.starts_with('/') {
            return Ok(None);
        }
        let mut anc = Ancestors {
            fdt: *self,
            offs: [0; MAX_DEPTH],
            len: 0,
        };
        let mut node = self.root()?;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let slot = anc.offs.get_mut(anc.len).ok_or(DtbError::TooDeep)?;
            *slot = node.off;
            let listed = root_children.filter(|_| anc.len == 0);
            anc.len += 1;
            let matches = |child: &Node<'a>| {
                let base = child.name.split('@').next().unwrap_or(child.name);
                child.name == comp || (!comp.contains('@') && base == comp)
            };
            let mut found = None;
            match listed {
                Some(offs) => {
                    for &off in offs {
                        let child = self.node_at(off)?;
                        if matches(&child) {
                            found = Some(child);
                            break;
                        }
                    }
                }
                None => {
                    for child in node.children() {
                        let child = child?;
                        if matches(&child) {
                            found = Some(child);
                            break;
                        }
                    }
                }
            }
            match found {
                Some(c) => node = c,
                None => return Ok(None),
            }
        }
        Ok(Some((node, anc)))
    }

    /// The node whose `phandle` (or `linux,phandle`) is `phandle`.
    /// One walk over the tokens (no per-node property scans); a `phandle` that is not one
    /// cell is an error, as [`Node::u32_prop`] would say.
    pub fn by_phandle(&self, phandle: u32) -> Result<Node<'a>, DtbError<'a>> {
        Ok(self.by_phandle_in(phandle)?.0)
    }

    /// [`Fdt::by_phandle`], and the node's ancestors from the same walk.
    pub fn by_phandle_in(&self, phandle: u32) -> Result<(Node<'a>, Ancestors<'a>), DtbError<'a>> {
        let mut anc = Ancestors {
            fdt: *self,
            offs: [0; MAX_DEPTH],
            len: 0,
        };
        let mut off = self.root()?.off;
        // The node whose properties the walk is in (the last `FDT_BEGIN_NODE`).
        let mut current = off;
        let mut depth = 0usize;
        loop {
            let (tok, next) = self.step(off, &mut depth)?;
            match tok {
                Token::Begin(..) => {
                    current = off;
                    // The open nodes, this one last (`step` bounds depth by MAX_DEPTH).
                    let slot = anc.offs.get_mut(depth - 1).ok_or(DtbError::TooDeep)?;
                    *slot = off;
                    anc.len = depth - 1;
                }
                Token::End if depth == 0 => break,
                Token::Prop(nameoff, value)
                    if self.prop_name_is(nameoff, b"phandle")
                        || self.prop_name_is(nameoff, b"linux,phandle") =>
                {
                    if value.len() != 4 {
                        let node = self.node_at(current)?;
                        return Err(DtbError::BadPropertyLength {
                            node: node.display_name(),
                            property: if self.prop_name_is(nameoff, b"phandle") {
                                "phandle"
                            } else {
                                "linux,phandle"
                            },
                            len: value.len(),
                        });
                    }
                    if be32(value, 0) == Some(phandle) {
                        // Properties come before a node's children, so `current` is the
                        // innermost open node and `anc` holds the ones above it.
                        return Ok((self.node_at(current)?, anc));
                    }
                }
                _ => {}
            }
            off = next;
        }
        Err(DtbError::NoSuchPhandle(phandle))
    }

    /// The chain of ancestors of `node`, root first, `node` itself excluded.
    pub fn ancestors(&self, node: &Node<'a>) -> Result<Ancestors<'a>, DtbError<'a>> {
        let mut found = None;
        self.walk(|n, anc| {
            if n.off == node.off {
                found = Some(*anc);
                return Ok(Walked::Stop);
            }
            Ok(Walked::Next)
        })?;
        found.ok_or(DtbError::NoSuchNode(node.name))
    }

    /// Visits every node in depth-first order with its ancestors (root first), in one walk
    /// of the structure block, until `visit` says [`Walked::Stop`] or fails (its error is
    /// returned). What needs each node's place in the tree (its parent's cells, the
    /// `ranges` above it, an inherited `interrupt-parent`) gets it here without walking the
    /// tree again per node.
    pub fn walk(
        &self,
        mut visit: impl FnMut(&Node<'a>, &Ancestors<'a>) -> Result<Walked, DtbError<'a>>,
    ) -> Result<(), DtbError<'a>> {
        let mut anc = Ancestors {
            fdt: *self,
            offs: [0; MAX_DEPTH],
            len: 0,
        };
        let mut off = self.root()?.off;
        let mut depth = 0usize;
        loop {
            let (tok, next) = self.step(off, &mut depth)?;
            match tok {
                Token::Begin(name, at) => {
                    let node = Node {
                        fdt: *self,
                        off,
                        name: Self::name_str(name, at)?,
                        body: next,
                    };
                    // `depth - 1` open nodes above this one; `step` bounds depth by
                    // MAX_DEPTH, the size of `offs`.
                    anc.len = depth - 1;
                    if visit(&node, &anc)? == Walked::Stop {
                        return Ok(());
                    }
                    let slot = anc.offs.get_mut(depth - 1).ok_or(DtbError::TooDeep)?;
                    *slot = off;
                }
                Token::End if depth == 0 => return Ok(()),
                _ => {}
            }
            off = next;
        }
    }

    /// The parent of `node` (`None` for the root).
    pub fn parent(&self, node: &Node<'a>) -> Result<Option<Node<'a>>, DtbError<'a>> {
        Ok(self.ancestors(node)?.parent())
    }

    /// Translates `addr`, a `reg` address of `node` (in its parent's address space), to a
    /// CPU physical address through the `ranges` of every ancestor bus up to the root.
    /// An empty `ranges` is the identity; a missing one means "not translatable".
    pub fn translate(&self, node: &Node<'a>, addr: u64) -> Result<u64, DtbError<'a>> {
        Self::translate_through(&self.ancestors(node)?, addr)
    }

    /// [`Fdt::translate`] with the node's ancestors already found (by [`Fdt::walk`] or
    /// [`Fdt::ancestors`]): no walk of the tree.
    pub fn translate_through(anc: &Ancestors<'a>, addr: u64) -> Result<u64, DtbError<'a>> {
        let mut addr = addr;
        // Walk from the node's parent (the innermost bus) outwards; stop at the root.
        let mut i = anc.len;
        while i > 1 {
            i -= 1;
            let (Some(bus), Some(outer)) = (anc.get(i), anc.get(i - 1)) else {
                return Err(DtbError::TooDeep);
            };
            let Some(ranges) = bus.prop("ranges")? else {
                return Err(DtbError::NotTranslatable {
                    node: bus.display_name(),
                });
            };
            if ranges.is_empty() {
                continue;
            }
            let child_ac = bus.address_cells()?;
            let parent_ac = outer.address_cells()?;
            let sc = bus.size_cells()?;
            let entry = ((child_ac + parent_ac + sc) * 4) as usize;
            if entry == 0 || ranges.len() % entry != 0 {
                return Err(DtbError::BadPropertyLength {
                    node: bus.display_name(),
                    property: "ranges",
                    len: ranges.len(),
                });
            }
            let mut hit = None;
            for e in ranges.chunks_exact(entry) {
                let bad = DtbError::BadPropertyLength {
                    node: bus.display_name(),
                    property: "ranges",
                    len: ranges.len(),
                };
                let child = read_cells(e, child_ac).ok_or(bad)?;
                let parent =
                    read_cells(e.get(child_ac as usize * 4..).ok_or(bad)?, parent_ac).ok_or(bad)?;
                let size = read_cells(e.get((child_ac + parent_ac) as usize * 4..).ok_or(bad)?, sc)
                    .ok_or(bad)?;
                if addr >= child && addr - child < size {
                    hit = Some(parent.wrapping_add(addr - child));
                    break;
                }
            }
            addr = hit.ok_or(DtbError::OutsideRanges {
                node: bus.display_name(),
                address: addr,
            })?;
        }
        Ok(addr)
    }

    /// The `(address, size)` entries of `node`'s `reg`, in its parent's cells, untranslated.
    pub fn reg(&self, node: &Node<'a>) -> Result<Reg<'a>, DtbError<'a>> {
        let parent = self.parent(node)?;
        let (ac, sc) = match parent {
            Some(p) => p.address_size_cells()?,
            None => (2, 1),
        };
        Reg::new(node, ac, sc)
    }

    /// `reg` entry `index` of `node`, translated to a CPU physical address.
    pub fn reg_translated(
        &self,
        node: &Node<'a>,
        index: usize,
    ) -> Result<(u64, u64), DtbError<'a>> {
        // One ancestors walk for both the parent's cells (as `reg` finds them) and the
        // translation (as `translate` does).
        self.reg_translated_in(node, &self.ancestors(node)?, index)
    }

    /// [`Fdt::reg_translated`] with the node's ancestors already found (by [`Fdt::walk`] or
    /// [`Fdt::ancestors`]): no walk of the tree.
    pub fn reg_translated_in(
        &self,
        node: &Node<'a>,
        anc: &Ancestors<'a>,
        index: usize,
    ) -> Result<(u64, u64), DtbError<'a>> {
        self.reg_translated_cells(node, anc, anc.reg_cells()?, index)
    }

    /// [`Fdt::reg_translated_in`] with the parent's `(#address-cells, #size-cells)` already
    /// read ([`Ancestors::reg_cells`]; siblings share them).
    pub fn reg_translated_cells(
        &self,
        node: &Node<'a>,
        anc: &Ancestors<'a>,
        (ac, sc): (u32, u32),
        index: usize,
    ) -> Result<(u64, u64), DtbError<'a>> {
        let (addr, size) = Reg::new(node, ac, sc)?
            .nth(index)
            .ok_or(DtbError::MissingReg {
                node: node.display_name(),
            })?;
        Ok((Self::translate_through(anc, addr)?, size))
    }
}

/// What a [`Fdt::walk`] visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walked {
    /// Go on to the next node.
    Next,
    /// End the walk here.
    Stop,
}

/// The ancestors of a node, root first (a fixed array of their offsets: no allocation, and
/// small to return; each [`Node`] is decoded again from its one token when asked for).
#[derive(Clone, Copy)]
pub struct Ancestors<'a> {
    fdt: Fdt<'a>,
    offs: [usize; MAX_DEPTH],
    len: usize,
}

impl<'a> Ancestors<'a> {
    /// The `i`-th ancestor, root first.
    pub fn get(&self, i: usize) -> Option<Node<'a>> {
        if i < self.len {
            self.fdt.node_at(*self.offs.get(i)?).ok()
        } else {
            None
        }
    }
    /// The node's parent (the last ancestor; `None` for the root).
    pub fn parent(&self) -> Option<Node<'a>> {
        self.get(self.len.checked_sub(1)?)
    }

    /// The cells of the node's `reg`: its parent's `#address-cells` and `#size-cells`
    /// ((2, 1) for the root, which has no parent).
    pub fn reg_cells(&self) -> Result<(u32, u32), DtbError<'a>> {
        match self.parent() {
            Some(p) => p.address_size_cells(),
            None => Ok((2, 1)),
        }
    }

    /// Where the node's parent (the last ancestor) begins in the structure block: equal for
    /// siblings, so a walk can reuse what it read from their parent.
    pub fn parent_off(&self) -> Option<usize> {
        self.len
            .checked_sub(1)
            .and_then(|i| self.offs.get(i).copied())
    }

    /// How many ancestors.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether there are none (the root's).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Root first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Node<'a>> + '_ {
        (0..self.len).filter_map(|i| self.get(i))
    }
}

/// A node: where it starts in the structure block and its name (`""` for the root).
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    fdt: Fdt<'a>,
    off: usize,
    /// The node's name with its unit address (`serial@9000000`).
    pub name: &'a str,
    body: usize,
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.off == other.off
    }
}

impl<'a> Node<'a> {
    /// Where the node begins in the structure block ([`Fdt::node_at_offset`]).
    pub fn offset(&self) -> usize {
        self.off
    }

    /// The name, or `/` for the root.
    pub fn display_name(&self) -> &'a str {
        if self.name.is_empty() {
            "/"
        } else {
            self.name
        }
    }

    /// The properties, in order. Yields at most one error, then stops.
    pub fn props(&self) -> impl Iterator<Item = Result<(&'a str, &'a [u8]), DtbError<'a>>> + 'a {
        let fdt = self.fdt;
        let mut off = self.body;
        let mut done = false;
        core::iter::from_fn(move || loop {
            if done {
                return None;
            }
            match fdt.token(off) {
                Ok((Token::Nop, next)) => off = next,
                Ok((Token::Prop(nameoff, value), next)) => {
                    off = next;
                    let item = fdt.prop_name(nameoff).map(|n| (n, value));
                    done = item.is_err();
                    return Some(item);
                }
                Ok(_) => {
                    done = true;
                    return None;
                }
                Err(e) => {
                    done = true;
                    return Some(Err(e));
                }
            }
        })
    }

    /// Offset of the first token after the properties.
    fn after_props(&self) -> Result<usize, DtbError<'a>> {
        let mut off = self.body;
        loop {
            match self.fdt.token(off)? {
                (Token::Nop | Token::Prop(..), next) => off = next,
                _ => return Ok(off),
            }
        }
    }

    /// The raw value of property `name`.
    pub fn prop(&self, name: &str) -> Result<Option<&'a [u8]>, DtbError<'a>> {
        // Bytes compared, not decoded: equal to a `&str` means valid UTF-8 already.
        let mut off = self.body;
        loop {
            match self.fdt.token(off)? {
                (Token::Prop(n, v), _) if self.fdt.prop_name_is(n, name.as_bytes()) => {
                    return Ok(Some(v))
                }
                (Token::Nop | Token::Prop(..), next) => off = next,
                _ => return Ok(None),
            }
        }
    }

    /// The raw values of the properties `names`, in one pass over the node's properties
    /// (each as [`Node::prop`] would find it).
    pub fn props_named<const N: usize>(
        &self,
        names: [&str; N],
    ) -> Result<[Option<&'a [u8]>; N], DtbError<'a>> {
        let mut out = [None; N];
        let mut off = self.body;
        loop {
            match self.fdt.token(off)? {
                (Token::Prop(n, v), next) => {
                    for (slot, name) in out.iter_mut().zip(names) {
                        if slot.is_none() && self.fdt.prop_name_is(n, name.as_bytes()) {
                            *slot = Some(v);
                            break;
                        }
                    }
                    off = next;
                }
                (Token::Nop, next) => off = next,
                _ => return Ok(out),
            }
        }
    }

    /// A one-cell property.
    pub fn u32_prop(&self, name: &'static str) -> Result<Option<u32>, DtbError<'a>> {
        self.u32_of(name, self.prop(name)?)
    }

    /// `value`, the node's property `name`, as one cell.
    pub fn u32_of(
        &self,
        name: &'static str,
        value: Option<&[u8]>,
    ) -> Result<Option<u32>, DtbError<'a>> {
        match value {
            None => Ok(None),
            Some(v) if v.len() == 4 => Ok(be32(v, 0)),
            Some(v) => Err(DtbError::BadPropertyLength {
                node: self.display_name(),
                property: name,
                len: v.len(),
            }),
        }
    }

    /// A string property (the first string of a string list).
    pub fn str_prop(&self, name: &'static str) -> Result<Option<&'a str>, DtbError<'a>> {
        self.str_of(name, self.prop(name)?)
    }

    /// `value`, the node's property `name`, as a string (the first of a string list).
    pub fn str_of(
        &self,
        name: &'static str,
        value: Option<&'a [u8]>,
    ) -> Result<Option<&'a str>, DtbError<'a>> {
        match value {
            None => Ok(None),
            Some(v) => {
                let bad = DtbError::BadPropertyLength {
                    node: self.display_name(),
                    property: name,
                    len: v.len(),
                };
                let len = v.iter().position(|&c| c == 0).ok_or(bad)?;
                let s = v.get(..len).ok_or(bad)?;
                core::str::from_utf8(s).map(Some).map_err(|_| bad)
            }
        }
    }

    /// The strings of a string-list property (empty when absent; invalid UTF-8 entries are
    /// skipped).
    pub fn strings(&self, name: &str) -> Result<impl Iterator<Item = &'a str> + 'a, DtbError<'a>> {
        let v = self.prop(name)?.unwrap_or(&[]);
        let v = match v.split_last() {
            Some((0, rest)) => rest,
            _ => v,
        };
        Ok(v.split(|&c| c == 0)
            .filter(|s| !s.is_empty())
            .filter_map(|s| core::str::from_utf8(s).ok()))
    }

    /// Whether `compatible` lists `c`.
    pub fn is_compatible(&self, c: &str) -> Result<bool, DtbError<'a>> {
        self.is_compatible_any(&[c])
    }

    /// Whether `compatible` lists any of `cs` (one property lookup; the strings compared
    /// as bytes, so nothing is decoded: equal to a `&str` means valid UTF-8).
    pub fn is_compatible_any(&self, cs: &[&str]) -> Result<bool, DtbError<'a>> {
        let Some(v) = self.prop("compatible")? else {
            return Ok(false);
        };
        Ok(v.split(|&b| b == 0)
            .any(|s| !s.is_empty() && cs.iter().any(|c| s == c.as_bytes())))
    }

    /// `#address-cells` for this node's children (default 2), at most 2.
    pub fn address_cells(&self) -> Result<u32, DtbError<'a>> {
        self.cells("#address-cells", 2)
    }

    /// `#size-cells` for this node's children (default 1), at most 2.
    pub fn size_cells(&self) -> Result<u32, DtbError<'a>> {
        self.cells("#size-cells", 1)
    }

    /// `#address-cells` and `#size-cells` for this node's children, in one pass over its
    /// properties (the address's error first, as the two calls would say).
    pub fn address_size_cells(&self) -> Result<(u32, u32), DtbError<'a>> {
        let [ac, sc] = self.props_named(["#address-cells", "#size-cells"])?;
        Ok((
            self.cells_of("#address-cells", ac, 2)?,
            self.cells_of("#size-cells", sc, 1)?,
        ))
    }

    fn cells(&self, name: &'static str, default: u32) -> Result<u32, DtbError<'a>> {
        self.cells_of(name, self.prop(name)?, default)
    }

    fn cells_of(
        &self,
        name: &'static str,
        value: Option<&[u8]>,
        default: u32,
    ) -> Result<u32, DtbError<'a>> {
        let v = self.u32_of(name, value)?.unwrap_or(default);
        if v > 2 {
            return Err(DtbError::UnsupportedCells {
                node: self.display_name(),
                property: name,
                value: v,
            });
        }
        Ok(v)
    }

    /// The direct children, in order. Yields at most one error, then stops.
    pub fn children(&self) -> impl Iterator<Item = Result<Node<'a>, DtbError<'a>>> + 'a {
        let fdt = self.fdt;
        // `Some(offset)` of the next token to look at; `None` once finished or failed.
        let (mut next_off, mut pending) = match self.after_props() {
            Ok(o) => (Some(o), None),
            Err(e) => (None, Some(e)),
        };
        core::iter::from_fn(move || {
            if let Some(e) = pending.take() {
                return Some(Err(e));
            }
            let mut off = next_off.take()?;
            loop {
                let step = match fdt.token(off) {
                    Ok((Token::Nop, next)) => {
                        off = next;
                        continue;
                    }
                    Ok((Token::Begin(..), _)) => fdt
                        .node_at(off)
                        .and_then(|child| Ok((child, fdt.skip_node(off)?))),
                    Ok((Token::End, _)) => return None,
                    Ok(_) => Err(DtbError::BadToken {
                        token: be32(fdt.structs, off).unwrap_or(0),
                        offset: off,
                    }),
                    Err(e) => Err(e),
                };
                return match step {
                    Ok((child, after)) => {
                        next_off = Some(after);
                        Some(Ok(child))
                    }
                    Err(e) => Some(Err(e)),
                };
            }
        })
    }

    /// The first direct child named `name` (exactly, or before its `@`).
    pub fn child(&self, name: &str) -> Result<Option<Node<'a>>, DtbError<'a>> {
        for c in self.children() {
            let c = c?;
            if c.name == name || c.name.split('@').next() == Some(name) {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

/// Iterator over `(address, size)` pairs of a `reg` property.
pub struct Reg<'a> {
    data: &'a [u8],
    ac: u32,
    sc: u32,
}

impl<'a> Reg<'a> {
    fn new(node: &Node<'a>, ac: u32, sc: u32) -> Result<Self, DtbError<'a>> {
        let data = node.prop("reg")?.ok_or(DtbError::MissingReg {
            node: node.display_name(),
        })?;
        let entry = ((ac + sc) * 4) as usize;
        if entry == 0 || data.len() % entry != 0 {
            return Err(DtbError::BadPropertyLength {
                node: node.display_name(),
                property: "reg",
                len: data.len(),
            });
        }
        Ok(Reg { data, ac, sc })
    }

    /// Reads `reg`-shaped data with explicit cell counts.
    pub fn with_cells(node: &Node<'a>, ac: u32, sc: u32) -> Result<Self, DtbError<'a>> {
        Self::new(node, ac, sc)
    }
}

impl Iterator for Reg<'_> {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        let entry = ((self.ac + self.sc) * 4) as usize;
        let (e, rest) = self.data.split_at_checked(entry)?;
        self.data = rest;
        let addr = read_cells(e, self.ac)?;
        let size = read_cells(e.get(self.ac as usize * 4..)?, self.sc)?;
        Some((addr, size))
    }
}
