//! The registry of guest families: how each one finds its toolchain and builds one mode.
//!
//! A family is built once per allocator mode into `target/guests/<family>-<mode>.wasm`. A family
//! whose toolchain is missing is skipped with the reason; `cargo xtask ci` fails when a family
//! that every machine can build (`required`) was skipped.

use std::path::Path;

use anyhow::Context as _;
use xshell::{Shell, cmd};

/// The allocator/GC modes every guest is built in.
pub const MODES: [&str; 2] = ["leaking", "conservative"];

/// The wasm target every guest is built for.
pub const TARGET: &str = "wasm32-wasip1";

/// Tool names and their `--version` lines, as the manifest records them.
pub type Toolchain = Vec<(String, String)>;

/// One guest family, such as `rust`.
#[derive(Debug)]
pub struct Family {
    /// The family name, the prefix of every module it builds.
    pub name: &'static str,
    /// The source language.
    pub language: &'static str,
    /// Whether every machine that runs the xtask can build it, so a skip is a failure.
    pub required: bool,
    /// Finds the toolchain: its name/version pairs, or the reason it cannot be used.
    pub toolchain: fn(&Shell, bool) -> Result<Toolchain, String>,
    /// Builds one mode into the given `.wasm` path (or prints the commands on a dry run).
    pub build: fn(&Shell, &str, &Path, bool) -> anyhow::Result<()>,
}

/// Every guest family, in build order.
pub const FAMILIES: &[Family] =
    &[Family { name: "rust", language: "rust", required: true, toolchain: rust_toolchain, build: build_rust }];

/// The Rust toolchain with the wasm target, which it installs through rustup when missing.
fn rust_toolchain(sh: &Shell, dry_run: bool) -> Result<Toolchain, String> {
    let rustc = cmd!(sh, "rustc --version").read().map_err(|e| format!("rustc not found: {e}"))?;
    let installed = cmd!(sh, "rustup target list --installed").read().map_err(|e| format!("rustup not found: {e}"))?;
    if !installed.lines().any(|line| line.trim() == TARGET) {
        let add = cmd!(sh, "rustup target add {TARGET}");
        if dry_run {
            println!("{add}");
        } else {
            add.run().map_err(|e| format!("cannot install the {TARGET} target: {e}"))?;
        }
    }
    Ok(vec![("rustc".into(), rustc)])
}

/// `guest-rust` with the mode's allocator and kernels-rust.
fn build_rust(sh: &Shell, mode: &str, out: &Path, dry_run: bool) -> anyhow::Result<()> {
    let build = cmd!(sh, "cargo build --package guest-rust --release --target {TARGET} --features {mode}");
    let built = Path::new("target").join(TARGET).join("release/guest_rust.wasm");
    if dry_run {
        println!("{build}\ncp {} {}", built.display(), out.display());
        return Ok(());
    }
    build.run()?;
    sh.copy_file(&built, out).with_context(|| format!("cannot copy {}", built.display()))
}
