//! The host's Rust binding of the zerobuf slot layout: the slots it reads and writes.
//!
//! The host and a guest exchange requests and responses as zerobuf values in the guest's
//! linear memory. This module reads slots and their payloads out of a memory snapshot (a byte
//! slice, addressed by u32 offsets exactly like wasm32 pointers) and lays values out into a byte
//! block that the host copies into guest memory at a known base address.
//!
//! Every value starts with a 16-byte little-endian slot: the tag at offset 0, three bytes of
//! padding, payload A (u32) at offset 4 and payload B (u64) at offset 8. Strings and bytes point
//! (A) at a `[len u32][len bytes]` header. The host never sends or reads arrays or objects
//! (tags 5 and 6), so it only names them.
//!
//! The reader treats the memory as hostile: every access is bounds-checked with 64-bit
//! arithmetic, so no input can make it panic or read outside the slice.

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;

/// The size of one value slot in bytes.
pub const SLOT_SIZE: u32 = 16;

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

/// A value the host writes into a slot: a scalar, or a string or bytes with its payload.
#[derive(Clone, Copy, Debug, PartialEq)]
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
            Value::BigInt(_) => Tag::BigInt,
            Value::Bytes(_) => Tag::Bytes,
        }
    }
}

/// Why a slot or its payload could not be read from memory.
///
/// Addresses are the guest addresses of the offending item, so a message can point at it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ZbError {
    /// A read of `len` bytes at `addr` does not fit in a memory of `mem_len` bytes.
    ///
    /// `what` names the item: `slot`, `string header`, `string data`, `bytes header` or
    /// `bytes data`.
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
        /// The tag name the caller accepts.
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
}

fn tag_name(byte: u8) -> &'static str {
    Tag::from_u8(byte).map_or("unknown", Tag::name)
}

/// Returns `len` bytes at `addr`, or an out-of-bounds error naming `what`.
fn bytes_at<'m>(mem: &'m [u8], what: &'static str, addr: u64, len: u64) -> Result<&'m [u8], ZbError> {
    let out_of_bounds = || ZbError::OutOfBounds { what, addr, len, mem_len: mem.len() };
    let end = addr.checked_add(len).ok_or_else(out_of_bounds)?;
    let start = usize::try_from(addr).map_err(|_| out_of_bounds())?;
    let end = usize::try_from(end).map_err(|_| out_of_bounds())?;
    mem.get(start..end).ok_or_else(out_of_bounds)
}

/// Reads the raw slot at `addr` without interpreting its tag.
pub fn read_slot(mem: &[u8], addr: u32) -> Result<RawSlot, ZbError> {
    let bytes = bytes_at(mem, "slot", u64::from(addr), u64::from(SLOT_SIZE))?;
    let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Ok(RawSlot { tag: bytes[0], a: word(4), b: u64::from(word(8)) | u64::from(word(12)) << 32 })
}

/// Reads the `[len u32][len bytes]` payload of the slot at `slot_addr`, which must have tag
/// `tag` (string or bytes); returns the data's address and the data.
fn payload(mem: &[u8], slot_addr: u32, tag: Tag) -> Result<(u64, &[u8]), ZbError> {
    let slot = read_slot(mem, slot_addr)?;
    if slot.tag != tag as u8 {
        return Err(match Tag::from_u8(slot.tag) {
            Some(_) => ZbError::WrongTag { addr: slot_addr, expected: tag.name(), found: slot.tag },
            None => ZbError::UnknownTag { addr: slot_addr, tag: slot.tag },
        });
    }
    let (header, data) = match tag {
        Tag::String => ("string header", "string data"),
        _ => ("bytes header", "bytes data"),
    };
    let len = bytes_at(mem, header, u64::from(slot.a), 4)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
    let addr = u64::from(slot.a) + 4;
    Ok((addr, bytes_at(mem, data, addr, u64::from(len))?))
}

/// Reads the string that the slot at `slot_addr` points to; the slot must have tag string and
/// the data must be UTF-8.
pub fn read_string(mem: &[u8], slot_addr: u32) -> Result<&str, ZbError> {
    let (addr, bytes) = payload(mem, slot_addr, Tag::String)?;
    utf8(bytes).map_err(|error| ZbError::InvalidUtf8 {
        // Invalid data is not empty and passed a bounds check, so its address fits in u32.
        addr: u32::try_from(addr).unwrap_or(u32::MAX),
        valid_up_to: error.valid_up_to(),
    })
}

/// Reads the bytes that the slot at `slot_addr` points to; the slot must have tag bytes.
pub fn read_bytes(mem: &[u8], slot_addr: u32) -> Result<&[u8], ZbError> {
    Ok(payload(mem, slot_addr, Tag::Bytes)?.1)
}

