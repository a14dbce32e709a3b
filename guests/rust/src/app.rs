//! The reference app: every route of `conformance/ABI.md` §9, which every reference guest
//! implements identically.

use crate::fetch::{FetchResult, Fetcher, Wanted};
use crate::simd;
use crate::zerobuf::{Body, Request, Response};
use std::fmt::Write;

/// The greeting of `/` and `/json`, as on the seed page.
const HELLO: &str = "Hello from GoMode!";

/// The fixed multi-script text of `/utf8`.
const UTF8_TEXT: &str = "Hello, world! Grüß Gott! Привет, мир! Γειά σου κόσμε! مرحبا بالعالم! שלום עולם! नमस्ते दुनिया! こんにちは世界! 你好，世界! 안녕하세요 세계! 🌍🚀✨";

/// The largest body `/bytes/<n>` serves.
const MAX_BYTES: usize = 16 << 20;

/// Counts `handle_zerobuf` calls for `/counter`; wasm32-wasip1 guests are single-threaded.
static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Routes one request by its path without the query. Every call counts for `/counter`, `/panic`
/// included, because the count comes first.
pub fn handle(request: &Request, fetcher: &mut Fetcher) -> Response {
    let calls = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let route = request.route();
    match route {
        "/" => Response::text(200, HELLO),
        "/json" => Response::json(format!(
            r#"{{"message":{},"method":{},"path":{}}}"#,
            json_string(HELLO),
            json_string(&request.method),
            json_string(route)
        )),
        "/simd" => simd::demo(),
        "/echo" => echo(request),
        "/utf8" => Response::new(200, "text/plain; charset=utf-8", Body::Text(UTF8_TEXT.into())),
        "/headers" => Response {
            headers: Some("cache-control: no-store\nx-gomode-abi: 1\n".into()),
            ..Response::text(200, "headers set")
        },
        // Slot 3 is the request body verbatim, unvalidated, so that tests can send malformed lines.
        "/raw_headers" => Response { headers: Some(request.body.clone()), ..Response::text(200, "raw headers set") },
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

/// `/echo`: what the guest decoded from every request slot.
fn echo(request: &Request) -> Response {
    let [slot4, slot5] = request.reserved_tags;
    Response::json(format!(
        r#"{{"method":{},"path":{},"body":{},"headers":{},"body_len":{},"slot4":"{slot4}","slot5":"{slot5}"}}"#,
        json_string(&request.method),
        json_string(&request.path),
        json_string(&request.body),
        json_string(&request.headers),
        request.body.len(),
    ))
}

/// The query parameter `name`, or the 400 response for a missing or empty one or a bad query.
fn required(request: &Request, name: &str) -> Result<String, Response> {
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
fn fetch_one(request: &Request, fetcher: &mut Fetcher) -> Response {
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
        method: request.method.clone(),
        url,
        content_type: content_type.into(),
        body: request.body.clone(),
        headers,
    };
    match fetcher.fetch(wanted) {
        Some(result) => Response::json(result_json(&result)),
        None => Response::text(202, "pending"),
    }
}

/// `/fetch2?a=U&b=V`: two `GET` fetches in sequence.
fn fetch_two(request: &Request, fetcher: &mut Fetcher) -> Response {
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
fn kv(request: &Request, key: &str, fetcher: &mut Fetcher) -> Response {
    let (op, value) = match request.method.as_str() {
        "GET" => ("__KV_GET", ""),
        "PUT" => ("__KV_PUT", request.body.as_str()),
        "DELETE" => ("__KV_DELETE", ""),
        _ => return Response::text(405, "method not allowed"),
    };
    if key.is_empty() {
        return Response::text(400, "empty key");
    }
    binding(fetcher, Wanted { method: op.into(), url: key.into(), body: value.into(), ..Wanted::default() })
}

/// `/kv?prefix=P`: the keys that start with P.
fn kv_list(request: &Request, fetcher: &mut Fetcher) -> Response {
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
        Some(result) => Response::new(result.status, result.content_type, Body::Text(result.body)),
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

/// `/bytes/<n>`: n bytes where byte i is `i % 251`, with the bytes tag.
fn bytes(n: &str) -> Response {
    match decimal(n).filter(|&n| n <= MAX_BYTES) {
        Some(n) => {
            let body = (0..n).map(|i| (i % 251) as u8).collect();
            Response::new(200, "application/octet-stream", Body::Bytes(body))
        }
        None => Response::text(400, format!("bad byte count: {n:?}, want a decimal in 0..={MAX_BYTES}")),
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
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => write!(out, "\\u{:04x}", u32::from(c)).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
