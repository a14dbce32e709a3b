//! What can go wrong: a guest that broke a rule of the ABI, or a host or user that did.
//!
//! A [`Violation`] is what a guest did: one [`Rule`] of `conformance/ABI.md` and what exactly was
//! wrong. A [`GuestError`] is a violation with its context (which guest, which request, what the
//! guest printed). A [`HostError`] is never a guest's fault: a file that cannot be read, an engine
//! that cannot start, a request too large for any guest. [`Error`] is either, and it is what the
//! runtime returns; a host error is never reported under a guest rule.

use std::fmt;
use std::path::PathBuf;

/// Declares [`Rule`] with its IDs, so that the list of every rule is derived from the enum itself.
macro_rules! rules {
    ($($(#[doc = $doc:literal])* $variant:ident => $id:literal,)*) => {
        /// A rule of the ABI that the host enforces, named by its stable ID from `conformance/ABI.md`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Rule {
            /// Every rule, in the order `conformance/ABI.md` lists them.
            pub const ALL: &[Rule] = &[$(Rule::$variant,)*];

            /// The stable ID used in `conformance/ABI.md`, in error messages and in the corpus.
            pub fn id(self) -> &'static str {
                match self {
                    $(Rule::$variant => $id,)*
                }
            }
        }
    };
}

rules! {
    /// The file is a core wasm32 module with exactly one 32-bit memory.
    ModuleWasm => "module.wasm",
    /// Every import is a function from `wasi_snapshot_preview1`.
    ModuleImports => "module.imports",
    /// `memory`, `handle_zerobuf` and `malloc` are exported with the right types.
    ModuleExports => "module.exports",
    /// `gomode_abi_version` and `gomode_abi_features` have the right types and values.
    ModuleDeclarations => "module.declarations",
    /// The init export returns normally or exits with code 0.
    InitStart => "init.start",
    /// `malloc` returns a usable, aligned, in-bounds region.
    InitMalloc => "init.malloc",
    /// The response pointer and the slots the host reads lie inside memory.
    ResponsePointer => "response.pointer",
    /// Slot 0 is an i32 status in 100..=599.
    ResponseStatus => "response.status",
    /// Slot 1 is a string.
    ResponseContentType => "response.content_type",
    /// Slot 2 is a string or bytes.
    ResponseBody => "response.body",
    /// Slot 3, when declared, is null or well-formed header lines.
    ResponseHeaders => "response.headers",
    /// Every string or bytes payload lies inside memory.
    ResponseBounds => "response.bounds",
    /// String payloads are valid UTF-8.
    ResponseUtf8 => "response.utf8",
    /// `handle_zerobuf` does not trap.
    CallTrap => "call.trap",
    /// The guest does not call `proc_exit` outside init.
    CallExit => "call.exit",
    /// `handle_zerobuf` returns before the deadline.
    CallDeadline => "call.deadline",
    /// Linear memory stays under the host's limit.
    CallMemory => "call.memory",
    /// Under `gomode`: every import is one of GoMode's 25 WASI functions.
    GomodeImports => "gomode.imports",
    /// Under `gomode`: the module exports `_start`, the only init GoMode calls.
    GomodeStart => "gomode.start",
    /// Under `gomode`: the request fits GoMode's fixed 8,352-byte scratch.
    GomodeScratch => "gomode.scratch",
    /// Under `gomode`: a tag-4 response slot 3 is header text GoMode can serve, not a stray slot.
    GomodeHeaders => "gomode.headers",
    /// A status -1 response is a well-formed fetch request.
    FetchRequest => "fetch.request",
    /// A handler asks for no more fetches per request than the host allows.
    FetchCap => "fetch.cap",
}

impl Rule {
    /// Looks a rule up by its ID.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|rule| rule.id() == id)
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

/// What a guest did wrong: the rule it broke and exactly how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule that was broken.
    pub rule: Rule,
    /// What exactly went wrong, in one or a few sentences, naming the item.
    pub message: String,
}

impl Violation {
    /// A violation of `rule`.
    pub fn new(rule: Rule, message: impl Into<String>) -> Violation {
        Violation { rule, message: message.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.rule, self.message)
    }
}

