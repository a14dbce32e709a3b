//! Fuzz target `response`: `host::read_response` over an arbitrary memory image, base address and
//! headers flag (input layout in `src/lib.rs`).
//!
//! The response reader is where guest-controlled bytes enter the host, so it must never panic,
//! must name a `response.*` rule for every failure, and must accept only what ABI.md §5 allows.
//! Besides those properties, every success is checked against the zerobuf readers, so the reader
//! cannot accept a response that differs from the slots the guest wrote.

#![no_main]

use host::zerobuf::{self, SLOT_SIZE};
use host::{Body, Rule};
use host_fuzz::{ResponseInput, slot_addr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(input) = ResponseInput::parse(data) {
        check(input);
    }
});

fn check(ResponseInput { base, headers, memory }: ResponseInput<'_>) {
    let slots = if headers { 4 } else { 3 };
    let fits = u64::from(base) + u64::from(slots * SLOT_SIZE) <= memory.len() as u64;
    let response = match host::read_response(memory, base, headers) {
        Err(violation) => {
            assert!(violation.rule.id().starts_with("response."), "a non-response rule: {violation}");
            assert!(Rule::ALL.contains(&violation.rule));
            // The pointer rule is for slots outside memory, and only for them.
            assert_eq!(violation.rule == Rule::ResponsePointer, !fits, "{violation}");
            return;
        }
        Ok(response) => response,
    };
    assert!(fits, "a response whose slots lie outside memory was accepted");
    assert!((100..=599).contains(&response.status), "status {} was accepted", response.status);
    let slot = |index| slot_addr(base, index);
    assert_eq!(zerobuf::read_slot(memory, slot(0)).map(|s| s.a as i32), Ok(i32::from(response.status)));
    assert_eq!(zerobuf::read_string(memory, slot(1)), Ok(&*response.content_type));
    match &response.body {
        Body::Text(text) => {
            assert!(std::str::from_utf8(text.as_bytes()).is_ok());
            assert_eq!(zerobuf::read_string(memory, slot(2)), Ok(&**text));
        }
        Body::Bytes(bytes) => assert_eq!(zerobuf::read_bytes(memory, slot(2)), Ok(&**bytes)),
    }
    if !headers {
        // Slot 3 is never read from a guest that does not declare the feature.
        assert!(response.headers.is_empty());
    } else if memory[slot(3) as usize] == zerobuf::Tag::Null as u8 {
        assert!(response.headers.is_empty());
    } else {
        // Accepted header text is exactly its lines written back, so no malformed line (an empty
        // one, one without ": ", one without its final newline) slipped through.
        for (name, value) in &response.headers {
            assert!(!name.is_empty() && !name.contains([':', ' ', '\n', '\r']), "header name {name:?}");
            assert!(!value.contains(['\n', '\r']), "header value {value:?}");
        }
        let written: String = response.headers.iter().map(|(name, value)| format!("{name}: {value}\n")).collect();
        assert_eq!(zerobuf::read_string(memory, slot(3)), Ok(written.as_str()), "header text was not read losslessly");
    }
    assert!(response.stdout.is_empty() && response.stderr.is_empty());
}
