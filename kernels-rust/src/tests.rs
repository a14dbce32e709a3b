//! The kernels' edge cases, read from `kernels-zig/edge-cases.json`.
//!
//! The Zig kernel tests and the Go guest's kernel tests read the same file, so the three
//! implementations are held to one table instead of three that drift apart. The file's `about`
//! field and the [`Case`] struct describe the format. One test per kernel runs that kernel's
//! cases; the last tests cover what a table of slices cannot: clamp over a grid of bounds, the
//! names and the C ABI.

extern crate std;

use super::*;
use rstest::rstest;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

/// The edge-case file: a description for readers, since JSON has no comments, and the cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgeCases {
    /// What the file is and how to read a case.
    about: String,
    /// The cases, grouped by kernel.
    cases: Vec<Case>,
}

/// One edge case: a kernel, its inputs named as the fields of an ABI.md §9 request, and its
/// expected result.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// The kernel, by its snake_case name (`sum_f64`, …).
    kernel: String,
    /// A snake_case name, unique among the kernel's cases.
    name: String,
    /// One line saying what the case shows.
    purpose: String,
    /// Vector `a`: 16 lowercase hex digits of each f64's bits, or 8 of each i32's for `sum_i32`.
    a: Vec<String>,
    /// Vector `b`, for `dot`, `add`, `sub` and `mul`, which run over the common length of `a`
    /// and `b`.
    b: Option<Vec<String>>,
    /// Scalar `s`: the factor of `scale`, `lo` of `clamp`, `a` of `map_linear`.
    s: Option<String>,
    /// Scalar `t`: `hi` of `clamp`, `b` of `map_linear`.
    t: Option<String>,
    /// The expected result, 16 hex digits per value: one value for a reduction (`sum_i32` gives
    /// its i64), the resulting vector for the element-wise kernels, and min then max for
    /// `minmax`, or nothing when `minmax` must leave its output untouched.
    r: Vec<String>,
}

/// What an output holds before a kernel runs: a number that no case expects and not a NaN, so an
/// output the kernel never writes cannot match a result, not even a NaN one.
const UNWRITTEN: f64 = 1234.5;

fn edge_cases() -> EdgeCases {
    serde_json::from_str(include_str!("../../kernels-zig/edge-cases.json")).expect("edge-cases.json parses")
}

/// Parses exactly `digits` lowercase hex digits.
fn hex(value: &str, digits: usize) -> u64 {
    let lower_hex = value.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    assert!(value.len() == digits && lower_hex, "{value:?} is not {digits} lowercase hex digits");
    u64::from_str_radix(value, 16).unwrap()
}

fn f64s(values: &[String]) -> Vec<f64> {
    values.iter().map(|v| f64::from_bits(hex(v, 16))).collect()
}

fn scalar(value: &Option<String>) -> f64 {
    f64::from_bits(hex(value.as_deref().expect("the kernel takes this scalar"), 16))
}

/// Runs the case's kernel on its inputs and returns the result's bits, laid out as `r`.
fn run(kernel: Kernel, case: &Case) -> Vec<u64> {
    let a = || f64s(&case.a);
    let b = || f64s(case.b.as_deref().expect("the kernel takes b"));
    let (s, t) = (|| scalar(&case.s), || scalar(&case.t));
    let in_place = |kernel: &dyn Fn(&mut [f64])| {
        let mut x = a();
        kernel(&mut x);
        x.into_iter().map(f64::to_bits).collect()
    };
    match kernel {
        Kernel::SumF64 => vec![sum_f64(&a()).to_bits()],
        Kernel::SumI32 => vec![sum_i32(&case.a.iter().map(|v| hex(v, 8) as u32 as i32).collect::<Vec<_>>()) as u64],
        Kernel::DotF64 => vec![dot_f64(&a(), &b()).to_bits()],
        Kernel::ScaleF64 => in_place(&|x| scale_f64(x, s())),
        Kernel::AddF64 | Kernel::SubF64 | Kernel::MulF64 => {
            let op = match kernel {
                Kernel::AddF64 => add_f64,
                Kernel::SubF64 => sub_f64,
                _ => mul_f64,
            };
            let (a, b) = (a(), b());
            let mut dst = vec![UNWRITTEN; a.len().min(b.len())];
            op(&mut dst, &a, &b);
            dst.into_iter().map(f64::to_bits).collect()
        }
        Kernel::MinmaxF64 => minmax_f64(&a()).map_or(vec![], |(min, max)| vec![min.to_bits(), max.to_bits()]),
        Kernel::ClampF64 => in_place(&|x| clamp_f64(x, s(), t())),
        Kernel::MapLinearF64 => in_place(&|x| map_linear_f64(x, s(), t())),
    }
}

/// Writes result bits as 16 hex digits each, every f64 NaN as the same NaN, so that comparing
/// the strings matches any NaN with any NaN (`[kernel.nan]`) and everything else bit for bit.
/// The i64 of `sum_i32` is never a NaN.
fn shown(kernel: Kernel, bits: impl IntoIterator<Item = u64>) -> Vec<String> {
    let is_nan = |b: u64| kernel != Kernel::SumI32 && f64::from_bits(b).is_nan();
    bits.into_iter().map(|b| format!("{:016x}", if is_nan(b) { f64::NAN.to_bits() } else { b })).collect()
}

