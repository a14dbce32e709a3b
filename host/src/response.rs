//! The response reader: turns the slots a guest returned into a [`Response`], or names the rule
//! the guest broke.
//!
//! It is pure: it reads a byte slice that stands for the guest's linear memory (addressed by u32
//! offsets exactly like wasm32 pointers) and never touches wasmtime, so it can be fuzzed and
//! property-tested over arbitrary memory images. Every read is bounds-checked; no input makes it
//! panic or read outside the slice, and every failure is a [`Violation`] of a `response.*` rule.

use std::borrow::Cow;

use crate::error::{Rule, Violation};
use crate::profile;
use crate::request::is_token_byte;
use crate::runtime::FEATURE_RESPONSE_HEADERS;
use crate::zerobuf::{self, Tag, ZbError};

/// A response body, keeping the tag the guest chose. It borrows guest memory in a
/// [`Response`] read in place, and owns its bytes after [`Response::into_owned`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// Tag 4: UTF-8 text.
    Text(Cow<'a, str>),
    /// Tag 8: raw bytes.
    Bytes(Cow<'a, [u8]>),
}

impl Body<'_> {
    /// The body's bytes, whatever the tag.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Text(text) => text.as_bytes(),
            Body::Bytes(bytes) => bytes,
        }
    }

    /// The body with its own copy of the bytes.
    pub fn into_owned(self) -> Body<'static> {
        match self {
            Body::Text(text) => Body::Text(Cow::Owned(text.into_owned())),
            Body::Bytes(bytes) => Body::Bytes(Cow::Owned(bytes.into_owned())),
        }
    }
}

/// A validated response. Read in place, as [`crate::Guest::answer`] gives it, its content type
/// and body borrow the guest's memory, which no copy is made of until the caller wants one
/// ([`Response::into_owned`]); [`crate::Guest::call`] gives an owned `Response<'static>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// The HTTP status, 100..=599.
    pub status: u16,
    /// The content type from slot 1.
    pub content_type: Cow<'a, str>,
    /// Headers from slot 3, empty when the guest does not declare them.
    pub headers: Vec<(String, String)>,
    /// The body from slot 2.
    pub body: Body<'a>,
    /// What the guest printed to stdout during this call (empty from [`read_response`]).
    pub stdout: String,
    /// What the guest printed to stderr during this call (empty from [`read_response`]).
    pub stderr: String,
    /// Under the `gomode` profile, the trap or exit that this 500 `panic: …` response stands
    /// for, with the host's full detail; `None` for a response the guest wrote.
    pub panic: Option<Violation>,
    /// How many outbound fetches the guest asked for before it answered; the handler ran this
    /// many times more (ABI.md §12).
    pub fetches: u32,
}

impl Response<'_> {
    /// The response with its own copy of the content type and the body, which outlives the
    /// guest's next call.
    pub fn into_owned(self) -> Response<'static> {
        Response {
            content_type: Cow::Owned(self.content_type.into_owned()),
            body: self.body.into_owned(),
            status: self.status,
            headers: self.headers,
            stdout: self.stdout,
            stderr: self.stderr,
            panic: self.panic,
            fetches: self.fetches,
        }
    }
}

/// What the response slots hold: a [`Response`] without what the call adds to it. A runtime
/// makes its response from this, in place, rather than moving a finished one.
#[derive(Debug)]
pub(crate) struct Slots<'a> {
    pub(crate) status: u16,
    pub(crate) content_type: Cow<'a, str>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Body<'a>,
}

impl<'a> Slots<'a> {
    /// The response these slots are, with nothing printed and no fetches.
    fn response(self) -> Response<'a> {
        self.response_with(String::new(), String::new(), 0)
    }

    /// The response these slots are, after a call that printed `stdout` and `stderr` and asked
    /// for `fetches` outbound fetches.
    #[inline]
    pub(crate) fn response_with(self, stdout: String, stderr: String, fetches: u32) -> Response<'a> {
        let Slots { status, content_type, headers, body } = self;
        Response { status, content_type, headers, body, stdout, stderr, panic: None, fetches }
    }
}

/// Reads and validates the response slots at `base` of `memory`. `headers` says whether the
/// guest declared the response-headers feature, which makes the host read a fourth slot.
pub fn read_response(memory: &[u8], base: u32, headers: bool) -> Result<Response<'_>, Violation> {
    read_slots(memory, base, headers).map(Slots::response)
}

