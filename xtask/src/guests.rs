//! The registry of guest families: how each one finds its toolchain and builds one mode.
//!
//! A family is built once per allocator mode into `target/guests/<family>-<mode>.wasm`. A family
//! whose toolchain is missing is skipped with the reason; `cargo xtask ci` fails when a family
//! that every machine can build (`required`) was skipped. Each family names its source inputs,
//! which the manifest fingerprints so that a module that no longer matches them is rebuilt.

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
    /// Tools the build runs by path (`zig`, `go`, `tinygo`), where they are not simply on PATH.
    pub paths: Vec<(&'static str, PathBuf)>,
}

impl Toolchain {
    /// The path of `tool`.
    pub fn path(&self, tool: &str) -> anyhow::Result<&Path> {
        self.paths.iter().find(|(name, _)| *name == tool).map(|(_, path)| path.as_path()).context(format!("no {tool}"))
    }

    /// Adds a tool found by `probe`.
    fn add(&mut self, tool: &'static str, (path, version): (PathBuf, String)) {
        self.versions.push((tool.into(), version));
        self.paths.push((tool, path));
    }

    /// The toolchain a dry run assumes for a family whose tools are missing: each tool by its name.
    pub fn assumed(tools: &[&'static str]) -> Toolchain {
        Toolchain { versions: Vec::new(), paths: tools.iter().map(|tool| (*tool, PathBuf::from(tool))).collect() }
    }
}

/// One guest family, such as `rust`.
#[derive(Debug)]
pub struct Family {
    /// The family name, the prefix of every module it builds.
    pub name: &'static str,
    /// The source language.
    pub language: &'static str,
    /// Where its kernels come from: `kernels-rust`, `kernels-zig` (both simd128) or `go` (scalar Go).
    pub kernels: &'static str,
    /// Whether every machine that runs the xtask can build it, so a skip is a failure.
    pub required: bool,
    /// The tools its build runs by path, which a dry run names when they are missing. A family
    /// with `zig` links the Zig kernel object, which `build-guests` builds once before it.
    pub tools: &'static [&'static str],
    /// The files and folders it is built from, relative to the workspace root.
    pub inputs: &'static [&'static str],
    /// Finds (or installs) the toolchain, or says why it cannot be used.
    pub toolchain: fn(&Shell, bool) -> Result<Toolchain, String>,
    /// Builds one mode into the given `.wasm` path (or prints the commands on a dry run).
    pub build: fn(&Shell, &Toolchain, &str, &Path, bool) -> anyhow::Result<()>,
}

/// Every guest family, in build order.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "rust",
        language: "rust",
        kernels: "kernels-rust",
        required: true,
        tools: &[],
        inputs: RUST_INPUTS,
        toolchain: rust_toolchain,
        build: build_rust,
    },
    Family {
        name: "rust-zig",
        language: "rust",
        kernels: "kernels-zig",
        required: true,
        tools: &["zig"],
        inputs: RUST_ZIG_INPUTS,
        toolchain: rust_zig_toolchain,
        build: build_rust_zig,
    },
    Family {
        name: "go",
        language: "go",
        kernels: "go",
        required: true,
        tools: &["go"],
        inputs: &["guests/go"],
        toolchain: go_toolchain,
        build: build_go,
    },
    Family {
        name: "tinygo",
        language: "go",
        kernels: "kernels-zig",
        required: false,
        tools: &["tinygo", "zig"],
        inputs: &["guests/go", "kernels-zig"],
        toolchain: tinygo_toolchain,
        build: build_tinygo,
    },
];

/// What `guest-rust` is built from: its crate, the kernels crate, the lock file, the workspace
/// manifest and the cargo configuration, which turns simd128 on.
const RUST_INPUTS: &[&str] = &["guests/rust", "kernels-rust", "Cargo.lock", "Cargo.toml", ".cargo/config.toml"];

/// What the `rust-zig` guests are built from: `guest-rust`'s inputs and the Zig kernels.
pub const RUST_ZIG_INPUTS: &[&str] =
    &["guests/rust", "kernels-rust", "Cargo.lock", "Cargo.toml", ".cargo/config.toml", "kernels-zig"];

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
    Ok(Toolchain { versions: vec![("rustc".into(), rustc)], paths: Vec::new() })
}

/// The Rust toolchain and Zig, which it installs from PyPI when missing.
fn rust_zig_toolchain(sh: &Shell, dry_run: bool) -> Result<Toolchain, String> {
    let mut toolchain = rust_toolchain(sh, dry_run)?;
    toolchain.add("zig", tools::ensure(sh, "zig", dry_run)?);
    Ok(toolchain)
}

/// Go 1.24 or newer, which it installs from PyPI when missing.
fn go_toolchain(sh: &Shell, dry_run: bool) -> Result<Toolchain, String> {
    let mut toolchain = Toolchain::default();
    toolchain.add("go", tools::ensure(sh, "go", dry_run)?);
    Ok(toolchain)
}

