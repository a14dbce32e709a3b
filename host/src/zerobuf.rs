//! The host's Rust binding of the zerobuf value layout.
//!
//! The host and a guest exchange requests and responses as zerobuf values in the guest's
//! linear memory. This module reads values out of a memory snapshot (a byte slice, addressed by
//! u32 offsets exactly like wasm32 pointers) and lays values out into a byte block that the host
//! copies into guest memory at a known base address.
//!
//! Every value starts with a 16-byte little-endian slot: the tag at offset 0, three bytes of
//! padding, payload A (u32) at offset 4 and payload B (u64) at offset 8. Strings and bytes point
//! (A) at a `[len u32][len bytes]` header; arrays and objects point at a 4-byte handle cell that
//! holds the address of their backing store, `[cap u32][len u32][cap slots]` for arrays and
//! `[cap u32][count u32][cap entries]` for objects, where an entry is
//! `[key ptr u32][key len u32][16-byte value slot]`.
//!
//! The reader treats the memory as hostile: every access is bounds-checked with 64-bit
//! arithmetic, nesting is limited to [`MAX_DEPTH`] containers, and the total number of decoded
//! values is limited to one per 16 bytes of memory, so that no input can panic, recurse without
//! end, or make the host do exponential work through shared or cyclic containers.

use std::fmt;

use thiserror::Error;

/// The size of one value slot in bytes.
pub const SLOT_SIZE: u32 = 16;

/// The size of one object entry in bytes: key pointer, key length and a value slot.
pub const ENTRY_SIZE: u32 = 24;

/// The deepest nesting of arrays and objects that [`read_value`] accepts.
///
/// A top-level scalar has depth 0; each array or object around a value adds one.
pub const MAX_DEPTH: u32 = 64;

/// The type tag stored in the first byte of a slot.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tag {
    /// No value; the payloads are ignored.
    Null = 0,
    /// A boolean in payload A (0 or 1).
    Bool = 1,
    /// A signed 32-bit integer in payload A.
    I32 = 2,
    /// A 64-bit float in payload B.
    F64 = 3,
    /// A UTF-8 string; A points at `[len u32][bytes]`.
    String = 4,
    /// An array; A points at a handle cell holding the address of `[cap][len][slots]`.
    Array = 5,
    /// An object; A points at a handle cell holding the address of `[cap][count][entries]`.
    Object = 6,
    /// A signed 64-bit integer in payload B.
    BigInt = 7,
    /// Raw bytes; A points at `[len u32][bytes]`.
    Bytes = 8,
}

impl Tag {
    /// Every tag, in numeric order.
    pub const ALL: [Tag; 9] =
        [Tag::Null, Tag::Bool, Tag::I32, Tag::F64, Tag::String, Tag::Array, Tag::Object, Tag::BigInt, Tag::Bytes];

    /// Converts a tag byte, or returns `None` for a byte that is not a zerobuf tag.
    pub fn from_u8(byte: u8) -> Option<Tag> {
        Tag::ALL.get(usize::from(byte)).copied()
    }

