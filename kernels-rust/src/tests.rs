//! Edge-case tables for the kernels: empty input, odd lengths, ±0, infinities, NaN and the lane
//! order that makes a two-lane sum differ from a left-to-right one.

extern crate std;

use super::*;
use rstest::rstest;
use std::vec::Vec;

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;
const SUB: f64 = 5e-324;

/// Bits of a result, with every NaN made the same so NaNs compare equal (`[kernel.nan]`).
fn bits(x: f64) -> u64 {
    if x.is_nan() { f64::NAN.to_bits() } else { x.to_bits() }
}

#[rstest]
#[case::empty(&[], 0.0)]
#[case::one(&[1.5], 1.5)]
#[case::negative_zero_is_positive(&[-0.0], 0.0)]
#[case::two_negative_zeros(&[-0.0, -0.0], 0.0)]
#[case::odd(&[1.0, 2.0, 3.0], 6.0)]
#[case::one_to_eight(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], 36.0)]
// Lanes: (1e16 + -1e16) + (1 + 1) = 2, where left to right gives 1e16 + 1 + ... = 0.
#[case::lane_order(&[1e16, 1.0, -1e16, 1.0], 2.0)]
// Lanes (1 + 1, -1e16 + 1e16) = (2, 0), then the odd tail: 2 + 1e16 is exact. Left to right
// the ones are lost against -1e16.
#[case::tail_last(&[1.0, -1e16, 1.0, 1e16, 1e16], 1e16 + 2.0)]
#[case::infinities(&[INF, 1.0, 2.0], INF)]
#[case::opposite_infinities(&[INF, -INF], NAN)]
#[case::nan(&[1.0, NAN, 3.0], NAN)]
#[case::subnormals(&[SUB, SUB, SUB], 3.0 * SUB)]
#[case::overflow(&[f64::MAX, 0.0, f64::MAX], INF)]
fn sum_f64_edges(#[case] x: &[f64], #[case] expected: f64) {
    assert_eq!(bits(sum_f64(x)), bits(expected));
}

#[rstest]
#[case::empty(&[], 0)]
#[case::odd(&[1, 2, 3, 4, 5], 15)]
#[case::widens(&[i32::MAX, i32::MAX, i32::MAX, i32::MAX, i32::MAX], 5 * i64::from(i32::MAX))]
#[case::negative(&[i32::MIN, i32::MIN, -1], 2 * i64::from(i32::MIN) - 1)]
fn sum_i32_edges(#[case] x: &[i32], #[case] expected: i64) {
    assert_eq!(sum_i32(x), expected);
}

#[rstest]
#[case::empty(&[], &[], 0.0)]
#[case::seed_demo(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], 204.0)]
#[case::odd(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], 32.0)]
#[case::min_length(&[1.0, 2.0, 3.0], &[4.0, 5.0], 14.0)]
#[case::negative_zero(&[-0.0], &[1.0], 0.0)]
#[case::zero_times_inf(&[0.0, 1.0], &[INF, 1.0], NAN)]
// Without FMA, 0.1 * 10 rounds to exactly 1 and 1 - 1 = 0; with FMA the result is 2^-54.
#[case::no_fma(&[0.1, 0.0, -1.0], &[10.0, 0.0, 1.0], 0.0)]
fn dot_f64_edges(#[case] a: &[f64], #[case] b: &[f64], #[case] expected: f64) {
    assert_eq!(bits(dot_f64(a, b)), bits(expected));
}

#[rstest]
#[case::empty(&[], None)]
#[case::one(&[3.0], Some((3.0, 3.0)))]
#[case::one_nan(&[NAN], Some((NAN, NAN)))]
#[case::seed_demo(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], Some((1.0, 8.0)))]
#[case::odd_tail(&[5.0, 4.0, -9.0], Some((-9.0, 5.0)))]
#[case::nan_first_wins(&[NAN, 1.0, 2.0], Some((NAN, NAN)))]
#[case::nan_later_ignored(&[1.0, NAN, -1.0, NAN, 7.0], Some((-1.0, 7.0)))]
#[case::zero_held_first(&[0.0, -0.0], Some((0.0, 0.0)))]
#[case::negative_zero_held_first(&[-0.0, 0.0], Some((-0.0, -0.0)))]
#[case::infinities(&[1.0, -INF, INF, 2.0], Some((-INF, INF)))]
fn minmax_f64_edges(#[case] x: &[f64], #[case] expected: Option<(f64, f64)>) {
    let pair_bits = |pair: Option<(f64, f64)>| pair.map(|(min, max)| (bits(min), bits(max)));
    assert_eq!(pair_bits(minmax_f64(x)), pair_bits(expected));
}

