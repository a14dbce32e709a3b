//! Conformance results and the JSON, Markdown and JUnit reports made from them.
//!
//! `gomode-host check --report` and the `conformance` runner record one [`Outcome`] per
//! (guest, profile, case) and write the same [`Report`], so a user's own guest and our reference
//! guests are judged and shown the same way. The Markdown report is a guest × mode × profile ×
//! area matrix with pass, fail and skip counts, then every failure with its reproduce command; the
//! JUnit file has one test suite per guest module, for CI systems that read JUnit.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// How one (guest, case) pair ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The guest answered as expected.
    Passed,
    /// The guest did not answer as expected.
    Failed,
    /// The case failed and is listed as a known failure.
    KnownFailure,
    /// The guest was not built, so nothing ran.
    Skipped,
}

/// The result of one (guest, case) pair.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    /// The guest module's name, such as `rust-leaking`.
    pub guest: String,
    /// The allocator/GC mode it was built in, such as `leaking`.
    #[serde(default)]
    pub mode: String,
    /// The profile it ran under and, when not wasmtime, the engine: `abi`, `gomode` or
    /// `gomode on v8`; `-` for a guest that was skipped.
    #[serde(default)]
    pub profile: String,
    /// The case's area (its folder), or `-` for a guest that was skipped.
    pub area: String,
    /// The case's name, or `-` for a guest that was skipped.
    pub case: String,
    /// How it ended.
    pub status: Status,
    /// Why it failed or was skipped, or what a passing case measured (such as linear memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A `gomode-host call` command that sends the same request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
}

/// Every outcome of one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// The outcomes, in the order they were recorded.
    pub outcomes: Vec<Outcome>,
}

/// The corpus areas, in the order the report shows them; other areas follow.
const AREAS: [&str; 7] = ["routing", "encoding", "simd", "lifecycle", "memory", "gomode", "fetch"];

/// One row of the Markdown table: counts per area, and the total.
type Row<'a> = (BTreeMap<&'a str, Counts>, Counts);

#[derive(Default)]
struct Counts {
    passed: usize,
    failed: usize,
    known: usize,
    skipped: usize,
}

impl Counts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::KnownFailure => self.known += 1,
            Status::Skipped => self.skipped += 1,
        }
    }

    fn cell(&self) -> String {
        let mut parts = Vec::new();
        if self.passed > 0 {
            parts.push(format!("{} pass", self.passed));
        }
        if self.failed > 0 {
            parts.push(format!("**{} fail**", self.failed));
        }
        if self.known > 0 {
            parts.push(format!("{} known", self.known));
        }
        if self.skipped > 0 && parts.is_empty() {
            parts.push("skip".into());
        } else if self.skipped > 0 {
            parts.push(format!("{} skip", self.skipped));
        }
        if parts.is_empty() { "-".into() } else { parts.join(", ") }
    }
}

impl Report {
    /// The report as JUnit XML: one test suite per guest module, one test case per case.
    pub fn junit(&self) -> String {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
        for outcome in &self.outcomes {
            let suite = suites.entry(&outcome.guest).or_insert_with(|| TestSuite::new(outcome.guest.as_str()));
            let mut status = match outcome.status {
                Status::Passed | Status::KnownFailure => TestCaseStatus::success(),
                Status::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Status::Skipped => TestCaseStatus::skipped(),
            };
            let description = [
                outcome.message.as_deref(),
                outcome.reproduce.as_deref().map(|r| format!("reproduce: {r}")).as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
            if !description.is_empty() {
                if let TestCaseStatus::NonSuccess { .. } = status {
                    status.set_message(outcome.message.clone().unwrap_or_default());
                }
                status.set_description(description);
            }
            let name = format!("{}::{}::{}", outcome.profile, outcome.area, outcome.case);
            suite.add_test_case(TestCase::new(name, status));
        }
        let mut report = quick_junit::Report::new("gomode-conformance");
        report.add_test_suites(suites.into_values());
        report.to_string().unwrap_or_else(|err| format!("<!-- cannot write JUnit XML: {err} -->"))
    }

    /// Writes `report.json`, `report.md` and `report.junit.xml` into `dir`.
    pub fn write(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(self)?)?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        std::fs::write(dir.join("report.junit.xml"), self.junit())
    }

    /// Whether no outcome failed.
    pub fn ok(&self) -> bool {
        self.outcomes.iter().all(|o| o.status != Status::Failed)
    }

