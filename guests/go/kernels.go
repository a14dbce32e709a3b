// This file holds the ten SIMD kernels in pure Go, bit-identical to kernels-rust and the Zig
// kernels of conformance/ABI.md section 8. It exists so that the guest builds and is tested with
// the standard Go toolchain, which cannot link the Zig object; a TinyGo build replaces it with
// cgo wrappers around the zig_simd_* symbols that have the same Go signatures.
//
// Every f64 kernel keeps the two-lane order of the ABI: lane 0 takes the even indices and lane 1
// the odd ones, and an odd last element comes after the lanes are combined. The Go spec lets a
// compiler fuse x*y + z into one fused multiply-add, which rounds once instead of twice; the ABI
// forbids that, so every product is converted with float64(...) before it is added, which the
// spec says forces the rounding.

//go:build !tinygo

package main

// sumF64 returns the sum of x: lane sums of the pairs, both starting at +0.0, then lane 0 plus
// lane 1, then an odd last element.
func sumF64(x []float64) float64 {
	var acc0, acc1 float64
	n := len(x)
	for i := 0; i+1 < n; i += 2 {
		acc0 += x[i]
		acc1 += x[i+1]
	}
	total := acc0 + acc1
	if n%2 == 1 {
		total += x[n-1]
	}
	return total
}

// sumI32 returns the exact sum of x as an int64. Integer addition is associative, so the four
// widened lanes of the ABI need not be modelled.
func sumI32(x []int32) int64 {
	var total int64
	for _, v := range x {
		total += int64(v)
	}
	return total
}

// dotF64 returns the dot product of a and b over their common length, with the lanes of sumF64
// and a separate rounding after each multiply and each add.
func dotF64(a, b []float64) float64 {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	var acc0, acc1 float64
	for i := 0; i+1 < n; i += 2 {
		acc0 += float64(a[i] * b[i])
		acc1 += float64(a[i+1] * b[i+1])
	}
	total := acc0 + acc1
	if n%2 == 1 {
		total += float64(a[n-1] * b[n-1])
	}
	return total
}

// scaleF64 multiplies every element of x by s, in place.
func scaleF64(x []float64, s float64) {
	for i := range x {
		x[i] *= s
	}
}

// addF64 sets dst = a + b over the common length of the three slices.
func addF64(dst, a, b []float64) {
	n := min(len(dst), len(a), len(b))
	for i := 0; i < n; i++ {
		dst[i] = a[i] + b[i]
	}
}

// subF64 sets dst = a - b over the common length of the three slices.
func subF64(dst, a, b []float64) {
	n := min(len(dst), len(a), len(b))
	for i := 0; i < n; i++ {
		dst[i] = a[i] - b[i]
	}
}

// mulF64 sets dst = a * b over the common length of the three slices.
func mulF64(dst, a, b []float64) {
	n := min(len(dst), len(a), len(b))
	for i := 0; i < n; i++ {
		dst[i] = a[i] * b[i]
	}
}

// minmaxF64 writes the minimum and maximum of x to out[0] and out[1], and leaves out untouched
// when x is empty. Both lane accumulators start at element 0 and take a pair's lane only when it
// is strictly smaller (larger); the lanes are then folded into element 0, lane 0 first, and an
// odd last element comes last. So a NaN is the result only when it is element 0, and between
// -0.0 and +0.0 the value already held wins.
func minmaxF64(x []float64, out *[2]float64) {
	n := len(x)
	if n == 0 {
		return
	}
	first := x[0]
	lo0, lo1, hi0, hi1 := first, first, first, first
	for i := 0; i+1 < n; i += 2 {
		v0, v1 := x[i], x[i+1]
		if v0 < lo0 {
			lo0 = v0
		}
		if v1 < lo1 {
			lo1 = v1
		}
		if v0 > hi0 {
			hi0 = v0
		}
		if v1 > hi1 {
			hi1 = v1
		}
	}
	lo, hi := first, first
	if lo0 < lo {
		lo = lo0
	}
	if lo1 < lo {
		lo = lo1
	}
	if hi0 > hi {
		hi = hi0
	}
	if hi1 > hi {
		hi = hi1
	}
	if n%2 == 1 {
		last := x[n-1]
		if last < lo {
			lo = last
		}
		if last > hi {
			hi = last
		}
	}
	out[0], out[1] = lo, hi
}

// clampF64 clamps every element of x in place, as GoMode's Zig kernel does ([kernel.clamp]). In
// each pair both comparisons use the original element: it becomes lo where it is below lo, then
// hi where it is above hi, so hi wins where both hold. An odd last element is clamped
// sequentially: `if x < lo then x = lo`, then `if x > hi then x = hi`. A NaN element passes
// through, since every comparison with it is false. The two rules agree when lo <= hi; when
// lo > hi a paired element <= hi becomes lo, and every remaining element that is not a NaN, the
// odd last one among them, becomes hi.
func clampF64(x []float64, lo, hi float64) {
	n := len(x)
	for i := 0; i+1 < n; i += 2 {
		for j := i; j < i+2; j++ {
			v := x[j]
			if v < lo {
				x[j] = lo
			}
			if v > hi {
				x[j] = hi
			}
		}
	}
	if n%2 == 1 {
		v := x[n-1]
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		x[n-1] = v
	}
}

// mapLinearF64 replaces every element x of the slice with a*x + b, rounding after the multiply
// and again after the add.
func mapLinearF64(x []float64, a, b float64) {
	for i := range x {
		x[i] = float64(a*x[i]) + b
	}
}
