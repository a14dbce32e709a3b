//! The conformance corpus: the case format, loading, and running one case against a guest.
//!
//! A case file is a JSON array of [`Case`] objects under `conformance/cases/<area>/`. The
//! [`Case`] struct *is* the format: every field is documented here and unknown fields are
//! rejected. `gomode-host check` and the `conformance` test runner both load cases with
//! [`Corpus::load`] and run them with [`run_case`], so they cannot disagree.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use kernels_rust::Kernel;
use serde::{Deserialize, Serialize};

use crate::runtime::{Body, GuestModule, Request};

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
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
    fn name(self) -> &'static str {
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

/// A case with its area (the folder it came from) and its full name.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The folder under `cases/`: routing, encoding, simd, lifecycle, memory, …
    pub area: String,
    /// The file the case came from.
    pub file: PathBuf,
    /// The case, with any matrix already expanded.
    pub case: Case,
}

impl Entry {
    /// `area::name`, the case's ID in test names and reports.
    pub fn id(&self) -> String {
        format!("{}::{}", self.area, self.case.name)
    }

    /// Whether the case applies to a guest built in `mode`.
    pub fn applies_to(&self, mode: Mode) -> bool {
        self.case.modes.is_empty() || self.case.modes.contains(&mode)
    }
}

/// Every case of a corpus directory.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// The cases, sorted by ID.
    pub entries: Vec<Entry>,
}

impl Corpus {
    /// The corpus shipped with this workspace, `conformance/cases`.
    pub fn default_dir() -> PathBuf {
        let host_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        host_dir.parent().unwrap_or(host_dir).join("conformance/cases")
    }

    /// Loads every `<area>/*.json` file under `dir`, expands matrices, and checks that IDs are unique.
    pub fn load(dir: &Path) -> anyhow::Result<Corpus> {
        let mut entries = Vec::new();
        let mut areas: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the corpus at {}", dir.display()))?
            .collect::<Result<_, _>>()?;
        areas.sort_by_key(|e| e.file_name());
        for area in areas.into_iter().filter(|e| e.path().is_dir()) {
            let area_name = area.file_name().to_string_lossy().into_owned();
            let mut files: Vec<_> = std::fs::read_dir(area.path())?.collect::<Result<_, _>>()?;
            files.sort_by_key(|e| e.file_name());
            for file in files.into_iter().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")) {
                let text = std::fs::read_to_string(&file)?;
                let cases: Vec<Case> = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a valid case file", file.display()))?;
                for case in cases {
                    for case in expand(case) {
                        check_case(&case).with_context(|| format!("case `{}` in {}", case.name, file.display()))?;
                        entries.push(Entry { area: area_name.clone(), file: file.clone(), case });
                    }
                }
            }
        }
        entries.sort_by_key(Entry::id);
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].id() == pair[1].id()) {
            bail!("the case ID `{}` is used twice", pair[0].id());
        }
        Ok(Corpus { entries })
    }
}

fn expand(case: Case) -> Vec<Case> {
    let Some(matrix) = case.matrix.clone() else { return vec![case] };
    let mut out = Vec::new();
    for &len in &matrix.len {
        for &fill in &matrix.fill {
            let mut expanded = case.clone();
            expanded.matrix = None;
            expanded.name = format!("{}/len{len}/{}", case.name, fill.name());
            if let Some(simd) = &mut expanded.request.simd {
                for spec in [&mut simd.a, &mut simd.b].into_iter().flatten() {
                    if let VectorSpec::Generated(generator) = spec {
                        generator.len = len;
                        generator.fill = fill;
                    }
                }
            }
            out.push(expanded);
        }
    }
    out
}

