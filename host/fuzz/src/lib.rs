//! The input formats of the fuzz targets, and the valid memory images their seeds are made of.
//!
//! The targets split their input bytes themselves rather than through `arbitrary`: a fixed,
//! documented layout lets `examples/seeds.rs` write seeds that start out as valid responses, and
//! lets a person read a crash file with `xxd`. Every input starts with a 32-bit little-endian
//! guest address; the `response` target then takes one flags byte (bit 0: the guest declares the
//! response-headers feature). The rest of the input is the memory image, addressed from 0 like a
//! wasm32 linear memory.

use host::zerobuf::{Encoder, SLOT_SIZE, Value};

/// What the `response` target reads: `[base: u32 LE][flags: u8][memory...]`.
#[derive(Clone, Copy, Debug)]
pub struct ResponseInput<'a> {
    /// The address `handle_zerobuf` returned.
    pub base: u32,
    /// Whether the guest declares response headers, so the host reads a fourth slot.
    pub headers: bool,
    /// The guest's memory.
    pub memory: &'a [u8],
}

impl<'a> ResponseInput<'a> {
    /// Splits fuzzer input; inputs shorter than the five-byte prefix are skipped.
    pub fn parse(data: &'a [u8]) -> Option<ResponseInput<'a>> {
        let (base, rest) = data.split_first_chunk::<4>()?;
        let (flags, memory) = rest.split_first()?;
        Some(ResponseInput { base: u32::from_le_bytes(*base), headers: flags & 1 == 1, memory })
    }

    /// The fuzzer input that [`ResponseInput::parse`] turns back into this one.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.base.to_le_bytes().to_vec();
        bytes.push(u8::from(self.headers));
        bytes.extend_from_slice(self.memory);
        bytes
    }
}

/// What the `zerobuf` target reads: `[slot address: u32 LE][memory...]`.
#[derive(Clone, Copy, Debug)]
pub struct SlotInput<'a> {
    /// The address of the slot to read.
    pub addr: u32,
    /// The guest's memory.
    pub memory: &'a [u8],
}

impl<'a> SlotInput<'a> {
    /// Splits fuzzer input; inputs shorter than the four-byte prefix are skipped.
    pub fn parse(data: &'a [u8]) -> Option<SlotInput<'a>> {
        let (addr, memory) = data.split_first_chunk::<4>()?;
        Some(SlotInput { addr: u32::from_le_bytes(*addr), memory })
    }

    /// The fuzzer input that [`SlotInput::parse`] turns back into this one.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.addr.to_le_bytes().to_vec();
        bytes.extend_from_slice(self.memory);
        bytes
    }
}

/// A response as a guest would lay it out, for seeds.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// Slot 0.
    pub status: i32,
    /// Slot 1.
    pub content_type: &'a str,
    /// Slot 2, a string or bytes value.
    pub body: Value<'a>,
    /// Slot 3 when `Some`: null or a string of header lines.
    pub headers: Option<Value<'a>>,
}

impl Sample<'_> {
    /// A memory image with this response at `base`, its payloads after the slots and a few
    /// spare zero bytes at the end, laid out by the host's own encoder exactly as a guest's
    /// `writeResponse` would.
    pub fn image(&self, base: u32) -> Vec<u8> {
        let slots = if self.headers.is_some() { 4 } else { 3 };
        let mut encoder = Encoder::new(base, slots).expect("a small base fits the address space");
        let mut values = vec![Value::I32(self.status), Value::String(self.content_type), self.body];
        values.extend(self.headers);
        for (index, value) in (0..).zip(values) {
            encoder.set(index, value).expect("the index is below the slot count");
        }
        let mut memory = vec![0; base as usize];
        memory.extend(encoder.finish());
        memory.extend([0; 8]);
        memory
    }
}

/// The guest address of slot `index` of a block at `base`.
pub fn slot_addr(base: u32, index: u32) -> u32 {
    base + index * SLOT_SIZE
}
