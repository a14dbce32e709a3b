//! `cargo bench -p host`: what the host costs per request, per instance and per module, on every
//! built reference guest, measured side by side in one run with divan.
//!
//! The guests are the ones `target/guests/manifest.json` lists as built (`cargo xtask
//! build-guests` writes it); a guest whose file is missing is skipped, and the reason is printed
//! before the table. Three benchmarks, each with one row per guest and case, named so that the
//! guest and the route are plain:
//!
//! - `call` / `rust-conservative/GET /`: one round trip through [`Guest::answer`] on a live
//!   instance, which reads the response in place as `gomode-host serve` does, under
//!   `HostConfig::default()` (profile `gomode`), for `GET /`, `GET /json`, `GET /simd`,
//!   `POST /simd/sum_f64` with a two-element body, and `POST /echo` with 1 KB.
//! - `start` / `rust-conservative`: a fresh instance and its init (`GuestModule::guest()`, then
//!   `Guest::start`), which is what a host pays when it adds an instance or replaces a broken one.
//! - `load` / `rust-conservative/compile` and `rust-conservative/from cache`: `Host::load_bytes`
//!   compiling the module with no cache, beside the same load when wasmtime's on-disk cache
//!   already holds it (a temporary `cache_dir`, filled by one load before the measurement).
//!
//! Run one guest or route with a filter, such as `cargo bench -p host -- rust-conservative`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use divan::Bencher;
use guest_manifest::{FILE_NAME, Manifest};
use host::{Guest, GuestModule, Host, HostConfig, Request};

fn main() {
    divan::main();
}

/// A built guest whose module file is there.
#[derive(Debug)]
struct BuiltGuest {
    /// `<guest>-<mode>`, such as `rust-conservative`.
    name: String,
    /// The module's bytes.
    bytes: Vec<u8>,
}

/// The built guests, read from the manifest once; the skipped ones are printed with the reason.
fn guests() -> &'static [BuiltGuest] {
    static GUESTS: OnceLock<Vec<BuiltGuest>> = OnceLock::new();
    GUESTS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent");
        let dir = root.join("target/guests");
        let manifest = match Manifest::read(&dir.join(FILE_NAME)) {
            Ok(manifest) => manifest,
            Err(err) => {
                eprintln!(
                    "bench: skipping every guest: cannot read target/guests/{FILE_NAME} ({err}); \
                     build the guests with `cargo xtask build-guests`"
                );
                return Vec::new();
            }
        };
        for skipped in &manifest.skipped {
            eprintln!("bench: skipping {}: not built: {}", skipped.name, skipped.reason);
        }
        let mut found = Vec::new();
        for guest in manifest.guests {
            let path: PathBuf = dir.join(&guest.path);
            match std::fs::read(&path) {
                Ok(bytes) => found.push(BuiltGuest { name: guest.name, bytes }),
                Err(err) => eprintln!("bench: skipping {}: cannot read {}: {err}", guest.name, path.display()),
            }
        }
        found
    })
}

/// The host every round trip and instantiation runs on: the `gomode` profile's documented limits.
fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| Host::new(HostConfig::default()).expect("wasmtime starts"))
}

/// `guest` compiled on [`host`], once per run, whichever benchmark asks first.
fn module(guest: &BuiltGuest) -> GuestModule {
    static MODULES: OnceLock<Mutex<HashMap<String, GuestModule>>> = OnceLock::new();
    let modules = MODULES.get_or_init(Mutex::default);
    let mut modules = modules.lock().expect("no benchmark panicked while holding the modules");
    modules
        .entry(guest.name.clone())
        .or_insert_with(|| {
            host()
                .load_bytes(&guest.name, &guest.bytes)
                .unwrap_or_else(|err| panic!("{} does not load: {err}", guest.name))
        })
        .clone()
}

/// The requests of the round-trip benchmark, by the name their row carries.
const ROUTES: &[&str] = &["GET /", "GET /json", "GET /simd", "POST /simd/sum_f64", "POST /echo"];