fn check_case(case: &Case) -> anyhow::Result<()> {
    if case.purpose.trim().is_empty() || case.purpose.contains('\n') {
        bail!("the purpose must be one non-empty line");
    }
    if case.repeat == 0 {
        bail!("repeat must be at least 1");
    }
    if let Some(bodies) = &case.expect.bodies
        && bodies.len() != case.repeat as usize
    {
        bail!("expect.bodies has {} entries but repeat is {}", bodies.len(), case.repeat);
    }
    if case.request.simd.is_some() && case.request.body.is_some() {
        bail!("a request has either `simd` or `body`, not both");
    }
    if case.expect.simd.is_some() {
        let kernel = simd_kernel(&case.request.path).context("expect.simd needs a /simd/<kernel> path")?;
        oracle(kernel, case.request.simd.as_ref().context("expect.simd needs request.simd")?)?;
    }
    Ok(())
}

/// The kernel a `/simd/<kernel>` path names.
pub fn simd_kernel(path: &str) -> Option<Kernel> {
    Kernel::from_name(path.split('?').next()?.strip_prefix("/simd/")?)
}

/// Whether the kernel's `a` vector holds i32 values.
fn takes_i32(kernel: Option<Kernel>) -> bool {
    kernel == Some(Kernel::SumI32)
}

/// A vector of decoded values; f64 values are kept as bits so that NaN payloads survive.
#[derive(Clone, Debug, PartialEq)]
enum Values {
    F64(Vec<f64>),
    I32(Vec<i32>),
}

fn parse_hex_f64(text: &str) -> anyhow::Result<f64> {
    if text.len() != 16 {
        bail!("`{text}` is not 16 hex digits");
    }
    Ok(f64::from_bits(u64::from_str_radix(text, 16).with_context(|| format!("`{text}` is not hex"))?))
}

fn parse_hex_i32(text: &str) -> anyhow::Result<i32> {
    if text.len() != 8 {
        bail!("`{text}` is not 8 hex digits");
    }
    Ok(u32::from_str_radix(text, 16).with_context(|| format!("`{text}` is not hex"))? as i32)
}

/// splitmix64: a tiny, well-known generator; the corpus and the cross-guest check only need
/// repeatable values.
#[derive(Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform f64 in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn generate(generator: &Generator, default_seed: u64, i32_values: bool) -> anyhow::Result<Values> {
    let n = generator.len;
    let mut rng = SplitMix(generator.seed.unwrap_or(default_seed));
    if i32_values {
        let values = (0..n)
            .map(|i| match generator.fill {
                Fill::Finite => Ok(rng.next_u64() as i32),
                Fill::Huge => Ok(if i % 2 == 0 { i32::MAX } else { i32::MIN + (rng.next_u64() % 3) as i32 }),
                other => bail!("the fill `{}` has no meaning for i32 vectors", other.name()),
            })
            .collect::<anyhow::Result<_>>()?;
        return Ok(Values::I32(values));
    }
    let sign = |rng: &mut SplitMix| if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
    let mut values: Vec<f64> = (0..n)
        .map(|_| match generator.fill {
            Fill::Zero => sign(&mut rng) * 0.0,
            Fill::Subnormal => f64::from_bits(rng.next_u64() & 0x000f_ffff_ffff_ffff | 1) * sign(&mut rng),
            Fill::Huge => (1e300 + rng.unit() * 1.7e308) * sign(&mut rng),
            _ => rng.unit() * 2000.0 - 1000.0,
        })
        .collect();
    if n > 0 {
        match generator.fill {
            Fill::Nan => {
                values[n / 2] = f64::NAN;
                values[n - 1] = f64::NAN;
            }
            Fill::NanFirst => {
                values[0] = f64::NAN;
                values[n / 2] = f64::NAN;
            }
            Fill::Inf => {
                values[n / 3] = f64::INFINITY;
                values[2 * n / 3] = f64::NEG_INFINITY;
            }
            _ => {}
        }
    }
    Ok(Values::F64(values))
}

