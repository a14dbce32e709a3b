//! The registry of guest families: how each one finds its toolchain and builds one mode.
//!
//! A family is built once per allocator mode into `target/guests/<family>-<mode>.wasm`. A family
//! whose toolchain is missing is skipped with the reason; `cargo xtask ci` fails when a family
//! that every machine can build (`required`) was skipped.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use xshell::{Cmd, Shell, cmd};

use crate::{kernels_zig, tools};

/// The allocator/GC modes every guest is built in.
pub const MODES: [&str; 2] = ["leaking", "conservative"];

/// The wasm target every guest is built for.
pub const TARGET: &str = "wasm32-wasip1";

/// What a family's toolchain probe found.
#[derive(Debug, Default)]
pub struct Toolchain {
    /// Tool names and their versions, as the manifest records them.
    pub versions: Vec<(String, String)>,
    /// The `zig` binary, for families that build the Zig kernel object.
    pub zig: Option<PathBuf>,
}

/// One guest family, such as `rust`.
#[derive(Debug)]
pub struct Family {
    /// The family name, the prefix of every module it builds.
    pub name: &'static str,
    /// The source language.
    pub language: &'static str,
    /// Whether every machine that runs the xtask can build it, so a skip is a failure.
    pub required: bool,
    /// Finds (or installs) the toolchain, or says why it cannot be used.
    pub toolchain: fn(&Shell, bool) -> Result<Toolchain, String>,
    /// Builds one mode into the given `.wasm` path (or prints the commands on a dry run).
    pub build: fn(&Shell, &Toolchain, &str, &Path, bool) -> anyhow::Result<()>,
}

/// Every guest family, in build order.
pub const FAMILIES: &[Family] = &[
    Family { name: "rust", language: "rust", required: true, toolchain: rust_toolchain, build: build_rust },
    Family { name: "rust-zig", language: "rust", required: true, toolchain: rust_zig_toolchain, build: build_rust_zig },
];

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
    Ok(Toolchain { versions: vec![("rustc".into(), rustc)], zig: None })
}

/// The Rust toolchain and Zig, which it installs from PyPI when missing.
fn rust_zig_toolchain(sh: &Shell, dry_run: bool) -> Result<Toolchain, String> {
    let mut toolchain = rust_toolchain(sh, dry_run)?;
    let (zig, version) = tools::zig(sh, dry_run)?;
    toolchain.versions.push(("zig".into(), version));
    toolchain.zig = Some(zig);
    Ok(toolchain)
}

/// `guest-rust` with the mode's allocator and kernels-rust.
fn build_rust(sh: &Shell, _toolchain: &Toolchain, mode: &str, out: &Path, dry_run: bool) -> anyhow::Result<()> {
    let build = cmd!(sh, "cargo build --package guest-rust --release --target {TARGET} --features {mode}");
    run_cargo_build(sh, build, out, dry_run)
}

/// `guest-rust` with the mode's allocator, linked against the Zig kernel object.
fn build_rust_zig(sh: &Shell, toolchain: &Toolchain, mode: &str, out: &Path, dry_run: bool) -> anyhow::Result<()> {
    let zig = toolchain.zig.as_deref().context("the rust-zig toolchain has no zig")?;
    let object = kernels_zig::build(sh, zig, dry_run)?;
    kernels_zig::build_guest(sh, &object, mode, out, dry_run)
}

/// Runs a `cargo build` of `guest-rust` and copies the module to `out`.
pub fn run_cargo_build(sh: &Shell, build: Cmd<'_>, out: &Path, dry_run: bool) -> anyhow::Result<()> {
    let built = Path::new("target").join(TARGET).join("release/guest_rust.wasm");
    if dry_run {
        println!("{build}\ncp {} {}", built.display(), out.display());
        return Ok(());
    }
    build.run()?;
    sh.copy_file(&built, out).with_context(|| format!("cannot copy {}", built.display()))
}
