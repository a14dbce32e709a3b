//! The guest manifest, `target/guests/manifest.json`: written by `cargo xtask build-guests` and
//! read by the conformance runner from these same types, so the two sides cannot drift apart.
//!
//! Every built module records the sources it was built from and a fingerprint of their contents
//! ([`Sources`]). A reader finds the modules that no longer match their sources with
//! [`Manifest::stale_families`], which only reads the sources and costs milliseconds, and asks
//! the xtask to rebuild those families (`cargo xtask build-guests --stale`).

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The manifest format version that this crate reads and writes.
pub const SCHEMA: u32 = 2;

/// The manifest's file name inside the guests folder, `target/guests`.
pub const FILE_NAME: &str = "manifest.json";

/// The reason given for a guest that `cargo xtask build-guests --guests` left out.
pub const NOT_SELECTED: &str = "not selected by --guests";

/// `target/guests/manifest.json`: what was built, what was not and why, and the canaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format version, [`SCHEMA`]; [`Manifest::read`] rejects any other.
    pub schema: u32,
    /// Guests that were built, two modes per family, in the registry's order.
    pub guests: Vec<BuiltGuest>,
    /// Guests that were not built, with the reason.
    pub skipped: Vec<SkippedGuest>,
    /// Kernel objects that were built and linked into guests.
    pub objects: Vec<KernelObject>,
    /// Deliberately broken guests that the cross-guest SIMD check must reject.
    pub canaries: Vec<Canary>,
}

/// A guest that was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltGuest {
    /// `<guest>-<mode>`, such as `rust-leaking`.
    pub name: String,
    /// The guest family, such as `rust`.
    pub guest: String,
    /// The source language, such as `rust` or `go`.
    pub language: String,
    /// Where its kernels come from: `kernels-rust`, `kernels-zig` or `go` (scalar Go, no simd128).
    pub kernels: String,
    /// The allocator mode, `leaking` or `conservative`.
    pub mode: String,
    /// The module's path, relative to the manifest's folder.
    pub path: PathBuf,
    /// The module's size in bytes.
    pub size: u64,
    /// The toolchain that built it: tool names and their version lines.
    pub toolchain: BTreeMap<String, String>,
    /// The sources it was built from.
    pub sources: Sources,
}

/// A guest that was not built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedGuest {
    /// `<guest>-<mode>`, such as `tinygo-leaking`.
    pub name: String,
    /// The guest family, such as `tinygo`.
    pub guest: String,
    /// The source language.
    pub language: String,
    /// The allocator mode.
    pub mode: String,
    /// Why it was not built, such as `tinygo not found` or [`NOT_SELECTED`].
    pub reason: String,
}

/// A kernel object that was built and linked into guests, such as `kernels-zig.o`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelObject {
    /// Its name, such as `kernels-zig`.
    pub name: String,
    /// The object's path, relative to the manifest's folder.
    pub path: PathBuf,
    /// The C header that declares its functions, relative to the manifest's folder.
    pub header: PathBuf,
    /// The toolchain that built it: tool names and their versions.
    pub toolchain: BTreeMap<String, String>,
}

/// A guest built with one kernel broken on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// Its name, such as `rust-zig-fma-dot`.
    pub name: String,
    /// The guest family it is a broken build of, such as `rust-zig`; rebuilding that family
    /// rebuilds the canary.
    pub guest: String,
    /// The allocator mode.
    pub mode: String,
    /// The module's path, relative to the manifest's folder.
    pub path: PathBuf,
    /// The kernel that is broken, such as `dot_f64`.
    pub broken_kernel: String,
    /// How it is broken.
    pub what: String,
    /// The sources it was built from, besides the broken kernel.
    pub sources: Sources,
}

/// The sources a module was built from, and a fingerprint of their contents when it was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// Files and folders, relative to the workspace root with `/` separators, such as
    /// `guests/rust` and `Cargo.lock`.
    pub inputs: Vec<String>,
    /// [`fingerprint`] of the inputs, taken just before the build.
    pub fingerprint: String,
}

