//! Integration tests of [`GuestModule::async_guest`], the guest `gomode-host serve` calls on
//! tokio: WASI works on the runtime's own thread, a long run gives the thread back at every epoch
//! tick and still meets its deadline, a call dropped midway costs its instance, and an outbound
//! fetch is answered while the thread serves others.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use host::{Error, FetchRequest, FetchResult, Host, HostConfig, Profile, Request, Rule, Upstream};
use tokio::task::JoinHandle;

mod common;

/// A guest under `gomode` whose handler first runs `body`, then answers 200 `text/plain` `ok`; its
/// iovec at 600 points at the `hello\n` at 640 that [`PRINTS`] writes.
fn guest_source(body: &str) -> String {
    let items = r#"(func (export "_start"))
  (data (i32.const 600) "\80\02\00\00\06\00\00\00")
  (data (i32.const 640) "hello\0a")"#;
    common::guest(200, &["text/plain", "ok"], body, items)
}

/// Writes `hello\n` to stdout through WASI.
const PRINTS: &str = "(drop (call $fd_write (i32.const 1) (i32.const 600) (i32.const 1) (i32.const 620)))";

/// Never returns.
const LOOPS: &str = "(loop $forever (br $forever))";

fn host(deadline: Duration) -> Host {
    Host::new(HostConfig { deadline, ..HostConfig::new(Profile::Gomode) }).expect("wasmtime starts")
}

/// A task that counts a tick every 5 ms until it is aborted; on a one-thread runtime it only
/// ticks while the guest gives the thread back.
fn ticker() -> (Arc<AtomicU32>, JoinHandle<()>) {
    let ticks = Arc::new(AtomicU32::new(0));
    let task = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    (ticks, task)
}

#[tokio::test(flavor = "current_thread")]
async fn wasi_works_on_the_runtimes_own_thread() {
    let module = host(Duration::from_secs(5)).load_bytes("prints", guest_source(PRINTS).as_bytes()).unwrap();
    let mut guest = module.async_guest();
    for _ in 0..2 {
        let response = guest.call_async(&Request::new("GET", "/")).await.unwrap();
        assert_eq!((response.status, response.body.as_bytes(), response.stdout.as_str()), (200, &b"ok"[..], "hello\n"));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_long_run_yields_to_the_runtime_and_still_meets_its_deadline() {
    let module = host(Duration::from_millis(300)).load_bytes("loops", guest_source(LOOPS).as_bytes()).unwrap();
    let (ticks, ticker) = ticker();
    let started = std::time::Instant::now();
    let error = module.async_guest().call_async(&Request::new("GET", "/")).await.unwrap_err();
    ticker.abort();
    let Error::Guest(error) = error else { panic!("expected a guest error, got {error}") };
    assert_eq!(error.rule(), Rule::CallDeadline, "{error}");
    assert!(started.elapsed() < Duration::from_secs(2), "the deadline took {:?}", started.elapsed());
    // On a one-thread runtime the ticker only ran because the guest gave the thread back.
    assert!(ticks.load(Ordering::Relaxed) >= 5, "the ticker ran {} times", ticks.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_dropped_midway_costs_its_instance() {
    let module = host(Duration::from_secs(5)).load_bytes("loops", guest_source(LOOPS).as_bytes()).unwrap();
    let mut guest = module.async_guest();
    guest.start_async().await.unwrap();
    for expected in 1..=2 {
        let request = Request::new("GET", "/");
        let call = guest.call_async(&request);
        assert!(tokio::time::timeout(Duration::from_millis(50), call).await.is_err(), "the guest never returns");
        assert_eq!(guest.instances(), expected);
    }
    // The instance the second call stopped in is dropped before the third starts.
    guest.start_async().await.unwrap();
    assert_eq!(guest.instances(), 3);
}

/// An upstream that answers slowly, on whatever thread it is called.
#[derive(Debug)]
struct Slow;

impl Upstream for Slow {
    fn fetch(&self, request: &FetchRequest) -> FetchResult {
        std::thread::sleep(Duration::from_millis(100));
        FetchResult { status: 201, content_type: "text/x-test".into(), body: request.url.clone() }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_fetch_is_answered_while_the_thread_serves_others() {
    // Answers -1 asking for `GET http://example.test/x`, and a replay with the record itself.
    let source = common::guest(
        -1,
        &["GET\n", "http://example.test/x\n", "0"],
        r#"(if (i32.eq (i32.load8_u offset=64 (local.get $req)) (i32.const 4))
             (then (return (i32.load offset=68 (local.get $req)))))"#,
        r#"(func (export "_start"))"#,
    );
    let config = HostConfig { upstream: Arc::new(Slow), ..HostConfig::new(Profile::Gomode) };
    let module = Host::new(config).unwrap().load_bytes("fetcher", source.as_bytes()).unwrap();
    let (ticks, ticker) = ticker();
    let response = module.async_guest().call_async(&Request::new("GET", "/")).await.unwrap();
    ticker.abort();
    assert_eq!((response.status, response.body.as_bytes(), response.fetches), (201, &b"http://example.test/x"[..], 1));
    assert!(ticks.load(Ordering::Relaxed) >= 5, "the ticker ran {} times", ticks.load(Ordering::Relaxed));
}
