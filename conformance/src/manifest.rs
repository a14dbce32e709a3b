//! The guest manifest as the runner reads it, and the step that rebuilds stale or missing guests.
//!
//! `cargo xtask build-guests` writes `target/guests/manifest.json` through the types of the
//! `guest-manifest` crate, which are re-exported here. Guests are build products: before the
//! runner uses the manifest, every built module is checked against the fingerprint of its sources,
//! which costs milliseconds, and the families that an edit made stale are rebuilt through
//! `cargo xtask build-guests --stale`, which keeps the other families' entries. When the Rust
//! guests are missing (a fresh clone running `cargo test --workspace`), they are built rather than
//! skipped, because a toolchain that is present must be used; only `cargo xtask ci --guests <set>`
//! leaves them out on purpose.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

pub use guest_manifest::{BuiltGuest, Canary, KernelObject, Manifest, NOT_SELECTED, SkippedGuest, Sources};

/// The workspace root (the parent of this crate's folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("conformance/ has a parent").to_path_buf()
}

/// The folder holding the built guests and the manifest.
pub fn guests_dir() -> PathBuf {
    workspace_root().join("target/guests")
}

/// Reads the manifest, first rebuilding through the xtask the guests that are stale, and the Rust
/// guests when they are missing.
pub fn manifest() -> anyhow::Result<Manifest> {
    let (root, dir) = (workspace_root(), guests_dir());
    let path = dir.join(guest_manifest::FILE_NAME);
    let families = match Manifest::read(&path) {
        Ok(manifest) => {
            let families = to_rebuild(&manifest, &root, &dir);
            if families.is_empty() {
                return Ok(manifest);
            }
            families
        }
        Err(_) => vec!["rust".to_string()],
    };
    let guests = families.join(",");
    eprintln!(
        "conformance: guests to build from their current sources; running `cargo xtask build-guests --stale --guests {guests}`"
    );
    let status = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--package", "xtask", "--", "build-guests", "--stale", "--guests", &guests])
        .current_dir(&root)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("`cargo xtask build-guests --stale --guests {guests}` failed ({status})");
    }
    let manifest = Manifest::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let left = to_rebuild(&manifest, &root, &dir);
    if !left.is_empty() {
        bail!("the guests {} are still missing or out of date after building them", left.join(", "));
    }
    Ok(manifest)
}

/// The families to build before the runner uses `manifest`: the stale ones, and `rust` when no
/// Rust guest is built, unless `--guests` left it out of a build that built something else.
fn to_rebuild(manifest: &Manifest, root: &Path, dir: &Path) -> Vec<String> {
    let mut families = manifest.stale_families(root, dir);
    let has_rust = manifest.guests.iter().any(|g| g.guest == "rust");
    let left_out =
        !manifest.guests.is_empty() && manifest.skipped.iter().any(|g| g.guest == "rust" && g.reason == NOT_SELECTED);
    if !has_rust && !left_out {
        families.insert(0, "rust".into());
    }
    families
}