impl Manifest {
    /// Reads the manifest at `path`; a manifest of another schema is an `InvalidData` error.
    pub fn read(path: &Path) -> io::Result<Manifest> {
        let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        if manifest.schema != SCHEMA {
            let message = format!("manifest schema {} is not {SCHEMA}", manifest.schema);
            return Err(io::Error::new(io::ErrorKind::InvalidData, message));
        }
        Ok(manifest)
    }

    /// Writes the manifest to `path` through a temporary file, so that a reader never sees half
    /// of it.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, serde_json::to_string_pretty(self)? + "\n")?;
        std::fs::rename(&partial, path)
    }

    /// The families with a built module or canary that is missing from `dir`, the manifest's
    /// folder, or no longer matches its sources under the workspace `root`, in manifest order.
    pub fn stale_families(&self, root: &Path, dir: &Path) -> Vec<String> {
        // Both modes of a family share their inputs, so each set is read once.
        let mut current: HashMap<&[String], Option<String>> = HashMap::new();
        let modules = self.guests.iter().map(|g| (&g.guest, &g.path, &g.sources));
        let modules = modules.chain(self.canaries.iter().map(|c| (&c.guest, &c.path, &c.sources)));
        let mut stale: Vec<String> = Vec::new();
        for (family, path, sources) in modules {
            let fingerprint = current.entry(&sources.inputs).or_insert_with(|| fingerprint(root, &sources.inputs).ok());
            let fresh = fingerprint.as_ref() == Some(&sources.fingerprint) && dir.join(path).is_file();
            if !fresh && !stale.contains(family) {
                stale.push(family.clone());
            }
        }
        stale
    }
}

impl Default for Manifest {
    /// An empty manifest of the current schema.
    fn default() -> Manifest {
        Manifest { schema: SCHEMA, guests: Vec::new(), skipped: Vec::new(), objects: Vec::new(), canaries: Vec::new() }
    }
}

impl Sources {
    /// The inputs under the workspace `root`, with their fingerprint as they are now.
    pub fn new(root: &Path, inputs: &[&str]) -> io::Result<Sources> {
        let inputs: Vec<String> = inputs.iter().map(|input| input.to_string()).collect();
        Ok(Sources { fingerprint: fingerprint(root, &inputs)?, inputs })
    }
}

/// A fingerprint of the files under `inputs` (files or folders relative to `root`), as 16 hex
/// digits: each file's workspace-relative path and contents, in sorted order, skipping `target`
/// folders and hidden folders and files inside the inputs.
///
/// It uses std's `DefaultHasher`, whose algorithm may change between Rust releases. The xtask and
/// the runner are built by the same compiler, so they agree; after a Rust update every fingerprint
/// may change once, which only causes a harmless rebuild. Toolchains are not inputs: a Go or Zig
/// update alone does not make a module stale (`cargo xtask build-guests` rebuilds everything).
pub fn fingerprint(root: &Path, inputs: &[impl AsRef<str>]) -> io::Result<String> {
    let mut hasher = DefaultHasher::new();
    for input in inputs {
        hash_path(root, input.as_ref(), &mut hasher)?;
    }
    Ok(format!("{:016x}", hasher.finish()))
}

/// Hashes the file at `relative`, or every file below the folder at `relative`.
fn hash_path(root: &Path, relative: &str, hasher: &mut DefaultHasher) -> io::Result<()> {
    let path = root.join(relative);
    if !std::fs::metadata(&path)?.is_dir() {
        relative.hash(hasher);
        std::fs::read(&path)?.hash(hasher);
        return Ok(());
    }
    let mut names: Vec<String> = std::fs::read_dir(&path)?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<_>>()?;
    names.retain(|name| !name.starts_with('.') && name != "target");
    names.sort();
    for name in names {
        hash_path(root, &format!("{relative}/{name}"), hasher)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
