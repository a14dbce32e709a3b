//! The loopback upstream that the `fetch` cases fetch from, and the outbound setup every case
//! runs with.
//!
//! [`Loopback`] is a small HTTP/1.1 server on 127.0.0.1 with an ephemeral port, started once per
//! process on first use. Its routes are fixed (see [`Loopback::answer`]); cases name them through
//! the `{upstream}` placeholder in a request path, never a port. It is written on `std::net`
//! rather than on a server crate because two of its routes misbehave on purpose, which servers
//! are built not to do: `/hangup` closes the connection without answering, and `/slow` answers
//! after the fetch time-out.
//!
//! [`case_upstream`] gives each case run a fresh KV store and a network policy that allows this
//! server and the closed port 127.0.0.1:1; [`case_v8_outbound`] says the same to the V8 model.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use host::{Kv, NetPolicy, Outbound, Upstream};

use crate::case::Case;

/// The placeholder in a case's request path that becomes the upstream's `http://127.0.0.1:PORT`.
pub const PLACEHOLDER: &str = "{upstream}";

/// How long a case's fetch may take unless the case sets `fetch_timeout_ms`: long enough for a
/// loopback answer on a busy machine.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long `/slow` waits before answering: past [`FETCH_TIMEOUT`].
const SLOW: Duration = Duration::from_secs(6);

/// The most bytes a case's fetch may receive; `/big` sends more.
pub const FETCH_MAX_BYTES: u64 = 1 << 20;

/// An allowed address where nothing listens, for the cases that cannot connect.
pub const CLOSED: &str = "127.0.0.1:1";

/// The running loopback upstream.
#[derive(Debug)]
pub struct Loopback {
    base: String,
    authority: String,
}

/// The process's loopback upstream, started on first use.
pub fn loopback() -> Result<&'static Loopback, String> {
    static LOOPBACK: OnceLock<Result<Loopback, String>> = OnceLock::new();
    LOOPBACK
        .get_or_init(|| Loopback::start().map_err(|err| format!("cannot start the loopback upstream: {err}")))
        .as_ref()
        .map_err(Clone::clone)
}

/// `path` with the placeholder replaced by the loopback upstream's base URL.
pub fn substitute(path: &str) -> Result<String, String> {
    if !path.contains(PLACEHOLDER) {
        return Ok(path.to_owned());
    }
    Ok(path.replace(PLACEHOLDER, loopback()?.base()))
}

/// The network policy of a run of `case`: the loopback upstream and [`CLOSED`], with the case
/// limits.
pub fn case_policy(case: &Case) -> NetPolicy {
    let mut allow = vec![CLOSED.to_owned()];
    allow.extend(loopback().ok().map(|loopback| loopback.authority.clone()));
    let timeout = case.fetch_timeout_ms.map_or(FETCH_TIMEOUT, Duration::from_millis);
    NetPolicy { allow, timeout, max_body: FETCH_MAX_BYTES }
}

/// What answers the fetches of one run of `case` on wasmtime: [`case_policy`] and a fresh, empty
/// KV store (a redb database in memory).
pub fn case_upstream(case: &Case) -> Arc<dyn Upstream> {
    Arc::new(Outbound::new(case_policy(case), Kv::in_memory().ok()))
}

/// The same for the V8 model, which keeps its own KV store per opened guest.
pub fn case_v8_outbound(case: &Case, max_fetches: u32) -> crate::v8::Outbound {
    let policy = case_policy(case);
    crate::v8::Outbound {
        allow_net: policy.allow,
        fetch_timeout: policy.timeout,
        fetch_max_bytes: policy.max_body,
        kv: true,
        max_fetches,
    }
}

impl Loopback {
    fn start() -> std::io::Result<Loopback> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let authority = listener.local_addr()?.to_string();
        std::thread::Builder::new().name("loopback-upstream".into()).spawn(move || {
            for stream in listener.incoming().flatten() {
                // One thread per connection, so that a `/slow` answer holds up no other case.
                let _ = std::thread::Builder::new().name("loopback-connection".into()).spawn(move || serve(stream));
            }
        })?;
        Ok(Loopback { base: format!("http://{authority}"), authority })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The answer to a request: status, content type and body, or `None` to hang up.
    ///
    /// | route | answer |
    /// |---|---|
    /// | `/text` | 200 `text/plain; charset=utf-8`, `hello from upstream` |
    /// | `/json` | 200 `application/json`, `{"upstream":"json","n":1}` |
    /// | `/unavailable` | 503 `text/plain`, `upstream unavailable` |
    /// | `/slow` | after 6 s, 200 `text/plain`, `slow` |
    /// | `/binary` | 200 `application/octet-stream`, the bytes 0 to 255 |
    /// | `/bom` | 200 `text/plain`, a UTF-8 byte order mark and then `bom` |
    /// | `/big` | 200 `text/plain`, 2 MiB of `a`, over the case limit |
    /// | `/echo` | 200 `application/json`, `{"method":M,"content_type":C,"headers":H,"body":B}`, H the `x-` headers by lowercase name |
    /// | `/redirect?to=T` | 302 to T |
    /// | `/hangup` | closes the connection without an answer |
    /// | anything else | 404 `text/plain`, `no such upstream route` |
    fn answer(request: &Incoming) -> Option<(u16, &'static str, Vec<u8>, Option<String>)> {
        let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
        let text = |status, body: &str| Some((status, "text/plain", body.as_bytes().to_vec(), None));
        match path {
            "/text" => Some((200, "text/plain; charset=utf-8", b"hello from upstream".to_vec(), None)),
            "/json" => Some((200, "application/json", br#"{"upstream":"json","n":1}"#.to_vec(), None)),
            "/unavailable" => text(503, "upstream unavailable"),
            "/slow" => {
                std::thread::sleep(SLOW);
                text(200, "slow")
            }
            "/binary" => Some((200, "application/octet-stream", (0..=255).collect(), None)),
            "/bom" => text(200, "\u{feff}bom"),
            "/big" => Some((200, "text/plain", vec![b'a'; 2 << 20], None)),
            "/echo" => {
                let header = |name: &str| request.headers.get(name).cloned().unwrap_or_default();
                let x: BTreeMap<_, _> = request.headers.iter().filter(|(name, _)| name.starts_with("x-")).collect();
                let echo = serde_json::json!({
                    "method": request.method,
                    "content_type": header("content-type"),
                    "headers": x,
                    "body": String::from_utf8_lossy(&request.body),
                });
                Some((200, "application/json", echo.to_string().into_bytes(), None))
            }
            "/redirect" => {
                let to = query.strip_prefix("to=").unwrap_or("/text");
                Some((302, "text/plain", b"redirect".to_vec(), Some(to.to_owned())))
            }
            "/hangup" => None,
            _ => text(404, "no such upstream route"),
        }
    }
}

/// A request as the loopback upstream reads it.
#[derive(Debug)]
struct Incoming {
    method: String,
    target: String,
    /// Lowercase names; the last of a repeated name wins.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// Reads one request (a `Content-Length` body, or none) and answers it, closing the connection.
fn serve(stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let Some(request) = read_request(&mut reader) else { return };
    let Some((status, content_type, body, location)) = Loopback::answer(&request) else { return };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-dropped: yes\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(location) = location {
        head.push_str(&format!("location: {location}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = &stream;
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
}

fn read_request(reader: &mut impl BufRead) -> Option<Incoming> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let len = headers.get("content-length").and_then(|len| len.parse::<usize>().ok()).unwrap_or(0);
    let mut body = vec![0; len.min(16 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some(Incoming { method, target, headers, body })
}
