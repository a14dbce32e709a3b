//! `gomode-host call` with outbound fetch and KV, through the binary as a person runs it: the
//! network is off unless `--allow-net` allows a host, and `--kv PATH` keeps KV across processes.
//!
//! The guest is the Rust reference guest, which `conformance::manifest` builds when it is missing;
//! the upstream is the corpus's loopback server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The conservative Rust reference guest, looked up (and built) once for all tests.
fn guest() -> PathBuf {
    static GUEST: OnceLock<PathBuf> = OnceLock::new();
    GUEST
        .get_or_init(|| {
            let manifest = conformance::manifest().expect("the guest manifest (cargo xtask build-guests)");
            let built =
                manifest.guests.iter().find(|g| g.name == "rust-conservative").expect("rust-conservative is built");
            conformance::guests_dir().join(&built.path)
        })
        .clone()
}

/// Runs `gomode-host` and returns its exit code and stdout; stderr is shown when it fails.
fn gomode_host(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_gomode-host")).args(args).output().expect("gomode-host runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code().unwrap_or(-1), stdout)
}

/// The JSON answer of `call --json`.
fn call(guest: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["call", guest.to_str().unwrap(), "--json", "--no-cache"];
    all.extend_from_slice(args);
    let (code, stdout) = gomode_host(&all);
    assert_eq!(code, 0, "gomode-host {all:?} exited {code}: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}"))
}

#[test]
fn kv_in_a_file_outlives_the_process() {
    let guest = guest();
    let dir = tempfile::tempdir().unwrap();
    let kv = dir.path().join("k.db");
    let kv = kv.to_str().unwrap();
    let put = call(&guest, &["-X", "PUT", "/kv/x", "-d", "1", "--kv", kv]);
    assert_eq!((&put["status"], &put["body"]), (&200.into(), &"ok".into()));
    let get = call(&guest, &["/kv/x", "--kv", kv]);
    assert_eq!((&get["status"], &get["body"]), (&200.into(), &"1".into()));
    assert_eq!(gomode_host(&["kv", "get", "x", "--kv", kv]), (0, "1\n".into()));
    assert_eq!(gomode_host(&["kv", "put", "a/1", "one", "--kv", kv]).0, 0);
    assert_eq!(gomode_host(&["kv", "list", "a", "--kv", kv]), (0, "a/1\n".into()));
    assert_eq!(call(&guest, &["/kv?prefix=", "--kv", kv])["body"], r#"["a/1","x"]"#);
    assert_eq!(gomode_host(&["kv", "delete", "x", "--kv", kv]).0, 0);
    assert_eq!(gomode_host(&["kv", "get", "x", "--kv", kv]).0, 1);
    // Without `--kv`, every process has a fresh store.
    assert_eq!(call(&guest, &["/kv/x"])["status"], 404);
    let none = call(&guest, &["/kv/x", "--no-kv"]);
    assert_eq!((&none["status"], &none["body"]), (&500.into(), &"KV binding not configured".into()));
}

#[test]
fn the_network_is_off_unless_allowed() {
    let guest = guest();
    let upstream = conformance::upstream::loopback().unwrap();
    let url = format!("/fetch?url={}/text", upstream.base());
    let authority = upstream.base().trim_start_matches("http://");
    let allowed = call(&guest, &[&url, "--allow-net", authority]);
    let fetched: serde_json::Value = serde_json::from_str(allowed["body"].as_str().unwrap()).unwrap();
    assert_eq!(fetched["body"], "hello from upstream");
    let denied = call(&guest, &[&url]);
    let fetched: serde_json::Value = serde_json::from_str(denied["body"].as_str().unwrap()).unwrap();
    assert_eq!(fetched["status"], 502);
    let text = fetched["body"].as_str().unwrap();
    assert!(text.contains(&format!("{authority} is not allowed")) && text.contains("--allow-net"), "{text}");
}
