//! GoMode's two-phase outbound fetch (ABI.md §12): a guest answers status -1 with the request it
//! wants made, the host makes it, writes the result into a record through the guest's `malloc`,
//! and calls the handler again with the same request and the record in slots 4 and 5.
//!
//! This file is the pure part: reading the guest's -1 response into a [`FetchRequest`] (or the
//! rule it breaks), deciding what answers it ([`Upstream`]: the network, or a binding operation
//! such as `__KV_GET`), and laying the [`FetchResult`] out as the record. `instance.rs` runs the
//! loop, `net.rs` makes HTTP fetches and `kv.rs` answers the KV binding. Outbound network is off
//! unless the policy allows a host; a fetch elsewhere gets GoMode's synthetic 502, as a failed
//! `fetch` does there.

use std::fmt;

use crate::error::{Rule, Violation};
use crate::kv::Kv;
use crate::net::{Net, NetPolicy};
use crate::response::parse_gomode_header_lines;
use crate::zerobuf::{self, SLOT_SIZE, Tag};

/// The feature bit a guest sets in `gomode_abi_features` to ask for outbound fetch under `abi`.
pub const FEATURE_OUTBOUND_FETCH: i32 = 2;

/// What a guest asked for with status -1, parsed as GoMode's Worker parses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest {
    /// The method; `GET` when the guest left it empty. A method starting with `__` is a binding
    /// operation (`__KV_GET`, …), not HTTP.
    pub method: String,
    /// The URL (for a binding operation, the key), trimmed.
    pub url: String,
    /// The content type the guest gave, or empty.
    pub content_type: String,
    /// Header lines after the call index, in order, with the last of a repeated name winning.
    pub headers: Vec<(String, String)>,
    /// The body, sent only when non-empty and the method is not `GET` or `HEAD`.
    pub body: String,
    /// Which fetch of the handler this is (0 for the first); the replay carries it in slot 5.
    pub call_index: i32,
}

/// What a fetch gave the guest: all that GoMode keeps of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResult {
    /// The status.
    pub status: i32,
    /// The content type, or empty.
    pub content_type: String,
    /// The body as text; GoMode's `resp.text()` decodes it lossily, so binary bodies are changed.
    pub body: String,
}

/// Answers the fetches and binding operations of guests. [`Outbound`] is the real one.
pub trait Upstream: Send + Sync + fmt::Debug {
    /// Makes the HTTP request. A failure is GoMode's synthetic 502 with the error's text.
    fn fetch(&self, request: &FetchRequest) -> FetchResult;

    /// Runs a binding operation (a method starting with `__`); `None` when the host has no such
    /// binding configured.
    fn binding(&self, request: &FetchRequest) -> Option<FetchResult> {
        let _ = request;
        None
    }
}

/// The network under a [`NetPolicy`] and, when there is one, the KV binding. The default allows
/// no host and has no KV, as a host run without `--allow-net` and with `--no-kv`.
#[derive(Debug)]
pub struct Outbound {
    net: Net,
    kv: Option<Kv>,
}

impl Outbound {
    /// Fetches under `policy`, with `kv` as the KV binding.
    pub fn new(policy: NetPolicy, kv: Option<Kv>) -> Outbound {
        Outbound { net: Net::new(policy), kv }
    }

    /// The network policy.
    pub fn policy(&self) -> &NetPolicy {
        self.net.policy()
    }

    /// The KV store, if the binding is configured.
    pub fn kv(&self) -> Option<&Kv> {
        self.kv.as_ref()
    }
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound::new(NetPolicy::default(), None)
    }
}

impl Upstream for Outbound {
    fn fetch(&self, request: &FetchRequest) -> FetchResult {
        self.net.fetch(request)
    }

    fn binding(&self, request: &FetchRequest) -> Option<FetchResult> {
        self.kv.as_ref()?.operate(&request.method, &request.url, &request.body)
    }
}

/// Answers `request` as GoMode's Worker dispatches it: a binding operation when the method starts
/// with `__`, an HTTP fetch otherwise.
pub(crate) fn dispatch(upstream: &dyn Upstream, request: &FetchRequest) -> FetchResult {
    if !request.method.starts_with("__") {
        return upstream.fetch(request);
    }
    if let Some(result) = upstream.binding(request) {
        return result;
    }
    let text = |status, body: String| FetchResult { status, content_type: "text/plain;charset=UTF-8".into(), body };
    if matches!(request.method.as_str(), "__KV_GET" | "__KV_PUT" | "__KV_DELETE" | "__KV_LIST") {
        text(500, "KV binding not configured".into())
    } else {
        text(400, format!("unknown binding op: {}", request.method))
    }
}

