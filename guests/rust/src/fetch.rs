//! The guest's side of the two-phase outbound fetch (ABI.md §12): a handler that needs a fetch
//! answers status -1 with the fetch it wants, and the host calls it again with the same request
//! and the result in slots 4 and 5.
//!
//! Results are kept across those calls by call index, in `RESULTS`. Each call runs the handler
//! from the start with a fresh [`Fetcher`], whose n-th fetch returns the n-th kept result, or,
//! when there is none yet, records the fetch as pending and returns `None`; the handler then gives
//! up, and `lib.rs` answers the pending fetch instead of the handler's response. When a handler
//! finishes without a pending fetch, the kept results are dropped. So N fetches in sequence cost
//! N + 1 calls, and whatever the handler does before its last fetch happens again on every call.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::zerobuf::{Body, Response};

/// What a fetch gave: the status, the content type and the body as text.
#[derive(Clone, Debug)]
pub struct FetchResult {
    pub status: i32,
    pub content_type: String,
    pub body: String,
}

/// A fetch a handler asks for. A method that starts with `__` is a binding operation, such as
/// `__KV_GET`, with the key as the URL.
#[derive(Debug, Default)]
pub struct Wanted {
    pub method: String,
    pub url: String,
    pub content_type: String,
    pub body: String,
    /// `(name, value)` pairs the host sends as request headers.
    pub headers: Vec<(String, String)>,
}

thread_local! {
    /// The results the host has given so far for the request being served, by call index.
    static RESULTS: RefCell<BTreeMap<i32, FetchResult>> = const { RefCell::new(BTreeMap::new()) };
}

/// Keeps a result the host passed in request slots 4 and 5.
pub fn keep(call_index: i32, result: FetchResult) {
    RESULTS.with_borrow_mut(|results| results.insert(call_index, result));
}

/// Hands out the kept results to one run of a handler, in call order.
#[derive(Debug, Default)]
pub struct Fetcher {
    next: i32,
    pending: Option<(i32, Wanted)>,
}

impl Fetcher {
    /// The result of this fetch, or `None` when the host has not made it yet; the handler should
    /// then return at once (its response is not used).
    pub fn fetch(&mut self, wanted: Wanted) -> Option<FetchResult> {
        let index = self.next;
        self.next += 1;
        let kept = RESULTS.with_borrow(|results| results.get(&index).cloned());
        if kept.is_none() && self.pending.is_none() {
            self.pending = Some((index, wanted));
        }
        kept
    }

    /// What to answer after the handler in place of its response: the -1 response asking for
    /// the pending fetch, or `None` when nothing is pending, and the kept results are dropped.
    /// Inlined, with the rare -1 answer kept apart, because every request comes through here.
    #[inline]
    pub fn finish(self) -> Option<Response> {
        let Some((index, wanted)) = self.pending else {
            // Most requests fetch nothing and find nothing kept, so the map is left alone then.
            RESULTS.with_borrow_mut(|results| {
                if !results.is_empty() {
                    results.clear();
                }
            });
            return None;
        };
        Some(asking(index, wanted))
    }
}

/// The -1 response that asks the host for fetch number `index` (ABI.md §12).
#[cold]
fn asking(index: i32, wanted: Wanted) -> Response {
    let mut headers = index.to_string();
    if !wanted.headers.is_empty() {
        headers.push('\n');
        for (name, value) in &wanted.headers {
            headers.push_str(&format!("{name}: {value}\n"));
        }
    }
    Response {
        status: -1,
        content_type: format!("{}\n{}", wanted.method, wanted.content_type).into(),
        body: Body::Text(format!("{}\n{}", wanted.url, wanted.body).into()),
        headers: Some(headers.into()),
    }
}