#[rstest]
#[case::sum_f64(Kernel::SumF64)]
#[case::sum_i32(Kernel::SumI32)]
#[case::dot_f64(Kernel::DotF64)]
#[case::scale_f64(Kernel::ScaleF64)]
#[case::add_f64(Kernel::AddF64)]
#[case::sub_f64(Kernel::SubF64)]
#[case::mul_f64(Kernel::MulF64)]
#[case::minmax_f64(Kernel::MinmaxF64)]
#[case::clamp_f64(Kernel::ClampF64)]
#[case::map_linear_f64(Kernel::MapLinearF64)]
fn edge_cases_pass(#[case] kernel: Kernel) {
    let file = edge_cases();
    let cases: Vec<&Case> = file.cases.iter().filter(|case| case.kernel == kernel.name()).collect();
    assert!(!cases.is_empty(), "edge-cases.json has no case for {}", kernel.name());
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|case| {
            let got = shown(kernel, run(kernel, case));
            let want = shown(kernel, case.r.iter().map(|r| hex(r, 16)));
            (got != want).then(|| format!("{}: {}\n    got  {got:?}\n    want {want:?}", case.name, case.purpose))
        })
        .collect();
    assert!(failures.is_empty(), "{} failed:\n{}", kernel.name(), failures.join("\n"));
}

#[test]
fn edge_cases_are_well_formed() {
    let file = edge_cases();
    assert!(!file.about.is_empty(), "edge-cases.json should say what it is in `about`");
    let mut seen = BTreeSet::new();
    for case in &file.cases {
        let id = format!("{}/{}", case.kernel, case.name);
        let kernel = Kernel::from_name(&case.kernel).unwrap_or_else(|| panic!("{id}: no such kernel"));
        assert!(seen.insert(id.clone()), "{id}: the name is used twice");
        assert!(
            !case.name.is_empty()
                && case.name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
            "{id}: the name is not snake_case"
        );
        assert!(!case.purpose.is_empty() && !case.purpose.contains('\n'), "{id}: the purpose is not one line");
        let takes = match kernel {
            Kernel::SumF64 | Kernel::SumI32 | Kernel::MinmaxF64 => (false, false, false),
            Kernel::DotF64 | Kernel::AddF64 | Kernel::SubF64 | Kernel::MulF64 => (true, false, false),
            Kernel::ScaleF64 => (false, true, false),
            Kernel::ClampF64 | Kernel::MapLinearF64 => (false, true, true),
        };
        assert_eq!((case.b.is_some(), case.s.is_some(), case.t.is_some()), takes, "{id}: which of b, s, t it gives");
    }
}

/// Checks `clamp_f64` against `[kernel.clamp]` written another way, for every element and pair of
/// bounds from a grid of special values, `lo > hi` among them: a paired element is `hi` if above
/// `hi`, else `lo` if below `lo`, else itself; the odd last element is clamped sequentially. Each
/// vector holds one value three times, so lanes 0 and 1 and the tail see the same element.
#[test]
fn clamp_pairs_compare_the_original_element() {
    let grid = [f64::NAN, f64::NEG_INFINITY, -2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, f64::INFINITY];
    for lo in grid {
        for hi in grid {
            for v in grid {
                let paired = if v > hi {
                    hi
                } else if v < lo {
                    lo
                } else {
                    v
                };
                let below = if v < lo { lo } else { v };
                let tail = if below > hi { hi } else { below };
                let mut x = [v; 3];
                clamp_f64(&mut x, lo, hi);
                let want = [paired, paired, tail].map(f64::to_bits);
                assert_eq!(x.map(f64::to_bits), want, "clamp({v}, lo = {lo}, hi = {hi})");
            }
        }
    }
}

#[test]
fn names_round_trip() {
    for kernel in Kernel::ALL {
        assert_eq!(Kernel::from_name(kernel.name()), Some(kernel));
    }
    assert_eq!(Kernel::from_name("sum"), None);
}

#[cfg(feature = "c-abi")]
mod c_abi {
    use crate::c_abi::*;
    use core::ptr;

    #[test]
    fn null_or_empty_does_nothing() {
        let mut out = [f64::NAN, f64::NAN];
        let x = [1.0, 2.0];
        // SAFETY: every pointer is null or valid for the count given.
        unsafe {
            assert_eq!(zig_simd_sum_f64(ptr::null(), 5).to_bits(), 0);
            assert_eq!(zig_simd_sum_i32(ptr::null(), 5), 0);
            assert_eq!(zig_simd_dot_f64(x.as_ptr(), ptr::null(), 2).to_bits(), 0);
            zig_simd_minmax_f64(x.as_ptr(), 0, out.as_mut_ptr());
            zig_simd_scale_f64(ptr::null_mut(), 3, 2.0);
        }
        assert!(out[0].is_nan() && out[1].is_nan());
    }

    #[test]
    fn dst_may_alias_an_input() {
        let mut x = [1.0, 2.0, 3.0];
        let b = [10.0, 20.0, 30.0];
        let dst = x.as_mut_ptr();
        // SAFETY: all three pointers are valid for three elements; aliasing is allowed.
        unsafe { zig_simd_add_f64(dst, dst, b.as_ptr(), 3) };
        assert_eq!(x, [11.0, 22.0, 33.0]);
    }

    #[test]
    fn minmax_writes_out() {
        let x = [4.0, -1.0, 9.0];
        let mut out = [0.0; 2];
        // SAFETY: `x` has three elements and `out` two.
        unsafe { zig_simd_minmax_f64(x.as_ptr(), 3, out.as_mut_ptr()) };
        assert_eq!(out, [-1.0, 9.0]);
    }
}
