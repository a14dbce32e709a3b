//! A request as the host receives it, and its layout as request slots in the guest's scratch.

use std::borrow::Cow;

use crate::error::HostError;
use crate::profile::{self, Profile};
use crate::response::header_value_problem;
use crate::zerobuf::{self, ADDRESS_SPACE, EncodeError, SLOT_SIZE, Tag};

/// Request slots the host writes: method, path, body, headers, and two reserved nulls.
pub(crate) const REQUEST_SLOTS: u32 = 6;

/// One HTTP request, as the host will encode it into request slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The method, such as `GET`.
    pub method: String,
    /// The path with its query, such as `/json?x=1`.
    pub path: String,
    /// Header names and values, in the order they were given.
    pub headers: Vec<(String, String)>,
    /// The body; bytes that are not UTF-8 are replaced, as the Worker's `request.text()` does.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: &str, path: &str) -> Request {
        Request { method: method.to_owned(), path: path.to_owned(), ..Request::default() }
    }

    /// `METHOD PATH`, the way errors and reports name a request.
    pub fn summary(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// What the guest receives in slots 0 to 3 under `profile`: the method, the path with its
    /// query, the body text and the header lines. Under `abi` they are the request as given (the
    /// body decoded lossily); under `gomode` they are what GoMode's Worker passes on (ABI.md §11).
    /// `Err` says why the request cannot be sent at all.
    pub fn slot_texts(&self, profile: Profile) -> Result<[String; 4], HostError> {
        let layout = self.layout(profile)?;
        Ok(layout.texts().map(str::to_owned))
    }

    /// The request's four slot texts under `profile`, computed once per call.
    #[inline]
    pub(crate) fn layout(&self, profile: Profile) -> Result<Layout<'_>, HostError> {
        let bad = |reason: String| HostError::BadRequest { request: self.summary(), reason };
        if self.method.is_empty() || !self.method.bytes().all(is_token_byte) {
            return Err(bad(format!("the method {:?} is not an HTTP token", self.method)));
        }
        Ok(match profile {
            Profile::Abi => Layout::new(
                Cow::Borrowed(&self.method),
                Cow::Borrowed(&self.path),
                zerobuf::utf8_lossy(&self.body),
                header_text(&self.headers, profile),
            ),
            Profile::Gomode => {
                let method = profile::fetch_method(&self.method);
                if ["CONNECT", "TRACE", "TRACK"].iter().any(|m| m.eq_ignore_ascii_case(&method)) {
                    return Err(bad(format!("the Fetch standard forbids the method {method}")));
                }
                for (name, value) in &self.headers {
                    if name.is_empty() || !name.bytes().all(is_token_byte) {
                        return Err(bad(format!("the header name {name:?} is not an HTTP token")));
                    }
                    if let Some(problem) = header_value_problem(trim_value(value)) {
                        return Err(bad(format!("the value of header {name:?} {problem}")));
                    }
                }
                let body = if profile::sends_body(&method) {
                    let bytes = self.body.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(&self.body);
                    zerobuf::utf8_lossy(bytes)
                } else {
                    Cow::Borrowed("")
                };
                let path = profile::normalize_target(&self.path).map_err(bad)?;
                Layout::new(method, path, body, header_text(&self.headers, profile))
            }
        })
    }
}

/// Whether `b` may appear in an HTTP token (a method or a header name).
pub(crate) fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES[usize::from(b)]
}

/// The bytes of an HTTP token: letters, digits and ``!#$%&'*+-.^_`|~``, as a table.
static TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < symbols.len() {
        table[symbols[i] as usize] = true;
        i += 1;
    }
    table
};

/// A header value as the Fetch `Headers` object keeps it under `gomode`: without leading and
/// trailing spaces and tabs.
fn trim_value(value: &str) -> &str {
    value.trim_matches(|c| c == ' ' || c == '\t')
}

/// The header lines of `headers`, as the Fetch `Headers` object iterates them: names lowercased
/// and sorted, repeated names joined with ", ". Under `gomode` values are trimmed of spaces and
/// tabs first, as `Headers` does, and `set-cookie` values are never joined.
#[inline]
fn header_text(headers: &[(String, String)], profile: Profile) -> String {
    // Most requests a guest is tested with have no headers: their case is inlined.
    if headers.is_empty() { String::new() } else { header_lines(headers, profile) }
}

/// [`header_text`] for a request with headers.
fn header_lines(headers: &[(String, String)], profile: Profile) -> String {
    let gomode = profile == Profile::Gomode;
    if let [(name, value)] = headers {
        let value = if gomode { trim_value(value) } else { value };
        let mut text = String::with_capacity(name.len() + value.len() + 3);
        text.push_str(name);
        text.make_ascii_lowercase();
        text.push_str(": ");
        text.push_str(value);
        text.push('\n');
        return text;
    }
    fn lowercase(name: &str) -> Cow<'_, str> {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        }
    }
    let mut headers: Vec<(Cow<'_, str>, &str)> =
        headers.iter().map(|(k, v)| (lowercase(k), if gomode { trim_value(v) } else { v.as_str() })).collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    // Each line is at most `name: value\n`; a joined value needs less (`, value\n`).
    let mut text = String::with_capacity(headers.iter().map(|(name, value)| name.len() + value.len() + 3).sum());
    let mut previous: Option<&str> = None;
    for (name, value) in &headers {
        if previous == Some(&**name) && !(gomode && name == "set-cookie") {
            text.pop();
            text.push_str(", ");
        } else {
            text.push_str(name);
            text.push_str(": ");
        }
        text.push_str(value);
        text.push('\n');
        previous = Some(&**name);
    }
    text
}

