//! `cargo xtask conformance`: runs the corpus over every built guest, then prints the report.
//!
//! The runner is `conformance/tests/corpus.rs`, one libtest test per (guest, case); it writes
//! `target/conformance/report.json` and `report.md` when `GOMODE_REPORT_DIR` is set.

use xshell::{Shell, cmd};

use crate::flags;

pub fn run(sh: &Shell, flags: &flags::Conformance) -> anyhow::Result<()> {
    let report_dir = sh.current_dir().join("target/conformance");
    let _env = sh.push_env("GOMODE_REPORT_DIR", &report_dir);
    let filter = flags.filter.as_deref();
    let result = cmd!(sh, "cargo test --package conformance --test corpus -- {filter...}").run();
    match sh.read_file(report_dir.join("report.md")) {
        Ok(report) => println!("\n{report}"),
        Err(_) => println!("conformance: no report was written"),
    }
    result?;
    println!("conformance: report in {}", report_dir.display());
    Ok(())
}
