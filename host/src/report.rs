//! Conformance results and the JSON and Markdown reports made from them.
//!
//! `gomode-host check --report` and the `conformance` runner record one [`Outcome`] per
//! (guest, case) and write the same [`Report`], so a user's own guest and our reference
//! guests are judged and shown the same way.

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
    /// The guest's name, such as `rust-leaking`.
    pub guest: String,
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
        if self.skipped > 0 {
            parts.push(format!("{} skip", self.skipped));
        }
        if parts.is_empty() { "-".into() } else { parts.join(", ") }
    }
}

impl Report {
    /// Whether no outcome failed.
    pub fn ok(&self) -> bool {
        self.outcomes.iter().all(|o| o.status != Status::Failed)
    }

    /// A Markdown report: a guest × area table, then every failure with its reproduce command.
    pub fn markdown(&self) -> String {
        let areas: Vec<&str> = {
            let mut areas: Vec<&str> =
                self.outcomes.iter().filter(|o| o.status != Status::Skipped).map(|o| o.area.as_str()).collect();
            areas.sort_unstable();
            areas.dedup();
            areas
        };
        let mut table: BTreeMap<&str, (BTreeMap<&str, Counts>, Counts)> = BTreeMap::new();
        for outcome in &self.outcomes {
            let (by_area, total) = table.entry(&outcome.guest).or_default();
            by_area.entry(&outcome.area).or_default().add(outcome.status);
            total.add(outcome.status);
        }
        let mut out = String::from("# Conformance report\n\n| guest |");
        for area in &areas {
            let _ = write!(out, " {area} |");
        }
        out.push_str(" total |\n|---|");
        out.push_str(&"---|".repeat(areas.len() + 1));
        out.push('\n');
        for (guest, (by_area, total)) in &table {
            let _ = write!(out, "| {guest} |");
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
                let _ = writeln!(out, "- `{}` `{}::{}`: {note}", outcome.guest, outcome.area, outcome.case);
            }
        }
        let failed: Vec<_> = self.outcomes.iter().filter(|o| o.status == Status::Failed).collect();
        out.push_str(&format!("\n## Failures ({})\n\n", failed.len()));
        if failed.is_empty() {
            out.push_str("None.\n");
        }
        for outcome in failed {
            let _ = writeln!(out, "### `{}` `{}::{}`\n", outcome.guest, outcome.area, outcome.case);
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

    fn outcome(guest: &str, area: &str, status: Status) -> Outcome {
        Outcome {
            guest: guest.into(),
            area: area.into(),
            case: "c".into(),
            status,
            message: Some("why".into()),
            reproduce: None,
        }
    }

    #[test]
    fn markdown_counts_by_guest_and_area() {
        let report = Report {
            outcomes: vec![
                outcome("g1", "simd", Status::Passed),
                outcome("g1", "simd", Status::Failed),
                outcome("g1", "routing", Status::Passed),
                outcome("g2", "-", Status::Skipped),
            ],
        };
        let text = report.markdown();
        assert!(text.contains("| guest | routing | simd | total |"), "{text}");
        assert!(text.contains("| g1 | 1 pass | 1 pass, **1 fail** | 2 pass, **1 fail** |"), "{text}");
        assert!(text.contains("- `g2`: why"), "{text}");
        assert!(text.contains("## Failures (1)"), "{text}");
        assert!(!report.ok());
    }
}
