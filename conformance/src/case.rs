//! The case format: one [`Case`] per object in the JSON arrays under `conformance/cases/<area>/`.
//!
//! These structs *are* the format: every field is documented here and unknown fields are
//! rejected, so a typo in a case file fails loading instead of silently checking nothing.

use std::collections::BTreeMap;

use host::Profile;
use serde::{Deserialize, Serialize};

/// An allocator/GC mode a guest is built in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Never frees, like TinyGo's `-gc=leaking`.
    Leaking,
    /// Frees or collects, like TinyGo's `-gc=conservative`.
    Conservative,
}

impl Mode {
    /// Both modes.
    pub const ALL: [Mode; 2] = [Mode::Leaking, Mode::Conservative];

    /// The mode's name as used in guest names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Leaking => "leaking",
            Mode::Conservative => "conservative",
        }
    }

    /// Parses `leaking` or `conservative`.
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.name() == name)
    }
}

/// One conformance case: a request, what the guest must answer, and where it applies.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// A snake_case name, unique within its area; matrix cases get `/len<N>/<fill>` appended.
    pub name: String,
    /// One line saying what the case shows.
    pub purpose: String,
    /// The IDs of the `conformance/ABI.md` rules this case exercises.
    #[serde(default)]
    pub rules: Vec<String>,
    /// The modes the case applies to; empty means every mode.
    #[serde(default)]
    pub modes: Vec<Mode>,
    /// The profiles the case runs under (`abi`, `gomode`); empty means both.
    #[serde(default)]
    pub profiles: Vec<Profile>,
    /// The request to send.
    pub request: CaseRequest,
    /// How many times to send the request to one fresh instance (default 1). Every response
    /// must meet `expect`; `expect.bodies` and the memory checks look across all of them.
    #[serde(default = "one")]
    pub repeat: u32,
    /// Expands a SIMD case into one case per (length, fill): every generated vector in
    /// `request.simd` takes the length and fill of the expansion.
    #[serde(default)]
    pub matrix: Option<Matrix>,
    /// What the guest must answer.
    pub expect: Expect,
    /// What the guest must answer under one profile instead of `expect`, where the profiles
    /// differ (a DELETE body, a 1 MiB body, status 100, …).
    #[serde(default)]
    pub expect_under: BTreeMap<Profile, Expect>,
    /// Further requests sent to the same instance after the last repeat, each with its own
    /// expectation, to show what a request leaves behind (a trap, a refused request).
    #[serde(default)]
    pub then: Vec<Step>,
    /// How long each outbound fetch of this case may take, in milliseconds, instead of the
    /// runner's 5 s (a time-out case sets it low, so that it waits little).
    #[serde(default)]
    pub fetch_timeout_ms: Option<u64>,
}

impl Case {
    /// What the guest must answer to the first request under `profile`.
    pub fn expect_for(&self, profile: Profile) -> &Expect {
        self.expect_under.get(&profile).unwrap_or(&self.expect)
    }
}

/// A further request of a case, sent once to the same instance.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The request to send.
    pub request: CaseRequest,
    /// What the guest must answer.
    pub expect: Expect,
    /// What the guest must answer under one profile instead of `expect`.
    #[serde(default)]
    pub expect_under: BTreeMap<Profile, Expect>,
}

impl Step {
    /// What the guest must answer under `profile`.
    pub fn expect_for(&self, profile: Profile) -> &Expect {
        self.expect_under.get(&profile).unwrap_or(&self.expect)
    }
}

fn one() -> u32 {
    1
}

/// The request part of a case.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// The HTTP method (default `GET`).
    #[serde(default = "get")]
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Headers as `[name, value]` pairs, in order; repeated names are allowed.
    #[serde(default)]
    pub headers: Vec<[String; 2]>,
    /// The body text.
    #[serde(default)]
    pub body: Option<String>,
    /// Repeats `body` this many times, to make huge bodies without huge files.
    #[serde(default)]
    pub body_repeat: Option<usize>,
    /// A SIMD kernel input; the body is generated from it in the format of `ABI.md`.
    #[serde(default)]
    pub simd: Option<SimdInput>,
}

fn get() -> String {
    "GET".into()
}

