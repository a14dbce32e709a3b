//! Integration tests of the `gomode` profile (ABI.md §11) on small hand-written guests: init
//! through `_start` only, GoMode's 25 WASI imports, the fixed scratch, the request as GoMode's
//! Worker passes it on, and a trap that answers 500 and keeps the instance.

use host::{Body, Error, GuestError, Host, HostConfig, Profile, Request, Response, Rule};

mod common;

/// A guest whose `_start` resets a call counter (from 100 to 0, so answers show that it ran),
/// and whose handler routes on the first character of the path: `t` traps, `e` exits with code
/// 3, `f` answers status -1 (an outbound fetch), `p` answers the path it received, `b` the body,
/// and anything else the counter as a digit.
/// It changes [`common::guest`]'s response in place: the status at 260, the body's address at 292
/// and the one-byte body `?` at 528; slot 3 holds the header line `x-a: 1`.
/// `extra` adds exported functions; `start` is false for a guest without `_start`.
fn source(extra: &str, start: bool) -> String {
    let start = if start { r#"(func (export "_start") (global.set $count (i32.const 0)))"# } else { "" };
    let handler = r#"(local $path i32) (local $c i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (local.set $path (i32.load offset=20 (local.get $req)))
    (local.set $c (i32.load8_u offset=5 (local.get $path)))
    (if (i32.eq (local.get $c) (i32.const 116)) (then unreachable))
    (if (i32.eq (local.get $c) (i32.const 101)) (then (call $proc_exit (i32.const 3))))
    (i32.store (i32.const 260) (i32.const 200))
    (if (i32.eq (local.get $c) (i32.const 102)) (then (i32.store (i32.const 260) (i32.const -1))))
    (i32.store8 (i32.const 532) (i32.add (i32.const 48) (global.get $count)))
    (i32.store (i32.const 292) (i32.const 528))
    (if (i32.eq (local.get $c) (i32.const 112)) (then (i32.store (i32.const 292) (local.get $path))))
    (if (i32.eq (local.get $c) (i32.const 98)) (then (i32.store (i32.const 292) (i32.load offset=36 (local.get $req)))))"#;
    let items = format!("(global $count (mut i32) (i32.const 100)) {start} {extra}");
    common::guest(200, &["text/plain", "?", "x-a: 1\n"], handler, &items)
}

fn host(profile: Profile) -> Host {
    Host::new(HostConfig::new(profile)).expect("wasmtime starts")
}

fn broke(error: Error) -> GuestError {
    match error {
        Error::Guest(error) => error,
        Error::Host(error) => panic!("expected a guest error, got the host error: {error}"),
    }
}

fn text<'a>(response: &'a Response<'_>) -> &'a str {
    std::str::from_utf8(response.body.as_bytes()).expect("a text body")
}

#[test]
fn a_trap_answers_500_and_the_same_instance_serves_on() {
    let module = host(Profile::Gomode).load_bytes("counter", source("", true).as_bytes()).unwrap();
    let mut guest = module.guest();
    assert_eq!(text(&guest.call(&Request::new("GET", "/c")).unwrap()), "1");
    let trapped = guest.call(&Request::new("GET", "/t")).unwrap();
    assert_eq!((trapped.status, &*trapped.content_type), (500, "text/plain; charset=utf-8"));
    assert_eq!(trapped.body, Body::Text("panic: unreachable".into()));
    assert_eq!(trapped.panic.map(|v| v.rule), Some(Rule::CallTrap));
    let exited = guest.call(&Request::new("GET", "/e")).unwrap();
    assert_eq!(text(&exited), "panic: exit code: 3");
    // The counter went on from the trapped and the exited calls: GoMode keeps the instance.
    assert_eq!(text(&guest.call(&Request::new("GET", "/c")).unwrap()), "4");
    assert_eq!(guest.instances(), 1);
    // Under `abi` the same trap is an error and the instance is replaced.
    let mut abi = host(Profile::Abi).load_bytes("counter", source("", true).as_bytes()).unwrap().guest();
    assert_eq!(broke(abi.call(&Request::new("GET", "/t")).unwrap_err()).rule(), Rule::CallTrap);
    assert_eq!(text(&abi.call(&Request::new("GET", "/c")).unwrap()), "1");
}

#[test]
fn only_start_initializes_and_it_is_required() {
    let initialize_only = source(r#"(func (export "_initialize") (global.set $count (i32.const 0)))"#, false);
    let error = host(Profile::Gomode).load_bytes("reactor", initialize_only.as_bytes()).unwrap_err();
    assert_eq!(error.rule(), Rule::GomodeStart);
    assert!(error.to_string().contains("`_start`"), "{error}");
    let mut abi = host(Profile::Abi).load_bytes("reactor", initialize_only.as_bytes()).unwrap().guest();
    assert_eq!(text(&abi.call(&Request::new("GET", "/c")).unwrap()), "1");
    // With both exports, `gomode` runs `_start` only, and `abi` runs `_initialize` only.
    let both = source(r#"(func (export "_initialize") (global.set $count (i32.const 5)))"#, true);
    let mut gomode = host(Profile::Gomode).load_bytes("both", both.as_bytes()).unwrap().guest();
    assert_eq!(text(&gomode.call(&Request::new("GET", "/c")).unwrap()), "1");
    let mut abi = host(Profile::Abi).load_bytes("both", both.as_bytes()).unwrap().guest();
    assert_eq!(text(&abi.call(&Request::new("GET", "/c")).unwrap()), "6");
}

#[test]
fn only_gomodes_25_wasi_functions_may_be_imported() {
    for import in [
        r#"(import "env" "x" (func))"#,
        r#"(import "wasi_snapshot_preview1" "clock_res_get" (func (param i32 i32) (result i32)))"#,
    ] {
        // Imports come first in a module.
        let wat = source("", true).replacen("(module\n", &format!("(module\n  {import}\n"), 1);
        let error = host(Profile::Gomode).load_bytes("imports", wat.as_bytes()).unwrap_err();
        assert_eq!(error.rule(), Rule::GomodeImports, "{import}");
    }
    let clock = r#"(import "wasi_snapshot_preview1" "clock_res_get" (func (param i32 i32) (result i32)))"#;
    let wat = source("", true).replacen("(module\n", &format!("(module\n  {clock}\n"), 1);
    assert!(host(Profile::Abi).load_bytes("imports", wat.as_bytes()).is_ok());
}

#[test]
fn a_request_past_the_fixed_scratch_names_the_rule_and_the_budget() {
    let module = host(Profile::Gomode).load_bytes("scratch", source("", true).as_bytes()).unwrap();
    let mut guest = module.guest();
    let mut request = Request::new("POST", "/b");
    request.body = vec![b'x'; 20_000];
    let error = broke(guest.call(&request).unwrap_err());
    assert_eq!(error.rule(), Rule::GomodeScratch);
    assert!(error.to_string().contains("8352"), "{error}");
    // The largest body that fits: 96 + 8 (POST) + 8 (/b) + a4(4 + B) + 4 (no headers) <= 8352.
    request.body = vec![b'y'; 8232];
    assert_eq!(guest.call(&request).unwrap().body.as_bytes().len(), 8232);
    request.body.push(b'y');
    assert_eq!(broke(guest.call(&request).unwrap_err()).rule(), Rule::GomodeScratch);
    assert_eq!(guest.instances(), 1);
}

#[test]
fn the_guest_gets_the_request_as_gomodes_worker_passes_it_on() {
    let module = host(Profile::Gomode).load_bytes("echo", source("", true).as_bytes()).unwrap();
    let mut guest = module.guest();
    let with_body = |method: &str| {
        let mut request = Request::new(method, "/b");
        request.body = b"hi".to_vec();
        request
    };
    assert_eq!(text(&guest.call(&with_body("DELETE")).unwrap()), "");
    assert_eq!(text(&guest.call(&with_body("post")).unwrap()), "hi");
    assert_eq!(text(&guest.call(&with_body("PATCH")).unwrap()), "hi");
    assert_eq!(text(&guest.call(&Request::new("GET", "/x/../p?c=ü#f")).unwrap()), "/p?c=%C3%BC");
    let abi = host(Profile::Abi).load_bytes("echo", source("", true).as_bytes()).unwrap();
    assert_eq!(text(&abi.guest().call(&with_body("DELETE")).unwrap()), "hi");
}

#[test]
fn slot_3_is_read_by_its_tag_and_a_stray_one_is_named() {
    let module = host(Profile::Gomode).load_bytes("headers", source("", true).as_bytes()).unwrap();
    assert_eq!(module.guest().call(&Request::new("GET", "/c")).unwrap().headers, [("x-a".into(), "1".into())]);
    let declared_none = source(r#"(func (export "gomode_abi_features") (result i32) (i32.const 0))"#, true);
    let module = host(Profile::Gomode).load_bytes("stray", declared_none.as_bytes()).unwrap();
    let error = broke(module.guest().call(&Request::new("GET", "/c")).unwrap_err());
    assert_eq!(error.rule(), Rule::GomodeHeaders);
}

#[test]
fn the_memory_limit_is_a_workers_isolate() {
    assert_eq!(HostConfig::default().profile, Profile::Gomode);
    assert_eq!(HostConfig::default().memory_limit, 128 << 20);
    assert_eq!(HostConfig::new(Profile::Abi).memory_limit, 1 << 30);
}

#[test]
fn status_minus_one_asks_for_a_fetch_under_gomode_and_breaks_a_rule_under_abi() {
    // This guest's -1 answer is not a fetch request (slot 1 has no newline), which names the rule.
    let module = host(Profile::Gomode).load_bytes("fetch", source("", true).as_bytes()).unwrap();
    let mut guest = module.guest();
    assert_eq!(broke(guest.call(&Request::new("GET", "/f")).unwrap_err()).rule(), Rule::FetchRequest);
    assert_eq!(text(&guest.call(&Request::new("GET", "/c")).unwrap()), "2");
    let abi = host(Profile::Abi).load_bytes("fetch", source("", true).as_bytes()).unwrap();
    assert_eq!(broke(abi.guest().call(&Request::new("GET", "/f")).unwrap_err()).rule(), Rule::ResponseStatus);
}