    /// The lowercase name used by the ABI documents and the `/echo` route.
    pub fn name(self) -> &'static str {
        match self {
            Tag::Null => "null",
            Tag::Bool => "bool",
            Tag::I32 => "i32",
            Tag::F64 => "f64",
            Tag::String => "string",
            Tag::Array => "array",
            Tag::Object => "object",
            Tag::BigInt => "bigint",
            Tag::Bytes => "bytes",
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One slot exactly as stored, before its tag is interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSlot {
    /// The tag byte at offset 0.
    pub tag: u8,
    /// Payload A at offset 4.
    pub a: u32,
    /// Payload B at offset 8.
    pub b: u64,
}

/// A decoded zerobuf value that borrows its strings and bytes from the memory it was read from.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// Tag 0.
    Null,
    /// Tag 1.
    Bool(bool),
    /// Tag 2.
    I32(i32),
    /// Tag 3.
    F64(f64),
    /// Tag 4.
    String(&'a str),
    /// Tag 5.
    Array(Vec<Value<'a>>),
    /// Tag 6, entries in stored order (duplicate keys are kept as they are).
    Object(Vec<(&'a str, Value<'a>)>),
    /// Tag 7.
    BigInt(i64),
    /// Tag 8.
    Bytes(&'a [u8]),
}

impl Value<'_> {
    /// The tag this value is stored with.
    pub fn tag(&self) -> Tag {
        match self {
            Value::Null => Tag::Null,
            Value::Bool(_) => Tag::Bool,
            Value::I32(_) => Tag::I32,
            Value::F64(_) => Tag::F64,
            Value::String(_) => Tag::String,
            Value::Array(_) => Tag::Array,
            Value::Object(_) => Tag::Object,
            Value::BigInt(_) => Tag::BigInt,
            Value::Bytes(_) => Tag::Bytes,
        }
    }
}

/// Why a value could not be read from memory.
///
/// Addresses are the guest addresses of the offending item, so a message can point at it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ZbError {
    /// A read of `len` bytes at `addr` does not fit in a memory of `mem_len` bytes.
    ///
    /// `what` names the item: `slot` for a slot the caller asked for, otherwise for example
    /// `string header`, `string data`, `array element` or `object key`.
    #[error("{what} of {len} bytes at {addr:#x} lies outside memory ({mem_len} bytes)")]
    OutOfBounds {
        /// What was being read.
        what: &'static str,
        /// The first address of the read.
        addr: u64,
        /// The number of bytes read.
        len: u64,
        /// The size of the memory.
        mem_len: usize,
    },
    /// The slot at `addr` has a valid tag, but not the one the caller needs.
    #[error("slot at {addr:#x} has tag {found} ({}), expected {expected}", tag_name(*found))]
    WrongTag {
        /// The slot address.
        addr: u32,
        /// The tag name (or names) the caller accepts.
        expected: &'static str,
        /// The tag byte found.
        found: u8,
    },
    /// The slot at `addr` has a tag byte that is not a zerobuf tag.
    #[error("slot at {addr:#x} has unknown tag {tag}")]
    UnknownTag {
        /// The slot address.
        addr: u32,
        /// The tag byte found.
        tag: u8,
    },
    /// The string data starting at `addr` is not UTF-8 from byte `valid_up_to` on.
    #[error("string data at {addr:#x} is not valid UTF-8 (valid up to byte {valid_up_to})")]
    InvalidUtf8 {
        /// The address of the first data byte.
        addr: u32,
        /// The length of the longest valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// A bool slot holds a payload other than 0 or 1.
    #[error("bool slot at {addr:#x} holds {value}, expected 0 or 1")]
    InvalidBool {
        /// The slot address.
        addr: u32,
        /// The payload found.
        value: u32,
    },
    /// Arrays and objects are nested more than [`MAX_DEPTH`] deep (or form a cycle).
    #[error("container slot at {addr:#x} is nested deeper than {limit} levels")]
    TooDeep {
        /// The slot address of the container that exceeded the limit.
        addr: u32,
        /// The depth limit.
        limit: u32,
    },
    /// More values were decoded than the memory can hold as distinct slots.
    #[error("more than {limit} values reached (containers share or repeat their contents)")]
    TooManyValues {
        /// The limit, one value per 16 bytes of memory.
        limit: u64,
    },
    /// An array or object store claims more elements than its capacity.
    #[error("{what} store at {addr:#x} has length {len} greater than its capacity {cap}")]
    LenExceedsCap {
        /// `array` or `object`.
        what: &'static str,
        /// The address of the store (its `cap` field).
        addr: u32,
        /// The length or count field.
        len: u32,
        /// The capacity field.
        cap: u32,
    },
}

fn tag_name(byte: u8) -> &'static str {
    Tag::from_u8(byte).map_or("unknown", Tag::name)
}

impl ZbError {
    /// The ABI rule this error breaks when it happens while reading a response.
    ///
    /// A slot that lies outside memory breaks `response.pointer`; any other out-of-bounds read
    /// (a string header, data, or a container's contents) breaks `response.bounds`; bad string
    /// data breaks `response.utf8`. Tag and shape errors depend on which slot was read (a bad
    /// status tag is `response.status`, a bad body tag `response.body`), so they return the
    /// generic `zerobuf.tag` or `zerobuf.shape` and the caller picks the slot's rule.
    pub fn rule(&self) -> &'static str {
        match self {
            ZbError::OutOfBounds { what: "slot", .. } => "response.pointer",
            ZbError::OutOfBounds { .. } => "response.bounds",
            ZbError::InvalidUtf8 { .. } => "response.utf8",
            ZbError::WrongTag { .. } | ZbError::UnknownTag { .. } | ZbError::InvalidBool { .. } => "zerobuf.tag",
            ZbError::TooDeep { .. } | ZbError::TooManyValues { .. } | ZbError::LenExceedsCap { .. } => "zerobuf.shape",
        }
    }
}

/// Returns `len` bytes at `addr`, or an out-of-bounds error naming `what`.
fn bytes_at<'m>(mem: &'m [u8], what: &'static str, addr: u64, len: u64) -> Result<&'m [u8], ZbError> {
    let out_of_bounds = || ZbError::OutOfBounds { what, addr, len, mem_len: mem.len() };
    let end = addr.checked_add(len).ok_or_else(out_of_bounds)?;
    let start = usize::try_from(addr).map_err(|_| out_of_bounds())?;
    let end = usize::try_from(end).map_err(|_| out_of_bounds())?;
    mem.get(start..end).ok_or_else(out_of_bounds)
}

fn u32_at(mem: &[u8], what: &'static str, addr: u64) -> Result<u32, ZbError> {
    let bytes = bytes_at(mem, what, addr, 4)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn slot_at(mem: &[u8], what: &'static str, addr: u64) -> Result<RawSlot, ZbError> {
    let bytes = bytes_at(mem, what, addr, u64::from(SLOT_SIZE))?;
    let mut a = [0; 4];
    a.copy_from_slice(&bytes[4..8]);
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[8..16]);
    Ok(RawSlot { tag: bytes[0], a: u32::from_le_bytes(a), b: u64::from_le_bytes(b) })
}

/// Reads the raw slot at `addr` without interpreting its tag.
pub fn read_slot(mem: &[u8], addr: u32) -> Result<RawSlot, ZbError> {
    slot_at(mem, "slot", u64::from(addr))
}

/// Reads a `[len u32][len bytes]` header at `ptr`; `what` is [`Tag::String`] or [`Tag::Bytes`]
/// and only names the item in errors.
fn len_prefixed(mem: &[u8], what: Tag, ptr: u32) -> Result<&[u8], ZbError> {
    let (header, data) = match what {
        Tag::String => ("string header", "string data"),
        _ => ("bytes header", "bytes data"),
    };
    let len = u32_at(mem, header, u64::from(ptr))?;
    bytes_at(mem, data, u64::from(ptr) + 4, u64::from(len))
}

/// Checks that `bytes`, which start at guest address `addr`, are UTF-8.
fn utf8_at(bytes: &[u8], addr: u64) -> Result<&str, ZbError> {
    std::str::from_utf8(bytes).map_err(|error| ZbError::InvalidUtf8 {
        // Data addresses always come from a successful bounds check, so they fit in u32.
        addr: u32::try_from(addr).unwrap_or(u32::MAX),
        valid_up_to: error.valid_up_to(),
    })
}

/// Reads the string that the slot at `slot_addr` points to; the slot must have tag string.
pub fn read_string(mem: &[u8], slot_addr: u32) -> Result<&str, ZbError> {
    let slot = read_slot(mem, slot_addr)?;
    if slot.tag != Tag::String as u8 {
        return Err(wrong_or_unknown(slot_addr, "string", slot.tag));
    }
    let bytes = len_prefixed(mem, Tag::String, slot.a)?;
    utf8_at(bytes, u64::from(slot.a) + 4)
}

/// Reads the payload of a string or bytes slot at `slot_addr`, with the tag it had.
///
/// String data is checked to be UTF-8 (so a caller may convert it without another check);
/// bytes data is returned as it is.
pub fn read_bytes_or_string(mem: &[u8], slot_addr: u32) -> Result<(Tag, &[u8]), ZbError> {
    let slot = read_slot(mem, slot_addr)?;
    match Tag::from_u8(slot.tag) {
        Some(Tag::String) => {
            let bytes = len_prefixed(mem, Tag::String, slot.a)?;
            utf8_at(bytes, u64::from(slot.a) + 4)?;
            Ok((Tag::String, bytes))
        }
        Some(Tag::Bytes) => Ok((Tag::Bytes, len_prefixed(mem, Tag::Bytes, slot.a)?)),
        _ => Err(wrong_or_unknown(slot_addr, "string or bytes", slot.tag)),
    }
}

/// Reads the value of an i32 slot at `slot_addr`; the slot must have tag i32.
pub fn read_i32(mem: &[u8], slot_addr: u32) -> Result<i32, ZbError> {
    let slot = read_slot(mem, slot_addr)?;
    if slot.tag != Tag::I32 as u8 {
        return Err(wrong_or_unknown(slot_addr, "i32", slot.tag));
    }
    Ok(slot.a as i32)
}

fn wrong_or_unknown(addr: u32, expected: &'static str, found: u8) -> ZbError {
    match Tag::from_u8(found) {
        Some(_) => ZbError::WrongTag { addr, expected, found },
        None => ZbError::UnknownTag { addr, tag: found },
    }
}

/// Reads and fully decodes the value whose slot is at `addr`.
pub fn read_value(mem: &[u8], addr: u32) -> Result<Value<'_>, ZbError> {
    let slot = read_slot(mem, addr)?;
    // Every value occupies its own 16-byte slot in a well-formed layout, so a memory cannot
    // hold more distinct values than this; reaching it means containers share contents.
    let limit = (mem.len() / SLOT_SIZE as usize) as u64;
    let mut reader = Reader { mem, budget: limit, limit };
    reader.value(addr, slot, 0)
}