/// The request a route name stands for.
fn request(route: &str) -> Request {
    let (method, path) = route.split_once(' ').expect("a route is `METHOD PATH`");
    let mut request = Request::new(method, path);
    request.body = match route {
        // ABI.md §9: the vector 1.0, 2.0 as the hex of its bits; the answer is `r 4008000000000000`.
        "POST /simd/sum_f64" => b"a 3ff0000000000000,4000000000000000\n".to_vec(),
        // 1 KB of text that JSON needs no escapes for, so the echo is 1 KB of copying.
        "POST /echo" => (0..1024).map(|i| b'a' + (i % 26) as u8).collect(),
        _ => Vec::new(),
    };
    request
}

/// One row of `call`: a guest and a route.
#[derive(Debug)]
struct Call {
    guest: &'static BuiltGuest,
    route: &'static str,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.guest.name, self.route)
    }
}

fn calls() -> Vec<Call> {
    guests().iter().flat_map(|guest| ROUTES.iter().map(move |route| Call { guest, route })).collect()
}

/// One round trip on a live instance. The first answer is checked to be a 200 before anything is
/// measured, so a broken guest fails loudly rather than timing an error.
#[divan::bench(args = calls())]
fn call(bencher: Bencher<'_, '_>, case: &Call) {
    let request = request(case.route);
    let mut guest = module(case.guest).guest();
    match guest.answer(&request) {
        Ok(response) if response.status == 200 => {}
        Ok(response) => {
            panic!("{case} answered {}: {}", response.status, String::from_utf8_lossy(response.body.as_bytes()))
        }
        Err(err) => panic!("{case} failed: {err}"),
    }
    // What a server does per request: the response is read in place, and the caller takes the
    // status and the body, which it would copy into its own answer.
    bencher.bench_local(|| match guest.answer(&request) {
        Ok(response) => (response.status, response.body.as_bytes().len()),
        Err(_) => (0, 0),
    });
    // A leaking guest that outgrows the memory limit breaks `call.memory` and is replaced, and
    // the replacement's start is then part of the time measured; say so rather than hide it.
    if guest.instances() > 1 {
        eprintln!("bench: note: {case} replaced its instance {} times during the run", guest.instances() - 1);
    }
}

/// One row of `start` or `load`: a guest.
#[derive(Debug)]
struct Module {
    guest: &'static BuiltGuest,
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.guest.name)
    }
}

fn modules() -> Vec<Module> {
    guests().iter().map(|guest| Module { guest }).collect()
}

/// A fresh instance and its init: `_start` under `gomode`, then the scratch's `malloc`. The
/// instance is dropped outside the measurement.
#[divan::bench(args = modules())]
fn start(bencher: Bencher<'_, '_>, case: &Module) {
    let module = module(case.guest);
    bencher.with_inputs(|| module.guest()).bench_local_values(|mut guest: Guest| {
        guest.start().unwrap_or_else(|err| panic!("{case} does not start: {err}"));
        guest
    });
}

/// One row of `load`: a guest, compiled or taken from wasmtime's cache.
#[derive(Debug)]
struct Load {
    guest: &'static BuiltGuest,
    cached: bool,
}

impl fmt::Display for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.guest.name, if self.cached { "from cache" } else { "compile" })
    }
}

fn loads() -> Vec<Load> {
    guests().iter().flat_map(|guest| [false, true].map(|cached| Load { guest, cached })).collect()
}

/// `Host::load_bytes`: checking the module's shape and compiling it, or reading the compiled code
/// from wasmtime's cache. A compile takes up to seconds, so there are few samples.
#[divan::bench(args = loads(), sample_count = 10, sample_size = 1)]
fn load(bencher: Bencher<'_, '_>, case: &Load) {
    let cache = tempfile::tempdir().expect("a temporary folder for the cache");
    let config = HostConfig { cache_dir: case.cached.then(|| cache.path().to_owned()), ..HostConfig::default() };
    let host = Host::new(config).expect("wasmtime starts");
    let load = || host.load_bytes(&case.guest.name, &case.guest.bytes).unwrap_or_else(|err| panic!("{case}: {err}"));
    if case.cached {
        // The first load compiles and fills the cache; the measured ones read it.
        drop(load());
    }
    bencher.bench_local(load);
}