/// A request's slot texts under one profile, borrowed from the request where the profile passes
/// them on unchanged.
pub(crate) struct Layout<'r> {
    method: Cow<'r, str>,
    path: Cow<'r, str>,
    body: Cow<'r, str>,
    headers: String,
    /// What [`Layout::len`] returns, computed once.
    len: u64,
}

impl<'r> Layout<'r> {
    fn new(method: Cow<'r, str>, path: Cow<'r, str>, body: Cow<'r, str>, headers: String) -> Layout<'r> {
        let mut layout = Layout { method, path, body, headers, len: 0 };
        layout.len = u64::from(REQUEST_SLOTS * SLOT_SIZE)
            + layout.texts().iter().map(|text| padded(text.len()) as u64).sum::<u64>();
        layout
    }

    fn texts(&self) -> [&str; 4] {
        [&self.method, &self.path, &self.body, &self.headers]
    }

    /// How many bytes [`Layout::write`] lays out: the slots, then each string's 4-byte length
    /// and data, padded to a multiple of 4.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// How far GoMode's Worker writes for this request: like [`Layout::len`], but without the
    /// padding after the last string, which GoMode never writes (`[gomode.scratch]`).
    pub(crate) fn gomode_len(&self) -> u64 {
        self.len() - padded(self.headers.len()) as u64 + 4 + self.headers.len() as u64
    }

    /// Lays the request out as request slots at guest address `base` (ABI.md, `request.slots`)
    /// straight into `out`, the [`Layout::len`] bytes of guest memory from `base` on. The bytes
    /// are those of a [`crate::zerobuf::Encoder`] given the four strings in order: six slots,
    /// strings 0 to 3 (slots 4 and 5 null), then each string's length and data, zero-padded to a
    /// multiple of 4.
    pub(crate) fn write(&self, base: u32, out: &mut [u8]) -> Result<(), EncodeError> {
        let end = u64::from(base) + self.len();
        if end > ADDRESS_SPACE {
            return Err(EncodeError::AddressSpace { end });
        }
        assert_eq!(out.len() as u64, self.len(), "the request block is written to exactly its length");
        const SLOTS: usize = (REQUEST_SLOTS * SLOT_SIZE) as usize;
        // The slots are made on the stack and copied in at once; slots 4 and 5 stay null.
        let mut slots = [0u8; SLOTS];
        let mut at = SLOTS;
        for (slot, text) in slots.chunks_exact_mut(SLOT_SIZE as usize).zip(self.texts()) {
            // `base + at` lies inside the block, which ends within the address space (checked above).
            slot[0] = Tag::String as u8;
            slot[4..8].copy_from_slice(&(base + at as u32).to_le_bytes());
            let bytes = text.as_bytes();
            let padded = padded(bytes.len());
            let block = &mut out[at..at + padded];
            // The last word first, so that the padding is zero once the length and data are in.
            block[padded - 4..].copy_from_slice(&[0; 4]);
            block[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            copy_short(&mut block[4..4 + bytes.len()], bytes);
            at += padded;
        }
        out[..SLOTS].copy_from_slice(&slots);
        Ok(())
    }
}

/// How many bytes a string of `len` bytes takes in the block: its 4-byte length and its data,
/// padded to a multiple of 4. (A mask, which `next_multiple_of` does not compile to.)
#[inline]
fn padded(len: usize) -> usize {
    (len + 7) & !3
}

/// `to.copy_from_slice(from)`, without a call to `memcpy` for the short texts most requests are
/// made of (a method, a path): up to sixteen bytes are copied as two words that may overlap.
#[inline]
fn copy_short(to: &mut [u8], from: &[u8]) {
    let len = from.len();
    match len {
        0 => {}
        1..4 => {
            // The first, middle and last bytes, which cover one to three bytes.
            to[0] = from[0];
            to[len / 2] = from[len / 2];
            to[len - 1] = from[len - 1];
        }
        4..=8 => {
            to[..4].copy_from_slice(&from[..4]);
            to[len - 4..].copy_from_slice(&from[len - 4..]);
        }
        9..=16 => {
            to[..8].copy_from_slice(&from[..8]);
            to[len - 8..].copy_from_slice(&from[len - 8..]);
        }
        _ => to.copy_from_slice(from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zerobuf::{Encoder, Value};

    /// The block [`Layout::write`] lays out at `base`, over a buffer of junk.
    fn written(layout: &Layout<'_>, base: u32) -> Vec<u8> {
        let mut block = vec![0xa5; layout.len() as usize];
        layout.write(base, &mut block).unwrap();
        block
    }

    /// The same block as the generic [`Encoder`] lays it out.
    fn encoded(layout: &Layout<'_>, base: u32) -> Vec<u8> {
        let mut encoder = Encoder::new(base, REQUEST_SLOTS).unwrap();
        for (i, text) in (0..).zip(layout.texts()) {
            encoder.set(i, Value::String(text)).unwrap();
        }
        encoder.finish()
    }

    #[test]
    fn write_lays_out_what_the_encoder_does() {
        // Every length up to past `copy_short`'s words, and bytes that are not UTF-8.
        let mut bodies: Vec<Vec<u8>> = (0..=20u8).map(|len| (b'a'..b'a' + len).collect()).collect();
        bodies.push(b"abcd\xff".to_vec());
        for (i, body) in bodies.into_iter().enumerate() {
            let mut request = Request::new("POST", &"/p".repeat(i + 1));
            request.body = body;
            request.headers = vec![("X-A".into(), "1".repeat(i)), ("x-b".into(), " 2 ".into())];
            for profile in Profile::ALL {
                let layout = request.layout(profile).unwrap();
                assert_eq!(written(&layout, 0x1000), encoded(&layout, 0x1000), "{profile} {i}");
            }
        }
        let root = Request::new("GET", "/");
        let layout = root.layout(Profile::Abi).unwrap();
        let end = (1 << 32) + layout.len() - 8;
        assert_eq!(layout.write(u32::MAX - 7, &mut [0; 256]), Err(EncodeError::AddressSpace { end }));
    }

    #[test]
    fn encoded_len_is_the_block_length() {
        let mut request = Request::new("POST", "/echo?x=1");
        request.headers = vec![("X-A".into(), "1".into())];
        request.body = b"Gr\xfc\xdf".to_vec();
        let layout = request.layout(Profile::Abi).unwrap();
        assert_eq!(encoded(&layout, 0x1000).len() as u64, layout.len());
        assert_eq!(layout.gomode_len(), layout.len() - 1);
    }

    #[test]
    fn token_bytes_are_the_rfc_9110_tchars() {
        let expected = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        assert!((0..=255).all(|b| is_token_byte(b) == expected(b)));
    }

    #[test]
    fn header_lines_are_lowercased_sorted_and_combined() {
        let mut request = Request::new("GET", "/");
        request.headers = vec![("X-B".into(), "2".into()), ("accept".into(), "*/*".into()), ("x-b".into(), "3".into())];
        assert_eq!(request.slot_texts(Profile::Abi).unwrap()[3], "accept: */*\nx-b: 2, 3\n");
        assert_eq!(Request::new("GET", "/").slot_texts(Profile::Abi).unwrap()[3], "");
        request.headers = vec![("Content-Type".into(), " text/plain\t".into())];
        assert_eq!(request.slot_texts(Profile::Abi).unwrap()[3], "content-type:  text/plain\t\n");
        assert_eq!(request.slot_texts(Profile::Gomode).unwrap()[3], "content-type: text/plain\n");
    }

    #[test]
    fn slots_4_and_5_stay_null() {
        let request = Request::new("GET", "/");
        let block = written(&request.layout(Profile::Gomode).unwrap(), 0x100);
        assert_eq!(block.len() as u64, request.layout(Profile::Gomode).unwrap().len());
        assert!(block[64..96].iter().all(|b| *b == 0));
        assert_eq!(block[..4], [4, 0, 0, 0]);
    }

    #[test]
    fn gomode_sends_what_the_worker_passes_on() {
        let mut request = Request::new("delete", "/a/../echo?c=ü#f");
        request.body = b"hi".to_vec();
        request.headers = vec![("Set-Cookie".into(), " a=1".into()), ("set-cookie".into(), "b=2\t".into())];
        let [method, path, body, headers] = request.slot_texts(Profile::Gomode).unwrap();
        assert_eq!((method.as_str(), path.as_str(), body.as_str()), ("DELETE", "/echo?c=%C3%BC", ""));
        assert_eq!(headers, "set-cookie: a=1\nset-cookie: b=2\n");
        let mut post = Request::new("post", "/echo");
        post.body = b"\xef\xbb\xbfA\xffB".to_vec();
        assert_eq!(post.slot_texts(Profile::Gomode).unwrap()[2], "A\u{fffd}B");
        assert_eq!(post.slot_texts(Profile::Abi).unwrap()[2], "\u{feff}A\u{fffd}B");
        assert!(Request::new("GET", "json").slot_texts(Profile::Gomode).is_err());
        assert!(Request::new("GE T", "/").slot_texts(Profile::Abi).is_err());
        assert!(Request::new("trace", "/").slot_texts(Profile::Gomode).is_err());
        let mut wide = Request::new("GET", "/");
        wide.headers = vec![("x-a".into(), "\u{100}".into())];
        assert!(wide.slot_texts(Profile::Gomode).is_err() && wide.slot_texts(Profile::Abi).is_ok());
    }
}