/// TinyGo from PATH, and Zig for the kernel object.
fn tinygo_toolchain(sh: &Shell, dry_run: bool) -> Result<Toolchain, String> {
    let mut toolchain = Toolchain::default();
    toolchain.add("tinygo", tools::ensure(sh, "tinygo", dry_run)?);
    toolchain.add("zig", tools::ensure(sh, "zig", dry_run)?);
    Ok(toolchain)
}

/// `guest-rust` with the mode's allocator and kernels-rust.
fn build_rust(sh: &Shell, _toolchain: &Toolchain, mode: &str, out: &Path, dry_run: bool) -> anyhow::Result<()> {
    build_guest_rust(sh, &["--features", mode], out, dry_run)
}

/// `guest-rust` with the mode's allocator, linked against the Zig kernel object.
fn build_rust_zig(sh: &Shell, _toolchain: &Toolchain, mode: &str, out: &Path, dry_run: bool) -> anyhow::Result<()> {
    kernels_zig::build_guest(sh, &kernels_zig::object(sh), mode, out, dry_run)
}

/// The shared Go source with standard Go, in the default exe build mode: a wasip1 command whose
/// `_start` initializes the runtime and returns through `proc_exit(0)`, after which the
/// `//go:wasmexport` functions serve requests (`main_wasip1.go`). Not `-buildmode=c-shared`, which
/// exports only `_initialize`, which GoMode never calls. `-tags leaking` turns the collector off
/// (`gc_leaking.go`).
fn build_go(sh: &Shell, toolchain: &Toolchain, mode: &str, out: &Path, dry_run: bool) -> anyhow::Result<()> {
    let go = toolchain.path("go")?;
    let _dir = sh.push_dir("guests/go");
    let (_os, _arch) = (sh.push_env("GOOS", "wasip1"), sh.push_env("GOARCH", "wasm"));
    // Never fetch another Go toolchain because of go.mod: nothing outside our registries is reachable.
    let _toolchain = sh.push_env("GOTOOLCHAIN", "local");
    let build = cmd!(sh, "{go} build -tags {mode} -o {out} .");
    run(build, "GOOS=wasip1 GOARCH=wasm GOTOOLCHAIN=local ", dry_run)
}

/// The shared Go source with TinyGo, built with the command of GoMode's "Writing Handlers" page in
/// the mode's GC, the Zig kernel object linked in: a wasip1 command with `_start`, not c-shared.
/// (GoMode's own build now uses `-gc=custom -tags=custommalloc`; we keep the page's two modes.)
fn build_tinygo(sh: &Shell, toolchain: &Toolchain, mode: &str, out: &Path, dry_run: bool) -> anyhow::Result<()> {
    let tinygo = toolchain.path("tinygo")?;
    let object = kernels_zig::object(sh);
    let _dir = sh.push_dir("guests/go");
    let gc = format!("-gc={mode}");
    let ldflags = format!("-ldflags=-extldflags='{}'", object.display());
    let build = cmd!(sh, "{tinygo} build -target wasip1 -scheduler=none {gc} {ldflags} -o {out} .");
    run(build, "", dry_run)
}

/// Runs `cmd`, or prints it (after `env`, the variables it runs with) on a dry run.
fn run(cmd: Cmd<'_>, env: &str, dry_run: bool) -> anyhow::Result<()> {
    if dry_run {
        println!("(cd guests/go && {env}{cmd})");
        return Ok(());
    }
    Ok(cmd.run()?)
}

/// Runs `cargo build` of `guest-rust` with `args`, under the workspace's `guest` profile (release
/// with link-time optimization), and copies the module to `out`.
///
/// Each module has its own cargo target folder, `target/guest-builds/<module>`: cargo keeps one
/// fingerprint for a cdylib whatever its features, and does not tell kernel objects
/// (`GOMODE_KERNELS_ZIG_OBJ`) apart, so modules built in one folder would relink over each other
/// on every run.
pub fn build_guest_rust(sh: &Shell, args: &[&str], out: &Path, dry_run: bool) -> anyhow::Result<()> {
    let module = out.file_stem().context("a module path has a file name")?;
    let target_dir = Path::new("target/guest-builds").join(module);
    let build = cmd!(
        sh,
        "cargo build --package guest-rust --profile guest --target {TARGET} --target-dir {target_dir} {args...}"
    );
    let built = target_dir.join(TARGET).join("guest/guest_rust.wasm");
    if dry_run {
        println!("{build}\ncp {} {}", built.display(), out.display());
        return Ok(());
    }
    build.run()?;
    sh.copy_file(&built, out).with_context(|| format!("cannot copy {}", built.display()))
}
