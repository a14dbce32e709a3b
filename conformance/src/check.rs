//! Running one case against a guest and comparing what it answered with what the case expects.
//!
//! The result is typed: a case passes (with an optional note of what it measured), or it fails
//! because the case is invalid, because the guest broke a rule or the host could not serve it
//! (a [`host::Error`]), or because the guest answered differently, naming the [`Check`] that
//! differed. Callers such as the FMA canary test match on the variant, never on the text.

use std::fmt;

use host::{Body, HostError, Profile, Request, Response};
use kernels_rust::Kernel;

use crate::case::{Case, CaseRequest, Expect};
use crate::engine::Serve;
use crate::simd::{compare_simd, expected_simd, simd_body, simd_kernel};
use crate::upstream;

/// Which expectation of a case a response did not meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// `expect.status`.
    Status,
    /// `expect.content_type`.
    ContentType,
    /// `expect.headers`.
    Headers,
    /// `expect.body_tag`.
    BodyTag,
    /// `expect.body`, `expect.body_contains`, `expect.body_json`, `expect.body_pattern_len` or
    /// `expect.bodies`.
    Body,
    /// `expect.echo`.
    Echo,
    /// `expect.simd`: the kernel's result bits.
    Simd,
    /// `expect.memory_max_bytes` or `expect.memory_growth_min_bytes`.
    Memory,
    /// `expect.fetches`.
    Fetches,
    /// `expect.error`: the request had to break a rule, or broke another.
    Error,
}

/// Why a case failed.
#[derive(Debug)]
pub enum Failure {
    /// The case itself is wrong (it cannot be turned into a request or an expectation).
    Invalid(String),
    /// The guest broke a rule of the ABI, or the host could not serve the request.
    Error(host::Error),
    /// The guest answered, but not as the case expects.
    Differs {
        /// Which expectation was not met.
        check: Check,
        /// What differed.
        message: String,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Invalid(message) => write!(f, "the case is invalid: {message}"),
            Failure::Error(error) => write!(f, "{error}"),
            Failure::Differs { message, .. } => f.write_str(message),
        }
    }
}

fn differs(check: Check, message: String) -> Failure {
    Failure::Differs { check, message }
}

/// Builds the host request a case describes.
pub fn request(case: &Case) -> anyhow::Result<Request> {
    build_request(&case.request)
}

fn build_request(spec: &CaseRequest) -> anyhow::Result<Request> {
    let mut body = spec.body.clone().unwrap_or_default();
    if let Some(times) = spec.body_repeat {
        body = body.repeat(times);
    }
    if let Some(simd) = &spec.simd {
        body = simd_body(&spec.path, simd)?;
    }
    Ok(Request {
        method: spec.method.clone(),
        path: upstream::substitute(&spec.path).map_err(anyhow::Error::msg)?,
        headers: spec.headers.iter().map(|[k, v]| (k.clone(), v.clone())).collect(),
        body: body.into_bytes(),
    })
}

/// What running a case gave: every answer in order, so that two engines can be compared answer
/// by answer, and the verdict, which may carry a note of what was measured.
#[derive(Debug)]
pub struct CaseRun {
    /// One per request, in order.
    pub answers: Vec<Answer>,
    /// Whether the guest answered as the case expects under the profile.
    pub result: Result<Option<String>, Failure>,
}

/// One answer, kept small however large the body: what it was, with the body cut to a preview,
/// and a digest of all of it. Two answers are equal when their digests are.
#[derive(Clone, Debug)]
pub struct Answer {
    /// A digest of the whole answer, body included.
    pub digest: u64,
    /// The answer as JSON, with at most 200 bytes of the body: the status, content type, headers,
    /// body tag and length; or `{"error": rule}` for a broken rule; or `{"host_error": kind}`.
    pub shown: String,
}

impl PartialEq for Answer {
    fn eq(&self, other: &Answer) -> bool {
        self.digest == other.digest
    }
}

impl Answer {
    fn of(outcome: &Result<Response<'_>, host::Error>) -> Answer {
        use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
        let mut hasher = foldhash::quality::FixedState::default().build_hasher();
        let shown = match outcome {
            Ok(response) => {
                let bytes = response.body.as_bytes();
                bytes.hash(&mut hasher);
                let preview = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
                serde_json::json!({
                    "status": response.status,
                    "content_type": response.content_type,
                    "headers": response.headers,
                    "body_tag": match response.body { Body::Text(_) => "string", Body::Bytes(_) => "bytes" },
                    "body_len": bytes.len(),
                    "body_preview": preview,
                })
            }
            Err(host::Error::Guest(error)) => serde_json::json!({"error": error.rule().id()}),
            Err(host::Error::Host(error)) => serde_json::json!({"host_error": host_error_kind(error)}),
        }
        .to_string();
        shown.hash(&mut hasher);
        Answer { digest: hasher.finish(), shown }
    }
}