/// The state of one [`read_value`] call: the memory and the number of values still allowed.
struct Reader<'m> {
    mem: &'m [u8],
    /// How many more values may be decoded.
    budget: u64,
    /// The initial budget, for the error message.
    limit: u64,
}

impl<'m> Reader<'m> {
    fn value(&mut self, addr: u32, slot: RawSlot, depth: u32) -> Result<Value<'m>, ZbError> {
        self.budget = self.budget.checked_sub(1).ok_or(ZbError::TooManyValues { limit: self.limit })?;
        let tag = Tag::from_u8(slot.tag).ok_or(ZbError::UnknownTag { addr, tag: slot.tag })?;
        Ok(match tag {
            Tag::Null => Value::Null,
            Tag::Bool => match slot.a {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                value => return Err(ZbError::InvalidBool { addr, value }),
            },
            Tag::I32 => Value::I32(slot.a as i32),
            Tag::F64 => Value::F64(f64::from_bits(slot.b)),
            Tag::BigInt => Value::BigInt(slot.b as i64),
            Tag::String => {
                let bytes = len_prefixed(self.mem, Tag::String, slot.a)?;
                Value::String(utf8_at(bytes, u64::from(slot.a) + 4)?)
            }
            Tag::Bytes => Value::Bytes(len_prefixed(self.mem, Tag::Bytes, slot.a)?),
            Tag::Array => {
                if depth >= MAX_DEPTH {
                    return Err(ZbError::TooDeep { addr, limit: MAX_DEPTH });
                }
                let (store, len) = self.store("array", slot.a)?;
                let first = u64::from(store) + 8;
                // Checking the whole element range first bounds the allocation below by the
                // memory size, whatever length the guest claims.
                bytes_at(self.mem, "array element", first, u64::from(len) * u64::from(SLOT_SIZE))?;
                let mut items = Vec::with_capacity(len as usize);
                for i in 0..u64::from(len) {
                    let at = first + i * u64::from(SLOT_SIZE);
                    let element = slot_at(self.mem, "array element", at)?;
                    items.push(self.value(at as u32, element, depth + 1)?);
                }
                Value::Array(items)
            }
            Tag::Object => {
                if depth >= MAX_DEPTH {
                    return Err(ZbError::TooDeep { addr, limit: MAX_DEPTH });
                }
                let (store, count) = self.store("object", slot.a)?;
                let first = u64::from(store) + 8;
                bytes_at(self.mem, "object entry", first, u64::from(count) * u64::from(ENTRY_SIZE))?;
                let mut entries = Vec::with_capacity(count as usize);
                for i in 0..u64::from(count) {
                    let at = first + i * u64::from(ENTRY_SIZE);
                    let key_ptr = u32_at(self.mem, "object entry", at)?;
                    let key_len = u32_at(self.mem, "object entry", at + 4)?;
                    let key_bytes = bytes_at(self.mem, "object key", u64::from(key_ptr), u64::from(key_len))?;
                    let key = utf8_at(key_bytes, u64::from(key_ptr))?;
                    let value_at = at + 8;
                    let element = slot_at(self.mem, "object entry", value_at)?;
                    entries.push((key, self.value(value_at as u32, element, depth + 1)?));
                }
                Value::Object(entries)
            }
        })
    }

    /// Follows a container's handle cell at `handle` and returns its store address and length,
    /// after checking the length against the capacity.
    fn store(&self, what: &'static str, handle: u32) -> Result<(u32, u32), ZbError> {
        let (handle_what, header_what) = match what {
            "array" => ("array handle", "array header"),
            _ => ("object handle", "object header"),
        };
        let store = u32_at(self.mem, handle_what, u64::from(handle))?;
        let cap = u32_at(self.mem, header_what, u64::from(store))?;
        let len = u32_at(self.mem, header_what, u64::from(store) + 4)?;
        if len > cap {
            return Err(ZbError::LenExceedsCap { what, addr: store, len, cap });
        }
        Ok((store, len))
    }
}

