//! The ten zerobuf SIMD kernels in `no_std` Rust, bit-identical to the Zig reference.
//!
//! Every f64 kernel is written once against the two-lane `F64x2` of `lanes.rs`: on wasm32 with
//! simd128 that is a `v128`, elsewhere a pair of f64. The lane order, the tail handling, the
//! `<`/`>` selects and the absence of FMA are those of `conformance/ABI.md` §8, so the native
//! build is the host's oracle for what a guest must answer. With the `c-abi` feature the kernels
//! are also exported under the Zig symbol names (`c_abi.rs`), so a guest links either the Rust or
//! the Zig kernels without changing a line. This crate uses no `std` and never allocates.
#![no_std]

#[cfg(feature = "c-abi")]
pub mod c_abi;
mod lanes;

use lanes::F64x2;

/// The ten kernels of the kernel ABI, named as in routes, cases and guests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    SumF64,
    SumI32,
    DotF64,
    ScaleF64,
    AddF64,
    SubF64,
    MulF64,
    MinmaxF64,
    ClampF64,
    MapLinearF64,
}

impl Kernel {
    /// Every kernel, in the order of the ABI.
    pub const ALL: [Kernel; 10] = [
        Kernel::SumF64,
        Kernel::SumI32,
        Kernel::DotF64,
        Kernel::ScaleF64,
        Kernel::AddF64,
        Kernel::SubF64,
        Kernel::MulF64,
        Kernel::MinmaxF64,
        Kernel::ClampF64,
        Kernel::MapLinearF64,
    ];

    /// The snake_case name used for the route `/simd/<name>` and in case names.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::SumF64 => "sum_f64",
            Kernel::SumI32 => "sum_i32",
            Kernel::DotF64 => "dot_f64",
            Kernel::ScaleF64 => "scale_f64",
            Kernel::AddF64 => "add_f64",
            Kernel::SubF64 => "sub_f64",
            Kernel::MulF64 => "mul_f64",
            Kernel::MinmaxF64 => "minmax_f64",
            Kernel::ClampF64 => "clamp_f64",
            Kernel::MapLinearF64 => "map_linear_f64",
        }
    }

    /// The kernel with this snake_case name.
    pub fn from_name(name: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|kernel| kernel.name() == name)
    }
}

/// The sum of `x`: lane sums of the pairs, then lane 0 + lane 1, then an odd last element.
pub fn sum_f64(x: &[f64]) -> f64 {
    let (pairs, tail) = x.split_at(x.len() & !1);
    let acc = pairs.chunks_exact(2).fold(F64x2::splat(0.0), |acc, pair| acc.add(F64x2::load(pair)));
    let [lane0, lane1] = acc.lanes();
    tail.iter().fold(lane0 + lane1, |total, &last| total + last)
}

/// The exact sum of `x` as an i64, in four widened lanes.
pub fn sum_i32(x: &[i32]) -> i64 {
    let mut lanes = [0i64; 4];
    let mut quads = x.chunks_exact(4);
    for quad in &mut quads {
        for (lane, &value) in lanes.iter_mut().zip(quad) {
            *lane = lane.wrapping_add(i64::from(value));
        }
    }
    let total = lanes.iter().fold(0i64, |total, &lane| total.wrapping_add(lane));
    quads.remainder().iter().fold(total, |total, &value| total.wrapping_add(i64::from(value)))
}

/// The dot product of `a` and `b` over their common length, with the lanes of [`sum_f64`] and
/// a separate rounding after each multiply and each add.
pub fn dot_f64(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let even = n & !1;
    let acc = a[..even]
        .chunks_exact(2)
        .zip(b[..even].chunks_exact(2))
        .fold(F64x2::splat(0.0), |acc, (x, y)| acc.add(F64x2::load(x).mul(F64x2::load(y))));
    let [lane0, lane1] = acc.lanes();
    let mut total = lane0 + lane1;
    if n % 2 == 1 {
        total += a[n - 1] * b[n - 1];
    }
    total
}

/// Multiplies every element of `x` by `s`, in place.
pub fn scale_f64(x: &mut [f64], s: f64) {
    map_in_place(x, |v| v.mul(F64x2::splat(s)));
}

/// Clamps every element of `x` in place, as GoMode's Zig kernel does (`[kernel.clamp]`).
///
/// In each pair both comparisons use the original element: it becomes `lo` where it is below
/// `lo`, then `hi` where it is above `hi`, so `hi` wins where both hold. An odd last element is
/// clamped sequentially: `if x < lo { x = lo }`, then `if x > hi { x = hi }`. A NaN element
/// passes through, since every comparison with it is false. With `lo <= hi` the two rules agree;
/// with `lo > hi` a paired element `<= hi` becomes `lo`, and every remaining element that is not
/// a NaN, the odd last one among them, becomes `hi`.
pub fn clamp_f64(x: &mut [f64], lo: f64, hi: f64) {
    let (lo_v, hi_v) = (F64x2::splat(lo), F64x2::splat(hi));
    let mut pairs = x.chunks_exact_mut(2);
    for pair in &mut pairs {
        let v = F64x2::load(pair);
        // Both masks come from `v`, the original pair: `select_gt` compares `v`, not the result
        // of `select_lt`.
        v.select_gt(hi_v, hi_v, v.select_lt(lo_v, lo_v, v)).store(pair);
    }
    if let [last] = pairs.into_remainder() {
        if *last < lo {
            *last = lo;
        }
        if *last > hi {
            *last = hi;
        }
    }
}