/// Runs one case under `profile` on `guest`, which should be a fresh instance.
pub fn run_case(guest: &mut dyn Serve, case: &Case, profile: Profile) -> CaseRun {
    let mut answers = Vec::new();
    let result = run_steps(guest, case, profile, &mut answers);
    CaseRun { answers, result }
}

fn run_steps(
    guest: &mut dyn Serve,
    case: &Case,
    profile: Profile,
    answers: &mut Vec<Answer>,
) -> Result<Option<String>, Failure> {
    let invalid = |err: anyhow::Error| Failure::Invalid(format!("{err:#}"));
    let request = request(case).map_err(invalid)?;
    let expected_simd = expected_simd(case).map_err(invalid)?;
    let expect = case.expect_for(profile);
    let mut first_memory = None;
    for i in 0..case.repeat {
        let outcome = guest.call(&request);
        answers.push(Answer::of(&outcome));
        let Some(response) = expected_outcome(expect, outcome)? else { continue };
        let simd = expected_simd.as_deref().zip(simd_kernel(&case.request.path));
        check_response(expect, &request, &response, simd, i as usize, profile).map_err(|failure| match failure {
            Failure::Differs { check, message } if case.repeat > 1 => {
                differs(check, format!("{message} (response {} of {})", i + 1, case.repeat))
            }
            other => other,
        })?;
        // The response borrows the instance, so its memory is read once it has been checked.
        first_memory.get_or_insert(guest.memory_size().unwrap_or(0) as u64);
    }
    let memory = guest.memory_size().unwrap_or(0) as u64;
    let mut note = None;
    if let Some(max) = expect.memory_max_bytes {
        if memory > max {
            let message = format!("linear memory is {memory} bytes after {} requests; the bound is {max}", case.repeat);
            return Err(differs(Check::Memory, message));
        }
        note = Some(format!("linear memory {memory} bytes after {} requests (bound {max})", case.repeat));
    }
    if let Some(min) = expect.memory_growth_min_bytes {
        let grown = memory - first_memory.unwrap_or(memory);
        if grown < min {
            let message =
                format!("linear memory grew by {grown} bytes over {} requests; expected at least {min}", case.repeat);
            return Err(differs(Check::Memory, message));
        }
        note = Some(format!("linear memory grew by {grown} bytes over {} requests (at least {min})", case.repeat));
    }
    for (n, step) in case.then.iter().enumerate() {
        let request = build_request(&step.request).map_err(invalid)?;
        let outcome = guest.call(&request);
        answers.push(Answer::of(&outcome));
        let expect = step.expect_for(profile);
        let in_step = |failure| match failure {
            Failure::Differs { check, message } => {
                differs(check, format!("{message} (then[{n}]: {})", request.summary()))
            }
            other => other,
        };
        let Some(response) = expected_outcome(expect, outcome).map_err(in_step)? else { continue };
        check_response(expect, &request, &response, None, 0, profile).map_err(in_step)?;
    }
    Ok(note)
}

/// Matches a call's outcome against `expect.error`: `Ok(Some(response))` when a response was
/// expected and given, `Ok(None)` when the expected rule was broken.
fn expected_outcome<'a>(
    expect: &Expect,
    outcome: Result<Response<'a>, host::Error>,
) -> Result<Option<Response<'a>>, Failure> {
    match (&expect.error, outcome) {
        (None, Ok(response)) => Ok(Some(response)),
        (None, Err(error)) => Err(Failure::Error(error)),
        (Some(rule), Err(error)) if error.rule().is_some_and(|r| r.id() == rule) => Ok(None),
        (Some(rule), Err(error)) => {
            Err(differs(Check::Error, format!("the request failed otherwise than by breaking `{rule}`: {error}")))
        }
        (Some(rule), Ok(response)) => Err(differs(
            Check::Error,
            format!("the guest answered {} where the request must break `{rule}`", response.status),
        )),
    }
}

/// A host error's kind, without the detail that differs between engines.
fn host_error_kind(error: &HostError) -> &'static str {
    match error {
        HostError::Read { .. } => "read",
        HostError::Engine(_) => "engine",
        HostError::RequestTooLarge { .. } => "request_too_large",
        HostError::BadRequest { .. } => "bad_request",
        HostError::FetchNotOffered { .. } => "fetch_not_offered",
    }
}

