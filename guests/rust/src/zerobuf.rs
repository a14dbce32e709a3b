//! The guest's side of the zerobuf layout: it reads the request slots the host wrote and lays
//! out the response slots it returns.

use std::borrow::Cow;

use crate::fetch::FetchResult;

/// Tag of a null slot.
const NULL: u8 = 0;
/// Tag of an i32 slot.
const I32: u8 = 2;
/// Tag of a string slot.
const STRING: u8 = 4;
/// Tag of a bytes slot.
const BYTES: u8 = 8;
/// The size of one value slot.
const SLOT: usize = 16;

/// The request as decoded from slots 0 to 5.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path with its query, as in slot 1.
    pub path: String,
    pub body: String,
    /// `name: value\n` lines.
    pub headers: String,
    /// The tag names of slots 4 and 5, which `/echo` reports.
    pub reserved_tags: [&'static str; 2],
    /// A fetch result the host replays with: the call index in slot 5 and the record that slot 4
    /// points at (ABI.md §12), when slot 4 has the string tag.
    pub replay: Option<(i32, FetchResult)>,
}

impl Request {
    /// Decodes the six request slots at `base`.
    ///
    /// # Safety
    /// `base` must point to six slots whose string payloads lie in memory, as the host writes them.
    pub unsafe fn read(base: *const u8) -> Request {
        // SAFETY: forwarded to the caller for each of the six slots.
        let slot = |i: usize| unsafe { base.add(i * SLOT) };
        // SAFETY: as above.
        let text = |i: usize| unsafe { read_string(slot(i)) };
        // SAFETY: as above.
        let tag = |i: usize| tag_name(unsafe { *slot(i) });
        // SAFETY: as above; a replay's slot 4 points at a record of three slots the host wrote.
        let replay = unsafe {
            (*slot(4) == STRING).then(|| {
                let record = slot(4).add(4).cast::<u32>().read_unaligned() as usize as *const u8;
                let i32_at = |p: *const u8| p.add(4).cast::<i32>().read_unaligned();
                let result = FetchResult {
                    status: i32_at(record),
                    content_type: read_string(record.add(SLOT)),
                    body: read_string(record.add(2 * SLOT)),
                };
                (i32_at(slot(5)), result)
            })
        };
        Request {
            method: text(0),
            path: text(1),
            body: text(2),
            headers: text(3),
            reserved_tags: [tag(4), tag(5)],
            replay,
        }
    }

    /// The value of query parameter `name` (ABI.md §9), `None` when it is absent; `Err` is the
    /// 400 message for a query with a bad percent escape anywhere.
    pub fn query(&self, name: &str) -> Result<Option<String>, String> {
        let Some((_, query)) = self.path.split_once('?') else { return Ok(None) };
        let bad = |()| format!("bad query: {query}");
        let mut found = None;
        for part in query.split('&') {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let (key, value) = (percent_decode(key).map_err(bad)?, percent_decode(value).map_err(bad)?);
            if key == name && found.is_none() {
                found = Some(value);
            }
        }
        Ok(found)
    }

    /// The path without its query, which is what routing uses.
    pub fn route(&self) -> &str {
        self.path.split_once('?').map_or(&self.path, |(path, _)| path)
    }
}

/// Decodes `%XX` escapes and `+` as a space, reading the bytes as UTF-8 lossily; `Err` for a `%`
/// not followed by two hex digits.
fn percent_decode(text: &str) -> Result<String, ()> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = rest.get(..2).and_then(|h| std::str::from_utf8(h).ok()).ok_or(())?;
                if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                    return Err(());
                }
                bytes.push(u8::from_str_radix(hex, 16).map_err(drop)?);
                rest = &rest[2..];
            }
            b => bytes.push(b),
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads a string slot; any other tag reads as the empty string.
///
/// # Safety
/// `slot` must point to a slot whose string payload, if it has one, lies in memory.
unsafe fn read_string(slot: *const u8) -> String {
    // SAFETY: forwarded to the caller.
    unsafe {
        if *slot != STRING {
            return String::new();
        }
        let header = slot.add(4).cast::<u32>().read_unaligned() as usize as *const u8;
        let len = header.cast::<u32>().read_unaligned() as usize;
        String::from_utf8_lossy(std::slice::from_raw_parts(header.add(4), len)).into_owned()
    }
}

