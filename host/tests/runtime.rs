//! Integration tests of the runtime's life cycle: init, declarations, output capture, instance
//! replacement and the configurable limits, on small hand-written guests.
//!
//! Each guest is the shared minimal guest of `common`, answering a static response whose slot 3
//! holds a header line, with the handler and the functions a test needs.

use std::time::Duration;

use host::{Error, GuestError, Host, HostConfig, HostError, Profile, Request, Rule};

mod common;

/// A guest that runs `handler` and then answers 200 `text/plain` `ok` with the header line
/// `x-a: 1`, with `items` added (see [`common::guest`]).
fn guest(handler: &str, items: &str) -> String {
    common::guest(200, &["text/plain", "ok", "x-a: 1\n"], handler, items)
}

fn host(config: HostConfig) -> Host {
    Host::new(config).expect("wasmtime starts")
}

/// The guest error of a failed call; a host error fails the test.
fn broke(error: Error) -> GuestError {
    match error {
        Error::Guest(error) => error,
        Error::Host(error) => panic!("expected a guest error, got the host error: {error}"),
    }
}

fn get() -> Request {
    Request::new("GET", "/")
}

#[test]
fn initialize_runs_once_and_wins_over_start() {
    let wat = guest(
        "(i32.store (i32.const 260) (i32.add (i32.const 200) (global.get $inits)))",
        r#"(global $inits (mut i32) (i32.const 0))
           (func (export "_initialize") (global.set $inits (i32.add (global.get $inits) (i32.const 1))))
           (func (export "_start") unreachable)"#,
    );
    let module = host(HostConfig::new(Profile::Abi)).load_bytes("init_once", wat.as_bytes()).unwrap();
    let mut guest = module.guest();
    for _ in 0..3 {
        assert_eq!(guest.call(&get()).unwrap().status, 201);
    }
    assert_eq!(guest.instances(), 1);
}