/// Whether the response at `base` asks for a fetch: slot 0 is an i32 -1.
pub(crate) fn asks_for_fetch(memory: &[u8], base: u32) -> bool {
    zerobuf::read_slot(memory, base).is_ok_and(|slot| slot.tag == Tag::I32 as u8 && slot.a as i32 == -1)
}

/// Reads the fetch request of a response whose status is -1 (ABI.md §12). Slots 1 and 2 must be
/// strings holding a newline; slot 3, when it is a non-empty string, starts with the decimal call
/// index; the URL must not be empty.
pub(crate) fn read_request(memory: &[u8], base: u32) -> Result<FetchRequest, Violation> {
    let bad = |message: String| Violation::new(Rule::FetchRequest, message);
    let slot = |i: u32| base + i * SLOT_SIZE;
    let text = |i: u32, what: &str| -> Result<&str, Violation> {
        zerobuf::read_string(memory, slot(i)).map_err(|err| bad(format!("slot {i} ({what}): {err}")))
    };
    let (method, content_type) = text(1, "METHOD\\nCONTENT_TYPE")?
        .split_once('\n')
        .ok_or_else(|| bad("slot 1 must be `METHOD\\nCONTENT_TYPE`, but it has no newline".into()))?;
    let (url, body) = text(2, "URL\\nBODY")?
        .split_once('\n')
        .ok_or_else(|| bad("slot 2 must be `URL\\nBODY`, but it has no newline".into()))?;
    let url = url.trim();
    let method = match method.trim() {
        "" => "GET",
        method => method,
    };
    if url.is_empty() && !method.starts_with("__") {
        return Err(bad("slot 2 names an empty URL".into()));
    }
    let mut call_index = 0;
    let mut headers: Vec<(String, String)> = Vec::new();
    let slot3 = memory.get(slot(3) as usize).copied();
    if slot3 == Some(Tag::String as u8) {
        let text = text(3, "CALLINDEX and header lines")?;
        if !text.is_empty() {
            let mut lines = text.split('\n');
            let index = lines.next().unwrap_or_default().trim();
            call_index = index
                .parse()
                .map_err(|_| bad(format!("slot 3 must start with the decimal call index, not {index:?}")))?;
            let header_lines = text.split_once('\n').map_or("", |(_, rest)| rest);
            parse_gomode_header_lines(header_lines).map_err(|err| bad(format!("slot 3: {err}")))?;
            for line in lines {
                if let Some(at) = line.find(": ").filter(|&at| at > 0) {
                    let (name, value) = (line[..at].to_owned(), line[at + 2..].to_owned());
                    headers.retain(|(n, _)| *n != name);
                    headers.push((name, value));
                }
            }
        }
    }
    if !content_type.is_empty() && !headers.iter().any(|(n, _)| n == "Content-Type") {
        headers.insert(0, ("Content-Type".into(), content_type.to_owned()));
    }
    let sends_body = !body.is_empty() && method != "GET" && method != "HEAD";
    Ok(FetchRequest {
        method: method.to_owned(),
        url: url.to_owned(),
        content_type: content_type.to_owned(),
        headers,
        body: if sends_body { body.to_owned() } else { String::new() },
        call_index,
    })
}

/// The size of the record of `result`: three slots, then the content type and the body, each a
/// `[u32 len][bytes]` payload starting 4-byte aligned, plus GoMode's 4 spare bytes after each.
pub(crate) fn record_len(result: &FetchResult) -> u32 {
    let (c, d) = (result.content_type.len() as u32, result.body.len() as u32);
    48 + 4 + c + 4 + 4 + d + 4
}