/// [`read_response`], up to the [`Response`] itself.
pub(crate) fn read_slots(memory: &[u8], base: u32, headers: bool) -> Result<Slots<'_>, Violation> {
    let slots: u32 = if headers { 4 } else { 3 };
    let end = u64::from(base) + u64::from(slots * zerobuf::SLOT_SIZE);
    if end > memory.len() as u64 {
        return Err(Violation::new(
            Rule::ResponsePointer,
            format!(
                "the response at {base:#x} needs {slots} slots up to {end:#x}, but memory is {} bytes",
                memory.len()
            ),
        ));
    }
    // The slots lie inside memory (checked above), so only their payloads can be out of bounds.
    let slot = |i: u32| base + i * zerobuf::SLOT_SIZE;
    let tag = |i: u32| memory[slot(i) as usize];
    let wrong = |rule: Rule, what: &str, i: u32, expected: &str| {
        let found = tag(i);
        let found =
            Tag::from_u8(found).map_or_else(|| format!("unknown tag {found}"), |t| format!("tag {found} ({t})"));
        Violation::new(rule, format!("slot {i} ({what}) has {found}; expected {expected}"))
    };
    let payload = |err: ZbError| match err {
        ZbError::InvalidUtf8 { .. } => Violation::new(Rule::ResponseUtf8, err.to_string()),
        _ => Violation::new(Rule::ResponseBounds, err.to_string()),
    };

    if tag(0) != Tag::I32 as u8 {
        return Err(wrong(Rule::ResponseStatus, "status", 0, "tag 2 (i32)"));
    }
    let code = zerobuf::read_slot(memory, slot(0)).map_err(payload)?.a as i32;
    if !(100..=599).contains(&code) {
        let why =
            if code == -1 { " (-1 asks for an outbound fetch, which ABI version 1 hosts do not offer)" } else { "" };
        return Err(Violation::new(Rule::ResponseStatus, format!("status {code} is outside 100..=599{why}")));
    }

    if tag(1) != Tag::String as u8 {
        return Err(wrong(Rule::ResponseContentType, "content type", 1, "tag 4 (string)"));
    }
    let content_type = Cow::Borrowed(zerobuf::read_string(memory, slot(1)).map_err(payload)?);

    let body = match Tag::from_u8(tag(2)) {
        Some(Tag::String) => Body::Text(Cow::Borrowed(zerobuf::read_string(memory, slot(2)).map_err(payload)?)),
        Some(Tag::Bytes) => Body::Bytes(Cow::Borrowed(zerobuf::read_bytes(memory, slot(2)).map_err(payload)?)),
        _ => return Err(wrong(Rule::ResponseBody, "body", 2, "tag 4 (string) or 8 (bytes)")),
    };

    let mut lines = Vec::new();
    if headers {
        match Tag::from_u8(tag(3)) {
            Some(Tag::Null) => {}
            Some(Tag::String) => {
                let text = zerobuf::read_string(memory, slot(3)).map_err(payload)?;
                lines = parse_header_lines(text).map_err(|message| Violation::new(Rule::ResponseHeaders, message))?;
            }
            _ => return Err(wrong(Rule::ResponseHeaders, "headers", 3, "tag 0 (null) or 4 (string)")),
        }
    }
    Ok(Slots { status: code as u16, content_type, headers: lines, body })
}