/// The name of a tag, as `/echo` reports it.
fn tag_name(tag: u8) -> &'static str {
    ["null", "bool", "i32", "f64", "string", "array", "object", "bigint", "bytes"]
        .get(usize::from(tag))
        .copied()
        .unwrap_or("invalid")
}

/// A response body: text gets the string tag, anything else the bytes tag.
#[derive(Debug)]
pub enum Body {
    Text(String),
    Bytes(Vec<u8>),
}

/// A response before it is laid out in memory.
#[derive(Debug)]
pub struct Response {
    pub status: i32,
    pub content_type: Cow<'static, str>,
    pub body: Body,
    /// `name: value\n` lines for slot 3, always a string (tag 4), even when empty; `None` writes
    /// a null slot.
    pub headers: Option<String>,
}

impl Response {
    /// A response with no headers.
    pub fn new(status: i32, content_type: impl Into<Cow<'static, str>>, body: Body) -> Response {
        Response { status, content_type: content_type.into(), body, headers: None }
    }

    /// A `text/plain` response.
    pub fn text(status: i32, body: impl Into<String>) -> Response {
        Response::new(status, "text/plain", Body::Text(body.into()))
    }

    /// An `application/json` response.
    pub fn json(body: String) -> Response {
        Response::new(200, "application/json", Body::Text(body))
    }
}

/// Four response slots and their payloads in one 8-byte-aligned block, which must outlive the
/// call that returned it.
#[derive(Debug)]
pub struct Encoded {
    words: Vec<u64>,
}

impl Encoded {
    /// Lays out `response`: slots 0 to 3, then the content type, body and header payloads, each
    /// `[len: u32][bytes]` starting at a 4-byte boundary. Without headers, slot 3 is null and has
    /// no payload.
    pub fn new(response: &Response) -> Encoded {
        let (body_tag, body) = match &response.body {
            Body::Text(text) => (STRING, text.as_bytes()),
            Body::Bytes(bytes) => (BYTES, bytes.as_slice()),
        };
        let headers = response.headers.as_deref().unwrap_or_default();
        let payloads = [response.content_type.as_bytes(), body, headers.as_bytes()];
        let size = 4 * SLOT + payloads.iter().map(|p| (4 + p.len()).next_multiple_of(4)).sum::<usize>();
        let mut encoded = Encoded { words: vec![0; size.div_ceil(8)] };
        let base = encoded.base();
        let bytes = encoded.bytes_mut();
        bytes[0] = I32;
        bytes[4..8].copy_from_slice(&response.status.to_le_bytes());
        let mut next = 4 * SLOT;
        let tags = [STRING, body_tag, if response.headers.is_some() { STRING } else { NULL }];
        for (i, (tag, payload)) in tags.into_iter().zip(payloads).enumerate() {
            let slot = (i + 1) * SLOT;
            bytes[slot] = tag;
            if tag == NULL {
                continue;
            }
            bytes[slot + 4..slot + 8].copy_from_slice(&((base + next) as u32).to_le_bytes());
            bytes[next..next + 4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            bytes[next + 4..next + 4 + payload.len()].copy_from_slice(payload);
            next += (4 + payload.len()).next_multiple_of(4);
        }
        encoded
    }

    /// The address of slot 0, which `handle_zerobuf` returns.
    pub fn base(&self) -> usize {
        self.words.as_ptr() as usize
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.words.len() * 8;
        // SAFETY: the words are initialized, and any byte pattern is a valid u8.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast(), len) }
    }
}