    /// A Markdown report: a guest × mode × area table, then the skipped guests, what passing
    /// cases measured, and every failure with its reproduce command.
    pub fn markdown(&self) -> String {
        let mut areas: Vec<&str> = AREAS.to_vec();
        for outcome in &self.outcomes {
            if outcome.status != Status::Skipped && !areas.contains(&outcome.area.as_str()) {
                areas.push(&outcome.area);
            }
        }
        // Rows by (guest family, mode, profile); a module named `<family>-<mode>` is shown as its
        // family.
        let mut table: BTreeMap<(&str, &str, &str), Row<'_>> = BTreeMap::new();
        for outcome in &self.outcomes {
            let family = outcome.guest.strip_suffix(&format!("-{}", outcome.mode)).unwrap_or(&outcome.guest);
            let (by_area, total) = table.entry((family, outcome.mode.as_str(), outcome.profile.as_str())).or_default();
            if outcome.status == Status::Skipped {
                for area in &areas {
                    by_area.entry(area).or_default().add(Status::Skipped);
                }
            } else {
                by_area.entry(&outcome.area).or_default().add(outcome.status);
            }
            total.add(outcome.status);
        }
        let mut out = String::from("# Conformance report\n\n| guest | mode | profile |");
        for area in &areas {
            let _ = write!(out, " {area} |");
        }
        out.push_str(" total |\n|---|---|---|");
        out.push_str(&"---|".repeat(areas.len() + 1));
        out.push('\n');
        for ((family, mode, profile), (by_area, total)) in &table {
            let dash = |s: &'_ str| if s.is_empty() { "-".to_owned() } else { s.to_owned() };
            let _ = write!(out, "| {family} | {} | {} |", dash(mode), dash(profile));
            for area in &areas {
                let _ = write!(out, " {} |", by_area.get(area).map_or_else(|| "-".into(), Counts::cell));
            }
            let _ = writeln!(out, " {} |", total.cell());
        }
        let skipped: Vec<_> = self.outcomes.iter().filter(|o| o.status == Status::Skipped).collect();
        if !skipped.is_empty() {
            out.push_str("\n## Skipped guests\n\n");
            for outcome in skipped {
                let _ =
                    writeln!(out, "- `{}`: {}", outcome.guest, outcome.message.as_deref().unwrap_or("no reason given"));
            }
        }
        let measured: Vec<_> =
            self.outcomes.iter().filter(|o| o.status == Status::Passed && o.message.is_some()).collect();
        if !measured.is_empty() {
            out.push_str("\n## Measurements\n\n");
            for outcome in measured {
                let note = outcome.message.as_deref().unwrap_or_default();
                let _ = writeln!(
                    out,
                    "- `{}` ({}) `{}::{}`: {note}",
                    outcome.guest, outcome.profile, outcome.area, outcome.case
                );
            }
        }
        let failed: Vec<_> = self.outcomes.iter().filter(|o| o.status == Status::Failed).collect();
        out.push_str(&format!("\n## Failures ({})\n\n", failed.len()));
        if failed.is_empty() {
            out.push_str("None.\n");
        }
        for outcome in failed {
            let _ =
                writeln!(out, "### `{}` ({}) `{}::{}`\n", outcome.guest, outcome.profile, outcome.area, outcome.case);
            let _ = writeln!(out, "```text\n{}\n```\n", outcome.message.as_deref().unwrap_or("").trim_end());
            if let Some(command) = &outcome.reproduce {
                let _ = writeln!(out, "Reproduce:\n\n```sh\n{command}\n```\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(guest: &str, mode: &str, area: &str, status: Status) -> Outcome {
        Outcome {
            guest: format!("{guest}-{mode}"),
            mode: mode.into(),
            profile: if status == Status::Skipped { "-" } else { "gomode" }.into(),
            area: area.into(),
            case: "c".into(),
            status,
            message: Some("why".into()),
            reproduce: (status == Status::Failed).then(|| "gomode-host call g.wasm /".into()),
        }
    }

    fn sample() -> Report {
        Report {
            outcomes: vec![
                outcome("g1", "leaking", "simd", Status::Passed),
                outcome("g1", "leaking", "simd", Status::Failed),
                outcome("g1", "leaking", "routing", Status::Passed),
                outcome("g2", "conservative", "-", Status::Skipped),
            ],
        }
    }

    #[test]
    fn markdown_counts_by_guest_mode_and_area() {
        let report = sample();
        let text = report.markdown();
        assert!(
            text.contains(
                "| guest | mode | profile | routing | encoding | simd | lifecycle | memory | gomode | fetch | total |"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| g1 | leaking | gomode | 1 pass | - | 1 pass, **1 fail** | - | - | - | - | 2 pass, **1 fail** |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| g2 | conservative | - | skip | skip | skip | skip | skip | skip | skip | skip |"),
            "{text}"
        );
        assert!(text.contains("- `g2-conservative`: why"), "{text}");
        assert!(text.contains("## Failures (1)"), "{text}");
        assert!(!report.ok());
    }

    #[test]
    fn junit_has_a_suite_per_guest_and_marks_failures_and_skips() {
        let xml = sample().junit();
        assert!(xml.contains(r#"<testsuite name="g1-leaking" tests="3""#), "{xml}");
        assert!(xml.contains(r#"failures="1""#), "{xml}");
        assert!(xml.contains("<skipped"), "{xml}");
        assert!(xml.contains("reproduce: gomode-host call g.wasm /"), "{xml}");
    }
}
