//! Property test of the response readers, `host::read_response` and `read_gomode_response`, over random memory images.
//!
//! The reader is the trust boundary: everything it sees was written by a guest. Half of the
//! images are noise; the other half are valid responses, laid out by the host's own encoder, then
//! mutated the ways a broken guest breaks them (a wrong tag, a pointer near or past the end of
//! memory, a huge length, invalid UTF-8, header text without its final newline, a base near the
//! end). Whatever the image, the reader must not panic, must name a `response.*` rule for every
//! failure, and must return a status in 100..=599 on success; an unmutated valid response must be
//! read back exactly, and an unmutated one with a bad status or malformed header text (such as a
//! lone `"\n"`, which the `response` fuzz target caught the reader accepting) must break exactly
//! that rule. The run also counts its outcomes and fails if any response rule or success
//! was never reached, so the generators cannot silently stop reaching a rule.
//!
//! This is the bounded, deterministic sibling of the `response` fuzz target in `host/fuzz`. The
//! seed is fixed and printed, so a failure replays exactly on any machine.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Instant;

use host::zerobuf::{Encoder, SLOT_SIZE, Value};
use host::{Body, Rule, read_response};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// The seed of the random images, the same on every run.
const SEED: [u8; 32] = *b"gomode response_props seed 2026!";

/// The number of cases; about a second in a debug build.
const CASES: u32 = 4000;

/// What the reader is given.
#[derive(Clone, Debug)]
struct Image {
    memory: Vec<u8>,
    base: u32,
    /// Whether the guest declares the response-headers feature.
    headers: bool,
    /// What the reader must return for an unmutated image, when the generator knows it.
    expect: Option<Expect>,
}

/// The verdict on an unmutated image: its response, or the one rule it breaks on purpose.
#[derive(Clone, Debug)]
enum Expect {
    Valid(Expected),
    Broken(Rule),
}

/// The parts of a valid response that the reader must return unchanged.
#[derive(Clone, Debug)]
struct Expected {
    status: u16,
    content_type: String,
    body: Body<'static>,
    headers: Vec<(String, String)>,
}

/// An address relative to the end of memory, or anywhere.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// `len - k`: the last bytes, where a header or slot straddles the end.
    NearEnd(u32),
    /// `len + k`: just past the end.
    PastEnd(u32),
    /// `u32::MAX - k`: where 32-bit arithmetic would wrap.
    Top(u32),
    Any(u32),
}

impl Target {
    fn resolve(self, len: usize) -> u32 {
        let len = len as u32;
        match self {
            Target::NearEnd(k) => len.saturating_sub(k),
            Target::PastEnd(k) => len.saturating_add(k),
            Target::Top(k) => u32::MAX - k,
            Target::Any(addr) => addr,
        }
    }
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        (0..24u32).prop_map(Target::NearEnd),
        (0..8u32).prop_map(Target::PastEnd),
        (0..8u32).prop_map(Target::Top),
        any::<u32>().prop_map(Target::Any),
    ]
}

/// One way a broken guest breaks a valid response.
#[derive(Clone, Debug)]
enum Mutation {
    /// Slot `slot` gets tag byte `tag`.
    Tag { slot: u32, tag: u8 },
    /// Payload A of slot `slot` points at `to`.
    Pointer { slot: u32, to: Target },
    /// The length word that slot `slot` points at becomes `len` (or a length relative to memory).
    Length { slot: u32, len: Target },
    /// A byte of the payload data of slot `slot` becomes a byte that is never valid UTF-8 there.
    InvalidUtf8 { slot: u32, at: Index, byte: u8 },
    /// Any byte of memory changes.
    Byte { at: Index, value: u8 },
    /// Memory ends early.
    Truncate { at: Index },
    /// `handle_zerobuf` returns another base.
    Base { to: Target },
    /// The guest declares (or does not declare) the response-headers feature after all.
    FlipHeaders,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let slot = 0..4u32;
    prop_oneof![
        3 => (slot.clone(), prop_oneof![0..=9u8, any::<u8>()]).prop_map(|(slot, tag)| Mutation::Tag { slot, tag }),
        3 => (slot.clone(), target()).prop_map(|(slot, to)| Mutation::Pointer { slot, to }),
        3 => (slot.clone(), prop_oneof![
            (0..64u32).prop_map(Target::Any),
            Just(Target::Any(1 << 31)),
            target(),
        ]).prop_map(|(slot, len)| Mutation::Length { slot, len }),
        3 => (slot, any::<Index>(), 0x80..=0xffu8).prop_map(|(slot, at, byte)| Mutation::InvalidUtf8 { slot, at, byte }),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, value)| Mutation::Byte { at, value }),
        1 => any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        1 => target().prop_map(|to| Mutation::Base { to }),
        1 => Just(Mutation::FlipHeaders),
    ]
}

