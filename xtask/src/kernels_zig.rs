//! The Zig kernel object: built once per run from `kernels-zig/kernels.zig` into
//! `target/guests/kernels-zig.o`, next to the C header `zig_simd.h`, and linked into the
//! `rust-zig` and `tinygo` guests. Also builds the canary, a guest whose `dot_f64` uses a fused
//! multiply-add, which the cross-guest SIMD check must catch.
//!
//! Zig rewrites its output even when its cache already holds it, and `guests/rust/build.rs` tells
//! cargo to relink when the object changes, so an object is replaced only when its bytes differ.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, ensure};
use xshell::{Shell, cmd};

use crate::guests;

/// The flags GoMode builds its kernels with.
const ZIG_FLAGS: [&str; 5] = ["-target", "wasm32-wasi", "-mcpu=generic+simd128", "-O", "ReleaseSmall"];

/// The line of `dot_f64` that the canary replaces, and what it puts there.
const DOT_LINE: &str = "acc += load2(a, i) * load2(b, i);";
const DOT_FMA: &str = "acc = @mulAdd(F64x2, load2(a, i), load2(b, i), acc);";

/// Builds `source` into `object` with GoMode's flags, through a scratch file that replaces
/// `object` only when the bytes differ.
fn build_object(sh: &Shell, zig: &Path, source: &Path, object: &Path, dry_run: bool) -> anyhow::Result<()> {
    let scratch = object.with_extension("new.o");
    let emit = format!("-femit-bin={}", scratch.display());
    let build = cmd!(sh, "{zig} build-obj {ZIG_FLAGS...} {source} {emit}");
    if dry_run {
        println!("{build}\nmv {} {} # when they differ", scratch.display(), object.display());
        return Ok(());
    }
    build.run()?;
    if std::fs::read(object).ok() == Some(std::fs::read(&scratch)?) {
        sh.remove_path(&scratch)?;
    } else {
        std::fs::rename(&scratch, object).with_context(|| format!("cannot write {}", object.display()))?;
    }
    Ok(())
}

/// The kernel object's path, `target/guests/kernels-zig.o`.
pub fn object(sh: &Shell) -> PathBuf {
    sh.current_dir().join("target/guests/kernels-zig.o")
}

/// Builds the kernel object and copies the header next to it.
pub fn build(sh: &Shell, zig: &Path, dry_run: bool) -> anyhow::Result<()> {
    build_object(sh, zig, &sh.current_dir().join("kernels-zig/kernels.zig"), &object(sh), dry_run)?;
    if !dry_run {
        sh.copy_file("kernels-zig/zig_simd.h", sh.current_dir().join("target/guests/zig_simd.h"))?;
    }
    Ok(())
}

/// Builds the Rust guest against `object` in `mode` into `out`.
pub fn build_guest(sh: &Shell, object: &Path, mode: &str, out: &Path, dry_run: bool) -> anyhow::Result<()> {
    let _env = sh.push_env("GOMODE_KERNELS_ZIG_OBJ", object);
    let features = format!("{mode},kernels-zig");
    if dry_run {
        print!("GOMODE_KERNELS_ZIG_OBJ={} ", object.display());
    }
    guests::build_guest_rust(sh, &["--no-default-features", "--features", &features], out, dry_run)
}

/// Builds the canary `target/guests/canary/rust-zig-fma-dot.wasm`; returns its path relative to
/// `target/guests`.
pub fn build_canary(sh: &Shell, zig: &Path, dry_run: bool) -> anyhow::Result<PathBuf> {
    let dir = sh.current_dir().join("target/guests/canary");
    let source = sh.read_file("kernels-zig/kernels.zig")?;
    ensure!(source.contains(DOT_LINE), "kernels-zig/kernels.zig no longer contains `{DOT_LINE}`; update the canary");
    let broken = dir.join("kernels-fma-dot.zig");
    if dry_run {
        println!("# {} is kernels-zig/kernels.zig with `{DOT_LINE}` replaced by `{DOT_FMA}`", broken.display());
    } else {
        sh.create_dir(&dir)?;
        sh.write_file(&broken, source.replace(DOT_LINE, DOT_FMA)).context("cannot write the canary source")?;
    }
    let object = dir.join("kernels-fma-dot.o");
    build_object(sh, zig, &broken, &object, dry_run)?;
    build_guest(sh, &object, "leaking", &dir.join("rust-zig-fma-dot.wasm"), dry_run)?;
    Ok(PathBuf::from("canary/rust-zig-fma-dot.wasm"))
}
