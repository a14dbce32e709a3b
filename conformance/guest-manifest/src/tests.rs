//! Tests of the manifest format, the fingerprint and the staleness check, on a scratch workspace.

use std::fs;
use std::path::Path;

use super::*;

/// A scratch workspace with a Rust-like guest, a Go-like guest and a lock file.
fn workspace() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (path, text) in [
        ("guests/rust/src/app.rs", "hello"),
        ("guests/rust/Cargo.toml", "[package]"),
        ("guests/go/app.go", "package main"),
        ("Cargo.lock", "lock"),
        ("target/guests/rust-leaking.wasm", "wasm"),
        ("target/guests/go-leaking.wasm", "wasm"),
        ("target/guests/canary/rust-fma.wasm", "wasm"),
    ] {
        let path = root.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    root
}

fn built(root: &Path, family: &str, inputs: &[&str]) -> BuiltGuest {
    BuiltGuest {
        name: format!("{family}-leaking"),
        guest: family.into(),
        language: family.into(),
        kernels: "kernels-rust".into(),
        mode: "leaking".into(),
        path: format!("{family}-leaking.wasm").into(),
        size: 4,
        toolchain: BTreeMap::from([("rustc".into(), "rustc 1.95.0".into())]),
        sources: Sources::new(root, inputs).unwrap(),
    }
}

fn manifest(root: &Path) -> Manifest {
    let rust = ["guests/rust", "Cargo.lock"];
    Manifest {
        guests: vec![built(root, "rust", &rust), built(root, "go", &["guests/go"])],
        skipped: vec![SkippedGuest {
            name: "tinygo-leaking".into(),
            guest: "tinygo".into(),
            language: "go".into(),
            mode: "leaking".into(),
            reason: NOT_SELECTED.into(),
        }],
        objects: vec![KernelObject {
            name: "kernels-zig".into(),
            path: "kernels-zig.o".into(),
            header: "zig_simd.h".into(),
            toolchain: BTreeMap::from([("zig".into(), "0.15.2".into())]),
        }],
        canaries: vec![Canary {
            name: "rust-fma".into(),
            guest: "rust".into(),
            mode: "leaking".into(),
            path: "canary/rust-fma.wasm".into(),
            broken_kernel: "dot_f64".into(),
            what: "a fused multiply-add".into(),
            sources: Sources::new(root, &rust).unwrap(),
        }],
        ..Manifest::default()
    }
}

#[test]
fn writes_and_reads_back_the_same_manifest() {
    let root = workspace();
    let manifest = manifest(root.path());
    let path = root.path().join("target/guests").join(FILE_NAME);
    manifest.write(&path).unwrap();
    assert_eq!(Manifest::read(&path).unwrap(), manifest);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#""inputs": ["#) && text.contains(r#""fingerprint": ""#), "{text}");
}

#[test]
fn rejects_unknown_fields_and_other_schemas() {
    let root = workspace();
    let path = root.path().join(FILE_NAME);
    let mut json = serde_json::to_value(manifest(root.path())).unwrap();
    json["guests"][0]["colour"] = "blue".into();
    fs::write(&path, json.to_string()).unwrap();
    let err = Manifest::read(&path).unwrap_err().to_string();
    assert!(err.contains("unknown field `colour`"), "{err}");
    let old = Manifest { schema: 1, ..Manifest::default() };
    fs::write(&path, serde_json::to_string(&old).unwrap()).unwrap();
    assert!(Manifest::read(&path).is_err());
}

#[test]
fn the_fingerprint_follows_contents_and_names_but_not_build_output() {
    let root = workspace();
    let root = root.path();
    let print = || fingerprint(root, &["guests/rust", "Cargo.lock"]).unwrap();
    let before = print();
    assert_eq!(before.len(), 16);
    assert_eq!(print(), before, "the same files give the same fingerprint");
    fs::create_dir_all(root.join("guests/rust/target/debug")).unwrap();
    fs::write(root.join("guests/rust/target/debug/out"), "x").unwrap();
    fs::write(root.join("guests/rust/.app.rs.swp"), "x").unwrap();
    assert_eq!(print(), before, "target/ and hidden files are not sources");
    fs::write(root.join("guests/rust/src/app.rs"), "hello!").unwrap();
    let edited = print();
    assert_ne!(edited, before, "an edit changes it");
    fs::rename(root.join("guests/rust/src/app.rs"), root.join("guests/rust/src/main.rs")).unwrap();
    assert_ne!(print(), edited, "a rename changes it");
    assert!(fingerprint(root, &["guests/missing"]).is_err());
}

#[test]
fn stale_families_are_the_ones_whose_sources_or_modules_changed() {
    let root = workspace();
    let root = root.path();
    let dir = root.join("target/guests");
    let manifest = manifest(root);
    assert!(manifest.stale_families(root, &dir).is_empty());
    fs::write(root.join("guests/go/app.go"), "package main // edited").unwrap();
    assert_eq!(manifest.stale_families(root, &dir), ["go"]);
    fs::remove_file(dir.join("canary/rust-fma.wasm")).unwrap();
    assert_eq!(manifest.stale_families(root, &dir), ["go", "rust"], "a missing canary makes its family stale");
    fs::write(root.join("Cargo.lock"), "new lock").unwrap();
    assert_eq!(manifest.stale_families(root, &dir), ["rust", "go"]);
}