fn vector(spec: &VectorSpec, default_seed: u64, i32_values: bool) -> anyhow::Result<Values> {
    match spec {
        VectorSpec::Literal(items) if i32_values => {
            Ok(Values::I32(items.iter().map(|x| parse_hex_i32(x)).collect::<anyhow::Result<_>>()?))
        }
        VectorSpec::Literal(items) => {
            Ok(Values::F64(items.iter().map(|x| parse_hex_f64(x)).collect::<anyhow::Result<_>>()?))
        }
        VectorSpec::Generated(generator) => generate(generator, default_seed, i32_values),
    }
}

/// The decoded inputs of a SIMD request.
struct Inputs {
    a: Option<Values>,
    b: Option<Values>,
    s: Option<f64>,
    t: Option<f64>,
}

fn inputs(kernel: Option<Kernel>, simd: &SimdInput) -> anyhow::Result<Inputs> {
    let i32_values = takes_i32(kernel);
    Ok(Inputs {
        a: simd.a.as_ref().map(|spec| vector(spec, 1, i32_values)).transpose()?,
        b: simd.b.as_ref().map(|spec| vector(spec, 2, false)).transpose()?,
        s: simd.s.as_deref().map(parse_hex_f64).transpose()?,
        t: simd.t.as_deref().map(parse_hex_f64).transpose()?,
    })
}

fn write_vector(out: &mut String, name: &str, values: &Values) {
    out.push_str(name);
    let mut separator = ' ';
    match values {
        Values::F64(values) => values.iter().for_each(|v| {
            let _ = write!(out, "{separator}{:016x}", v.to_bits());
            separator = ',';
        }),
        Values::I32(values) => values.iter().for_each(|v| {
            let _ = write!(out, "{separator}{:08x}", *v as u32);
            separator = ',';
        }),
    }
    out.push('\n');
}

/// The request body for a SIMD input, in the line format of `ABI.md`.
pub fn simd_body(path: &str, simd: &SimdInput) -> anyhow::Result<String> {
    let inputs = inputs(simd_kernel(path), simd)?;
    let mut body = String::new();
    if let Some(a) = &inputs.a {
        write_vector(&mut body, "a", a);
    }
    if let Some(b) = &inputs.b {
        write_vector(&mut body, "b", b);
    }
    for (name, scalar) in [("s", inputs.s), ("t", inputs.t)] {
        if let Some(value) = scalar {
            let _ = writeln!(body, "{name} {:016x}", value.to_bits());
        }
    }
    for line in &simd.extra_lines {
        body.push_str(line);
        body.push('\n');
    }
    Ok(body)
}

