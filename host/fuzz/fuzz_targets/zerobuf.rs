//! Fuzz target `zerobuf`: `read_slot`, `read_string` and `read_bytes` over an arbitrary memory
//! image and slot address (input layout in `src/lib.rs`).
//!
//! These readers are the only code that turns guest pointers into host slices, so besides never
//! panicking, every slice they return must lie inside the image (checked with pointer ranges,
//! not with the readers' own arithmetic) and be exactly the `[len][data]` payload the slot points
//! to, as worked out here independently with `slice::get`.

#![no_main]

use std::ops::Range;

use host::zerobuf::{self, Tag};
use host_fuzz::SlotInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(input) = SlotInput::parse(data) {
        check(input);
    }
});

/// The payload of the slot at `addr` with tag `tag`, by the layout of ABI.md §1 and nothing else.
fn expected(memory: &[u8], addr: u32, tag: Tag) -> Option<&[u8]> {
    let slot = memory.get(addr as usize..)?.get(..16)?;
    if slot[0] != tag as u8 {
        return None;
    }
    let at = u32::from_le_bytes(slot[4..8].try_into().ok()?) as usize;
    let len = u32::from_le_bytes(memory.get(at..)?.get(..4)?.try_into().ok()?) as usize;
    memory.get(at + 4..)?.get(..len)
}

fn check(SlotInput { addr, memory }: SlotInput<'_>) {
    let image = memory.as_ptr_range();
    let inside = |range: &Range<*const u8>| image.start <= range.start && range.end <= image.end;

    let slot = zerobuf::read_slot(memory, addr);
    let raw = memory.get(addr as usize..).and_then(|rest| rest.get(..16));
    assert_eq!(slot.is_ok(), raw.is_some(), "read_slot at {addr:#x} of {} bytes: {slot:?}", memory.len());
    if let (Ok(slot), Some(raw)) = (slot, raw) {
        assert_eq!(slot.tag, raw[0]);
        assert_eq!(slot.a.to_le_bytes(), raw[4..8]);
        assert_eq!(slot.b.to_le_bytes(), raw[8..16]);
    }

    let string = zerobuf::read_string(memory, addr).map(|text| text.as_bytes().as_ptr_range());
    let want = expected(memory, addr, Tag::String).filter(|bytes| std::str::from_utf8(bytes).is_ok());
    if let Ok(range) = &string {
        assert!(inside(range), "read_string returned {range:?} outside the image {image:?}");
    }
    assert_eq!(string.as_ref().ok(), want.map(|bytes| bytes.as_ptr_range()).as_ref(), "read_string: {string:?}");

    let bytes = zerobuf::read_bytes(memory, addr).map(|bytes| bytes.as_ptr_range());
    if let Ok(range) = &bytes {
        assert!(inside(range), "read_bytes returned {range:?} outside the image {image:?}");
    }
    let want = expected(memory, addr, Tag::Bytes).map(|bytes| bytes.as_ptr_range());
    assert_eq!(bytes.as_ref().ok(), want.as_ref(), "read_bytes: {bytes:?}");
}