/// Parses `name: value\n` lines; every line ends in `\n` and every name is an HTTP token.
pub fn parse_header_lines(text: &str) -> Result<Vec<(String, String)>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = text.strip_suffix('\n') else {
        return Err(format!("the header text does not end with a newline: {text:?}"));
    };
    body.split('\n')
        .map(|line| {
            let (name, value) = line.split_once(": ").ok_or_else(|| format!("header line {line:?} has no \": \""))?;
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(format!("header name {name:?} is not an HTTP token"));
            }
            if value.contains('\r') {
                return Err(format!("header value {value:?} contains a carriage return"));
            }
            Ok((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Reads the response slots at `base` as GoMode's Worker reads them (ABI.md §11): three
/// slots, the status in 200..=599, raw body bytes whatever their encoding, and slot 3 as
/// header lines whenever its tag byte is 4. `features` is what the guest's
/// `gomode_abi_features` returned, when it exports one. `Ok(None)` is status -1, the guest's
/// request for an outbound fetch.
pub fn read_gomode_response(
    memory: &[u8],
    base: u32,
    features: Option<i32>,
) -> Result<Option<Response<'_>>, Violation> {
    Ok(read_gomode_slots(memory, base, features)?.map(Slots::response))
}

/// [`read_gomode_response`], up to the [`Response`] itself.
#[inline(always)]
pub(crate) fn read_gomode_slots(
    memory: &[u8],
    base: u32,
    features: Option<i32>,
) -> Result<Option<Slots<'_>>, Violation> {
    let end = u64::from(base) + 3 * u64::from(zerobuf::SLOT_SIZE);
    if end > memory.len() as u64 {
        return Err(Violation::new(
            Rule::ResponsePointer,
            format!("the response at {base:#x} needs 3 slots up to {end:#x}, but memory is {} bytes", memory.len()),
        ));
    }
    let slot = |i: u32| base + i * zerobuf::SLOT_SIZE;
    // The three slots lie inside memory (checked above), and are read from one array.
    let slots: &[u8; 48] = memory[base as usize..end as usize].try_into().expect("three slots");
    let tag = |i: usize| slots[16 * i];
    let payload_a = |i: usize| u32::from_le_bytes(slots[16 * i + 4..16 * i + 8].try_into().expect("four bytes"));
    let wrong = |rule: Rule, what: &str, i: usize, expected: &str| {
        Violation::new(
            rule,
            format!(
                "slot {i} ({what}) has tag {}; expected {expected} (GoMode's Worker reads it without looking at \
                 the tag, and misreads it)",
                tag(i)
            ),
        )
    };
    let bounds = |err: ZbError| Violation::new(Rule::ResponseBounds, err.to_string());

    if tag(0) != Tag::I32 as u8 {
        return Err(wrong(Rule::ResponseStatus, "status", 0, "tag 2 (i32)"));
    }
    let status = payload_a(0) as i32;
    if status == -1 {
        return Ok(None);
    }
    if !(200..=599).contains(&status) {
        return Err(Violation::new(
            Rule::ResponseStatus,
            format!(
                "status {status} is outside 200..=599: GoMode's `new Response` throws a RangeError and the \
                 Worker fails the request (error 1101)"
            ),
        ));
    }
    if tag(1) != Tag::String as u8 {
        return Err(wrong(Rule::ResponseContentType, "content type", 1, "tag 4 (string)"));
    }
    // GoMode decodes with a default `TextDecoder`: lossily, and without a leading byte order mark.
    let raw = zerobuf::payload_at(memory, payload_a(1)).map_err(bounds)?;
    let content_type = match plain_value(raw) {
        // Nothing to decode or trim, and nothing that `headers.set` refuses.
        Some(text) => Cow::Borrowed(text),
        None => {
            let content_type = match zerobuf::utf8_lossy(raw) {
                Cow::Borrowed(text) => Cow::Borrowed(trim_content_type(text)),
                Cow::Owned(text) => Cow::Owned(trim_content_type(&text).to_owned()),
            };
            if let Some(problem) = header_value_problem(&content_type) {
                return Err(Violation::new(
                    Rule::ResponseContentType,
                    format!("the content type {content_type:?} {problem}, so GoMode's `headers.set` throws"),
                ));
            }
            content_type
        }
    };
    let body_tag = tag(2);
    if body_tag != Tag::String as u8 && body_tag != Tag::Bytes as u8 {
        return Err(wrong(Rule::ResponseBody, "body", 2, "tag 4 (string) or 8 (bytes)"));
    }
    let bytes = zerobuf::payload_at(memory, payload_a(2)).map_err(bounds)?;
    let bytes = if profile::drops_body(status) { &[][..] } else { bytes };
    let text = if body_tag == Tag::String as u8 { zerobuf::utf8(bytes).ok() } else { None };
    let body = match text {
        Some(text) => Body::Text(Cow::Borrowed(text)),
        None => Body::Bytes(Cow::Borrowed(bytes)),
    };

    let stray = |message: String| Violation::new(Rule::GomodeHeaders, message);
    // An expression, not an empty `Vec` that is assigned over: most responses have no headers,
    // and with the assignment their empty `Vec` was built on the stack and copied.
    let headers = if end + u64::from(zerobuf::SLOT_SIZE) <= memory.len() as u64
        && memory[slot(3) as usize] == Tag::String as u8
    {
        if let Some(features) = features
            && features & FEATURE_RESPONSE_HEADERS == 0
        {
            return Err(stray(format!(
                "the byte after the three response slots is 4, so GoMode serves slot 3 as headers, but the guest \
                 declares features {features:#x} without bit 0 (response headers): a stray slot"
            )));
        }
        let text = zerobuf::read_payload(memory, slot(3)).map_err(|err| stray(format!("slot 3: {err}")))?;
        let text = std::str::from_utf8(text)
            .map_err(|err| stray(format!("slot 3 is not UTF-8 ({err}), so it cannot be header lines")))?;
        parse_gomode_header_lines(text.strip_prefix('\u{feff}').unwrap_or(text)).map_err(stray)?
    } else {
        Vec::new()
    };
    Ok(Some(Slots { status: status as u16, content_type, headers, body }))
}

/// `bytes` as text when it is a header value that needs no decoding, trimming or checking:
/// printable ASCII (` ` to `~`), with spaces only inside, as a content type nearly always is.
/// It is tested eight bytes at a time, since it runs on every response.
fn plain_value(bytes: &[u8]) -> Option<&str> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    // A byte of 0x80 or above sets its high bit in `word`. With none, adding 1 to every byte
    // sets it for 0x7f only, and subtracting 0x20 sets it for the lowest byte below 0x20, if any.
    let plain = |word: u64| (word | word.wrapping_add(ONES) | word.wrapping_sub(ONES * 0x20)) & HIGH == 0;
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    let printable = if bytes.len() < 8 {
        bytes.iter().all(|b| (b' '..=b'~').contains(b))
    } else {
        // Whole words, then the last eight bytes, which may overlap the words before.
        (0..bytes.len() / 8).all(|i| plain(word(8 * i))) && plain(word(bytes.len() - 8))
    };
    let trimmed = bytes.first() != Some(&b' ') && bytes.last() != Some(&b' ');
    if printable && trimmed { zerobuf::utf8(bytes).ok() } else { None }
}