/// How header text is broken, if at all.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Break {
    None,
    /// The last line lacks its `\n`.
    NoFinalNewline,
    /// A line is empty.
    EmptyLine,
    /// A value holds a carriage return.
    CarriageReturn,
    /// A name holds a character that is not a token character.
    BadName,
    /// A line has no `": "`.
    NoSeparator,
}

/// Header text, the lines it was made of, and how it is broken.
type HeaderText = (String, Vec<(String, String)>, Break);

/// Slot 3: null, or header text with its lines and how it is broken.
fn header_slot() -> impl Strategy<Value = Option<HeaderText>> {
    let line = ("[a-z0-9!#$%&'*+.^_`|~-]{1,8}", "[ -~]{0,10}");
    let broken = prop_oneof![
        4 => Just(Break::None),
        1 => Just(Break::NoFinalNewline),
        1 => Just(Break::EmptyLine),
        1 => Just(Break::CarriageReturn),
        1 => Just(Break::BadName),
        1 => Just(Break::NoSeparator),
    ];
    let text = (proptest::collection::vec(line, 0..4), broken).prop_map(|(lines, broken)| {
        let mut text: String = lines.iter().map(|(name, value)| format!("{name}: {value}\n")).collect();
        match broken {
            Break::None => {}
            Break::NoFinalNewline => text.push_str("x: no newline"),
            Break::EmptyLine => text.push('\n'),
            Break::CarriageReturn => text.push_str("x: a\rb\n"),
            Break::BadName => text.push_str("a b: c\n"),
            Break::NoSeparator => text.push_str("x:y\n"),
        }
        (text, lines, broken)
    });
    prop_oneof![1 => Just(None), 3 => text.prop_map(Some)]
}

/// A valid response (or one with a status or headers out of range) at a random base, then
/// mutated.
fn mutated() -> impl Strategy<Value = Image> {
    let status = prop_oneof![12 => 100..=599i32, 1 => Just(-1), 1 => Just(99), 1 => Just(600), 1 => any::<i32>()];
    let body = prop_oneof![
        ".{0,12}".prop_map(|text| Body::Text(text.into())),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(|bytes| Body::Bytes(bytes.into())),
    ];
    let slot3 = proptest::option::of(header_slot());
    let tail = proptest::collection::vec(any::<u8>(), 0..24);
    let mutations = proptest::collection::vec(mutation(), 0..4);
    (0..48u32, status, "[ -~]{0,16}|.{0,4}", body, slot3, tail, mutations).prop_map(
        |(base, status, content_type, body, slot3, tail, mutations)| {
            let slots = if slot3.is_some() { 4 } else { 3 };
            let mut encoder = Encoder::new(base, slots).unwrap();
            encoder.set(0, Value::I32(status)).unwrap();
            encoder.set(1, Value::String(&content_type)).unwrap();
            encoder
                .set(
                    2,
                    match &body {
                        Body::Text(text) => Value::String(text),
                        Body::Bytes(bytes) => Value::Bytes(bytes),
                    },
                )
                .unwrap();
            let mut lines = Vec::new();
            let mut valid_headers = true;
            if let Some(header) = &slot3 {
                match header {
                    None => encoder.set(3, Value::Null).unwrap(),
                    Some((text, parsed, broken)) => {
                        encoder.set(3, Value::String(text)).unwrap();
                        lines.clone_from(parsed);
                        valid_headers = *broken == Break::None;
                    }
                }
            }
            let mut memory = vec![0u8; base as usize];
            memory.extend(encoder.finish());
            memory.extend(tail);
            let mut image = Image { memory, base, headers: slot3.is_some(), expect: None };
            // Mutations (applied below) forget the verdict; the reader must judge them alone.
            image.expect = Some(if !(100..=599).contains(&status) {
                Expect::Broken(Rule::ResponseStatus)
            } else if !valid_headers {
                Expect::Broken(Rule::ResponseHeaders)
            } else {
                Expect::Valid(Expected { status: status as u16, content_type, body, headers: lines })
            });
            for mutation in mutations {
                apply(&mut image, mutation);
            }
            image
        },
    )
}

