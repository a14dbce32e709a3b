// kernels_tinygo.go gives the TinyGo guest its kernels from the Zig object, through cgo and the
// header zig_simd.h, as GoMode calls them: each call is a direct wasm `call` into the linked
// object. The signatures match kernels.go, which the standard Go build uses instead.

//go:build tinygo

package main

/*
#cgo CFLAGS: -I${SRCDIR}/../../kernels-zig
#include "zig_simd.h"
*/
import "C"

import "unsafe"

func f64p(x []float64) *C.double {
	if len(x) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&x[0]))
}

func sumF64(x []float64) float64 { return float64(C.zig_simd_sum_f64(f64p(x), C.size_t(len(x)))) }

func sumI32(x []int32) int64 {
	if len(x) == 0 {
		return 0
	}
	return int64(C.zig_simd_sum_i32((*C.int32_t)(unsafe.Pointer(&x[0])), C.size_t(len(x))))
}

func dotF64(a, b []float64) float64 {
	return float64(C.zig_simd_dot_f64(f64p(a), f64p(b), C.size_t(min(len(a), len(b)))))
}

func scaleF64(x []float64, s float64) { C.zig_simd_scale_f64(f64p(x), C.size_t(len(x)), C.double(s)) }

func addF64(dst, a, b []float64) {
	C.zig_simd_add_f64(f64p(dst), f64p(a), f64p(b), C.size_t(min(len(dst), len(a), len(b))))
}

func subF64(dst, a, b []float64) {
	C.zig_simd_sub_f64(f64p(dst), f64p(a), f64p(b), C.size_t(min(len(dst), len(a), len(b))))
}

func mulF64(dst, a, b []float64) {
	C.zig_simd_mul_f64(f64p(dst), f64p(a), f64p(b), C.size_t(min(len(dst), len(a), len(b))))
}

func minmaxF64(x []float64, out *[2]float64) {
	C.zig_simd_minmax_f64(f64p(x), C.size_t(len(x)), (*C.double)(unsafe.Pointer(&out[0])))
}

func clampF64(x []float64, lo, hi float64) {
	C.zig_simd_clamp_f64(f64p(x), C.size_t(len(x)), C.double(lo), C.double(hi))
}

func mapLinearF64(x []float64, a, b float64) {
	C.zig_simd_map_linear_f64(f64p(x), C.size_t(len(x)), C.double(a), C.double(b))
}
