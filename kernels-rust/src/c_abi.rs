//! The kernels under the symbol names of the Zig kernel ABI, for guests that link kernels by name.
//!
//! A guest declares `zig_simd_*` as `extern "C"` and calls them; with this feature on, those
//! symbols come from here, and with the Zig object linked instead they come from Zig. Pointers
//! must be aligned for their element type, as Zig's pointer types require. A null pointer or a
//! zero count returns 0 or does nothing (`[kernel.empty]`).
#![allow(clippy::missing_safety_doc)]

use core::slice;

/// Borrows `count` elements at `ptr`, or `None` for a null pointer or a zero count.
///
/// # Safety
/// A non-null `ptr` must be valid for `count` aligned reads for the returned lifetime.
unsafe fn input<'a, T>(ptr: *const T, count: usize) -> Option<&'a [T]> {
    // SAFETY: forwarded to the caller.
    (!ptr.is_null() && count > 0).then(|| unsafe { slice::from_raw_parts(ptr, count) })
}

/// Mutably borrows `count` elements at `ptr`, or `None` for a null pointer or a zero count.
///
/// # Safety
/// A non-null `ptr` must be valid for `count` aligned reads and writes, and not otherwise borrowed.
unsafe fn in_place<'a>(ptr: *mut f64, count: usize) -> Option<&'a mut [f64]> {
    // SAFETY: forwarded to the caller.
    (!ptr.is_null() && count > 0).then(|| unsafe { slice::from_raw_parts_mut(ptr, count) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn zig_simd_sum_f64(ptr: *const f64, count: usize) -> f64 {
    // SAFETY: the caller passes `count` valid elements.
    unsafe { input(ptr, count) }.map_or(0.0, crate::sum_f64)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn zig_simd_sum_i32(ptr: *const i32, count: usize) -> i64 {
    // SAFETY: the caller passes `count` valid elements.
    unsafe { input(ptr, count) }.map_or(0, crate::sum_i32)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn zig_simd_dot_f64(a: *const f64, b: *const f64, count: usize) -> f64 {
    // SAFETY: the caller passes `count` valid elements behind each pointer.
    match unsafe { (input(a, count), input(b, count)) } {
        (Some(a), Some(b)) => crate::dot_f64(a, b),
        _ => 0.0,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn zig_simd_scale_f64(ptr: *mut f64, count: usize, s: f64) {
    // SAFETY: the caller passes `count` valid elements.
    if let Some(x) = unsafe { in_place(ptr, count) } {
        crate::scale_f64(x, s);
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn zig_simd_add_f64(dst: *mut f64, a: *const f64, b: *const f64, count: usize) {
    if !(dst.is_null() || a.is_null() || b.is_null()) {
        // SAFETY: the caller passes `count` valid elements behind each pointer; `binary` allows
        // `dst` to alias `a` or `b`.
        unsafe { crate::binary(dst, a, b, count, crate::F64x2::add) }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn zig_simd_sub_f64(dst: *mut f64, a: *const f64, b: *const f64, count: usize) {
    if !(dst.is_null() || a.is_null() || b.is_null()) {
        // SAFETY: as in `zig_simd_add_f64`.
        unsafe { crate::binary(dst, a, b, count, crate::F64x2::sub) }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn zig_simd_mul_f64(dst: *mut f64, a: *const f64, b: *const f64, count: usize) {
    if !(dst.is_null() || a.is_null() || b.is_null()) {
        // SAFETY: as in `zig_simd_add_f64`.
        unsafe { crate::binary(dst, a, b, count, crate::F64x2::mul) }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn zig_simd_minmax_f64(ptr: *const f64, count: usize, out: *mut f64) {
    // SAFETY: the caller passes `count` valid elements; the borrow ends before `out` is written.
    let result = unsafe { input(ptr, count) }.and_then(crate::minmax_f64);
    if let (Some((min, max)), false) = (result, out.is_null()) {
        // SAFETY: the caller passes an `out` valid for two aligned f64 writes.
        unsafe { (*out, *out.add(1)) = (min, max) };
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn zig_simd_clamp_f64(ptr: *mut f64, count: usize, lo: f64, hi: f64) {
    // SAFETY: the caller passes `count` valid elements.
    if let Some(x) = unsafe { in_place(ptr, count) } {
        crate::clamp_f64(x, lo, hi);
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn zig_simd_map_linear_f64(ptr: *mut f64, count: usize, a: f64, b: f64) {
    // SAFETY: the caller passes `count` valid elements.
    if let Some(x) = unsafe { in_place(ptr, count) } {
        crate::map_linear_f64(x, a, b);
    }
}