/// A guest broke a rule, with the context a reader needs to find out why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestError {
    /// The guest's name, usually its file stem (`rust-leaking`).
    pub guest: String,
    /// The request being served, as `METHOD PATH`, or `None` while loading.
    pub request: Option<String>,
    /// The rule that was broken and how.
    pub violation: Violation,
    /// What the guest wrote to stdout during the failing call (possibly truncated).
    pub stdout: String,
    /// What the guest wrote to stderr during the failing call (possibly truncated).
    pub stderr: String,
}

impl GuestError {
    /// An error with no request and no captured output; the runtime fills those in.
    pub fn new(guest: &str, violation: Violation) -> GuestError {
        GuestError { guest: guest.to_owned(), request: None, violation, stdout: String::new(), stderr: String::new() }
    }

    /// The rule that was broken.
    pub fn rule(&self) -> Rule {
        self.violation.rule
    }
}

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guest `{}` broke rule `{}`", self.guest, self.violation.rule)?;
        match &self.request {
            Some(request) => write!(f, " on request `{request}`")?,
            None => write!(f, " while loading")?,
        }
        write!(f, ": {}", self.violation.message)?;
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !text.is_empty() {
                write!(f, "\n--- guest {name} ---\n{}", text.trim_end())?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for GuestError {}

/// Something the host or its user did wrong; never a guest's fault, so it names no rule.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A guest file could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why; it is part of the message, so it is not also a `source`.
        reason: std::io::Error,
    },
    /// The engine could not be set up or failed: wasmtime (a bad cache directory, no thread for
    /// the epoch ticker, …) or, for `check --engine v8`, the Node process.
    #[error("engine failure: {0}")]
    Engine(String),
    /// The request cannot be laid out in any guest's memory under the host's limits.
    #[error(
        "request `{request}` needs {needed} bytes of request slots and payloads, more than the {limit}-byte \
         memory limit allows (raise --memory-limit-mib or send less)"
    )]
    RequestTooLarge {
        /// The request, as `METHOD PATH`.
        request: String,
        /// The bytes its slots and payloads need.
        needed: u64,
        /// The memory limit it was measured against.
        limit: u64,
    },
    /// The request itself is malformed, whatever the guest (a target that is not a path, …).
    #[error("request `{request}` cannot be sent: {reason}")]
    BadRequest {
        /// The request, as `METHOD PATH`.
        request: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The guest answered status -1, asking for an outbound fetch, which this host does not offer
    /// yet.
    #[error(
        "on request `{request}` the guest answered status -1, which asks the host for an outbound fetch \
         (GoMode's two-phase protocol); gomode-host does not offer outbound fetch yet"
    )]
    FetchNotOffered {
        /// The request, as `METHOD PATH`.
        request: String,
    },
}

/// Why a load or a call failed: the guest broke a rule, or the host could not do its part.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The guest broke a rule.
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The host or its user did something wrong.
    #[error(transparent)]
    Host(#[from] HostError),
}

impl Error {
    /// The broken rule, when the guest is to blame.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            Error::Guest(error) => Some(error.rule()),
            Error::Host(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        for &rule in Rule::ALL {
            assert_eq!(Rule::from_id(rule.id()), Some(rule));
        }
        let mut ids: Vec<_> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
    }

    #[test]
    fn display_names_guest_request_and_rule() {
        let mut error = GuestError::new("bad", Violation::new(Rule::ResponseStatus, "status 700 is outside 100..=599"));
        error.request = Some("GET /status/700".into());
        error.stderr = "panicked\n".into();
        let text = error.to_string();
        assert!(text.starts_with("guest `bad` broke rule `response.status` on request `GET /status/700`: status 700"));
        assert!(text.ends_with("--- guest stderr ---\npanicked"));
    }

    #[test]
    fn host_errors_name_no_rule() {
        let error = Error::from(HostError::Read {
            path: "/nonexistent.wasm".into(),
            reason: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        assert_eq!(error.rule(), None);
        let text = error.to_string();
        assert!(text.starts_with("cannot read /nonexistent.wasm"), "{text}");
        assert!(!Rule::ALL.iter().any(|rule| text.contains(rule.id())), "{text}");
    }
}
