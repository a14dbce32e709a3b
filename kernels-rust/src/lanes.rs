//! The two-lane f64 vector that every f64 kernel is written against.
//!
//! On wasm32 with simd128 a `F64x2` is one `v128` and each method is one SIMD instruction.
//! Everywhere else it is a pair of f64 and each method does the same thing lane by lane, so the
//! kernels in `lib.rs` are one algorithm with two backends, bit-identical by construction.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::{
        f64x2, f64x2_add, f64x2_extract_lane, f64x2_gt, f64x2_lt, f64x2_mul, f64x2_splat, f64x2_sub, v128,
        v128_bitselect,
    };

    /// Two f64 lanes in one `v128`.
    #[derive(Clone, Copy, Debug)]
    pub struct F64x2(v128);

    impl F64x2 {
        pub fn new(lane0: f64, lane1: f64) -> Self {
            Self(f64x2(lane0, lane1))
        }
        pub fn splat(x: f64) -> Self {
            Self(f64x2_splat(x))
        }
        pub fn lanes(self) -> [f64; 2] {
            [f64x2_extract_lane::<0>(self.0), f64x2_extract_lane::<1>(self.0)]
        }
        pub fn add(self, other: Self) -> Self {
            Self(f64x2_add(self.0, other.0))
        }
        pub fn sub(self, other: Self) -> Self {
            Self(f64x2_sub(self.0, other.0))
        }
        pub fn mul(self, other: Self) -> Self {
            Self(f64x2_mul(self.0, other.0))
        }
        /// Lane-wise `if self < other { then } else { otherwise }`.
        pub fn select_lt(self, other: Self, then: Self, otherwise: Self) -> Self {
            Self(v128_bitselect(then.0, otherwise.0, f64x2_lt(self.0, other.0)))
        }
        /// Lane-wise `if self > other { then } else { otherwise }`.
        pub fn select_gt(self, other: Self, then: Self, otherwise: Self) -> Self {
            Self(v128_bitselect(then.0, otherwise.0, f64x2_gt(self.0, other.0)))
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    /// Two f64 lanes held as a pair, computed lane by lane.
    #[derive(Clone, Copy, Debug)]
    pub struct F64x2([f64; 2]);

    impl F64x2 {
        pub fn new(lane0: f64, lane1: f64) -> Self {
            Self([lane0, lane1])
        }
        pub fn splat(x: f64) -> Self {
            Self([x, x])
        }
        pub fn lanes(self) -> [f64; 2] {
            self.0
        }
        fn zip(self, other: Self, f: impl Fn(f64, f64) -> f64) -> Self {
            Self([f(self.0[0], other.0[0]), f(self.0[1], other.0[1])])
        }
        pub fn add(self, other: Self) -> Self {
            self.zip(other, |x, y| x + y)
        }
        pub fn sub(self, other: Self) -> Self {
            self.zip(other, |x, y| x - y)
        }
        pub fn mul(self, other: Self) -> Self {
            self.zip(other, |x, y| x * y)
        }
        /// Lane-wise `if self < other { then } else { otherwise }`.
        pub fn select_lt(self, other: Self, then: Self, otherwise: Self) -> Self {
            let lane = |i: usize| if self.0[i] < other.0[i] { then.0[i] } else { otherwise.0[i] };
            Self([lane(0), lane(1)])
        }
        /// Lane-wise `if self > other { then } else { otherwise }`.
        pub fn select_gt(self, other: Self, then: Self, otherwise: Self) -> Self {
            let lane = |i: usize| if self.0[i] > other.0[i] { then.0[i] } else { otherwise.0[i] };
            Self([lane(0), lane(1)])
        }
    }
}

pub use imp::F64x2;

impl F64x2 {
    /// Loads a pair of elements; lane 0 gets the even index.
    pub fn load(pair: &[f64]) -> Self {
        Self::new(pair[0], pair[1])
    }

    /// Stores both lanes into a pair of elements.
    pub fn store(self, pair: &mut [f64]) {
        pair.copy_from_slice(&self.lanes());
    }
}
