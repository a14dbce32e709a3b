//! The reference app: every route of `conformance/ABI.md` §9, which every reference guest
//! implements identically.

use crate::fetch::{FetchResult, Fetcher, Wanted};
use crate::simd;
use crate::zerobuf::{self, Body, Request, Response};

/// The greeting of `/` and `/json`, as on the seed page; a macro, so that `JSON_START` can
/// include it.
macro_rules! hello {
    () => {
        "Hello from GoMode!"
    };
}

/// The greeting of `/` and `/json`.
const HELLO: &str = hello!();

/// The start of every `/json` body, up to the method: the greeting needs no JSON escaping.
const JSON_START: &str = concat!(r#"{"message":""#, hello!(), r#"","method":"#);

/// The fixed multi-script text of `/utf8`.
const UTF8_TEXT: &str = "Hello, world! Grüß Gott! Привет, мир! Γειά σου κόσμε! مرحبا بالعالم! שלום עולם! नमस्ते दुनिया! こんにちは世界! 你好，世界! 안녕하세요 세계! 🌍🚀✨";

/// The largest body `/bytes/<n>` serves.
const MAX_BYTES: usize = 16 << 20;

/// Counts `handle_zerobuf` calls for `/counter`; wasm32-wasip1 guests are single-threaded.
static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Routes one request by its path without the query. Every call counts for `/counter`, `/panic`
/// included, because the count comes first.
pub fn handle(request: &Request<'_>, fetcher: &mut Fetcher) -> Response {
    let calls = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let route = request.route();
    match route {
        "/" => Response::text(200, HELLO),
        "/json" => json(&request.method, route),
        "/simd" => simd::demo(),
        "/echo" => echo(request),
        "/utf8" => Response::new(200, "text/plain; charset=utf-8", Body::Text(UTF8_TEXT.into())),
        "/headers" => Response {
            headers: Some("cache-control: no-store\nx-gomode-abi: 1\n".into()),
            ..Response::text(200, "headers set")
        },
        // Slot 3 is the request body verbatim, unvalidated, so that tests can send malformed lines.
        "/raw_headers" => Response {
            headers: Some(request.body.clone().into_owned().into()),
            ..Response::text(200, "raw headers set")
        },
        // Traps the instance (`unreachable`: the guest is built with panic=abort), after counting.
        "/panic" => panic!("panic route"),
        "/counter" => Response::text(200, calls.to_string()),
        "/fetch" => fetch_one(request, fetcher),
        "/fetch2" => fetch_two(request, fetcher),
        "/kv" => kv_list(request, fetcher),
        _ => {
            if let Some(code) = route.strip_prefix("/status/") {
                status(code)
            } else if let Some(n) = route.strip_prefix("/bytes/") {
                bytes(n)
            } else if let Some(key) = route.strip_prefix("/kv/") {
                kv(request, key, fetcher)
            } else if let Some(kernel) = route.strip_prefix("/simd/").and_then(simd::Kernel::from_name) {
                if request.method == "POST" {
                    simd::run(kernel, &request.body)
                } else {
                    Response::text(405, "method not allowed")
                }
            } else {
                Response::text(404, format!("not found: {route}"))
            }
        }
    }
}

/// `/json`: the greeting, the method and the path without its query. The text is built by
/// appending, in a reused string, rather than with `format!`, which costs more than the rest of
/// the request.
fn json(method: &str, route: &str) -> Response {
    let mut out = zerobuf::text_buffer(JSON_START.len() + 32 + method.len() + route.len());
    out.push_str(JSON_START);
    push_json_string(&mut out, method);
    out.push_str(r#","path":"#);
    push_json_string(&mut out, route);
    out.push('}');
    Response::json(out)
}

/// `/echo`: what the guest decoded from every request slot, built by appending, as `/json` is.
fn echo(request: &Request<'_>) -> Response {
    let [slot4, slot5] = request.reserved_tags;
    let texts = [&request.method, &request.path, &request.body, &request.headers];
    let mut out = zerobuf::text_buffer(128 + texts.iter().map(|text| text.len()).sum::<usize>());
    out.push_str(r#"{"method":"#);
    push_json_string(&mut out, &request.method);
    out.push_str(r#","path":"#);
    push_json_string(&mut out, &request.path);
    out.push_str(r#","body":"#);
    push_json_string(&mut out, &request.body);
    out.push_str(r#","headers":"#);
    push_json_string(&mut out, &request.headers);
    out.push_str(r#","body_len":"#);
    push_decimal(&mut out, request.body.len() as u64);
    out.push_str(r#","slot4":""#);
    out.push_str(slot4);
    out.push_str(r#"","slot5":""#);
    out.push_str(slot5);
    out.push_str(r#""}"#);
    Response::json(out)
}

/// The query parameter `name`, or the 400 response for a missing or empty one or a bad query.
fn required(request: &Request<'_>, name: &str) -> Result<String, Response> {
    match request.query(name) {
        Ok(Some(value)) if !value.is_empty() => Ok(value),
        Ok(_) => Err(Response::text(400, format!("missing query parameter: {name}"))),
        Err(message) => Err(Response::text(400, message)),
    }
}

/// A fetch result as the JSON object `/fetch` answers.
fn result_json(result: &FetchResult) -> String {
    format!(
        r#"{{"status":{},"content_type":{},"body":{}}}"#,
        result.status,
        json_string(&result.content_type),
        json_string(&result.body)
    )
}

/// `/fetch?url=U`: one fetch of U with this request's method, body and `x-` headers.
fn fetch_one(request: &Request<'_>, fetcher: &mut Fetcher) -> Response {
    let url = match required(request, "url") {
        Ok(url) => url,
        Err(response) => return response,
    };
    let headers = request
        .headers
        .lines()
        .filter_map(|line| line.split_once(": "))
        .filter(|(name, _)| name.starts_with("x-"))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let content_type = if request.body.is_empty() { "" } else { "text/plain" };
    let wanted = Wanted {
        method: request.method.clone().into_owned(),
        url,
        content_type: content_type.into(),
        body: request.body.clone().into_owned(),
        headers,
    };
    match fetcher.fetch(wanted) {
        Some(result) => Response::json(result_json(&result)),
        None => Response::text(202, "pending"),
    }
}

/// `/fetch2?a=U&b=V`: two `GET` fetches in sequence.
fn fetch_two(request: &Request<'_>, fetcher: &mut Fetcher) -> Response {
    let (a, b) = match (required(request, "a"), required(request, "b")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let get = |url| Wanted { method: "GET".into(), url, ..Wanted::default() };
    let Some(first) = fetcher.fetch(get(a)) else { return Response::text(202, "pending") };
    let Some(second) = fetcher.fetch(get(b)) else { return Response::text(202, "pending") };
    Response::json(format!(r#"{{"a":{},"b":{}}}"#, result_json(&first), result_json(&second)))
}

/// `/kv/<key>`: one KV operation, answered as the binding answered it.
fn kv(request: &Request<'_>, key: &str, fetcher: &mut Fetcher) -> Response {
    let (op, value) = match &*request.method {
        "GET" => ("__KV_GET", ""),
        "PUT" => ("__KV_PUT", &*request.body),
        "DELETE" => ("__KV_DELETE", ""),
        _ => return Response::text(405, "method not allowed"),
    };
    if key.is_empty() {
        return Response::text(400, "empty key");
    }
    binding(fetcher, Wanted { method: op.into(), url: key.into(), body: value.into(), ..Wanted::default() })
}

/// `/kv?prefix=P`: the keys that start with P.
fn kv_list(request: &Request<'_>, fetcher: &mut Fetcher) -> Response {
    if request.method != "GET" {
        return Response::text(405, "method not allowed");
    }
    let prefix = match request.query("prefix") {
        Ok(prefix) => prefix.unwrap_or_default(),
        Err(message) => return Response::text(400, message),
    };
    binding(fetcher, Wanted { method: "__KV_LIST".into(), url: prefix, ..Wanted::default() })
}

/// Runs a binding operation and answers its result as it is.
fn binding(fetcher: &mut Fetcher, wanted: Wanted) -> Response {
    match fetcher.fetch(wanted) {
        Some(result) => Response::new(result.status, result.content_type, Body::Text(result.body.into())),
        None => Response::text(202, "pending"),
    }
}

/// `/status/<code>`: that status, or 400 for a code outside 100..=599.
fn status(code: &str) -> Response {
    match decimal(code).filter(|code| (100..=599).contains(code)) {
        Some(code) => Response::text(code as i32, format!("status {code}")),
        None => Response::text(400, format!("bad status code: {code:?}, want a decimal in 100..=599")),
    }
}

/// `/bytes/<n>`: n bytes where byte i is `i % 251`, with the bytes tag, written straight into the
/// response block.
fn bytes(n: &str) -> Response {
    match decimal(n).filter(|&n| n <= MAX_BYTES) {
        Some(n) => Response::new(200, "application/octet-stream", Body::Bytes { len: n, fill: fill_period }),
        None => Response::text(400, format!("bad byte count: {n:?}, want a decimal in 0..={MAX_BYTES}")),
    }
}

/// The period of the `/bytes/<n>` pattern.
const PERIOD: usize = 251;

/// Fills `body` with the `/bytes/<n>` pattern, byte i being `i % 251`: it writes the first period,
/// then doubles what is written with block copies until the body is full. Each copy keeps the
/// pattern, because it moves a prefix whose length is a multiple of the period to an offset that
/// is the same multiple.
fn fill_period(body: &mut [u8]) {
    let first = body.len().min(PERIOD);
    for (i, byte) in body[..first].iter_mut().enumerate() {
        *byte = i as u8;
    }
    let mut filled = first;
    while filled < body.len() {
        let n = filled.min(body.len() - filled);
        body.copy_within(..n, filled);
        filled += n;
    }
}

/// Parses a plain decimal: ASCII digits only, no sign, no spaces.
fn decimal(text: &str) -> Option<usize> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `text` as a JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_json_string(&mut out, text);
    out
}

/// Appends `text` as a JSON string literal: `"` and `\` escaped, `\n`, `\r` and `\t` by name,
/// other control characters as `\u00xx`, everything else as it is. The runs between the bytes to
/// escape are appended whole; those bytes are ASCII, so every run is whole UTF-8.
pub fn push_json_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(text.len() + 2);
    out.push('"');
    let mut rest = text;
    while let Some(at) = escape_at(rest.as_bytes()) {
        out.push_str(&rest[..at]);
        let byte = rest.as_bytes()[at];
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 15)]));
            }
        }
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

/// The index of the first byte of `bytes` that a JSON string must escape: a control character,
/// `"` or `\`. Bodies are scanned eight bytes at a time, because a byte-by-byte loop made this the
/// guest's hottest code for `/echo`; the byte loop then finds the byte in the word that has it.
fn escape_at(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    for word in bytes.chunks_exact(8) {
        let word: [u8; 8] = word.try_into().expect("chunks_exact gives eight bytes");
        if needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        start += 8;
    }
    let at = bytes[start..].iter().position(|&b| b < b' ' || b == b'"' || b == b'\\')?;
    Some(start + at)
}

/// Whether any of the eight bytes of `word` is one a JSON string must escape. These are the
/// exact tests for "a byte is below n" (n at most 128) and "a byte is zero" of Bit Twiddling
/// Hacks: the subtraction sets a byte's high bit, among those whose own high bit is clear, only
/// when that byte (or a lower one) is below the subtrahend.
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH_BITS: u64 = ONES * 0x80;
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH_BITS != 0;
    below(word, b' ') || below(word ^ (ONES * u64::from(b'"')), 1) || below(word ^ (ONES * u64::from(b'\\')), 1)
}

/// Appends `n` in decimal, without the formatting machinery, which costs more than a short
/// response's whole layout.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&digit| char::from(digit)));
}