/// The result the native kernels-rust oracle gives, as raw 64-bit patterns.
pub fn oracle(kernel: Kernel, simd: &SimdInput) -> anyhow::Result<Vec<u64>> {
    let inputs = inputs(Some(kernel), simd)?;
    let f64s = |values: &Option<Values>, name: &str| match values {
        Some(Values::F64(values)) => Ok(values.clone()),
        _ => bail!("kernel `{}` needs an f64 vector `{name}`", kernel.name()),
    };
    let scalar = |value: Option<f64>, name: &str| {
        value.with_context(|| format!("kernel `{}` needs scalar `{name}`", kernel.name()))
    };
    let bits = |values: Vec<f64>| values.into_iter().map(f64::to_bits).collect();
    let pair = || -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
        let (a, b) = (f64s(&inputs.a, "a")?, f64s(&inputs.b, "b")?);
        if a.len() != b.len() {
            bail!("kernel `{}` needs `a` and `b` of equal length", kernel.name());
        }
        Ok((a, b))
    };
    Ok(match kernel {
        Kernel::SumF64 => vec![kernels_rust::sum_f64(&f64s(&inputs.a, "a")?).to_bits()],
        Kernel::SumI32 => match &inputs.a {
            Some(Values::I32(values)) => vec![kernels_rust::sum_i32(values) as u64],
            _ => bail!("kernel `sum_i32` needs an i32 vector `a`"),
        },
        Kernel::DotF64 => {
            let (a, b) = pair()?;
            vec![kernels_rust::dot_f64(&a, &b).to_bits()]
        }
        Kernel::ScaleF64 => {
            let mut a = f64s(&inputs.a, "a")?;
            kernels_rust::scale_f64(&mut a, scalar(inputs.s, "s")?);
            bits(a)
        }
        Kernel::AddF64 | Kernel::SubF64 | Kernel::MulF64 => {
            let (a, b) = pair()?;
            let mut dst = vec![0.0; a.len()];
            match kernel {
                Kernel::AddF64 => kernels_rust::add_f64(&mut dst, &a, &b),
                Kernel::SubF64 => kernels_rust::sub_f64(&mut dst, &a, &b),
                _ => kernels_rust::mul_f64(&mut dst, &a, &b),
            }
            bits(dst)
        }
        Kernel::MinmaxF64 => {
            let (min, max) = kernels_rust::minmax_f64(&f64s(&inputs.a, "a")?).unwrap_or((f64::NAN, f64::NAN));
            vec![min.to_bits(), max.to_bits()]
        }
        Kernel::ClampF64 => {
            let mut a = f64s(&inputs.a, "a")?;
            kernels_rust::clamp_f64(&mut a, scalar(inputs.s, "s")?, scalar(inputs.t, "t")?);
            bits(a)
        }
        Kernel::MapLinearF64 => {
            let mut a = f64s(&inputs.a, "a")?;
            kernels_rust::map_linear_f64(&mut a, scalar(inputs.s, "s")?, scalar(inputs.t, "t")?);
            bits(a)
        }
    })
}

/// The expected result of a SIMD case: its golden values, or else the oracle's.
pub fn expected_simd(case: &Case) -> anyhow::Result<Option<Vec<u64>>> {
    let Some(expect) = &case.expect.simd else { return Ok(None) };
    let kernel = simd_kernel(&case.request.path).context("not a /simd/<kernel> path")?;
    Ok(Some(match expect {
        SimdExpect::Golden(values) => {
            values.iter().map(|v| parse_hex_f64(v).map(f64::to_bits)).collect::<anyhow::Result<_>>()?
        }
        SimdExpect::Oracle(OracleTag::Oracle) => {
            oracle(kernel, case.request.simd.as_ref().context("no request.simd")?)?
        }
    }))
}

/// Compares result bits; when the values are f64, any NaN matches any NaN.
pub fn same_bits(expected: u64, actual: u64, f64_values: bool) -> bool {
    expected == actual || (f64_values && f64::from_bits(expected).is_nan() && f64::from_bits(actual).is_nan())
}

/// Builds the host request a case describes.
pub fn request(case: &Case) -> anyhow::Result<Request> {
    let spec = &case.request;
    let mut body = spec.body.clone().unwrap_or_default();
    if let Some(times) = spec.body_repeat {
        body = body.repeat(times);
    }
    if let Some(simd) = &spec.simd {
        body = simd_body(&spec.path, simd)?;
    }
    Ok(Request {
        method: spec.method.clone(),
        path: spec.path.clone(),
        headers: spec.headers.iter().map(|[k, v]| (k.clone(), v.clone())).collect(),
        body: body.into_bytes(),
    })
}

