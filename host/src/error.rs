//! The rules of the zerobuf handler ABI that a guest can break, and the error that names one.
//!
//! Every way a guest can misbehave ends up as a [`GuestError`]: it says which guest, which
//! request, which rule of `conformance/ABI.md`, what exactly was wrong, and what the guest
//! printed while it happened. The host never panics on guest behaviour; it returns this.

use std::fmt;

/// A rule of the ABI that the host enforces, named by its stable ID from `conformance/ABI.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// The file is a core wasm32 module with exactly one 32-bit memory.
    ModuleWasm,
    /// Every import is a function from `wasi_snapshot_preview1`.
    ModuleImports,
    /// `memory`, `handle_zerobuf` and `malloc` are exported with the right types.
    ModuleExports,
    /// `gomode_abi_version` and `gomode_abi_features` have the right types and values.
    ModuleDeclarations,
    /// The init export returns normally or exits with code 0.
    InitStart,
    /// `malloc` returns a usable, aligned, in-bounds region.
    InitMalloc,
    /// The response pointer and the slots the host reads lie inside memory.
    ResponsePointer,
    /// Slot 0 is an i32 status in 100..=599.
    ResponseStatus,
    /// Slot 1 is a string.
    ResponseContentType,
    /// Slot 2 is a string or bytes.
    ResponseBody,
    /// Slot 3, when declared, is null or well-formed header lines.
    ResponseHeaders,
    /// Every string or bytes payload lies inside memory.
    ResponseBounds,
    /// String payloads are valid UTF-8.
    ResponseUtf8,
    /// `handle_zerobuf` does not trap.
    CallTrap,
    /// The guest does not call `proc_exit` outside init.
    CallExit,
    /// `handle_zerobuf` returns before the deadline.
    CallDeadline,
    /// Linear memory stays under the host's limit.
    CallMemory,
}

impl Rule {
    /// Every rule, in the order `conformance/ABI.md` lists them.
    pub const ALL: [Rule; 17] = [
        Rule::ModuleWasm,
        Rule::ModuleImports,
        Rule::ModuleExports,
        Rule::ModuleDeclarations,
        Rule::InitStart,
        Rule::InitMalloc,
        Rule::ResponsePointer,
        Rule::ResponseStatus,
        Rule::ResponseContentType,
        Rule::ResponseBody,
        Rule::ResponseHeaders,
        Rule::ResponseBounds,
        Rule::ResponseUtf8,
        Rule::CallTrap,
        Rule::CallExit,
        Rule::CallDeadline,
        Rule::CallMemory,
    ];

    /// The stable ID used in `conformance/ABI.md`, in error messages and in the corpus.
    pub fn id(self) -> &'static str {
        match self {
            Rule::ModuleWasm => "module.wasm",
            Rule::ModuleImports => "module.imports",
            Rule::ModuleExports => "module.exports",
            Rule::ModuleDeclarations => "module.declarations",
            Rule::InitStart => "init.start",
            Rule::InitMalloc => "init.malloc",
            Rule::ResponsePointer => "response.pointer",
            Rule::ResponseStatus => "response.status",
            Rule::ResponseContentType => "response.content_type",
            Rule::ResponseBody => "response.body",
            Rule::ResponseHeaders => "response.headers",
            Rule::ResponseBounds => "response.bounds",
            Rule::ResponseUtf8 => "response.utf8",
            Rule::CallTrap => "call.trap",
            Rule::CallExit => "call.exit",
            Rule::CallDeadline => "call.deadline",
            Rule::CallMemory => "call.memory",
        }
    }

    /// Looks a rule up by its ID.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.id() == id)
    }

    /// Whether breaking this rule leaves the instance unusable, so the host replaces it.
    pub fn poisons_instance(self) -> bool {
        matches!(
            self,
            Rule::InitStart
                | Rule::InitMalloc
                | Rule::CallTrap
                | Rule::CallExit
                | Rule::CallDeadline
                | Rule::CallMemory
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A guest broke a rule of the ABI (or could not be loaded at all).
#[derive(Debug, Clone)]
pub struct GuestError {
    /// The guest's name, usually its file stem (`rust-leaking`).
    pub guest: String,
    /// The request being served, as `METHOD PATH`, or `None` while loading.
    pub request: Option<String>,
    /// The rule that was broken.
    pub rule: Rule,
    /// What exactly went wrong, in one or a few sentences.
    pub message: String,
    /// What the guest wrote to stdout during the failing call (possibly truncated).
    pub stdout: String,
    /// What the guest wrote to stderr during the failing call (possibly truncated).
    pub stderr: String,
}

impl GuestError {
    /// Creates an error with no captured output; the runtime fills the rest in.
    pub fn new(guest: &str, rule: Rule, message: impl Into<String>) -> GuestError {
        GuestError {
            guest: guest.to_owned(),
            request: None,
            rule,
            message: message.into(),
            stdout: String::new(),
            stderr: String::new(),
        }
    }
}

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guest `{}` broke rule `{}`", self.guest, self.rule)?;
        match &self.request {
            Some(request) => write!(f, " on request `{request}`")?,
            None => write!(f, " while loading")?,
        }
        write!(f, ": {}", self.message)?;
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !text.is_empty() {
                write!(f, "\n--- guest {name} ---\n{}", text.trim_end())?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for GuestError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        for rule in Rule::ALL {
            assert_eq!(Rule::from_id(rule.id()), Some(rule));
        }
        let mut ids: Vec<_> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
    }

    #[test]
    fn display_names_guest_request_and_rule() {
        let mut error = GuestError::new("bad", Rule::ResponseStatus, "status 700 is outside 100..=599");
        error.request = Some("GET /status/700".into());
        error.stderr = "panicked\n".into();
        let text = error.to_string();
        assert!(text.starts_with("guest `bad` broke rule `response.status` on request `GET /status/700`: status 700"));
        assert!(text.ends_with("--- guest stderr ---\npanicked"));
    }
}