/// Writes `bytes` at `addr` where they fit; a write that would pass the end is dropped.
fn write(memory: &mut [u8], addr: u64, bytes: &[u8]) {
    let Ok(start) = usize::try_from(addr) else { return };
    if let Some(place) = memory.get_mut(start..).and_then(|rest| rest.get_mut(..bytes.len())) {
        place.copy_from_slice(bytes);
    }
}

/// The u32 at `addr`, if it lies in memory.
fn word(memory: &[u8], addr: u64) -> Option<u32> {
    let start = usize::try_from(addr).ok()?;
    Some(u32::from_le_bytes(memory.get(start..)?.get(..4)?.try_into().ok()?))
}

fn apply(image: &mut Image, mutation: Mutation) {
    // Any mutation may or may not leave the response valid; the reader must judge it alone.
    image.expect = None;
    let len = image.memory.len();
    let slot = |index: u32| u64::from(image.base) + u64::from(index * SLOT_SIZE);
    match mutation {
        Mutation::Tag { slot: index, tag } => write(&mut image.memory, slot(index), &[tag]),
        Mutation::Pointer { slot: index, to } => {
            write(&mut image.memory, slot(index) + 4, &to.resolve(len).to_le_bytes());
        }
        Mutation::Length { slot: index, len: to } => {
            if let Some(at) = word(&image.memory, slot(index) + 4) {
                write(&mut image.memory, u64::from(at), &to.resolve(len).to_le_bytes());
            }
        }
        Mutation::InvalidUtf8 { slot: index, at, byte } => {
            if let Some(header) = word(&image.memory, slot(index) + 4)
                && let Some(data_len) = word(&image.memory, u64::from(header))
                && data_len > 0
            {
                let data = u64::from(header) + 4;
                write(&mut image.memory, data + at.index(data_len as usize) as u64, &[byte]);
            }
        }
        Mutation::Byte { at, value } => {
            if len > 0 {
                image.memory[at.index(len)] = value;
            }
        }
        Mutation::Truncate { at } => image.memory.truncate(at.index(len + 1)),
        Mutation::Base { to } => image.base = to.resolve(len),
        Mutation::FlipHeaders => image.headers = !image.headers,
    }
}

/// Noise: random bytes with tags from the zerobuf range at the slot positions, and any base.
fn noise() -> impl Strategy<Value = Image> {
    let memory = proptest::collection::vec(any::<u8>(), 0..160);
    let tags = proptest::collection::vec(prop_oneof![0..=9u8, any::<u8>()], 4);
    (memory, tags, any::<bool>(), prop_oneof![0..176u32, target().prop_map(|t| t.resolve(160))], any::<bool>())
        .prop_map(|(mut memory, tags, tagged, base, headers)| {
            if tagged {
                for (index, tag) in (0..).zip(tags) {
                    write(&mut memory, u64::from(base) + index * u64::from(SLOT_SIZE), &[tag]);
                }
            }
            Image { memory, base, headers, expect: None }
        })
}