/// Runs one case on a fresh instance of `module`. `Err` says what differed.
pub fn run_case(module: &GuestModule, case: &Case) -> Result<Option<String>, String> {
    let request = request(case).map_err(|err| format!("the case is invalid: {err:#}"))?;
    let expected_simd = expected_simd(case).map_err(|err| format!("the case is invalid: {err:#}"))?;
    let mut guest = module.guest();
    guest.start().map_err(|err| err.to_string())?;
    let mut first_memory = None;
    for i in 0..case.repeat {
        let response = guest.call(&request).map_err(|err| err.to_string())?;
        first_memory.get_or_insert(guest.memory_size().unwrap_or(0) as u64);
        let at = if case.repeat > 1 { format!(" (response {} of {})", i + 1, case.repeat) } else { String::new() };
        check_response(case, &request, &response, expected_simd.as_deref(), i as usize)
            .map_err(|err| format!("{err}{at}"))?;
    }
    let memory = guest.memory_size().unwrap_or(0) as u64;
    if let Some(max) = case.expect.memory_max_bytes
        && memory > max
    {
        return Err(format!("linear memory is {memory} bytes after {} requests; the bound is {max}", case.repeat));
    }
    let mut note = None;
    if let Some(max) = case.expect.memory_max_bytes {
        note = Some(format!("linear memory {memory} bytes after {} requests (bound {max})", case.repeat));
    }
    if let Some(min) = case.expect.memory_growth_min_bytes {
        let grown = memory - first_memory.unwrap_or(memory);
        if grown < min {
            return Err(format!(
                "linear memory grew by {grown} bytes over {} requests; expected at least {min}",
                case.repeat
            ));
        }
        note = Some(format!("linear memory grew by {grown} bytes over {} requests (at least {min})", case.repeat));
    }
    Ok(note)
}

fn check_response(
    case: &Case,
    request: &Request,
    response: &crate::runtime::Response,
    expected_simd: Option<&[u64]>,
    index: usize,
) -> Result<(), String> {
    let expect = &case.expect;
    let text = || String::from_utf8_lossy(response.body.as_bytes());
    let shown = || {
        let text = text();
        if text.len() > 300 {
            format!("{}… ({} bytes)", &text[..text.floor_char_boundary(300)], text.len())
        } else {
            text.into_owned()
        }
    };
    if let Some(status) = expect.status
        && response.status != status
    {
        return Err(format!("status {} (expected {status}); body: {}", response.status, shown()));
    }
    if let Some(content_type) = &expect.content_type
        && &response.content_type != content_type
    {
        return Err(format!("content type {:?} (expected {content_type:?})", response.content_type));
    }
    if let Some(headers) = &expect.headers {
        for (name, value) in headers {
            let found = response.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            if found != Some(value) {
                return Err(format!(
                    "header {name:?} is {found:?} (expected {value:?}); headers: {:?}",
                    response.headers
                ));
            }
        }
    }
    if let Some(tag) = &expect.body_tag {
        let actual = match response.body {
            Body::Text(_) => "string",
            Body::Bytes(_) => "bytes",
        };
        if actual != tag {
            return Err(format!("the body has tag {actual} (expected {tag})"));
        }
    }
    if let Some(body) = &expect.body
        && response.body.as_bytes() != body.as_bytes()
    {
        return Err(format!("body {:?} (expected {body:?})", shown()));
    }
    if let Some(needle) = &expect.body_contains
        && !text().contains(needle.as_str())
    {
        return Err(format!("body {:?} does not contain {needle:?}", shown()));
    }
    if let Some(json) = &expect.body_json {
        let actual: serde_json::Value = serde_json::from_slice(response.body.as_bytes())
            .map_err(|err| format!("body is not JSON ({err}): {}", shown()))?;
        json_subset(json, &actual, "$")?;
    }
    if let Some(len) = expect.body_pattern_len {
        let bytes = response.body.as_bytes();
        if bytes.len() != len {
            return Err(format!("body has {} bytes (expected {len})", bytes.len()));
        }
        if let Some(i) = (0..len).find(|&i| bytes[i] != (i % 251) as u8) {
            return Err(format!("body byte {i} is {} (expected {})", bytes[i], i % 251));
        }
    }
    if expect.echo {
        check_echo(request, response)?;
    }
    if let (Some(expected), Some(kernel)) = (expected_simd, simd_kernel(&case.request.path)) {
        compare_simd(kernel, expected, &text())?;
    }
    if let Some(bodies) = &expect.bodies
        && response.body.as_bytes() != bodies[index].as_bytes()
    {
        return Err(format!("body {:?} (expected {:?})", shown(), bodies[index]));
    }
    Ok(())
}