/// Lays out the record of `result` at guest address `at` (ABI.md §12): slot 0 the status,
/// slot 1 the content type, slot 2 the body. Returns the bytes to write at `at`.
pub(crate) fn record(result: &FetchResult, at: u32) -> Vec<u8> {
    let mut bytes = vec![0u8; record_len(result) as usize];
    let mut put = |offset: usize, value: &[u8]| bytes[offset..offset + value.len()].copy_from_slice(value);
    put(0, &[Tag::I32 as u8]);
    put(4, &result.status.to_le_bytes());
    let content = 48usize;
    // GoMode aligns the body's absolute address, `(ptr + 48 + 4 + C + 3) & ~3`, not its offset.
    let body = (at as usize + content + 4 + result.content_type.len()).next_multiple_of(4) - at as usize;
    for (slot, offset, text) in [(1usize, content, &result.content_type), (2, body, &result.body)] {
        put(slot * 16, &[Tag::String as u8]);
        put(slot * 16 + 4, &(at + offset as u32).to_le_bytes());
        put(offset, &(text.len() as u32).to_le_bytes());
        put(offset + 4, text.as_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zerobuf::{Encoder, Value};

    /// A -1 response at 0 with the three strings, in a memory of 512 bytes.
    fn response(method: &str, url: &str, index: Option<&str>) -> Vec<u8> {
        let mut encoder = Encoder::new(0, 4).unwrap();
        encoder.set(0, Value::I32(-1)).unwrap();
        encoder.set(1, Value::String(method)).unwrap();
        encoder.set(2, Value::String(url)).unwrap();
        if let Some(index) = index {
            encoder.set(3, Value::String(index)).unwrap();
        }
        let mut memory = encoder.finish();
        memory.resize(512, 0);
        memory
    }

    #[test]
    fn reads_a_request_as_gomode_does() {
        let memory = response(
            "POST\napplication/json",
            " https://api.example/x \n{\"a\":1}",
            Some("1\nAuthorization: Bearer t\nX: 1\nX: 2\n"),
        );
        let request = read_request(&memory, 0).unwrap();
        assert_eq!(
            (request.method.as_str(), request.url.as_str(), request.body.as_str()),
            ("POST", "https://api.example/x", "{\"a\":1}")
        );
        assert_eq!(request.call_index, 1);
        assert_eq!(
            request.headers,
            [
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("Authorization".into(), "Bearer t".into()),
                ("X".into(), "2".into())
            ]
        );
        // An empty method is GET, and a GET sends no body.
        let get = read_request(&response("\n", "http://a/\nignored", None), 0).unwrap();
        assert_eq!((get.method.as_str(), get.body.as_str(), get.call_index), ("GET", "", 0));
    }

    #[test]
    fn a_malformed_request_names_the_rule() {
        for memory in [
            response("GET", "http://a/\n", None),
            response("GET\n", "http://a/", None),
            response("GET\n", " \n", None),
            response("GET\n", "http://a/\n", Some("one")),
        ] {
            assert_eq!(read_request(&memory, 0).unwrap_err().rule, Rule::FetchRequest);
        }
    }

    #[test]
    fn the_record_has_gomodes_layout() {
        // GoMode's measured record for an upstream 201 `text/x-test` `hello-fetch`, at 0x220a0.
        let result = FetchResult { status: 201, content_type: "text/x-test".into(), body: "hello-fetch".into() };
        assert_eq!(record_len(&result), 86);
        let bytes = record(&result, 0x220a0);
        assert_eq!(bytes[..8], [2, 0, 0, 0, 201, 0, 0, 0]);
        assert_eq!(bytes[16..24], [4, 0, 0, 0, 0xd0, 0x20, 0x02, 0]);
        assert_eq!(bytes[32..40], [4, 0, 0, 0, 0xe0, 0x20, 0x02, 0]);
        assert_eq!(&bytes[48..63], b"\x0b\0\0\0text/x-test");
        assert_eq!(&bytes[64..79], b"\x0b\0\0\0hello-fetch");
        // At an address that is not 4-aligned, the body's address is aligned, not its offset.
        let bytes = record(&result, 0x220a1);
        assert_eq!(bytes[36..40], [0xe0, 0x20, 0x02, 0]);
        assert_eq!(&bytes[63..78], b"\x0b\0\0\0hello-fetch");
    }

    #[test]
    fn bindings_without_a_store_answer_as_gomode() {
        let request = |method: &str| FetchRequest {
            method: method.into(),
            url: "k".into(),
            content_type: String::new(),
            headers: Vec::new(),
            body: String::new(),
            call_index: 0,
        };
        let text = |status, body: &str| FetchResult {
            status,
            content_type: "text/plain;charset=UTF-8".into(),
            body: body.into(),
        };
        let none = Outbound::default();
        assert_eq!(dispatch(&none, &request("__KV_GET")), text(500, "KV binding not configured"));
        assert_eq!(dispatch(&none, &request("__X")), text(400, "unknown binding op: __X"));
        assert_eq!(dispatch(&none, &request("GET")).status, 502);
        let kv = Outbound::new(NetPolicy::default(), Some(Kv::temporary().unwrap()));
        assert_eq!(dispatch(&kv, &request("__KV_GET")), text(404, ""));
        assert_eq!(dispatch(&kv, &request("__X")), text(400, "unknown binding op: __X"));
        assert_eq!(dispatch(&kv, &request("__KV_FOO")), text(400, "unknown binding op: __KV_FOO"));
        assert_eq!(dispatch(&none, &request("__KV_FOO")), text(400, "unknown binding op: __KV_FOO"));
    }
}