/// Reads `image` and checks the properties; returns the outcome's name for the tally.
fn check(image: &Image) -> Result<&'static str, TestCaseError> {
    match read_response(&image.memory, image.base, image.headers) {
        Ok(response) => {
            prop_assert!((100..=599).contains(&response.status), "accepted status {}", response.status);
            prop_assert!(!matches!(image.expect, Some(Expect::Broken(_))), "accepted {:?}", image.expect);
            if let Some(Expect::Valid(expect)) = &image.expect {
                prop_assert_eq!(response.status, expect.status);
                prop_assert_eq!(&response.content_type, &expect.content_type);
                prop_assert_eq!(&response.body, &expect.body);
                prop_assert_eq!(&response.headers, &expect.headers);
            }
            Ok("ok")
        }
        Err(violation) => {
            prop_assert!(violation.rule.id().starts_with("response."), "a non-response rule: {}", violation);
            match &image.expect {
                Some(Expect::Valid(_)) => prop_assert!(false, "a valid response was rejected: {}", violation),
                Some(Expect::Broken(rule)) => prop_assert_eq!(violation.rule, *rule, "{}", violation),
                None => {}
            }
            Ok(violation.rule.id())
        }
    }
}

#[test]
fn the_response_reader_judges_any_memory_image() {
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
    eprintln!("response_props: {CASES} cases from proptest seed {:?}", String::from_utf8_lossy(&SEED));
    let tally = RefCell::new(BTreeMap::<&'static str, u32>::new());
    let started = Instant::now();
    let result = runner.run(&prop_oneof![1 => noise(), 3 => mutated()], |image| {
        let outcome = check(&image)?;
        *tally.borrow_mut().entry(outcome).or_default() += 1;
        Ok(())
    });
    let tally = tally.into_inner();
    eprintln!("response_props: {:.2?}, outcomes {tally:?}", started.elapsed());
    if let Err(error) = result {
        panic!("{error}");
    }
    let mut reached: Vec<&str> =
        Rule::ALL.iter().map(|rule| rule.id()).filter(|id| id.starts_with("response.")).collect();
    reached.push("ok");
    let missed: Vec<&str> = reached.into_iter().filter(|id| !tally.contains_key(id)).collect();
    assert!(missed.is_empty(), "the generators never reached {missed:?}");
}

/// GoMode's reader (`read_gomode_response`) on the same images: it must not panic, must name a
/// `response.*` rule or `gomode.headers` for every failure, and must serve only statuses in
/// 200..=599, header names that are lower-case tokens other than `content-type`, and values
/// without CR, LF or NUL.
#[test]
fn gomodes_reader_judges_any_memory_image() {
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
    let tally = RefCell::new(BTreeMap::<&'static str, u32>::new());
    let result = runner.run(&prop_oneof![1 => noise(), 3 => mutated()], |image| {
        // A guest that declares the headers feature, or one that exports no declaration at all.
        let features = image.headers.then_some(1);
        let outcome = match host::read_gomode_response(&image.memory, image.base, features) {
            Ok(Some(response)) => {
                prop_assert!((200..=599).contains(&response.status), "served status {}", response.status);
                for (name, value) in &response.headers {
                    prop_assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()), "name {:?}", name);
                    prop_assert!(*name == name.to_ascii_lowercase() && name != "content-type");
                    prop_assert!(!value.contains(['\0', '\r', '\n']), "value {:?}", value);
                }
                "ok"
            }
            Ok(None) => "fetch",
            Err(violation) => {
                let rule = violation.rule;
                prop_assert!(rule.id().starts_with("response.") || rule == Rule::GomodeHeaders, "{}", violation);
                rule.id()
            }
        };
        *tally.borrow_mut().entry(outcome).or_default() += 1;
        Ok(())
    });
    eprintln!("response_props (gomode): outcomes {:?}", tally.borrow());
    if let Err(error) = result {
        panic!("{error}");
    }
    assert!(tally.borrow().contains_key("ok"), "no image was served");
}
