//! The conformance toolkit: the case format, the corpus loader, the checks, the reports, the
//! guest manifest and the known failures, shared by the `gomode-host` binary and the runner.
//!
//! A case file is read by `load.rs` into [`Case`]s (`case.rs`), each of which `check.rs` turns
//! into a request, runs on a fresh instance and compares with its expectations; `simd.rs` makes
//! SIMD bodies and their oracle results; `report.rs` turns [`Outcome`]s into JSON, Markdown and
//! JUnit; `reproduce.rs` writes the `gomode-host call` line for a failure; `upstream.rs` is the
//! loopback server and the outbound setup (network policy, a fresh KV store) of every case run.

mod case;
mod check;
mod engine;
mod load;
mod manifest;
mod report;
mod reproduce;
pub mod simd;
pub mod upstream;
pub mod v8;

use anyhow::Context as _;
use serde::Deserialize;

pub use case::{
    Case, CaseRequest, Expect, Fill, Generator, Matrix, Mode, OracleTag, SimdExpect, SimdInput, Step, VectorSpec,
};
pub use check::{Answer, CaseRun, Check, Failure, json_subset, request, response_json, run_case};
pub use engine::Serve;
pub use load::{CaseFile, Corpus, Entry};
pub use manifest::*;
pub use report::{Outcome, Report, Status};
pub use reproduce::reproduce;

/// One entry of `conformance/known-failures.json`: a (guest, case) pair that is expected to fail.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFailure {
    /// The guest's name, such as `go-conservative`.
    pub guest: String,
    /// The case ID, `area::name`.
    pub case: String,
    /// Where it fails: `abi` or `gomode` on wasmtime, or `v8`; everywhere when absent.
    #[serde(default)]
    pub under: Option<String>,
    /// Why it fails and what would fix it.
    pub reason: String,
}

/// Reads `conformance/known-failures.json`.
pub fn known_failures() -> anyhow::Result<Vec<KnownFailure>> {
    let path = workspace_root().join("conformance/known-failures.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}