/// Replaces every element `x` with `a * x + b`, rounding after the multiply and after the add.
pub fn map_linear_f64(x: &mut [f64], a: f64, b: f64) {
    let (a, b) = (F64x2::splat(a), F64x2::splat(b));
    map_in_place(x, |v| a.mul(v).add(b));
}

/// `dst = a + b` over the common length of the three slices.
pub fn add_f64(dst: &mut [f64], a: &[f64], b: &[f64]) {
    let n = dst.len().min(a.len()).min(b.len());
    // SAFETY: the three pointers come from slices at least `n` long.
    unsafe { binary(dst.as_mut_ptr(), a.as_ptr(), b.as_ptr(), n, F64x2::add) }
}

/// `dst = a - b` over the common length of the three slices.
pub fn sub_f64(dst: &mut [f64], a: &[f64], b: &[f64]) {
    let n = dst.len().min(a.len()).min(b.len());
    // SAFETY: the three pointers come from slices at least `n` long.
    unsafe { binary(dst.as_mut_ptr(), a.as_ptr(), b.as_ptr(), n, F64x2::sub) }
}

/// `dst = a * b` over the common length of the three slices.
pub fn mul_f64(dst: &mut [f64], a: &[f64], b: &[f64]) {
    let n = dst.len().min(a.len()).min(b.len());
    // SAFETY: the three pointers come from slices at least `n` long.
    unsafe { binary(dst.as_mut_ptr(), a.as_ptr(), b.as_ptr(), n, F64x2::mul) }
}

/// The `(min, max)` of `x`, or `None` when it is empty. Both lane accumulators start at element
/// 0 and take a pair's lane only when it is strictly smaller (larger); the lanes are then folded
/// into element 0, lane 0 first, and an odd last element comes last. A NaN is the result only
/// when it is element 0, and between -0.0 and +0.0 the value already held wins.
pub fn minmax_f64(x: &[f64]) -> Option<(f64, f64)> {
    let first = *x.first()?;
    let (pairs, tail) = x.split_at(x.len() & !1);
    let (mut min, mut max) = (F64x2::splat(first), F64x2::splat(first));
    for pair in pairs.chunks_exact(2) {
        let v = F64x2::load(pair);
        min = v.select_lt(min, v, min);
        max = v.select_gt(max, v, max);
    }
    let candidates = |lanes: [f64; 2]| lanes.into_iter().chain(tail.iter().copied());
    let min = candidates(min.lanes()).fold(first, |held, v| if v < held { v } else { held });
    let max = candidates(max.lanes()).fold(first, |held, v| if v > held { v } else { held });
    Some((min, max))
}

/// Applies `f` to the pairs of `x` and to an odd last element in lane 0.
fn map_in_place(x: &mut [f64], f: impl Fn(F64x2) -> F64x2) {
    let mut pairs = x.chunks_exact_mut(2);
    for pair in &mut pairs {
        f(F64x2::load(pair)).store(pair);
    }
    if let [last] = pairs.into_remainder() {
        *last = f(F64x2::splat(*last)).lanes()[0];
    }
}

/// `dst[i] = op(a[i], b[i])` for `i < n`, by pairs then an odd last element. Works on raw
/// pointers because the C ABI allows `dst` to be `a` or `b`.
///
/// # Safety
/// `a` and `b` must be valid for `n` reads and `dst` for `n` writes of aligned f64.
unsafe fn binary(dst: *mut f64, a: *const f64, b: *const f64, n: usize, op: fn(F64x2, F64x2) -> F64x2) {
    let mut i = 0;
    while i < n {
        // SAFETY: `i < n` and, when a second lane is read, `i + 1 < n`; the caller vouches for
        // `n` elements behind each pointer. Reads finish before the write, so aliasing is fine.
        unsafe {
            if i + 1 < n {
                let x = F64x2::new(*a.add(i), *a.add(i + 1));
                let y = F64x2::new(*b.add(i), *b.add(i + 1));
                let [r0, r1] = op(x, y).lanes();
                (*dst.add(i), *dst.add(i + 1)) = (r0, r1);
            } else {
                *dst.add(i) = op(F64x2::splat(*a.add(i)), F64x2::splat(*b.add(i))).lanes()[0];
            }
        }
        i += 2;
    }
}

#[cfg(test)]
mod tests;