/// Runs an in-place kernel on a copy of `x` and returns the result's bits.
fn in_place(x: &[f64], kernel: impl Fn(&mut [f64])) -> Vec<u64> {
    let mut x = x.to_vec();
    kernel(&mut x);
    x.into_iter().map(bits).collect()
}

fn all_bits(x: &[f64]) -> Vec<u64> {
    x.iter().copied().map(bits).collect()
}

#[rstest]
#[case::odd(&[1.0, -2.0, 0.0], 2.0, &[2.0, -4.0, 0.0])]
#[case::negative_zero(&[0.0, -0.0, 1.0], -1.0, &[-0.0, 0.0, -1.0])]
#[case::zero_times_inf(&[0.0, 1.0], INF, &[NAN, INF])]
#[case::subnormal_halved(&[SUB], 0.5, &[0.0])]
fn scale_f64_edges(#[case] x: &[f64], #[case] s: f64, #[case] expected: &[f64]) {
    assert_eq!(in_place(x, |x| scale_f64(x, s)), all_bits(expected));
}

#[rstest]
#[case::odd(&[-5.0, 0.5, 5.0], -1.0, 1.0, &[-1.0, 0.5, 1.0])]
#[case::nan_passes(&[NAN, 2.0], 0.0, 1.0, &[NAN, 1.0])]
#[case::lo_above_hi(&[-5.0, 0.5, 5.0], 1.0, -1.0, &[-1.0, -1.0, -1.0])]
#[case::zeros_kept(&[-0.0, 0.0], 0.0, 0.0, &[-0.0, 0.0])]
#[case::nan_bounds_ignored(&[3.0], NAN, NAN, &[3.0])]
fn clamp_f64_edges(#[case] x: &[f64], #[case] lo: f64, #[case] hi: f64, #[case] expected: &[f64]) {
    assert_eq!(in_place(x, |x| clamp_f64(x, lo, hi)), all_bits(expected));
}

#[rstest]
#[case::odd(&[1.0, 2.0, 3.0], 2.0, 1.0, &[3.0, 5.0, 7.0])]
#[case::no_fma(&[0.1], 10.0, -1.0, &[0.0])]
#[case::negative_zero(&[-0.0], 1.0, -0.0, &[-0.0])]
#[case::inf_minus_inf(&[INF], 1.0, -INF, &[NAN])]
fn map_linear_f64_edges(#[case] x: &[f64], #[case] a: f64, #[case] b: f64, #[case] expected: &[f64]) {
    assert_eq!(in_place(x, |x| map_linear_f64(x, a, b)), all_bits(expected));
}

#[rstest]
#[case::add(add_f64 as fn(&mut [f64], &[f64], &[f64]), &[1.0, -0.0, INF], &[2.0, 0.0, -INF], &[3.0, 0.0, NAN])]
#[case::sub(sub_f64 as fn(&mut [f64], &[f64], &[f64]), &[1.0, -0.0, INF], &[2.0, 0.0, INF], &[-1.0, -0.0, NAN])]
#[case::mul(mul_f64 as fn(&mut [f64], &[f64], &[f64]), &[1.5, -0.0, 0.0], &[2.0, 3.0, INF], &[3.0, -0.0, NAN])]
fn binary_edges(
    #[case] kernel: fn(&mut [f64], &[f64], &[f64]),
    #[case] a: &[f64],
    #[case] b: &[f64],
    #[case] expected: &[f64],
) {
    let mut dst = std::vec![7.0; a.len()];
    kernel(&mut dst, a, b);
    assert_eq!(all_bits(&dst), all_bits(expected));
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
    use super::*;
    use crate::c_abi::*;
    use core::ptr;

    #[test]
    fn null_or_empty_does_nothing() {
        let mut out = [NAN, NAN];
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
