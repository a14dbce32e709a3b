//! Fuzz target `gomode_response`: `host::read_gomode_response`, GoMode's way of reading a
//! response, over an arbitrary memory image and base address (input layout in `src/lib.rs`; the
//! headers flag chooses between a guest that exports no `gomode_abi_features` and one that
//! declares none).
//!
//! It must never panic, must name a `response.*` rule or `gomode.headers` for every failure, and
//! must accept only what ABI.md §11 says GoMode's Worker serves: a status in 200..=599, the raw
//! body bytes (none for a null-body status), and header lines that the Fetch `Headers` object
//! takes, with `content-type` skipped.

#![no_main]

use host::zerobuf::{self, SLOT_SIZE};
use host::{Rule, read_gomode_response};
use host_fuzz::{ResponseInput, slot_addr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(input) = ResponseInput::parse(data) {
        check(input);
    }
});

fn check(ResponseInput { base, headers, memory }: ResponseInput<'_>) {
    let features = if headers { None } else { Some(0) };
    let fits = u64::from(base) + u64::from(3 * SLOT_SIZE) <= memory.len() as u64;
    let response = match read_gomode_response(memory, base, features) {
        Err(violation) => {
            let rule = violation.rule;
            assert!(rule.id().starts_with("response.") || rule == Rule::GomodeHeaders, "{violation}");
            assert_eq!(rule == Rule::ResponsePointer, !fits, "{violation}");
            return;
        }
        Ok(None) => {
            assert_eq!(zerobuf::read_slot(memory, slot_addr(base, 0)).map(|s| s.a as i32), Ok(-1));
            return;
        }
        Ok(Some(response)) => response,
    };
    assert!(fits, "a response whose slots lie outside memory was accepted");
    assert!((200..=599).contains(&response.status), "status {} was accepted", response.status);
    let raw = zerobuf::read_payload(memory, slot_addr(base, 2)).expect("an accepted body lies in memory");
    let expected: &[u8] = if matches!(response.status, 204 | 205 | 304) { &[] } else { raw };
    assert_eq!(response.body.as_bytes(), expected, "the body is not the guest's bytes");
    assert_eq!(response.content_type, response.content_type.trim(), "the content type was not trimmed");
    for (name, value) in &response.headers {
        assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':'), "name {name:?}");
        assert_eq!(name, &name.to_ascii_lowercase());
        assert_ne!(name, "content-type");
        assert!(!value.contains(['\0', '\n', '\r']) && value.trim() == value, "value {value:?}");
    }
    if features == Some(0) {
        assert!(response.headers.is_empty(), "a guest that declares no headers had headers served");
    }
}