/// Reads the `[len u32][len bytes]` payload that payload A of the slot at `slot_addr` points
/// to, whatever the slot's tag, as GoMode's Worker reads the content type and the body.
pub fn read_payload(mem: &[u8], slot_addr: u32) -> Result<&[u8], ZbError> {
    payload_at(mem, read_slot(mem, slot_addr)?.a)
}

/// Reads the `[len u32][len bytes]` payload at `addr`, a slot's payload A.
pub(crate) fn payload_at(mem: &[u8], addr: u32) -> Result<&[u8], ZbError> {
    let len = bytes_at(mem, "string header", u64::from(addr), 4)?;
    let len = u32::from_le_bytes(len.try_into().expect("four bytes"));
    bytes_at(mem, "string data", u64::from(addr) + 4, u64::from(len))
}

/// `bytes` as UTF-8 text, as [`std::str::from_utf8`] reads it, with a fast path for ASCII: the
/// standard validator walks a short text byte by byte, and a content type or a small body, read
/// on every call, is short and most often ASCII, which is checked a word at a time.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes)
    }
}

/// `bytes` as UTF-8, with invalid sequences replaced by U+FFFD, exactly as
/// [`String::from_utf8_lossy`], but through the fast validator first: lossy decoding walks the
/// bytes one by one even when they are all valid, which is the common case.
pub(crate) fn utf8_lossy(bytes: &[u8]) -> Cow<'_, str> {
    match utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
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
}

/// The exclusive upper bound of wasm32 addresses.
pub(crate) const ADDRESS_SPACE: u64 = 1 << 32;

/// Rounds `addr` up to a multiple of 4.
fn align4(addr: u64) -> u64 {
    (addr + 3) & !3
}