/// The fields of a SIMD request body.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimdInput {
    /// Vector `a`.
    #[serde(default)]
    pub a: Option<VectorSpec>,
    /// Vector `b`.
    #[serde(default)]
    pub b: Option<VectorSpec>,
    /// Scalar `s`, as 16 lowercase hex digits of its bits.
    #[serde(default)]
    pub s: Option<String>,
    /// Scalar `t`, as 16 lowercase hex digits of its bits.
    #[serde(default)]
    pub t: Option<String>,
    /// Raw extra lines appended to the body, to test the parser with malformed input.
    #[serde(default)]
    pub extra_lines: Vec<String>,
}

/// A vector: either literal hex values or a deterministic generator.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum VectorSpec {
    /// Literal values: 16 hex digits per f64, 8 per i32 (for `sum_i32`).
    Literal(Vec<String>),
    /// Generated values.
    Generated(Generator),
}

/// A deterministic vector generator.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    /// The number of elements (a matrix overrides it).
    #[serde(default)]
    pub len: usize,
    /// Which special values to mix in (a matrix overrides it).
    #[serde(default)]
    pub fill: Fill,
    /// The seed of the pseudo-random finite values (default: 1 for `a`, 2 for `b`).
    #[serde(default)]
    pub seed: Option<u64>,
}

/// The special values a generated vector contains besides pseudo-random finite values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// Finite values in [-1000, 1000] only (for i32: the whole i32 range).
    #[default]
    Finite,
    /// NaN at index n/2 and at the last index.
    Nan,
    /// NaN at index 0 and at index n/2.
    NanFirst,
    /// Every element is +0.0 or -0.0.
    Zero,
    /// +inf at index n/3 and -inf at index 2n/3.
    Inf,
    /// Every element is subnormal, of either sign.
    Subnormal,
    /// Every element has a magnitude between 1e300 and 1.7e308 (for i32: i32::MIN and i32::MAX).
    Huge,
}

impl Fill {
    pub fn name(self) -> &'static str {
        match self {
            Fill::Finite => "finite",
            Fill::Nan => "nan",
            Fill::NanFirst => "nan_first",
            Fill::Zero => "zero",
            Fill::Inf => "inf",
            Fill::Subnormal => "subnormal",
            Fill::Huge => "huge",
        }
    }
}

/// The lengths and fills a matrix case expands over.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// Vector lengths.
    pub len: Vec<usize>,
    /// Fills.
    pub fill: Vec<Fill>,
}

/// What the guest must answer. Every field that is set is checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The ID of the rule the request must fail with (`gomode.scratch`), instead of a response;
    /// no other field may be set with it.
    #[serde(default)]
    pub error: Option<String>,
    /// The status code.
    #[serde(default)]
    pub status: Option<u16>,
    /// The content type, exactly.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Response headers that must be present with these values (other headers may exist).
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// The body tag: `string` or `bytes`.
    #[serde(default)]
    pub body_tag: Option<String>,
    /// The body, exactly.
    #[serde(default)]
    pub body: Option<String>,
    /// A text the body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// A JSON value the body must contain: objects match by subset, everything else exactly.
    #[serde(default)]
    pub body_json: Option<serde_json::Value>,
    /// How many outbound fetches (status -1 answers, ABI.md §12) the request took.
    #[serde(default)]
    pub fetches: Option<u32>,
    /// The body is `n` bytes where byte i is `i % 251` (the `/bytes/<n>` pattern).
    #[serde(default)]
    pub body_pattern_len: Option<usize>,
    /// The body is the `/echo` document and each field equals what the host encoded.
    #[serde(default)]
    pub echo: bool,
    /// The SIMD result line: `"oracle"` computes it with kernels-rust; a list of hex values
    /// is a golden result worked out by hand. Bit-exact, except that any NaN matches any NaN.
    #[serde(default)]
    pub simd: Option<SimdExpect>,
    /// The exact body of each response, in order, when the request is repeated.
    #[serde(default)]
    pub bodies: Option<Vec<String>>,
    /// After the last response, linear memory is at most this many bytes.
    #[serde(default)]
    pub memory_max_bytes: Option<u64>,
    /// Between the first and the last response, linear memory grew by at least this much.
    #[serde(default)]
    pub memory_growth_min_bytes: Option<u64>,
}

/// The expected SIMD result.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum SimdExpect {
    /// `"oracle"`: computed by the native kernels-rust build.
    Oracle(OracleTag),
    /// Hex values worked out by hand.
    Golden(Vec<String>),
}

/// The only accepted string for [`SimdExpect::Oracle`].
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OracleTag {
    /// Use the oracle.
    Oracle,
}