/// Checks that every part of `expected` is in `actual`: object keys by subset, the rest exactly.
pub fn json_subset(expected: &serde_json::Value, actual: &serde_json::Value, at: &str) -> Result<(), String> {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => expected.iter().try_for_each(|(key, value)| {
            let found = actual.get(key).ok_or_else(|| format!("{at}.{key} is missing"))?;
            json_subset(value, found, &format!("{at}.{key}"))
        }),
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => Ok(()),
        _ if expected == actual => Ok(()),
        _ => Err(format!("{at} is {actual} (expected {expected})")),
    }
}

fn check_echo(request: &Request, response: &crate::runtime::Response) -> Result<(), String> {
    let body = String::from_utf8_lossy(&request.body);
    let expected = serde_json::json!({
        "method": request.method,
        "path": request.path,
        "body": body,
        "headers": request.header_lines(),
        "body_len": body.len(),
        "slot4": "null",
        "slot5": "null",
    });
    let actual: serde_json::Value =
        serde_json::from_slice(response.body.as_bytes()).map_err(|err| format!("the echo body is not JSON: {err}"))?;
    json_subset(&expected, &actual, "$").map_err(|err| {
        let short = |s: String| if s.len() > 200 { format!("{}…", &s[..s.floor_char_boundary(200)]) } else { s };
        short(format!("the guest decoded something else than the host wrote: {err}"))
    })
}

/// Parses a SIMD response line, `r <hex>[,<hex>...]`, into raw 64-bit patterns.
pub fn simd_result(body: &str) -> Result<Vec<u64>, String> {
    let rest = body.strip_prefix('r').ok_or_else(|| format!("the SIMD body does not start with `r`: {body:?}"))?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let list = rest.strip_prefix(' ').ok_or_else(|| format!("no space after `r`: {body:?}"))?;
    list.split(',')
        .map(|hex| match hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            true => Ok(u64::from_str_radix(hex, 16).expect("checked hex")),
            false => Err(format!("`{hex}` is not 16 lowercase hex digits")),
        })
        .collect()
}

/// Compares a SIMD response line with the expected bits; `Err` names the first difference.
pub fn compare_simd(kernel: Kernel, expected: &[u64], body: &str) -> Result<(), String> {
    let f64_values = kernel != Kernel::SumI32;
    let actual = simd_result(body)?;
    if actual.len() != expected.len() {
        return Err(format!("the result has {} values (expected {})", actual.len(), expected.len()));
    }
    if let Some(i) = (0..actual.len()).find(|&i| !same_bits(expected[i], actual[i], f64_values)) {
        return Err(format!(
            "value {i} is {:016x} ({}) but the expected bits are {:016x} ({})",
            actual[i],
            f64::from_bits(actual[i]),
            expected[i],
            f64::from_bits(expected[i])
        ));
    }
    Ok(())
}