/// Lays out a block of value slots followed by the data they point to.
///
/// The block starts at guest address `base` with `slots` consecutive 16-byte slots, all null
/// at first. [`Encoder::set`] writes a value into a slot and appends the `[len][bytes]` header
/// of a string or bytes after everything written before; as in the JS glue, each header is
/// padded with zeros to a multiple of 4 bytes, so every header starts 4-byte aligned when
/// `base` is. The result of [`Encoder::finish`] is copied into guest memory at `base` as it is.
/// The layout depends only on `base`, `slots` and the sequence of `set` calls.
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
    /// On error nothing changes.
    pub fn set(&mut self, index: u32, value: Value<'_>) -> Result<(), EncodeError> {
        if index >= self.slots {
            return Err(EncodeError::SlotIndex { index, slots: self.slots });
        }
        let (mut a, mut b) = (0u32, 0u64);
        match value {
            Value::Null => {}
            Value::Bool(flag) => a = u32::from(flag),
            Value::I32(number) => a = number as u32,
            Value::F64(number) => b = number.to_bits(),
            Value::BigInt(number) => b = number as u64,
            Value::String(text) => a = self.put_len_prefixed(text.as_bytes())?,
            Value::Bytes(bytes) => a = self.put_len_prefixed(bytes)?,
        }
        let offset = index as usize * SLOT_SIZE as usize;
        let slot = &mut self.buf[offset..offset + SLOT_SIZE as usize];
        slot.fill(0);
        slot[0] = value.tag() as u8;
        slot[4..8].copy_from_slice(&a.to_le_bytes());
        slot[8..16].copy_from_slice(&b.to_le_bytes());
        Ok(())
    }

    /// Returns the block, ready to be copied into guest memory at `base`.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// Appends a `[len u32][bytes]` header at the next 4-byte aligned address, padded to a
    /// multiple of 4, and returns its address.
    fn put_len_prefixed(&mut self, bytes: &[u8]) -> Result<u32, EncodeError> {
        let start = align4(u64::from(self.base) + self.buf.len() as u64);
        let end = align4(start.saturating_add(4).saturating_add(bytes.len() as u64));
        if end > ADDRESS_SPACE {
            return Err(EncodeError::AddressSpace { end });
        }
        let offset = (start - u64::from(self.base)) as usize;
        self.buf.resize((end - u64::from(self.base)) as usize, 0);
        // `end` fits in the address space, so the length fits in u32.
        self.buf[offset..offset + 4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.buf[offset + 4..offset + 4 + bytes.len()].copy_from_slice(bytes);
        Ok(start as u32)
    }
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
    fn encode_one(base: u32, value: Value<'_>) -> Vec<u8> {
        let mut encoder = Encoder::new(base, 1).unwrap();
        encoder.set(0, value).unwrap();
        encoder.finish()
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
    #[case::bytes(Value::Bytes(&[1, 2, 3]), "08 000000 | 10100000 | 0000000000000000 || 03000000 010203 00")]
    fn golden_vectors(#[case] value: Value<'static>, #[case] expected: &str) {
        assert_eq!(encode_one(0x1000, value), hex(expected));
    }

    #[test]
    fn golden_two_strings_align_each_header() {
        // Two slots at 0x100 put the data at 0x120; "abc" takes 7 bytes and is padded to 8, so
        // the header of "d" starts at 0x128.
        let mut encoder = Encoder::new(0x100, 2).unwrap();
        encoder.set(0, Value::String("abc")).unwrap();
        encoder.set(1, Value::String("d")).unwrap();
        assert_eq!(encoder.len(), 0x30);
        let expected = hex("04 000000 | 20010000 | 0000000000000000
             04 000000 | 28010000 | 0000000000000000
             03000000 616263 00
             01000000 64 000000");
        assert_eq!(encoder.finish(), expected);
    }

    #[test]
    fn encoded_values_read_back() {
        let mut encoder = Encoder::new(0, 4).unwrap();
        encoder.set(0, Value::I32(404)).unwrap();
        encoder.set(1, Value::String("Grüß 🌍")).unwrap();
        encoder.set(2, Value::Bytes(&[0xff, 0])).unwrap();
        encoder.set(3, Value::F64(f64::from_bits(0x7ff8_0000_0000_1234))).unwrap();
        let mem = encoder.finish();
        assert_eq!(read_slot(&mem, 0).map(|s| (s.tag, s.a as i32)), Ok((2, 404)));
        assert_eq!(read_string(&mem, 16), Ok("Grüß 🌍"));
        assert_eq!(read_bytes(&mem, 32), Ok(&[0xff, 0][..]));
        assert_eq!(read_slot(&mem, 48).map(|s| s.b), Ok(0x7ff8_0000_0000_1234));
        assert_eq!(read_string(&mem, 0), Err(ZbError::WrongTag { addr: 0, expected: "string", found: 2 }));
        assert_eq!(read_bytes(&mem, 16), Err(ZbError::WrongTag { addr: 16, expected: "bytes", found: 4 }));
    }

    #[test]
    fn encoder_rejects_bad_index_and_address_space_overflow() {
        let mut encoder = Encoder::new(0, 2).unwrap();
        assert_eq!(encoder.set(2, Value::Null), Err(EncodeError::SlotIndex { index: 2, slots: 2 }));
        assert_eq!(Encoder::new(u32::MAX - 15, 2).unwrap_err(), EncodeError::AddressSpace { end: (1 << 32) + 16 });
        // One slot ending exactly at 4 GiB still fits, but no data does.
        let mut encoder = Encoder::new(u32::MAX - 15, 1).unwrap();
        encoder.set(0, Value::I32(1)).unwrap();
        assert_eq!(encoder.set(0, Value::String("")), Err(EncodeError::AddressSpace { end: (1 << 32) + 4 }));
        assert_eq!(encoder.len(), 16);
    }

    #[rstest]
    // The slot itself lies past the end.
    #[case::slot(&[(0, "")], 250, ZbError::OutOfBounds { what: "slot", addr: 250, len: 16, mem_len: 256 })]
    #[case::unknown_tag(&[(0, "0c")], 0, ZbError::UnknownTag { addr: 0, tag: 12 })]
    #[case::header(&[(0, "04 000000 feffffff")], 0, ZbError::OutOfBounds { what: "string header", addr: 0xffff_fffe, len: 4, mem_len: 256 })]
    #[case::data(&[(0, "04 000000 40000000"), (0x40, "ffffffff")], 0, ZbError::OutOfBounds { what: "string data", addr: 0x44, len: 0xffff_ffff, mem_len: 256 })]
    #[case::utf8(&[(0, "04 000000 40000000"), (0x40, "02000000 fffe")], 0, ZbError::InvalidUtf8 { addr: 0x44, valid_up_to: 0 })]
    fn string_errors_name_the_item(#[case] writes: &[(usize, &str)], #[case] at: u32, #[case] expected: ZbError) {
        let mut mem = vec![0; 256];
        for (offset, bytes) in writes {
            let bytes = hex(bytes);
            mem[*offset..*offset + bytes.len()].copy_from_slice(&bytes);
        }
        assert_eq!(read_string(&mem, at), Err(expected));
    }

    #[test]
    fn error_messages_name_the_details() {
        let error = ZbError::OutOfBounds { what: "string data", addr: 0x24, len: 256, mem_len: 64 };
        assert_eq!(error.to_string(), "string data of 256 bytes at 0x24 lies outside memory (64 bytes)");
        let error = ZbError::WrongTag { addr: 0x10, expected: "string", found: 2 };
        assert_eq!(error.to_string(), "slot at 0x10 has tag 2 (i32), expected string");
    }
}
