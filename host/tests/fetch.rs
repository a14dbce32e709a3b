//! Integration tests of GoMode's two-phase outbound fetch (ABI.md §12) on a hand-written guest:
//! the -1 answer, the record written through `malloc`, the replay with slots 4 and 5, the cap,
//! a malformed request, and the feature bit that opts an `abi` guest in.

use std::sync::{Arc, Mutex};

use host::{Error, FetchRequest, FetchResult, GuestError, Host, HostConfig, Profile, Request, Rule, Upstream};

mod common;

/// A guest that answers its first call with status -1, asking for `GET http://example.test/x`,
/// and a replay (slot 4 has tag 4) with the fetch record itself, which has the shape of a
/// three-slot response. With `forever` it asks again on every call; with `url` it asks for that
/// text as slot 2 instead; `features` adds a `gomode_abi_features` export.
fn source(forever: bool, url: &str, features: Option<i32>) -> String {
    let replay = if forever {
        ""
    } else {
        "(if (i32.eq (i32.load8_u offset=64 (local.get $req)) (i32.const 4)) (then (return (i32.load offset=68 (local.get $req)))))"
    };
    let features = features
        .map_or(String::new(), |f| format!(r#"(func (export "gomode_abi_features") (result i32) (i32.const {f}))"#));
    common::guest(-1, &["GET\n", url, "0"], replay, &format!(r#"(func (export "_start")) {features}"#))
}

/// An upstream that answers every fetch with GoMode's measured example and remembers the requests.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<FetchRequest>>);

impl Upstream for Recorder {
    fn fetch(&self, request: &FetchRequest) -> FetchResult {
        self.0.lock().unwrap().push(request.clone());
        FetchResult { status: 201, content_type: "text/x-test".into(), body: "hello-fetch".into() }
    }
}

fn host(profile: Profile, upstream: Option<Arc<dyn Upstream>>) -> Host {
    let mut config = HostConfig::new(profile);
    if let Some(upstream) = upstream {
        config.upstream = upstream;
    }
    Host::new(config).expect("wasmtime starts")
}

fn broke(error: Error) -> GuestError {
    match error {
        Error::Guest(error) => error,
        Error::Host(error) => panic!("expected a guest error, got the host error: {error}"),
    }
}

const URL: &str = "http://example.test/x\n";

#[test]
fn a_fetch_is_made_and_the_handler_replayed_with_the_record() {
    let recorder = Arc::new(Recorder::default());
    let module = host(Profile::Gomode, Some(recorder.clone()))
        .load_bytes("fetcher", source(false, URL, None).as_bytes())
        .unwrap();
    let mut guest = module.guest();
    let response = guest.call(&Request::new("GET", "/")).unwrap();
    assert_eq!((response.status, &*response.content_type), (201, "text/x-test"));
    assert_eq!(response.body.as_bytes(), b"hello-fetch");
    assert_eq!(response.fetches, 1);
    let made = recorder.0.lock().unwrap().clone();
    assert_eq!(made.len(), 1);
    assert_eq!(
        (made[0].method.as_str(), made[0].url.as_str(), made[0].call_index),
        ("GET", "http://example.test/x", 0)
    );
}

#[test]
fn without_network_a_fetch_gets_gomodes_synthetic_502() {
    let module = host(Profile::Gomode, None).load_bytes("fetcher", source(false, URL, None).as_bytes()).unwrap();
    let response = module.guest().call(&Request::new("GET", "/")).unwrap();
    assert_eq!(response.status, 502);
    let body = String::from_utf8_lossy(response.body.as_bytes()).into_owned();
    assert!(body.contains("example.test:80 is not allowed") && body.contains("--allow-net"), "{body}");
}

#[test]
fn a_handler_that_fetches_forever_breaks_the_cap() {
    let mut config = HostConfig::new(Profile::Gomode);
    config.max_fetches = 5;
    let module = Host::new(config).unwrap().load_bytes("forever", source(true, URL, None).as_bytes()).unwrap();
    let mut guest = module.guest();
    let error = broke(guest.call(&Request::new("GET", "/")).unwrap_err());
    assert_eq!(error.rule(), Rule::FetchCap);
    assert!(error.to_string().contains("--max-fetches"), "{error}");
}

#[test]
fn a_malformed_fetch_request_names_the_rule() {
    let no_newline = source(false, "http://example.test/x", None);
    let module = host(Profile::Gomode, None).load_bytes("malformed", no_newline.as_bytes()).unwrap();
    let error = broke(module.guest().call(&Request::new("GET", "/")).unwrap_err());
    assert_eq!(error.rule(), Rule::FetchRequest);
    assert!(error.to_string().contains("no newline"), "{error}");
}

#[test]
fn under_abi_only_a_guest_that_declares_the_feature_fetches() {
    let undeclared = host(Profile::Abi, None).load_bytes("undeclared", source(false, URL, None).as_bytes()).unwrap();
    let error = broke(undeclared.guest().call(&Request::new("GET", "/")).unwrap_err());
    assert_eq!(error.rule(), Rule::ResponseStatus);
    let declared = host(Profile::Abi, None).load_bytes("declared", source(false, URL, Some(2)).as_bytes()).unwrap();
    let response = declared.guest().call(&Request::new("GET", "/")).unwrap();
    assert_eq!((response.status, response.fetches), (502, 1));
}
