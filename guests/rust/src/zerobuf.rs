//! The guest's side of the zerobuf layout: it reads the request slots the host wrote and lays
//! out the response slots it returns.
//!
//! Both directions avoid work on the hot path. A request's strings borrow the request memory when
//! they are valid UTF-8, which is valid for the whole call (`[request.scratch]`); only invalid text
//! is copied, to replace its bad sequences. A response is laid out in a [`ResponseBlock`] that
//! every call reuses while the response fits, because the previous response only has to stay
//! valid until the next call (ABI.md §5, "Lifetimes"), and its body can be written straight into
//! that block ([`Body::Bytes`]) instead of being built elsewhere and copied.

use std::borrow::Cow;
use std::cell::Cell;

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
/// The number of response slots this guest writes: status, content type, body and headers.
const RESPONSE_SLOTS: usize = 4;

/// The request as decoded from slots 0 to 5. Its strings borrow request memory (`'a`) when they
/// are valid UTF-8 and are lossy copies otherwise.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: Cow<'a, str>,
    /// The path with its query, as in slot 1.
    pub path: Cow<'a, str>,
    pub body: Cow<'a, str>,
    /// `name: value\n` lines.
    pub headers: Cow<'a, str>,
    /// The tag names of slots 4 and 5, which `/echo` reports.
    pub reserved_tags: [&'static str; 2],
    /// A fetch result the host replays with: the call index in slot 5 and the record that slot 4
    /// points at (ABI.md §12), when slot 4 has the string tag. It is copied, because it is kept
    /// across calls.
    pub replay: Option<(i32, FetchResult)>,
}

impl<'a> Request<'a> {
    /// Decodes the six request slots at `base`.
    ///
    /// # Safety
    /// `base` must point to six slots whose string payloads lie in memory, as the host writes them,
    /// and that memory must stay unchanged for `'a`: the caller must drop the request before it
    /// returns to the host, which rewrites the scratch for the next call.
    pub unsafe fn read(base: *const u8) -> Request<'a> {
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
                    content_type: read_string(record.add(SLOT)).into_owned(),
                    body: read_string(record.add(2 * SLOT)).into_owned(),
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

