// zig_simd.h: the C declarations of the ten kernels in kernels.zig, for guests that call them
// through C, such as Go through cgo. Pointers are offsets into the one wasm32 linear memory and
// `count` is a number of elements; see conformance/ABI.md, section 8, for the semantics.
#ifndef ZIG_SIMD_H
#define ZIG_SIMD_H

#include <stddef.h>
#include <stdint.h>

double zig_simd_sum_f64(const double *ptr, size_t count);
int64_t zig_simd_sum_i32(const int32_t *ptr, size_t count);
double zig_simd_dot_f64(const double *a, const double *b, size_t count);
void zig_simd_scale_f64(double *ptr, size_t count, double s);
void zig_simd_add_f64(double *dst, const double *a, const double *b, size_t count);
void zig_simd_sub_f64(double *dst, const double *a, const double *b, size_t count);
void zig_simd_mul_f64(double *dst, const double *a, const double *b, size_t count);
void zig_simd_minmax_f64(const double *ptr, size_t count, double *out);
void zig_simd_clamp_f64(double *ptr, size_t count, double lo, double hi);
void zig_simd_map_linear_f64(double *ptr, size_t count, double a, double b);

#endif
