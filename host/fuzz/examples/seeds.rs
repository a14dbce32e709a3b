//! Writes the committed seed corpus, `seeds/response/` and `seeds/zerobuf/`, from valid responses.
//!
//! Each seed is a response the reference app really sends (ABI.md §9), laid out by the host's
//! encoder, so libFuzzer starts from inputs that pass every check and mutates its way into each
//! rule from there. Run it from `host/fuzz` with `cargo run --example seeds` after changing the
//! input format in `src/lib.rs`; the files it writes are committed.

use std::fs;
use std::path::Path;

use host::zerobuf::Value;
use host_fuzz::{ResponseInput, Sample, SlotInput, slot_addr};

/// The `/utf8` text of the reference app.
const UTF8: &str = "Hello, world! Grüß Gott! Привет, мир! Γειά σου κόσμε! مرحبا بالعالم! שלום עולם! \
                    नमस्ते दुनिया! こんにちは世界! 你好，世界! 안녕하세요 세계! 🌍🚀✨";

fn main() -> std::io::Result<()> {
    let bytes: Vec<u8> = (0..64u32).map(|i| (i % 251) as u8).collect();
    let samples = [
        (
            "hello",
            Sample {
                status: 200,
                content_type: "text/plain",
                body: Value::String("Hello from GoMode!"),
                headers: None,
            },
        ),
        (
            "not-found",
            Sample { status: 404, content_type: "text/plain", body: Value::String("not found: /x"), headers: None },
        ),
        (
            "utf8",
            Sample { status: 200, content_type: "text/plain; charset=utf-8", body: Value::String(UTF8), headers: None },
        ),
        (
            "bytes",
            Sample { status: 200, content_type: "application/octet-stream", body: Value::Bytes(&bytes), headers: None },
        ),
        ("empty-body", Sample { status: 599, content_type: "", body: Value::Bytes(&[]), headers: None }),
        (
            "null-headers",
            Sample { status: 100, content_type: "text/plain", body: Value::String("ok"), headers: Some(Value::Null) },
        ),
        // Header text with no lines at all, which is valid and differs from a null slot 3.
        (
            "empty-headers",
            Sample { status: 204, content_type: "", body: Value::Bytes(&[]), headers: Some(Value::String("")) },
        ),
        (
            "headers",
            Sample {
                status: 200,
                content_type: "text/plain",
                body: Value::String("headers set"),
                headers: Some(Value::String("cache-control: no-store\nx-gomode-abi: 1\n")),
            },
        ),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for target in ["response", "zerobuf"] {
        fs::create_dir_all(root.join(target))?;
    }
    for (name, sample) in samples {
        // A base that is not 0 makes the slot addresses differ from file offsets of the image.
        let base = 16;
        let memory = sample.image(base);
        let headers = sample.headers.is_some();
        fs::write(root.join("response").join(name), ResponseInput { base, headers, memory: &memory }.to_bytes())?;
        // The zerobuf seeds point at the content type (a string) and the body (string or bytes).
        for (index, part) in [(1, "content-type"), (2, "body")] {
            let input = SlotInput { addr: slot_addr(base, index), memory: &memory };
            fs::write(root.join("zerobuf").join(format!("{name}-{part}")), input.to_bytes())?;
        }
    }
    Ok(())
}
