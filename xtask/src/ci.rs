//! `cargo xtask ci`: everything CI checks, in order, stopping at the first failure.

use anyhow::bail;
use xshell::{Shell, cmd};

use crate::guests::TARGET;
use crate::{build_guests, conformance, flags, tools};

pub fn run(sh: &Shell, _flags: &flags::Ci) -> anyhow::Result<()> {
    step("format");
    cmd!(sh, "cargo fmt --all --check").run()?;
    step("clippy");
    cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings").run()?;
    step("build guests");
    let built = build_guests::run(sh, &flags::BuildGuests { guests: Vec::new(), dry_run: false })?;
    if let Some((name, reason)) = built.missing_required.first() {
        bail!("guest `{name}` can be built on every machine but was not: {reason}");
    }
    step("clippy (guests)");
    let kernels_zig = sh.current_dir().join("target/guests/kernels-zig.o");
    for mode in crate::guests::MODES {
        cmd!(sh, "cargo clippy --package guest-rust --target {TARGET} --features {mode} -- -D warnings").run()?;
        let _env = sh.push_env("GOMODE_KERNELS_ZIG_OBJ", &kernels_zig);
        let features = format!("{mode},kernels-zig");
        cmd!(sh, "cargo clippy --package guest-rust --target {TARGET} --no-default-features --features {features} -- -D warnings")
            .run()?;
    }
    step("zig test");
    let (zig, _) = tools::zig(sh, false).map_err(anyhow::Error::msg)?;
    cmd!(sh, "{zig} test kernels-zig/kernels.zig").run()?;
    step("go vet and go test");
    let (go, _) = tools::go(sh, false).map_err(anyhow::Error::msg)?;
    {
        let _dir = sh.push_dir("guests/go");
        let _toolchain = sh.push_env("GOTOOLCHAIN", "local");
        cmd!(sh, "{go} vet ./...").run()?;
        cmd!(sh, "{go} test ./...").run()?;
        let (_os, _arch) = (sh.push_env("GOOS", "wasip1"), sh.push_env("GOARCH", "wasm"));
        cmd!(sh, "{go} vet ./...").run()?;
    }
    step("tests");
    // The corpus test runs once, in the conformance step, which also writes the report.
    cmd!(sh, "cargo test --workspace --exclude conformance").run()?;
    cmd!(sh, "cargo test --package conformance --lib --test tidy --test kernels_wasm").run()?;
    step("conformance");
    conformance::run(sh, &flags::Conformance { filter: None })?;
    println!("ci: all checks passed");
    Ok(())
}

fn step(name: &str) {
    println!("\n==> ci: {name}");
}