/// A content type as GoMode's Worker sets it: without a leading byte order mark, which its
/// `TextDecoder` drops, and trimmed as the Fetch `Headers` object trims values.
fn trim_content_type(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text).trim_matches(is_http_whitespace)
}

/// Whether the Fetch standard trims `c` from header values.
fn is_http_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Why the Fetch `Headers` object refuses `value` (already trimmed), if it does.
pub(crate) fn header_value_problem(value: &str) -> Option<&'static str> {
    // A fold rather than `any`: without the early exit the compiler vectorizes it.
    if value.bytes().fold(false, |found, b| found | matches!(b, b'\0' | b'\r' | b'\n')) {
        Some("holds NUL, CR or LF")
    } else if !value.is_ascii() && value.chars().any(|c| u32::from(c) > 0xff) {
        Some("holds a character above U+00FF, which is not a byte string")
    } else {
        None
    }
}

/// Parses response header text as GoMode's Worker does (ABI.md §11, `[gomode.headers]`): a line
/// counts only when `": "` follows at least one character; the name is lower-cased, the value
/// trimmed; `content-type` lines are skipped and other lines dropped silently. `Err` names a
/// counted line that GoMode's `headers.append` would throw on.
pub fn parse_gomode_header_lines(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for line in text.split('\n') {
        let Some(at) = line.find(": ").filter(|&at| at > 0) else { continue };
        let name = line[..at].to_lowercase();
        if name == "content-type" {
            continue;
        }
        let value = line[at + 2..].trim_matches(is_http_whitespace);
        if !name.bytes().all(is_token_byte) {
            return Err(format!(
                "header line {line:?}: the name {name:?} is not an HTTP token, so GoMode's `headers.append` throws"
            ));
        }
        if let Some(problem) = header_value_problem(value) {
            return Err(format!("header line {line:?}: the value {problem}, so GoMode's `headers.append` throws"));
        }
        headers.push((name, value.to_owned()));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory with a three- or four-slot response at 0x40 and its payloads after it.
    fn memory(status: i32, body_tag: u8, body: &[u8], headers: Option<&str>) -> Vec<u8> {
        let mut mem = vec![0u8; 0x200];
        let mut put_slot = |i: usize, tag: u8, a: u32| {
            mem[0x40 + i * 16] = tag;
            mem[0x44 + i * 16..0x48 + i * 16].copy_from_slice(&a.to_le_bytes());
        };
        put_slot(0, 2, status as u32);
        put_slot(1, 4, 0x100);
        put_slot(2, body_tag, 0x120);
        if headers.is_some() {
            put_slot(3, 4, 0x180);
        }
        let mut put = |at: usize, bytes: &[u8]| {
            mem[at..at + 4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            mem[at + 4..at + 4 + bytes.len()].copy_from_slice(bytes);
        };
        put(0x100, b"text/plain");
        put(0x120, body);
        if let Some(headers) = headers {
            put(0x180, headers.as_bytes());
        }
        mem
    }

    #[test]
    fn reads_a_text_response_with_headers() {
        let mem = memory(201, 4, b"hi", Some("x-a: 1\n"));
        let response = read_response(&mem, 0x40, true).unwrap();
        assert_eq!((response.status, &*response.content_type), (201, "text/plain"));
        assert_eq!(response.body, Body::Text("hi".into()));
        assert_eq!(response.headers, vec![("x-a".into(), "1".into())]);
        // Without the feature, slot 3 is never read.
        assert!(read_response(&mem, 0x40, false).unwrap().headers.is_empty());
    }

    #[test]
    fn each_broken_part_names_its_rule() {
        let rule = |mem: &[u8], base: u32, headers: bool| read_response(mem, base, headers).unwrap_err().rule;
        assert_eq!(rule(&memory(700, 4, b"", None), 0x40, false), Rule::ResponseStatus);
        assert_eq!(rule(&memory(-1, 4, b"", None), 0x40, false), Rule::ResponseStatus);
        assert_eq!(rule(&memory(200, 3, b"", None), 0x40, false), Rule::ResponseBody);
        assert_eq!(rule(&memory(200, 4, b"\xff", None), 0x40, false), Rule::ResponseUtf8);
        assert_eq!(
            read_response(&memory(200, 8, b"\xff", None), 0x40, false).unwrap().body,
            Body::Bytes(vec![0xff].into())
        );
        assert_eq!(rule(&memory(200, 4, b"", Some("bad line\n")), 0x40, true), Rule::ResponseHeaders);
        assert_eq!(rule(&memory(200, 4, b"", None), 0x1f0, false), Rule::ResponsePointer);
        let mut past = memory(200, 4, b"", None);
        past[0x64..0x68].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert_eq!(rule(&past, 0x40, false), Rule::ResponseBounds);
    }

    #[test]
    fn header_parsing_accepts_only_well_formed_lines() {
        assert_eq!(
            parse_header_lines("a: 1\nb-c: x y\n").unwrap(),
            vec![("a".into(), "1".into()), ("b-c".into(), "x y".into())]
        );
        assert_eq!(parse_header_lines("").unwrap(), vec![]);
        assert!(parse_header_lines("a: 1").is_err());
        // Found by the `response` fuzz target: a lone newline is one empty line, not no headers.
        assert!(parse_header_lines("\n").is_err());
        assert!(parse_header_lines("a: 1\n\n").is_err());
        assert!(parse_header_lines("a 1\n").is_err());
        assert!(parse_header_lines("bad name: 1\n").is_err());
        assert!(parse_header_lines(": 1\n").is_err());
    }

    #[test]
    fn plain_values_are_exactly_those_the_slow_path_leaves_alone() {
        // Every byte, at every place in texts of every length up to 17, around `text/plain`'s
        // letters: a plain value is printable ASCII that trimming and checking leave as it is.
        for len in 0..=17 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = b"text/plain;x=y;zz".to_vec()[..len].to_vec();
                    bytes[at] = b;
                    let slow = std::str::from_utf8(&bytes)
                        .ok()
                        .filter(|text| trim_content_type(text) == *text && header_value_problem(text).is_none())
                        .filter(|text| text.bytes().all(|b| (b' '..=b'~').contains(&b)));
                    assert_eq!(plain_value(&bytes), slow, "{bytes:?}");
                }
            }
        }
        assert_eq!(plain_value(b""), Some(""));
    }

    #[test]
    fn gomode_reads_as_the_worker_reads() {
        // A tag-4 body that is not UTF-8 is served raw, and 204 drops the body.
        fn read(mem: &[u8], features: Option<i32>) -> Result<Option<Response<'_>>, Violation> {
            read_gomode_response(mem, 0x40, features)
        }
        assert_eq!(read(&memory(200, 4, b"\xff", None), None).unwrap().unwrap().body, Body::Bytes(vec![0xff].into()));
        assert_eq!(read(&memory(204, 4, b"gone", None), None).unwrap().unwrap().body, Body::Text("".into()));
        assert_eq!(read(&memory(-1, 4, b"", None), None).unwrap(), None);
        for status in [100, 101, 199, 600] {
            assert_eq!(read(&memory(status, 4, b"", None), None).unwrap_err().rule, Rule::ResponseStatus);
        }
        // Slot 3 counts whenever its tag byte is 4, with GoMode's line rules.
        let mem = memory(200, 4, b"", Some("X-Upper: A\r\nnospace:1\ncontent-type: text/html\nlast: noline"));
        let response = read(&mem, None).unwrap().unwrap();
        assert_eq!(response.headers, vec![("x-upper".into(), "A".into()), ("last".into(), "noline".into())]);
        assert_eq!(read(&mem, Some(0)).unwrap_err().rule, Rule::GomodeHeaders);
        assert_eq!(read(&memory(200, 4, b"", Some("bad name: 1\n")), None).unwrap_err().rule, Rule::GomodeHeaders);
        assert_eq!(read(&memory(200, 4, b"", Some("a: \u{100}\n")), None).unwrap_err().rule, Rule::GomodeHeaders);
    }
}
