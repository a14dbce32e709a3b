//! `cargo xtask conformance`: runs the corpus over every built guest, then prints the report.
//!
//! The runner is `conformance/tests/corpus.rs`, one libtest test per (guest, case); it writes
//! `target/conformance/report.json`, `report.md` and `report.junit.xml` when `GOMODE_REPORT_DIR`
//! is set. In GitHub Actions (`GITHUB_STEP_SUMMARY` set) the Markdown report is appended to the
//! job summary.

use xshell::{Cmd, Shell, cmd};

use crate::flags;

pub fn run(sh: &Shell, flags: &flags::Conformance) -> anyhow::Result<()> {
    let filter = flags.filter.as_deref();
    with_report(sh, cmd!(sh, "cargo test --package conformance --test corpus -- {filter...}"))
}

/// Runs `tests`, which include the corpus runner, with the report folder set, then prints the
/// report whether or not they passed.
pub fn with_report(sh: &Shell, tests: Cmd<'_>) -> anyhow::Result<()> {
    let report_dir = sh.current_dir().join("target/conformance");
    // A report left from an earlier run must not pass for this one.
    sh.remove_path(report_dir.join("report.md"))?;
    let result = tests.env("GOMODE_REPORT_DIR", &report_dir).run();
    match sh.read_file(report_dir.join("report.md")) {
        Ok(report) => {
            println!("\n{report}");
            if let Ok(summary) = std::env::var("GITHUB_STEP_SUMMARY") {
                let mut file = std::fs::OpenOptions::new().append(true).create(true).open(summary)?;
                std::io::Write::write_all(&mut file, report.as_bytes())?;
            }
        }
        Err(_) => println!("conformance: no report was written"),
    }
    result?;
    println!("conformance: report in {}", report_dir.display());
    Ok(())
}
