//! Toolchains the xtask fetches itself, into the project-local `.tools/` folder that git ignores.
//!
//! Zig comes from PyPI's `ziglang` package, pinned to the version GoMode builds its kernels
//! with. A `zig` on PATH is used when it is that version; otherwise the package is installed with
//! `python3 -m pip install --target .tools/ziglang`, so a fresh machine needs no manual step.

use std::path::PathBuf;

use xshell::{Shell, cmd};

/// The Zig version the kernel object is built with.
pub const ZIG_VERSION: &str = "0.15.2";

/// The `zig` to use and its version, installing the PyPI package when needed.
pub fn zig(sh: &Shell, dry_run: bool) -> Result<(PathBuf, String), String> {
    if let Ok(version) = cmd!(sh, "zig version").quiet().ignore_stderr().read()
        && version.trim() == ZIG_VERSION
    {
        return Ok(("zig".into(), version.trim().to_string()));
    }
    let dir = sh.current_dir().join(".tools/ziglang");
    let local = dir.join("ziglang/zig");
    if !local.is_file() {
        let package = format!("ziglang=={ZIG_VERSION}");
        let install = cmd!(sh, "python3 -m pip install --quiet --disable-pip-version-check --target {dir} {package}");
        if dry_run {
            println!("{install}");
            return Ok((local, ZIG_VERSION.into()));
        }
        install.run().map_err(|e| format!("zig {ZIG_VERSION} not found, and installing it from PyPI failed: {e}"))?;
    }
    let version = cmd!(sh, "{local} version").read().map_err(|e| format!("{} does not run: {e}", local.display()))?;
    Ok((local, version.trim().to_string()))
}