/// Why values could not be laid out.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// [`Encoder::set`] was called with an index at or past the number of slots.
    #[error("slot index {index} is out of range for {slots} slots")]
    SlotIndex {
        /// The index passed.
        index: u32,
        /// The number of slots in the block.
        slots: u32,
    },
    /// The block would end past the 32-bit address space.
    #[error("the encoded block would end at {end:#x}, past the 32-bit address space")]
    AddressSpace {
        /// The first address after the block.
        end: u64,
    },
    /// A string, bytes value, array or object is longer than a u32 length field can say.
    #[error("a {what} of length {len} does not fit a 32-bit length field")]
    TooLong {
        /// The kind of value.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

/// The exclusive upper bound of wasm32 addresses.
const ADDRESS_SPACE: u64 = 1 << 32;

/// Rounds `addr` up to a multiple of 4.
fn align4(addr: u64) -> u64 {
    (addr + 3) & !3
}

fn len_u32(what: &'static str, len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::TooLong { what, len })
}

/// Lays out a block of value slots followed by the data they point to.
///
/// The block starts at guest address `base` with `slots` consecutive 16-byte slots, all null
/// at first. [`Encoder::set`] writes a value into a slot and appends whatever it points to
/// (string and bytes headers, container handle cells, stores, object keys) after everything
/// written before; as in the JS glue, each item is padded with zeros to a multiple of 4 bytes,
/// so every item starts 4-byte aligned when `base` is. The
/// result of [`Encoder::finish`] is copied into guest memory at `base` as it is. The layout
/// depends only on `base`, `slots` and the sequence of `set` calls, so it is deterministic.
///
/// Containers get a capacity equal to their length. An array's data is its handle cell, its
/// store, then the data of each element in order; an object's data is its handle cell, its
/// store, then for each entry its key bytes followed by the data of its value.
#[derive(Clone, Debug)]
pub struct Encoder {
    base: u32,
    slots: u32,
    buf: Vec<u8>,
}

impl Encoder {
    /// Starts a block of `slots` null slots at guest address `base`.
    pub fn new(base: u32, slots: u32) -> Result<Encoder, EncodeError> {
        let slots_len = u64::from(slots) * u64::from(SLOT_SIZE);
        let end = u64::from(base) + slots_len;
        if end > ADDRESS_SPACE {
            return Err(EncodeError::AddressSpace { end });
        }
        Ok(Encoder { base, slots, buf: vec![0; slots_len as usize] })
    }

    /// The guest address of the first slot.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// The guest address of slot `index` (which need not be in range).
    pub fn slot_addr(&self, index: u32) -> u64 {
        u64::from(self.base) + u64::from(index) * u64::from(SLOT_SIZE)
    }

    /// The number of bytes laid out so far, which is the size of the finished block.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the block is empty, which happens only with zero slots.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Writes `value` into slot `index`, appending the data it points to.
    ///
    /// Setting a slot twice overwrites the slot; the data of the first value stays in the block.
    /// On error nothing observable changes.
    pub fn set(&mut self, index: u32, value: &Value<'_>) -> Result<(), EncodeError> {
        if index >= self.slots {
            return Err(EncodeError::SlotIndex { index, slots: self.slots });
        }
        let end = self.data_end(value)?;
        if end > ADDRESS_SPACE {
            return Err(EncodeError::AddressSpace { end });
        }
        self.buf.reserve((end - self.next_addr()) as usize);
        let offset = index as usize * SLOT_SIZE as usize;
        self.put_value(offset, value);
        Ok(())
    }

    /// Returns the block, ready to be copied into guest memory at `base`.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// The guest address of the next free byte.
    fn next_addr(&self) -> u64 {
        u64::from(self.base) + self.buf.len() as u64
    }

    /// Computes where the block would end after setting `value`, and checks every length.
    fn data_end(&self, value: &Value<'_>) -> Result<u64, EncodeError> {
        data_end(self.next_addr(), value)
    }

    /// Reserves `len` zero bytes at the next 4-byte aligned address, pads them up to a multiple
    /// of 4, and returns the address.
    fn alloc(&mut self, len: usize) -> u32 {
        let start = align4(self.next_addr());
        let end = align4(start + len as u64);
        self.buf.resize((end - u64::from(self.base)) as usize, 0);
        start as u32
    }

    fn put_u32(&mut self, offset: usize, value: u32) {
        self.buf[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn offset_of(&self, addr: u32) -> usize {
        (addr - self.base) as usize
    }

    /// Writes the slot for `value` at buffer offset `offset` and appends its data.
    ///
    /// Lengths and the address space were checked by [`data_end`] before, so the conversions
    /// here cannot truncate.
    fn put_value(&mut self, offset: usize, value: &Value<'_>) {
        let mut a = 0u32;
        let mut b = 0u64;
        match value {
            Value::Null => {}
            Value::Bool(flag) => a = u32::from(*flag),
            Value::I32(number) => a = *number as u32,
            Value::F64(number) => b = number.to_bits(),
            Value::BigInt(number) => b = *number as u64,
            Value::String(text) => a = self.put_len_prefixed(text.as_bytes()),
            Value::Bytes(bytes) => a = self.put_len_prefixed(bytes),
            Value::Array(items) => {
                let handle = self.alloc(4);
                let store = self.alloc(8 + items.len() * SLOT_SIZE as usize);
                self.put_handle(handle, store, items.len() as u32);
                for (i, item) in items.iter().enumerate() {
                    let at = self.offset_of(store) + 8 + i * SLOT_SIZE as usize;
                    self.put_value(at, item);
                }
                a = handle;
            }
            Value::Object(entries) => {
                let handle = self.alloc(4);
                let store = self.alloc(8 + entries.len() * ENTRY_SIZE as usize);
                self.put_handle(handle, store, entries.len() as u32);
                for (i, (key, item)) in entries.iter().enumerate() {
                    let at = self.offset_of(store) + 8 + i * ENTRY_SIZE as usize;
                    let key_addr = self.alloc(key.len());
                    let key_offset = self.offset_of(key_addr);
                    self.buf[key_offset..key_offset + key.len()].copy_from_slice(key.as_bytes());
                    self.put_u32(at, key_addr);
                    self.put_u32(at + 4, key.len() as u32);
                    self.put_value(at + 8, item);
                }
                a = handle;
            }
        }
        let slot = &mut self.buf[offset..offset + SLOT_SIZE as usize];
        slot.fill(0);
        slot[0] = value.tag() as u8;
        slot[4..8].copy_from_slice(&a.to_le_bytes());
        slot[8..16].copy_from_slice(&b.to_le_bytes());
    }

    /// Writes a handle cell pointing at `store` and the store's `[cap][len]` header.
    fn put_handle(&mut self, handle: u32, store: u32, len: u32) {
        let handle_offset = self.offset_of(handle);
        self.put_u32(handle_offset, store);
        let store_offset = self.offset_of(store);
        self.put_u32(store_offset, len);
        self.put_u32(store_offset + 4, len);
    }

    /// Appends a `[len u32][bytes]` header and returns its address.
    fn put_len_prefixed(&mut self, bytes: &[u8]) -> u32 {
        let header = self.alloc(4 + bytes.len());
        let offset = self.offset_of(header);
        self.put_u32(offset, bytes.len() as u32);
        self.buf[offset + 4..offset + 4 + bytes.len()].copy_from_slice(bytes);
        header
    }
}

/// Where the data of `value` ends if it is appended at `next`, using the same alignment as
/// [`Encoder`]; fails if a length does not fit in 32 bits.
fn data_end(next: u64, value: &Value<'_>) -> Result<u64, EncodeError> {
    // Saturating arithmetic keeps absurd sizes from wrapping; the caller compares the result
    // with the address space.
    let alloc = |next: u64, len: u64| align4(align4(next).saturating_add(len));
    Ok(match value {
        Value::Null | Value::Bool(_) | Value::I32(_) | Value::F64(_) | Value::BigInt(_) => next,
        Value::String(text) => alloc(next, 4 + u64::from(len_u32("string", text.len())?)),
        Value::Bytes(bytes) => alloc(next, 4 + u64::from(len_u32("bytes", bytes.len())?)),
        Value::Array(items) => {
            let len = u64::from(len_u32("array", items.len())?);
            let mut end = alloc(alloc(next, 4), 8 + len * u64::from(SLOT_SIZE));
            for item in items {
                end = data_end(end, item)?;
            }
            end
        }
        Value::Object(entries) => {
            let count = u64::from(len_u32("object", entries.len())?);
            let mut end = alloc(alloc(next, 4), 8 + count * u64::from(ENTRY_SIZE));
            for (key, item) in entries {
                end = alloc(end, u64::from(len_u32("object key", key.len())?));
                end = data_end(end, item)?;
            }
            end
        }
    })
}

/// The size in bytes of the block that an [`Encoder`] at `base` with `slots` slots produces
/// after setting `values` in order, computed without laying anything out.
///
/// The host uses this to check that a request fits its scratch area before encoding. The
/// result does not depend on `base` as long as `base` is a multiple of 4.
pub fn encoded_len<'v, I>(base: u32, slots: u32, values: I) -> Result<u64, EncodeError>
where
    I: IntoIterator<Item = &'v Value<'v>>,
{
    let start = u64::from(base);
    let mut end = start + u64::from(slots) * u64::from(SLOT_SIZE);
    for value in values {
        end = data_end(end, value)?;
    }
    if end > ADDRESS_SPACE {
        return Err(EncodeError::AddressSpace { end });
    }
    Ok(end - start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Parses a hex string with optional whitespace and `|` separators into bytes.
    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'|').collect();
        assert_eq!(digits.len() % 2, 0, "odd number of hex digits in {text:?}");
        digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    /// Encodes `value` into slot 0 of a one-slot block at `base`.
    fn encode_one(base: u32, value: &Value<'_>) -> Vec<u8> {
        let mut encoder = Encoder::new(base, 1).unwrap();
        encoder.set(0, value).unwrap();
        encoder.finish()
    }

    /// Builds a memory that holds `block` at `base` and `tail` zero bytes after it.
    fn memory_with(base: u32, block: &[u8], tail: usize) -> Vec<u8> {
        let mut mem = vec![0; base as usize];
        mem.extend_from_slice(block);
        mem.resize(mem.len() + tail, 0);
        mem
    }

    #[test]
    fn tag_bytes_and_names_match_the_layout() {
        let names: Vec<_> = Tag::ALL.iter().map(|tag| (*tag as u8, tag.name())).collect();
        assert_eq!(
            names,
            [
                (0, "null"),
                (1, "bool"),
                (2, "i32"),
                (3, "f64"),
                (4, "string"),
                (5, "array"),
                (6, "object"),
                (7, "bigint"),
                (8, "bytes"),
            ]
        );
        for tag in Tag::ALL {
            assert_eq!(Tag::from_u8(tag as u8), Some(tag));
        }
        assert_eq!(Tag::from_u8(9), None);
        assert_eq!(Tag::from_u8(255), None);
    }

    // Each golden vector was worked out by hand from the layout, for one slot at 0x1000, so the
    // data area starts at 0x1010. Groups of bytes are separated by `|` for readability.
    #[rstest]
    #[case::null(Value::Null, "00 000000 | 00000000 | 0000000000000000")]
    #[case::bool_true(Value::Bool(true), "01 000000 | 01000000 | 0000000000000000")]
    #[case::bool_false(Value::Bool(false), "01 000000 | 00000000 | 0000000000000000")]
    #[case::i32_negative(Value::I32(-2), "02 000000 | feffffff | 0000000000000000")]
    #[case::i32_positive(Value::I32(0x1234_5678), "02 000000 | 78563412 | 0000000000000000")]
    // 1.5 is 0x3ff8000000000000.
    #[case::f64(Value::F64(1.5), "03 000000 | 00000000 | 000000000000f83f")]
    #[case::string(Value::String("hi"), "04 000000 | 10100000 | 0000000000000000 || 02000000 6869 0000")]
    #[case::string_empty(Value::String(""), "04 000000 | 10100000 | 0000000000000000 || 00000000")]
    // Four data bytes need no padding.
    #[case::string_aligned(Value::String("abcd"), "04 000000 | 10100000 | 0000000000000000 || 04000000 61626364")]
    // "é" is two UTF-8 bytes, c3 a9.
    #[case::string_utf8(Value::String("é"), "04 000000 | 10100000 | 0000000000000000 || 02000000 c3a9 0000")]
    #[case::bigint(Value::BigInt(-1), "07 000000 | 00000000 | ffffffffffffffff")]
    #[case::bigint_max(Value::BigInt(i64::MAX), "07 000000 | 00000000 | ffffffffffffff7f")]
    #[case::bytes(
        Value::Bytes(&[1, 2, 3]),
        "08 000000 | 10100000 | 0000000000000000 || 03000000 010203 00"
    )]
    // The handle cell at 0x1010 points at the store at 0x1014: cap 2, len 2, then two element
    // slots at 0x101c and 0x102c.
    #[case::array(
        Value::Array(vec![Value::I32(7), Value::Null]),
        "05 000000 | 10100000 | 0000000000000000
         || 14100000
         || 02000000 02000000
         || 02 000000 07000000 0000000000000000
         || 00 000000 00000000 0000000000000000"
    )]
    #[case::array_empty(
        Value::Array(vec![]),
        "05 000000 | 10100000 | 0000000000000000 || 14100000 || 00000000 00000000"
    )]
    // The handle at 0x1010 points at the store at 0x1014: cap 1, count 1, and one entry at
    // 0x101c (key ptr 0x1034, key len 2, value slot). The key bytes follow the store at 0x1034
    // (padded to 0x1038), then the value's string header at 0x1038.
    #[case::object(
        Value::Object(vec![("ab", Value::String("x"))]),
        "06 000000 | 10100000 | 0000000000000000
         || 14100000
         || 01000000 01000000
         || 34100000 02000000 | 04 000000 38100000 0000000000000000
         || 6162 0000
         || 01000000 78 000000"
    )]
    fn golden_vectors(#[case] value: Value<'static>, #[case] expected: &str) {
        let block = encode_one(0x1000, &value);
        assert_eq!(block, hex(expected));
        assert_eq!(encoded_len(0x1000, 1, [&value]).unwrap(), block.len() as u64);
    }

    #[test]
    fn golden_two_strings_align_each_header() {
        // Two slots at 0x100 put the data at 0x120; "abc" takes 7 bytes and is padded to 8, so
        // the header of "d" starts at 0x128.
        let mut encoder = Encoder::new(0x100, 2).unwrap();
        encoder.set(0, &Value::String("abc")).unwrap();
        encoder.set(1, &Value::String("d")).unwrap();
        assert_eq!(encoder.len(), 0x30);
        let expected = hex("04 000000 | 20010000 | 0000000000000000
             04 000000 | 28010000 | 0000000000000000
             03000000 616263 00
             01000000 64 000000");
        assert_eq!(encoder.finish(), expected);
    }

    #[test]
    fn untouched_slots_stay_null() {
        let mut encoder = Encoder::new(0x40, 3).unwrap();
        encoder.set(1, &Value::I32(5)).unwrap();
        let block = encoder.finish();
        let mem = memory_with(0x40, &block, 0);
        assert_eq!(read_value(&mem, 0x40), Ok(Value::Null));
        assert_eq!(read_value(&mem, 0x50), Ok(Value::I32(5)));
        assert_eq!(read_value(&mem, 0x60), Ok(Value::Null));
    }

    #[rstest]
    #[case::null(Value::Null)]
    #[case::bool(Value::Bool(true))]
    #[case::i32(Value::I32(i32::MIN))]
    #[case::f64(Value::F64(-0.0))]
    #[case::f64_infinity(Value::F64(f64::INFINITY))]
    #[case::string(Value::String("Grüß Gott! 🌍"))]
    #[case::array(Value::Array(vec![Value::Bool(false), Value::F64(2.25), Value::String("s")]))]
    #[case::object(Value::Object(vec![
        ("a", Value::I32(1)),
        ("", Value::Null),
        ("ключ", Value::Bytes(b"\x00\xff")),
        ("a", Value::BigInt(2)),
    ]))]
    #[case::bigint(Value::BigInt(i64::MIN))]
    #[case::bytes(Value::Bytes(&[0, 255, 7, 8, 9]))]
    #[case::nested(Value::Object(vec![
        ("list", Value::Array(vec![
            Value::Array(vec![Value::String("deep"), Value::Array(vec![])]),
            Value::Object(vec![("k", Value::Bytes(b"v")), ("n", Value::Null)]),
            Value::Object(vec![]),
        ])),
        ("tail", Value::String("end")),
    ]))]
    fn round_trips(#[case] value: Value<'static>) {
        for base in [0, 8, 0x1000] {
            let mut encoder = Encoder::new(base, 2).unwrap();
            encoder.set(1, &value).unwrap();
            encoder.set(0, &Value::String("first slot set last")).unwrap();
            let block = encoder.finish();
            let expected_len = encoded_len(base, 2, [&value, &Value::String("first slot set last")]);
            assert_eq!(expected_len.unwrap(), block.len() as u64);
            let mem = memory_with(base, &block, 0);
            assert_eq!(read_value(&mem, base + 16).unwrap(), value);
            assert_eq!(read_value(&mem, base).unwrap(), Value::String("first slot set last"));
        }
    }

    #[test]
    fn nan_payload_round_trips_bit_exactly() {
        let bits = 0x7ff8_0000_0000_1234;
        let block = encode_one(0, &Value::F64(f64::from_bits(bits)));
        match read_value(&block, 0).unwrap() {
            Value::F64(number) => assert_eq!(number.to_bits(), bits),
            other => panic!("expected f64, got {other:?}"),
        }
    }

    #[test]
    fn encoding_is_deterministic() {
        let value = Value::Object(vec![("x", Value::Array(vec![Value::String("y"); 3]))]);
        assert_eq!(encode_one(0x2000, &value), encode_one(0x2000, &value));
    }

    #[test]
    fn encoder_rejects_bad_index_and_address_space_overflow() {
        let mut encoder = Encoder::new(0, 2).unwrap();
        assert_eq!(encoder.set(2, &Value::Null), Err(EncodeError::SlotIndex { index: 2, slots: 2 }));
        assert_eq!(Encoder::new(u32::MAX - 15, 2).unwrap_err(), EncodeError::AddressSpace { end: (1 << 32) + 16 });
        // One slot ending exactly at 4 GiB still fits, but no data does.
        let mut encoder = Encoder::new(u32::MAX - 15, 1).unwrap();
        encoder.set(0, &Value::I32(1)).unwrap();
        assert_eq!(encoder.set(0, &Value::String("")), Err(EncodeError::AddressSpace { end: (1 << 32) + 4 }));
        assert_eq!(encoder.len(), 16);
        assert_eq!(
            encoded_len(u32::MAX - 15, 1, [&Value::Bytes(b"")]),
            Err(EncodeError::AddressSpace { end: (1 << 32) + 4 })
        );
    }

    /// A small memory with hand-written slots for the error tests. Slot 0 is at 0, slot 1 at 16
    /// and so on; the memory is 256 bytes long.
    fn hand_memory(writes: &[(usize, &str)]) -> Vec<u8> {
        let mut mem = vec![0; 256];
        for (at, bytes) in writes {
            let bytes = hex(bytes);
            mem[*at..*at + bytes.len()].copy_from_slice(&bytes);
        }
        mem
    }

    #[rstest]
    // A string slot whose header pointer is past the end of memory.
    #[case::pointer_past_end(
        &[(0, "04 000000 00100000")],
        ZbError::OutOfBounds { what: "string header", addr: 0x1000, len: 4, mem_len: 256 }
    )]
    // The header is at 0x20 but claims 0x100 bytes of data, past the end.
    #[case::length_past_end(
        &[(0, "04 000000 20000000"), (0x20, "00010000")],
        ZbError::OutOfBounds { what: "string data", addr: 0x24, len: 0x100, mem_len: 256 }
    )]
    // The header is at 0xfc, the last four bytes, and claims one byte.
    #[case::data_one_past_end(
        &[(0, "08 000000 fc000000"), (0xfc, "01000000")],
        ZbError::OutOfBounds { what: "bytes data", addr: 0x100, len: 1, mem_len: 256 }
    )]
    // A header pointer near the top of the address space must not overflow.
    #[case::header_near_u32_max(
        &[(0, "04 000000 fcffffff")],
        ZbError::OutOfBounds { what: "string header", addr: 0xffff_fffc, len: 4, mem_len: 256 }
    )]
    // A length of u32::MAX must not overflow either.
    #[case::length_u32_max(
        &[(0, "08 000000 20000000"), (0x20, "ffffffff")],
        ZbError::OutOfBounds { what: "bytes data", addr: 0x24, len: 0xffff_ffff, mem_len: 256 }
    )]
    #[case::bad_utf8(
        &[(0, "04 000000 20000000"), (0x20, "03000000 61 c328")],
        ZbError::InvalidUtf8 { addr: 0x24, valid_up_to: 1 }
    )]
    #[case::bool_two(&[(0, "01 000000 02000000")], ZbError::InvalidBool { addr: 0, value: 2 })]
    #[case::unknown_tag(&[(0, "09")], ZbError::UnknownTag { addr: 0, tag: 9 })]
    #[case::unknown_tag_255(&[(0, "ff")], ZbError::UnknownTag { addr: 0, tag: 255 })]
    // The array's handle at 0x20 points at a store at 0x24 with cap 1 and len 2.
    #[case::array_len_exceeds_cap(
        &[(0, "05 000000 20000000"), (0x20, "24000000 01000000 02000000")],
        ZbError::LenExceedsCap { what: "array", addr: 0x24, len: 2, cap: 1 }
    )]
    #[case::object_count_exceeds_cap(
        &[(0, "06 000000 20000000"), (0x20, "24000000 00000000 01000000")],
        ZbError::LenExceedsCap { what: "object", addr: 0x24, len: 1, cap: 0 }
    )]
    // The handle cell itself is out of bounds.
    #[case::array_handle_past_end(
        &[(0, "05 000000 fe000000")],
        ZbError::OutOfBounds { what: "array handle", addr: 0xfe, len: 4, mem_len: 256 }
    )]
    // The handle points at a store near u32::MAX.
    #[case::object_store_near_u32_max(
        &[(0, "06 000000 20000000"), (0x20, "fcffffff")],
        ZbError::OutOfBounds { what: "object header", addr: 0xffff_fffc, len: 4, mem_len: 256 }
    )]
    // A store at 0x24 with u32::MAX capacity and length: the element range is checked first.
    #[case::array_elements_past_end(
        &[(0, "05 000000 20000000"), (0x20, "24000000 ffffffff ffffffff")],
        ZbError::OutOfBounds {
            what: "array element", addr: 0x2c, len: 0xffff_ffff * 16, mem_len: 256
        }
    )]
    // An object entry whose key points past the end.
    #[case::object_key_past_end(
        &[(0, "06 000000 20000000"), (0x20, "24000000 01000000 01000000 00100000 01000000")],
        ZbError::OutOfBounds { what: "object key", addr: 0x1000, len: 1, mem_len: 256 }
    )]
    // An object key that is not UTF-8 (a lone continuation byte at 0x80).
    #[case::object_key_bad_utf8(
        &[(0, "06 000000 20000000"), (0x20, "24000000 01000000 01000000 80000000 01000000"),
          (0x80, "80")],
        ZbError::InvalidUtf8 { addr: 0x80, valid_up_to: 0 }
    )]
    // A bad value nested in an array reports the element slot's address.
    #[case::nested_bad_bool(
        &[(0, "05 000000 20000000"), (0x20, "24000000 01000000 01000000 01 000000 05000000")],
        ZbError::InvalidBool { addr: 0x2c, value: 5 }
    )]
    fn read_value_errors(#[case] writes: &[(usize, &str)], #[case] expected: ZbError) {
        let mem = hand_memory(writes);
        assert_eq!(read_value(&mem, 0), Err(expected));
    }

    #[rstest]
    #[case::near_u32_max(u32::MAX - 3)]
    #[case::u32_max(u32::MAX)]
    #[case::last_partial_slot(250)]
    #[case::just_past_end(256)]
    fn slot_address_out_of_bounds(#[case] addr: u32) {
        let mem = vec![0; 256];
        let expected = ZbError::OutOfBounds { what: "slot", addr: addr.into(), len: 16, mem_len: 256 };
        assert_eq!(read_slot(&mem, addr), Err(expected.clone()));
        assert_eq!(read_value(&mem, addr), Err(expected.clone()));
        assert_eq!(read_string(&mem, addr), Err(expected.clone()));
        assert_eq!(read_i32(&mem, addr), Err(expected.clone()));
        assert_eq!(read_bytes_or_string(&mem, addr), Err(expected.clone()));
        assert_eq!(expected.rule(), "response.pointer");
    }

    #[test]
    fn last_slot_that_fits_is_read() {
        let mut mem = vec![0; 256];
        mem[240] = 2;
        mem[244..248].copy_from_slice(&200i32.to_le_bytes());
        mem[248..256].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(read_slot(&mem, 240), Ok(RawSlot { tag: 2, a: 200, b: u64::MAX }));
        assert_eq!(read_i32(&mem, 240), Ok(200));
    }

    #[test]
    fn cyclic_array_is_too_deep() {
        // The slot at 0 is an array whose only element (at 0x2c) is an array with the same
        // handle, so the structure is infinitely deep. The memory is large enough that the
        // value budget (one per 16 bytes) is not what stops it.
        let mut mem =
            hand_memory(&[(0, "05 000000 20000000"), (0x20, "24000000 01000000 01000000 05 000000 20000000")]);
        mem.resize(4096, 0);
        assert_eq!(read_value(&mem, 0), Err(ZbError::TooDeep { addr: 0x2c, limit: MAX_DEPTH }));
    }

    #[test]
    fn nesting_at_the_limit_is_accepted_and_one_more_is_not() {
        let mut value = Value::I32(1);
        for _ in 0..MAX_DEPTH {
            value = Value::Array(vec![value]);
        }
        let block = encode_one(0, &value);
        assert_eq!(read_value(&block, 0).unwrap(), value);
        let deeper = Value::Array(vec![value]);
        let block = encode_one(0, &deeper);
        assert!(matches!(read_value(&block, 0), Err(ZbError::TooDeep { limit: MAX_DEPTH, .. })));
    }

    #[test]
    fn shared_containers_hit_the_value_budget() {
        // Level k (k = 1..=60) is an array of two elements that both point at level k - 1's
        // handle, and level 0 is an i32. The nesting stays under MAX_DEPTH, but unfolding it
        // would produce 2^61 values; the budget of 4096 / 16 = 256 values stops it early.
        // Level k's handle is at 64 * k; its store follows at 64 * k + 4 (cap 2, len 2), with
        // element slots at 64 * k + 12 and 64 * k + 28.
        let mut mem = vec![0u8; 4096];
        let put = |mem: &mut Vec<u8>, at: usize, value: u32| {
            mem[at..at + 4].copy_from_slice(&value.to_le_bytes());
        };
        mem[0] = Tag::I32 as u8;
        for k in 1..=60usize {
            let handle = 64 * k;
            put(&mut mem, handle, handle as u32 + 4);
            put(&mut mem, handle + 4, 2);
            put(&mut mem, handle + 8, 2);
            for element in [handle + 12, handle + 28] {
                if k == 1 {
                    mem[element] = Tag::I32 as u8;
                } else {
                    mem[element] = Tag::Array as u8;
                    put(&mut mem, element + 4, (64 * (k - 1)) as u32);
                }
            }
        }
        // The top-level slot at 64 * 61 points at level 60.
        let top = 64 * 61;
        mem[top] = Tag::Array as u8;
        put(&mut mem, top + 4, 64 * 60);
        assert_eq!(read_value(&mem, top as u32), Err(ZbError::TooManyValues { limit: 256 }));
        // Level 2 alone is small enough: [[1, 1], [1, 1]] with the i32s all zero-valued.
        let level2 = 64 * 62;
        mem[level2] = Tag::Array as u8;
        put(&mut mem, level2 + 4, 64 * 2);
        let pair = Value::Array(vec![Value::I32(0), Value::I32(0)]);
        assert_eq!(read_value(&mem, level2 as u32), Ok(Value::Array(vec![pair.clone(), pair])));
    }

    #[test]
    fn helpers_read_and_check_tags() {
        let mut encoder = Encoder::new(0, 4).unwrap();
        encoder.set(0, &Value::I32(404)).unwrap();
        encoder.set(1, &Value::String("text/plain")).unwrap();
        encoder.set(2, &Value::Bytes(&[0xff, 0])).unwrap();
        encoder.set(3, &Value::Bool(true)).unwrap();
        let mem = encoder.finish();
        assert_eq!(read_i32(&mem, 0), Ok(404));
        assert_eq!(read_string(&mem, 16), Ok("text/plain"));
        assert_eq!(read_bytes_or_string(&mem, 16), Ok((Tag::String, &b"text/plain"[..])));
        assert_eq!(read_bytes_or_string(&mem, 32), Ok((Tag::Bytes, &[0xff, 0][..])));
        assert_eq!(read_string(&mem, 0), Err(ZbError::WrongTag { addr: 0, expected: "string", found: 2 }));
        assert_eq!(read_i32(&mem, 16), Err(ZbError::WrongTag { addr: 16, expected: "i32", found: 4 }));
        assert_eq!(
            read_bytes_or_string(&mem, 48),
            Err(ZbError::WrongTag { addr: 48, expected: "string or bytes", found: 1 })
        );
        assert_eq!(read_string(&mem, 32), Err(ZbError::WrongTag { addr: 32, expected: "string", found: 8 }));
    }

    #[test]
    fn helpers_report_unknown_tags_and_bad_utf8() {
        let mem = hand_memory(&[(0, "0c"), (16, "04 000000 40000000"), (0x40, "02000000 fffe")]);
        assert_eq!(read_i32(&mem, 0), Err(ZbError::UnknownTag { addr: 0, tag: 12 }));
        assert_eq!(read_string(&mem, 0), Err(ZbError::UnknownTag { addr: 0, tag: 12 }));
        let bad = ZbError::InvalidUtf8 { addr: 0x44, valid_up_to: 0 };
        assert_eq!(read_string(&mem, 16), Err(bad.clone()));
        assert_eq!(read_bytes_or_string(&mem, 16), Err(bad.clone()));
        assert_eq!(bad.rule(), "response.utf8");
    }

    #[rstest]
    #[case(ZbError::OutOfBounds { what: "string data", addr: 0, len: 1, mem_len: 0 }, "response.bounds")]
    #[case(ZbError::OutOfBounds { what: "slot", addr: 0, len: 16, mem_len: 0 }, "response.pointer")]
    #[case(ZbError::InvalidUtf8 { addr: 0, valid_up_to: 0 }, "response.utf8")]
    #[case(ZbError::WrongTag { addr: 0, expected: "i32", found: 4 }, "zerobuf.tag")]
    #[case(ZbError::UnknownTag { addr: 0, tag: 9 }, "zerobuf.tag")]
    #[case(ZbError::InvalidBool { addr: 0, value: 2 }, "zerobuf.tag")]
    #[case(ZbError::TooDeep { addr: 0, limit: MAX_DEPTH }, "zerobuf.shape")]
    #[case(ZbError::LenExceedsCap { what: "array", addr: 0, len: 2, cap: 1 }, "zerobuf.shape")]
    fn errors_map_to_rules(#[case] error: ZbError, #[case] rule: &str) {
        assert_eq!(error.rule(), rule);
    }

    #[test]
    fn error_messages_name_the_details() {
        let error = ZbError::OutOfBounds { what: "string data", addr: 0x24, len: 256, mem_len: 64 };
        assert_eq!(error.to_string(), "string data of 256 bytes at 0x24 lies outside memory (64 bytes)");
        let error = ZbError::WrongTag { addr: 0x10, expected: "string", found: 2 };
        assert_eq!(error.to_string(), "slot at 0x10 has tag 2 (i32), expected string");
    }
}
