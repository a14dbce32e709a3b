//! A request as the host receives it, and its layout as request slots in the guest's scratch.

use std::borrow::Cow;

use crate::zerobuf::{EncodeError, Encoder, SLOT_SIZE, Value};

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

    /// The headers slot's text: names lowercased and sorted, repeated names joined with ", ",
    /// one `name: value\n` line each, exactly as the Fetch `Headers` object iterates them.
    pub fn header_lines(&self) -> String {
        let mut headers: Vec<(String, &str)> =
            self.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_str())).collect();
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        let mut text = String::new();
        let mut previous: Option<&str> = None;
        for (name, value) in &headers {
            if previous == Some(name.as_str()) {
                text.pop();
                text.push_str(", ");
            } else {
                text.push_str(name);
                text.push_str(": ");
            }
            text.push_str(value);
            text.push('\n');
            previous = Some(name);
        }
        text
    }

    /// The request's four texts as they go into slots 0 to 3, computed once per call.
    pub(crate) fn layout(&self) -> Layout<'_> {
        Layout { request: self, body: String::from_utf8_lossy(&self.body), headers: self.header_lines() }
    }
}

/// A request's slot texts: the body as the Worker's `request.text()` gives it, and the header lines.
pub(crate) struct Layout<'r> {
    request: &'r Request,
    body: Cow<'r, str>,
    headers: String,
}

impl Layout<'_> {
    fn texts(&self) -> [&str; 4] {
        [&self.request.method, &self.request.path, &self.body, &self.headers]
    }

    /// How many bytes [`Layout::encode`] lays out: the slots, then each string's 4-byte length
    /// and data, padded to a multiple of 4.
    pub(crate) fn len(&self) -> u64 {
        let padded = |text: &str| (4 + text.len() as u64).next_multiple_of(4);
        u64::from(REQUEST_SLOTS * SLOT_SIZE) + self.texts().into_iter().map(padded).sum::<u64>()
    }

    /// Lays the request out as request slots at guest address `base` (ABI.md, `request.slots`).
    pub(crate) fn encode(&self, base: u32) -> Result<Vec<u8>, EncodeError> {
        let mut encoder = Encoder::new(base, REQUEST_SLOTS)?;
        for (i, text) in (0..).zip(self.texts()) {
            encoder.set(i, Value::String(text))?;
        }
        Ok(encoder.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_is_the_block_length() {
        let mut request = Request::new("POST", "/echo?x=1");
        request.headers = vec![("X-A".into(), "1".into())];
        request.body = b"Gr\xfc\xdf".to_vec();
        let layout = request.layout();
        assert_eq!(layout.encode(0x1000).unwrap().len() as u64, layout.len());
    }

    #[test]
    fn header_lines_are_lowercased_sorted_and_combined() {
        let mut request = Request::new("GET", "/");
        request.headers = vec![("X-B".into(), "2".into()), ("accept".into(), "*/*".into()), ("x-b".into(), "3".into())];
        assert_eq!(request.header_lines(), "accept: */*\nx-b: 2, 3\n");
        assert_eq!(Request::new("GET", "/").header_lines(), "");
    }

    #[test]
    fn slots_4_and_5_stay_null() {
        let request = Request::new("GET", "/");
        let block = request.layout().encode(0x100).unwrap();
        assert_eq!(block.len() as u64, request.layout().len());
        assert!(block[64..96].iter().all(|b| *b == 0));
        assert_eq!(block[..4], [4, 0, 0, 0]);
    }
}
