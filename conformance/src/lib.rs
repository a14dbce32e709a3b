//! What the conformance runner needs besides the host: the guest manifest and the known failures.
//!
//! `cargo xtask build-guests` writes `target/guests/manifest.json`; this crate reads it. When the
//! Rust guests are missing (a fresh clone running `cargo test --workspace`), it builds them
//! through the xtask rather than skipping them, because a toolchain that is present must be used.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// The workspace root (the parent of this crate's folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("conformance/ has a parent").to_path_buf()
}

/// `target/guests/manifest.json`, as the xtask writes it.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    /// The manifest format version.
    pub schema: u32,
    /// Guests that were built.
    pub guests: Vec<BuiltGuest>,
    /// Guests that were not built, with the reason.
    pub skipped: Vec<SkippedGuest>,
    /// Deliberately broken guests that the cross-guest SIMD check must reject.
    #[serde(default)]
    pub canaries: Vec<Canary>,
}

/// A guest built with one kernel broken on purpose.
#[derive(Debug, Deserialize)]
pub struct Canary {
    /// Its name, such as `rust-zig-fma-dot`.
    pub name: String,
    /// The module's path, relative to the manifest's folder.
    pub path: PathBuf,
    /// The kernel that is broken, such as `dot_f64`.
    pub broken_kernel: String,
    /// How it is broken.
    pub what: String,
}

/// A guest that was built.
#[derive(Debug, Deserialize)]
pub struct BuiltGuest {
    /// `<guest>-<mode>`, such as `rust-leaking`.
    pub name: String,
    /// The guest family, such as `rust`.
    pub guest: String,
    /// The source language.
    pub language: String,
    /// Where its kernels come from: `kernels-rust`, `kernels-zig` or `go` (scalar Go, no simd128).
    pub kernels: String,
    /// `leaking` or `conservative`.
    pub mode: String,
    /// The module's path, relative to the manifest's folder.
    pub path: PathBuf,
    /// The module's size in bytes.
    pub size: u64,
    /// Toolchain names and versions.
    pub toolchain: serde_json::Map<String, serde_json::Value>,
}

/// A guest that was not built.
#[derive(Debug, Deserialize)]
pub struct SkippedGuest {
    /// `<guest>-<mode>`.
    pub name: String,
    /// The guest family.
    pub guest: String,
    /// The source language.
    pub language: String,
    /// The mode.
    pub mode: String,
    /// Why it was not built, such as `tinygo not found`.
    pub reason: String,
}

/// The reason the xtask gives for a guest that `--guests` left out.
pub const NOT_SELECTED: &str = "not selected by --guests";

/// The folder holding the built guests and the manifest.
pub fn guests_dir() -> PathBuf {
    workspace_root().join("target/guests")
}

/// Reads the manifest, first building the Rust guests through the xtask when they are missing.
pub fn manifest() -> anyhow::Result<Manifest> {
    let path = guests_dir().join("manifest.json");
    let has_rust = |manifest: &Manifest| {
        ["rust-leaking", "rust-conservative"]
            .iter()
            .all(|name| manifest.guests.iter().any(|g| g.name == *name && guests_dir().join(&g.path).is_file()))
    };
    // `cargo xtask ci --guests go` leaves the Rust guests out on purpose.
    let left_out = |manifest: &Manifest| {
        !manifest.guests.is_empty() && manifest.skipped.iter().any(|g| g.guest == "rust" && g.reason == NOT_SELECTED)
    };
    if let Ok(manifest) = read_manifest(&path)
        && (has_rust(&manifest) || left_out(&manifest))
    {
        return Ok(manifest);
    }
    eprintln!("conformance: the Rust guests are not built; running `cargo xtask build-guests --guests rust`");
    let status = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--package", "xtask", "--", "build-guests", "--guests", "rust"])
        .current_dir(workspace_root())
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("`cargo xtask build-guests --guests rust` failed ({status})");
    }
    let manifest = read_manifest(&path)?;
    if !has_rust(&manifest) {
        bail!("the Rust guests are still missing from {} after building them", path.display());
    }
    Ok(manifest)
}

fn read_manifest(path: &Path) -> anyhow::Result<Manifest> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid manifest", path.display()))
}

/// One entry of `conformance/known-failures.json`: a (guest, case) pair that is expected to fail.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFailure {
    /// The guest's name, such as `go-conservative`.
    pub guest: String,
    /// The case ID, `area::name`.
    pub case: String,
    /// Why it fails and what would fix it.
    pub reason: String,
}

/// Reads `conformance/known-failures.json`.
pub fn known_failures() -> anyhow::Result<Vec<KnownFailure>> {
    let path = workspace_root().join("conformance/known-failures.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}