#[test]
fn start_ending_in_proc_exit_zero_keeps_the_instance() {
    let wat = guest("", r#"(func (export "_start") (call $proc_exit (i32.const 0)))"#);
    let module = host(HostConfig::new(Profile::Abi)).load_bytes("tinygo_like", wat.as_bytes()).unwrap();
    let mut guest = module.guest();
    assert_eq!(guest.call(&get()).unwrap().status, 200);
    assert_eq!(guest.call(&get()).unwrap().status, 200);
    assert_eq!(guest.instances(), 1);
}

#[test]
fn exit_while_serving_is_an_error_naming_the_rule() {
    let wat = guest("(call $proc_exit (i32.const 0))", "");
    let module = host(HostConfig::new(Profile::Abi)).load_bytes("exits", wat.as_bytes()).unwrap();
    let error = broke(module.guest().call(&get()).unwrap_err());
    assert_eq!(error.rule(), Rule::CallExit);
    assert!(error.to_string().contains("call.exit"), "{error}");
}

#[test]
fn guest_output_is_captured_with_responses_and_errors() {
    let wat = guest(
        r#"(call $print (i32.const 1) (i32.const 576) (i32.const 5))
           ;; A POST (method length 4) prints to stderr and traps.
           (if (i32.eq (i32.load (i32.load offset=4 (local.get $req))) (i32.const 4))
             (then (call $print (i32.const 2) (i32.const 582) (i32.const 4)) unreachable))"#,
        r#";; Writes the `len` bytes at `ptr` to `fd` through an iovec at 128.
           (func $print (param $fd i32) (param $ptr i32) (param $len i32)
             (i32.store (i32.const 128) (local.get $ptr))
             (i32.store (i32.const 132) (local.get $len))
             (drop (call $fd_write (local.get $fd) (i32.const 128) (i32.const 1) (i32.const 136))))
           (data (i32.const 576) "hello boom")"#,
    );
    let module = host(HostConfig::new(Profile::Abi)).load_bytes("prints", wat.as_bytes()).unwrap();
    let mut guest = module.guest();
    let response = guest.call(&get()).unwrap();
    assert_eq!((response.stdout.as_str(), response.stderr.as_str()), ("hello", ""));
    let error = broke(guest.call(&Request::new("POST", "/")).unwrap_err());
    assert_eq!(error.rule(), Rule::CallTrap);
    assert_eq!((error.stdout.as_str(), error.stderr.as_str()), ("hello", "boom"));
    assert!(error.to_string().contains("boom"), "the error shows the guest's stderr: {error}");
}

/// A guest that traps on `POST` and answers anything else.
fn traps_on_post() -> host::GuestModule {
    let wat =
        guest("(if (i32.eq (i32.load (i32.load offset=4 (local.get $req))) (i32.const 4)) (then unreachable))", "");
    host(HostConfig::new(Profile::Abi)).load_bytes("traps_on_post", wat.as_bytes()).unwrap()
}

#[test]
fn a_trapped_instance_is_replaced_for_the_next_request() {
    let mut guest = traps_on_post().guest();
    assert_eq!(guest.call(&get()).unwrap().status, 200);
    let error = broke(guest.call(&Request::new("POST", "/x")).unwrap_err());
    assert_eq!(
        (error.rule(), error.guest.as_str(), error.request.as_deref()),
        (Rule::CallTrap, "traps_on_post", Some("POST /x"))
    );
    assert_eq!(guest.memory_size(), None, "`call` drops the broken instance at once");
    assert_eq!(guest.call(&get()).unwrap().status, 200);
    assert_eq!(guest.instances(), 2);
}

#[test]
fn an_answer_read_in_place_is_the_calls_response_and_a_broken_instance_goes_at_the_next_call() {
    let mut guest = traps_on_post().guest();
    let in_place = guest.answer(&get()).unwrap().into_owned();
    assert_eq!(in_place, guest.call(&get()).unwrap());
    assert_eq!(broke(guest.answer(&Request::new("POST", "/x")).unwrap_err()).rule(), Rule::CallTrap);
    // The broken instance is stale: it counts as gone, and the next call replaces it.
    assert_eq!((guest.memory_size(), guest.instances()), (None, 1));
    assert_eq!(guest.answer(&get()).unwrap().status, 200);
    assert_eq!(guest.instances(), 2);
    assert!(guest.memory_size().is_some());
}

#[test]
fn slot_3_is_read_only_from_a_guest_that_declares_headers() {
    let host = host(HostConfig::new(Profile::Abi));
    let undeclared = host.load_bytes("no_features", guest("", "").as_bytes()).unwrap();
    assert_eq!(undeclared.guest().call(&get()).unwrap().headers, []);
    let features = r#"(func (export "gomode_abi_features") (result i32) (i32.const 1))"#;
    let declared = host.load_bytes("headers", guest("", features).as_bytes()).unwrap();
    assert_eq!(declared.guest().call(&get()).unwrap().headers, [("x-a".to_string(), "1".to_string())]);
}

#[test]
fn the_deadline_is_configurable() {
    let wat = guest("(loop $l (br $l))", "");
    let config = HostConfig { deadline: Duration::from_millis(200), ..HostConfig::new(Profile::Abi) };
    let module = host(config).load_bytes("loops", wat.as_bytes()).unwrap();
    let error = broke(module.guest().call(&get()).unwrap_err());
    assert_eq!(error.rule(), Rule::CallDeadline);
}

#[test]
fn the_memory_limit_is_configurable() {
    // Grows by `pages` and traps when the growth is refused.
    let grow = |pages: u32| {
        guest(&format!("(if (i32.eq (memory.grow (i32.const {pages})) (i32.const -1)) (then unreachable))"), "")
    };
    let host = host(HostConfig { memory_limit: 4 << 20, ..HostConfig::new(Profile::Abi) });
    let small = host.load_bytes("grows_a_little", grow(16).as_bytes()).unwrap();
    assert_eq!(small.guest().call(&get()).unwrap().status, 200);
    let big = host.load_bytes("grows_a_lot", grow(100).as_bytes()).unwrap();
    assert_eq!(broke(big.guest().call(&get()).unwrap_err()).rule(), Rule::CallMemory);
}

#[test]
fn a_refused_growth_is_blamed_only_on_the_call_it_happened_in() {
    // Request 1 asks for far more memory than the limit, sees the refusal (-1) and answers
    // normally; request 2 traps for an unrelated reason.
    let wat = guest(
        r#"(global.set $calls (i32.add (global.get $calls) (i32.const 1)))
           (if (i32.eq (global.get $calls) (i32.const 1))
             (then (drop (memory.grow (i32.const 1000)))))
           (if (i32.eq (global.get $calls) (i32.const 2)) (then unreachable))"#,
        "(global $calls (mut i32) (i32.const 0))",
    );
    let module = host(HostConfig { memory_limit: 4 << 20, ..HostConfig::new(Profile::Abi) })
        .load_bytes("refused_then_traps", wat.as_bytes())
        .unwrap();
    let mut guest = module.guest();
    assert_eq!(guest.call(&get()).unwrap().status, 200);
    assert_eq!(broke(guest.call(&get()).unwrap_err()).rule(), Rule::CallTrap);
}

#[test]
fn host_faults_name_no_guest_rule() {
    let host = host(HostConfig { memory_limit: 1 << 20, ..HostConfig::new(Profile::Abi) });
    let missing = host.load(std::path::Path::new("/nonexistent.wasm")).unwrap_err();
    assert!(matches!(missing, Error::Host(HostError::Read { .. })), "{missing}");
    assert_eq!(missing.rule(), None);

    let module = host.load_bytes("ok", guest("", "").as_bytes()).unwrap();
    let mut request = Request::new("POST", "/big");
    request.body = vec![b'x'; 2 << 20];
    let error = module.guest().call(&request).unwrap_err();
    assert!(matches!(error, Error::Host(HostError::RequestTooLarge { .. })), "{error}");
    assert_eq!(error.rule(), None);
}