/// A one-line `gomode-host call` command that sends the case's request to `guest`.
/// Bodies that are long or generated are written to `scratch` and passed with `--data-file`.
pub fn reproduce(case: &Case, guest: &Path, scratch: &Path) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut command = format!("gomode-host call {}", quote(&guest.display().to_string()));
    if case.request.method != "GET" {
        command.push_str(&format!(" -X {}", case.request.method));
    }
    command.push(' ');
    command.push_str(&quote(&case.request.path));
    for [name, value] in &case.request.headers {
        command.push_str(&format!(" -H {}", quote(&format!("{name}: {value}"))));
    }
    if let Ok(request) = request(case)
        && !request.body.is_empty()
    {
        if request.body.len() <= 200 && case.request.simd.is_none() {
            command.push_str(&format!(" -d {}", quote(&String::from_utf8_lossy(&request.body))));
        } else {
            let file = scratch.join(format!("{}.body", case.name.replace('/', "_")));
            let written = std::fs::create_dir_all(scratch).and_then(|()| std::fs::write(&file, &request.body));
            match written {
                Ok(()) => command.push_str(&format!(" --data-file {}", quote(&file.display().to_string()))),
                Err(err) => command.push_str(&format!(" --data-file <could not write {}: {err}>", file.display())),
            }
        }
    }
    if case.repeat > 1 {
        command.push_str(&format!("  # this case sends the request {} times", case.repeat));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen_spec(len: usize, fill: Fill) -> Generator {
        Generator { len, fill, seed: None }
    }

    #[test]
    fn generators_are_repeatable_and_place_specials() {
        let a = generate(&gen_spec(7, Fill::Nan), 1, false).unwrap();
        // NaN != NaN, so the repeat is compared through the printed bits.
        assert_eq!(format!("{a:?}"), format!("{:?}", generate(&gen_spec(7, Fill::Nan), 1, false).unwrap()));
        let Values::F64(values) = a else { panic!("f64 expected") };
        assert!(values[3].is_nan() && values[6].is_nan());
        assert!(values.iter().filter(|v| !v.is_nan()).all(|v| (-1000.0..=1000.0).contains(v)));
        let Values::F64(zeros) = generate(&gen_spec(64, Fill::Zero), 1, false).unwrap() else { panic!() };
        assert!(zeros.iter().all(|z| *z == 0.0));
        assert!(zeros.iter().any(|z| z.is_sign_negative()) && zeros.iter().any(|z| z.is_sign_positive()));
        let Values::F64(subnormals) = generate(&gen_spec(64, Fill::Subnormal), 1, false).unwrap() else { panic!() };
        assert!(subnormals.iter().all(|v| v.is_subnormal()));
        assert!(generate(&gen_spec(3, Fill::Nan), 1, true).is_err());
    }

    #[test]
    fn simd_bodies_follow_the_line_format() {
        let simd = SimdInput {
            a: Some(VectorSpec::Literal(vec!["3ff0000000000000".into(), "4000000000000000".into()])),
            s: Some("4000000000000000".into()),
            ..SimdInput::default()
        };
        assert_eq!(
            simd_body("/simd/scale_f64", &simd).unwrap(),
            "a 3ff0000000000000,4000000000000000\ns 4000000000000000\n"
        );
        let empty = SimdInput { a: Some(VectorSpec::Literal(vec![])), ..SimdInput::default() };
        assert_eq!(simd_body("/simd/sum_f64", &empty).unwrap(), "a\n");
        let ints = SimdInput { a: Some(VectorSpec::Literal(vec!["ffffffff".into()])), ..SimdInput::default() };
        assert_eq!(simd_body("/simd/sum_i32", &ints).unwrap(), "a ffffffff\n");
        assert_eq!(oracle(Kernel::SumI32, &ints).unwrap(), vec![u64::MAX]);
    }

    #[test]
    fn json_subset_matches_objects_by_subset_only() {
        let actual = serde_json::json!({"a": 1, "b": {"c": [1, 2], "d": "x"}});
        assert!(json_subset(&serde_json::json!({"b": {"d": "x"}}), &actual, "$").is_ok());
        assert!(json_subset(&serde_json::json!({"a": 1.0}), &actual, "$").is_ok());
        assert_eq!(
            json_subset(&serde_json::json!({"b": {"c": [1]}}), &actual, "$").unwrap_err(),
            "$.b.c is [1,2] (expected [1])"
        );
        assert!(json_subset(&serde_json::json!({"z": 1}), &actual, "$").is_err());
    }

    #[test]
    fn nan_matches_nan_only_for_f64_results() {
        assert!(same_bits(0x7ff8_0000_0000_0000, 0xfff8_0000_0000_0001, true));
        assert!(!same_bits(0x7ff8_0000_0000_0000, 0xfff8_0000_0000_0001, false));
        assert!(!same_bits(0x8000_0000_0000_0000, 0, true));
    }
}