    /// The path without its query, which is what routing uses. A plain byte loop finds the `?`:
    /// on paths this short it costs less than `split_once`'s searcher, and since `?` is ASCII its
    /// index is a char boundary.
    pub fn route(&self) -> &str {
        match self.path.bytes().position(|b| b == b'?') {
            Some(at) => &self.path[..at],
            None => &self.path,
        }
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

/// Reads a string slot; any other tag reads as the empty string. The text borrows the payload
/// when it is valid UTF-8; otherwise it is a copy with each invalid sequence replaced by U+FFFD.
///
/// # Safety
/// `slot` must point to a slot whose string payload, if it has one, lies in memory and stays
/// unchanged for `'a`.
unsafe fn read_string<'a>(slot: *const u8) -> Cow<'a, str> {
    // SAFETY: forwarded to the caller.
    unsafe {
        if *slot != STRING {
            return Cow::Borrowed("");
        }
        let header = slot.add(4).cast::<u32>().read_unaligned() as usize as *const u8;
        match header.cast::<u32>().read_unaligned() as usize {
            // Most requests have an empty body or no headers; they need no UTF-8 check.
            0 => Cow::Borrowed(""),
            len => lossy(std::slice::from_raw_parts(header.add(4), len)),
        }
    }
}

/// `bytes` as text: borrowed when it is valid UTF-8, else a copy with each invalid sequence
/// replaced by U+FFFD, as `String::from_utf8_lossy` makes it. Cheaper checks come first. Most
/// request text is ASCII, and an OR of every byte tells that with no branch per byte, which the
/// compiler turns into 16 bytes per simd128 step; other valid text is checked by `str::from_utf8`,
/// faster than by the lossy decoder, which goes byte by byte.
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    if bytes.iter().fold(0, |all, &b| all | b).is_ascii() {
        // SAFETY: every byte is ASCII, and ASCII is valid UTF-8.
        return Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The name of a tag, as `/echo` reports it.
fn tag_name(tag: u8) -> &'static str {
    ["null", "bool", "i32", "f64", "string", "array", "object", "bigint", "bytes"]
        .get(usize::from(tag))
        .copied()
        .unwrap_or("invalid")
}

thread_local! {
    /// The string of an earlier text body, given back by [`Response::recycle`], whose allocation
    /// the next [`text_buffer`] reuses.
    static SPARE_TEXT: Cell<String> = const { Cell::new(String::new()) };
}

/// The largest string kept for reuse by [`Response::recycle`].
const SPARE_TEXT_MAX: usize = 64 << 10;

/// An empty string with room for at least `capacity` bytes, for a text body. It reuses the
/// allocation of an earlier body given back by [`Response::recycle`], so that the bodies of
/// routes such as `/json` cost no allocation once one has been made.
pub fn text_buffer(capacity: usize) -> String {
    let mut text = SPARE_TEXT.take();
    text.clear();
    text.reserve(capacity);
    text
}

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// Text, with the string tag; a static text is not copied until it is laid out.
    Text(Cow<'static, str>),
    /// `len` bytes with the bytes tag, which `fill` writes straight into the response block, so
    /// that a large body is never built in one place and copied to another.
    Bytes { len: usize, fill: fn(&mut [u8]) },
}

impl Body {
    /// The body's tag and its length in bytes.
    fn tag_and_len(&self) -> (u8, usize) {
        match self {
            Body::Text(text) => (STRING, text.len()),
            Body::Bytes { len, .. } => (BYTES, *len),
        }
    }
}

/// A response before it is laid out in memory.
#[derive(Debug)]
pub struct Response {
    pub status: i32,
    pub content_type: Cow<'static, str>,
    pub body: Body,
    /// `name: value\n` lines for slot 3, always a string (tag 4), even when empty; `None` writes
    /// a null slot.
    pub headers: Option<Cow<'static, str>>,
}

impl Response {
    /// A response with no headers.
    pub fn new(status: i32, content_type: impl Into<Cow<'static, str>>, body: Body) -> Response {
        Response { status, content_type: content_type.into(), body, headers: None }
    }

    /// A `text/plain` response.
    pub fn text(status: i32, body: impl Into<Cow<'static, str>>) -> Response {
        Response::new(status, "text/plain", Body::Text(body.into()))
    }

    /// An `application/json` response.
    pub fn json(body: String) -> Response {
        Response::new(200, "application/json", Body::Text(body.into()))
    }

    /// Gives the body's string, if it owns one, back for the next [`text_buffer`], once the
    /// response is laid out and no longer needed; a very large one is dropped instead.
    #[inline]
    pub fn recycle(self) {
        if let Body::Text(Cow::Owned(text)) = self.body
            && text.capacity() <= SPARE_TEXT_MAX
        {
            SPARE_TEXT.set(text);
        }
    }

    /// The size of the response laid out: four slots, then each payload written, each padded to a
    /// multiple of 4 bytes.
    fn encoded_len(&self) -> usize {
        let (_, body_len) = self.body.tag_and_len();
        let headers = self.headers.as_deref().map_or(0, |headers| padded(headers.len()));
        RESPONSE_SLOTS * SLOT + padded(self.content_type.len()) + padded(body_len) + headers
    }
}

/// The space a `[len: u32][len bytes]` payload takes, padded so that the next one starts at a
/// 4-byte boundary.
fn padded(len: usize) -> usize {
    (4 + len).next_multiple_of(4)
}

/// The largest block kept from one call to the next. In leaking mode it is small, so that a
/// response larger than that gets a block of its own that is never freed, and memory grows by at
/// least the response's size for each such request, as a leaking guest's must.
#[cfg(feature = "leaking")]
const KEPT_MAX: usize = 16 << 10;
/// The largest block kept from one call to the next. In conservative mode a larger block is freed
/// at the start of the next call, so that one huge response does not hold its memory forever.
#[cfg(not(feature = "leaking"))]
const KEPT_MAX: usize = 1 << 20;

/// The smallest block allocated, so that the small responses of the first few calls do not each
/// outgrow the block before.
const MIN_BLOCK: usize = 1 << 10;

/// The 8-byte-aligned memory responses are laid out in: four response slots and their payloads,
/// which must stay valid until the next call into the guest (ABI.md §5, "Lifetimes").
///
/// One block serves call after call while each response fits in it, so the hot path allocates
/// nothing. A response that does not fit gets a new block, which then serves the next calls in
/// turn; at the start of each call, [`ResponseBlock::release`] lets go of a block larger than
/// `KEPT_MAX` (freeing it in conservative mode, abandoning it in leaking mode). The default is
/// empty.
#[derive(Debug, Default)]
pub struct ResponseBlock {
    /// The block, always initialized: zeroed when allocated, then overwritten by each response.
    words: Vec<u64>,
}

impl ResponseBlock {
    /// An empty block; the first response allocates it.
    pub const fn new() -> ResponseBlock {
        ResponseBlock { words: Vec::new() }
    }

    /// Lets go of a block too large to keep; called when a new call starts, once the previous
    /// response is no longer needed.
    pub fn release(&mut self) {
        if self.words.len() * 8 > KEPT_MAX {
            self.words = Vec::new();
        }
    }

    /// Lays out `response` and returns the address of slot 0, which `handle_zerobuf` returns:
    /// slots 0 to 3, then the content type, body and header payloads, each `[len: u32][bytes]`
    /// starting at a 4-byte boundary. Without headers, slot 3 is null and has no payload. Every
    /// byte of the layout is written, padding as zero, so a reused block holds nothing of the
    /// responses before.
    pub fn encode(&mut self, response: &Response) -> usize {
        let size = response.encoded_len();
        let words = size.div_ceil(8);
        if self.words.len() < words {
            // Free (or abandon) the old block before taking the new one, so dlmalloc can reuse it.
            self.words = Vec::new();
            self.words = vec![0; words.max(MIN_BLOCK / 8)];
        }
        let base = self.words.as_ptr() as usize;
        let (body_tag, body_len) = response.body.tag_and_len();
        let headers = response.headers.as_deref();
        let content_type_at = RESPONSE_SLOTS * SLOT;
        let body_at = content_type_at + padded(response.content_type.len());
        let headers_at = body_at + padded(body_len);
        let at = |offset: usize| (base + offset) as u32;
        let slots = [
            slot(I32, response.status as u32),
            slot(STRING, at(content_type_at)),
            slot(body_tag, at(body_at)),
            headers.map_or(slot(NULL, 0), |_| slot(STRING, at(headers_at))),
        ];
        let (head, mut rest) = self.bytes_mut()[..size].split_at_mut(content_type_at);
        head.copy_from_slice(slots.as_flattened());
        payload(&mut rest, response.content_type.len()).copy_from_slice(response.content_type.as_bytes());
        let body = payload(&mut rest, body_len);
        match &response.body {
            Body::Text(text) => body.copy_from_slice(text.as_bytes()),
            Body::Bytes { fill, .. } => fill(body),
        }
        if let Some(headers) = headers {
            payload(&mut rest, headers.len()).copy_from_slice(headers.as_bytes());
        }
        base
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.words.len() * 8;
        // SAFETY: the words are initialized, any byte pattern is a valid u8, and the slice covers
        // exactly the vector's initialized elements, borrowed mutably from `self`.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast(), len) }
    }
}

/// The 16 bytes of a slot: the tag, zero padding, payload A and a zero payload B.
fn slot(tag: u8, a: u32) -> [u8; SLOT] {
    let mut slot = [0; SLOT];
    slot[0] = tag;
    slot[4..8].copy_from_slice(&a.to_le_bytes());
    slot
}

/// Writes the `[len: u32]` header of a payload of `len` bytes at the start of `rest`, and its zero
/// padding up to the next 4-byte boundary, moves `rest` past it, and returns where the payload's
/// bytes go. The padding is zeroed as the payload's whole last word, before the length and the
/// bytes are written over it, because a fixed 4-byte store costs far less than a `memory.fill` of
/// up to 3 bytes.
fn payload<'b>(rest: &mut &'b mut [u8], len: usize) -> &'b mut [u8] {
    let (this, tail) = std::mem::take(rest).split_at_mut(padded(len));
    *rest = tail;
    let last_word = this.len() - 4;
    this[last_word..].copy_from_slice(&[0; 4]);
    this[..4].copy_from_slice(&(len as u32).to_le_bytes());
    &mut this[4..4 + len]
}