fn check_response(
    expect: &Expect,
    request: &Request,
    response: &Response<'_>,
    simd: Option<(&[u64], Kernel)>,
    index: usize,
    profile: Profile,
) -> Result<(), Failure> {
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
        return Err(differs(
            Check::Status,
            format!("status {} (expected {status}); body: {}", response.status, shown()),
        ));
    }
    if let Some(fetches) = expect.fetches
        && response.fetches != fetches
    {
        let message = format!("{} outbound fetches (expected {fetches}); body: {}", response.fetches, shown());
        return Err(differs(Check::Fetches, message));
    }
    if let Some(content_type) = &expect.content_type
        && &response.content_type != content_type
    {
        let message = format!("content type {:?} (expected {content_type:?})", response.content_type);
        return Err(differs(Check::ContentType, message));
    }
    if let Some(headers) = &expect.headers {
        for (name, value) in headers {
            let found = response.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            if found != Some(value) {
                let message =
                    format!("header {name:?} is {found:?} (expected {value:?}); headers: {:?}", response.headers);
                return Err(differs(Check::Headers, message));
            }
        }
    }
    if let Some(tag) = &expect.body_tag {
        let actual = match response.body {
            Body::Text(_) => "string",
            Body::Bytes(_) => "bytes",
        };
        if actual != tag {
            return Err(differs(Check::BodyTag, format!("the body has tag {actual} (expected {tag})")));
        }
    }
    if let Some(body) = &expect.body
        && response.body.as_bytes() != body.as_bytes()
    {
        return Err(differs(Check::Body, format!("body {:?} (expected {body:?})", shown())));
    }
    if let Some(needle) = &expect.body_contains
        && !text().contains(needle.as_str())
    {
        return Err(differs(Check::Body, format!("body {:?} does not contain {needle:?}", shown())));
    }
    if let Some(json) = &expect.body_json {
        let actual: serde_json::Value = serde_json::from_slice(response.body.as_bytes())
            .map_err(|err| differs(Check::Body, format!("body is not JSON ({err}): {}", shown())))?;
        json_subset(json, &actual, "$").map_err(|message| differs(Check::Body, message))?;
    }
    if let Some(len) = expect.body_pattern_len {
        let bytes = response.body.as_bytes();
        if bytes.len() != len {
            return Err(differs(Check::Body, format!("body has {} bytes (expected {len})", bytes.len())));
        }
        // Compared one 251-byte period at a time, which is a memcmp, rather than byte by byte:
        // the memory cases check 10,000 such bodies.
        let period: Vec<u8> = (0..251u8).collect();
        let wrong = bytes.chunks(251).position(|chunk| *chunk != period[..chunk.len()]);
        if let Some(chunk) = wrong {
            let i = (chunk * 251..len).find(|&i| bytes[i] != (i % 251) as u8).unwrap_or(chunk * 251);
            return Err(differs(Check::Body, format!("body byte {i} is {} (expected {})", bytes[i], i % 251)));
        }
    }
    if expect.echo {
        check_echo(request, response, profile).map_err(|message| differs(Check::Echo, message))?;
    }
    if let Some((expected, kernel)) = simd {
        compare_simd(kernel, expected, &text()).map_err(|message| differs(Check::Simd, message))?;
    }
    if let Some(bodies) = &expect.bodies
        && response.body.as_bytes() != bodies[index].as_bytes()
    {
        return Err(differs(Check::Body, format!("body {:?} (expected {:?})", shown(), bodies[index])));
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

fn check_echo(request: &Request, response: &Response<'_>, profile: Profile) -> Result<(), String> {
    let [method, path, body, headers] = request.slot_texts(profile).map_err(|err| err.to_string())?;
    let expected = serde_json::json!({
        "method": method,
        "path": path,
        "body": body,
        "headers": headers,
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

/// A response as `gomode-host call --json` prints it, and as the Worker-like host must print
/// it too: `status`, `content_type`, `headers` (an object, repeated names joined by `, `), and
/// `body` when the body is UTF-8 or `body_base64` when it is not.
pub fn response_json(response: &Response<'_>) -> serde_json::Value {
    use base64::Engine as _;
    let mut headers = serde_json::Map::new();
    for (name, value) in &response.headers {
        let joined = match headers.get(name) {
            Some(serde_json::Value::String(previous)) => format!("{previous}, {value}"),
            _ => value.clone(),
        };
        headers.insert(name.clone(), joined.into());
    }
    let mut object =
        serde_json::json!({"status": response.status, "content_type": response.content_type, "headers": headers});
    match std::str::from_utf8(response.body.as_bytes()) {
        Ok(text) => object["body"] = text.into(),
        Err(_) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(response.body.as_bytes());
            object["body_base64"] = encoded.into();
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn response_json_keeps_text_and_encodes_binary() {
        let mut response = Response {
            status: 200,
            content_type: "x/y".into(),
            headers: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
            body: Body::Bytes(vec![0xff, 0].into()),
            stdout: String::new(),
            stderr: String::new(),
            panic: None,
            fetches: 0,
        };
        let json = response_json(&response);
        assert_eq!(json["headers"]["a"], "1, 2");
        assert_eq!(json["body_base64"], "/wA=");
        response.body = Body::Text("hi".into());
        assert_eq!(response_json(&response)["body"], "hi");
    }
}
