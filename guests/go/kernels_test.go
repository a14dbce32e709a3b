// This file holds the edge-case tables of kernels-rust/src/tests.rs for the Go kernels: empty
// input, odd lengths, ±0, infinities, NaN, the lane order that makes a two-lane sum differ from a
// left-to-right one, and the cases that fail if a multiply and an add are fused. It calls the
// kernels through the same functions simd.go uses, so with the build tag it covers the pure Go
// kernels of kernels.go.

package main

import (
	"math"
	"slices"
	"testing"
)

var (
	nan    = math.NaN()
	inf    = math.Inf(1)
	negZ   = math.Copysign(0, -1)
	sub    = math.SmallestNonzeroFloat64
	maxF64 = math.MaxFloat64
)

// bits returns the bits of a result, with every NaN made the same so that NaNs compare equal
// ([kernel.nan]); everything else, the sign of zero included, is compared bit for bit.
func bits(x float64) uint64 {
	if math.IsNaN(x) {
		return nanBits
	}
	return math.Float64bits(x)
}

func allBits(xs []float64) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = bits(x)
	}
	return out
}

func TestSumF64(t *testing.T) {
	tests := []struct {
		name string
		x    []float64
		want float64
	}{
		{"empty", nil, 0},
		{"one", []float64{1.5}, 1.5},
		{"negative_zero_is_positive", []float64{negZ}, 0},
		{"two_negative_zeros", []float64{negZ, negZ}, 0},
		{"odd", []float64{1, 2, 3}, 6},
		{"one_to_eight", []float64{1, 2, 3, 4, 5, 6, 7, 8}, 36},
		// Lanes: (1e16 + -1e16) + (1 + 1) = 2, where left to right gives 0.
		{"lane_order", []float64{1e16, 1, -1e16, 1}, 2},
		// Lanes (2, 0), then the odd tail: 2 + 1e16 is exact.
		{"tail_last", []float64{1, -1e16, 1, 1e16, 1e16}, 1e16 + 2},
		{"infinities", []float64{inf, 1, 2}, inf},
		{"opposite_infinities", []float64{inf, -inf}, nan},
		{"nan", []float64{1, nan, 3}, nan},
		{"subnormals", []float64{sub, sub, sub}, 3 * sub},
		{"overflow", []float64{maxF64, 0, maxF64}, inf},
	}
	for _, tt := range tests {
		if got := sumF64(tt.x); bits(got) != bits(tt.want) {
			t.Errorf("%s: sumF64 = %v (%#x), want %v", tt.name, got, math.Float64bits(got), tt.want)
		}
	}
}

func TestSumI32(t *testing.T) {
	tests := []struct {
		name string
		x    []int32
		want int64
	}{
		{"empty", nil, 0},
		{"odd", []int32{1, 2, 3, 4, 5}, 15},
		{"widens", []int32{math.MaxInt32, math.MaxInt32, math.MaxInt32, math.MaxInt32, math.MaxInt32}, 5 * math.MaxInt32},
		{"negative", []int32{math.MinInt32, math.MinInt32, -1}, 2*math.MinInt32 - 1},
	}
	for _, tt := range tests {
		if got := sumI32(tt.x); got != tt.want {
			t.Errorf("%s: sumI32 = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestDotF64(t *testing.T) {
	tests := []struct {
		name string
		a, b []float64
		want float64
	}{
		{"empty", nil, nil, 0},
		{"seed_demo", []float64{1, 2, 3, 4, 5, 6, 7, 8}, []float64{1, 2, 3, 4, 5, 6, 7, 8}, 204},
		{"odd", []float64{1, 2, 3}, []float64{4, 5, 6}, 32},
		{"min_length", []float64{1, 2, 3}, []float64{4, 5}, 14},
		{"negative_zero", []float64{negZ}, []float64{1}, 0},
		{"zero_times_inf", []float64{0, 1}, []float64{inf, 1}, nan},
		// Without FMA, 0.1 * 10 rounds to exactly 1 and 1 - 1 = 0; with FMA the result is 2^-54.
		{"no_fma", []float64{0.1, 0, -1}, []float64{10, 0, 1}, 0},
		// The tail: lanes give -1, then -1 + 0.1*10 is 0 when the product is rounded first; a fused
		// multiply-add gives 2^-54.
		{"no_fma_tail", []float64{-1, 0, 0.1}, []float64{1, 0, 10}, 0},
		{"brief", []float64{1, 2, 3}, []float64{2, 0.5, -2}, -3},
	}
	for _, tt := range tests {
		if got := dotF64(tt.a, tt.b); bits(got) != bits(tt.want) {
			t.Errorf("%s: dotF64 = %v (%#x), want %v", tt.name, got, math.Float64bits(got), tt.want)
		}
	}
}

// TestDotF64NoFMAInLanes puts the product that FMA would change into both lanes and the tail, so
// a fused multiply-add anywhere in dotF64 changes the result.
func TestDotF64NoFMAInLanes(t *testing.T) {
	a := []float64{-1, -1, 0.1, 0.1, 0.1}
	b := []float64{1, 1, 10, 10, 10}
	// Lanes: (-1 + 0.1*10, -1 + 0.1*10) = (0, 0) with rounding, then the tail 0 + 0.1*10 = 1.
	// Fused, each lane would be 2^-54 and the total 1 + 2^-52.
	if got := dotF64(a, b); got != 1 {
		t.Fatalf("dotF64 = %v (%#x), want 1", got, math.Float64bits(got))
	}
}

func TestMinmaxF64(t *testing.T) {
	tests := []struct {
		name     string
		x        []float64
		min, max float64
	}{
		{"one", []float64{3}, 3, 3},
		{"one_nan", []float64{nan}, nan, nan},
		{"seed_demo", []float64{1, 2, 3, 4, 5, 6, 7, 8}, 1, 8},
		{"odd_tail", []float64{5, 4, -9}, -9, 5},
		{"nan_first_wins", []float64{nan, 1, 2}, nan, nan},
		{"nan_later_ignored", []float64{1, nan, -1, nan, 7}, -1, 7},
		{"zero_held_first", []float64{0, negZ}, 0, 0},
		{"negative_zero_held_first", []float64{negZ, 0}, negZ, negZ},
		{"infinities", []float64{1, -inf, inf, 2}, -inf, inf},
		{"lane1_only", []float64{2, -3, 4, 9}, -3, 9},
	}
	for _, tt := range tests {
		out := [2]float64{7, 7}
		minmaxF64(tt.x, &out)
		if bits(out[0]) != bits(tt.min) || bits(out[1]) != bits(tt.max) {
			t.Errorf("%s: minmaxF64 = (%v, %v), want (%v, %v)", tt.name, out[0], out[1], tt.min, tt.max)
		}
	}
}

func TestMinmaxF64EmptyLeavesOut(t *testing.T) {
	out := [2]float64{math.Float64frombits(nanBits), math.Float64frombits(nanBits)}
	minmaxF64(nil, &out)
	if math.Float64bits(out[0]) != nanBits || math.Float64bits(out[1]) != nanBits {
		t.Fatalf("out = %#x, %#x", math.Float64bits(out[0]), math.Float64bits(out[1]))
	}
}

func TestMinmaxF64KeepsNaNPayload(t *testing.T) {
	payload := math.Float64frombits(0xfff0000000000123)
	out := [2]float64{}
	minmaxF64([]float64{payload, 1, 2}, &out)
	if math.Float64bits(out[0]) != 0xfff0000000000123 || math.Float64bits(out[1]) != 0xfff0000000000123 {
		t.Fatalf("out = %#x, %#x", math.Float64bits(out[0]), math.Float64bits(out[1]))
	}
}

// inPlace runs an in-place kernel on a copy of x and returns the result's bits.
func inPlace(x []float64, kernel func([]float64)) []uint64 {
	x = slices.Clone(x)
	kernel(x)
	return allBits(x)
}

func TestScaleF64(t *testing.T) {
	tests := []struct {
		name string
		x    []float64
		s    float64
		want []float64
	}{
		{"empty", nil, 2, nil},
		{"odd", []float64{1, -2, 0}, 2, []float64{2, -4, 0}},
		{"negative_zero", []float64{0, negZ, 1}, -1, []float64{negZ, 0, -1}},
		{"zero_times_inf", []float64{0, 1}, inf, []float64{nan, inf}},
		{"subnormal_halved", []float64{sub}, 0.5, []float64{0}},
	}
	for _, tt := range tests {
		if got := inPlace(tt.x, func(x []float64) { scaleF64(x, tt.s) }); !slices.Equal(got, allBits(tt.want)) {
			t.Errorf("%s: scaleF64 = %#x, want %#x", tt.name, got, allBits(tt.want))
		}
	}
}

func TestClampF64(t *testing.T) {
	tests := []struct {
		name   string
		x      []float64
		lo, hi float64
		want   []float64
	}{
		{"odd", []float64{-5, 0.5, 5}, -1, 1, []float64{-1, 0.5, 1}},
		{"nan_passes", []float64{nan, 2}, 0, 1, []float64{nan, 1}},
		{"lo_above_hi", []float64{-5, 0.5, 5}, 1, -1, []float64{-1, -1, -1}},
		{"zeros_kept", []float64{negZ, 0}, 0, 0, []float64{negZ, 0}},
		{"nan_bounds_ignored", []float64{3}, nan, nan, []float64{3}},
	}
	for _, tt := range tests {
		if got := inPlace(tt.x, func(x []float64) { clampF64(x, tt.lo, tt.hi) }); !slices.Equal(got, allBits(tt.want)) {
			t.Errorf("%s: clampF64 = %#x, want %#x", tt.name, got, allBits(tt.want))
		}
	}
}

func TestMapLinearF64(t *testing.T) {
	tests := []struct {
		name string
		x    []float64
		a, b float64
		want []float64
	}{
		{"odd", []float64{1, 2, 3}, 2, 1, []float64{3, 5, 7}},
		// Without FMA, 10 * 0.1 rounds to exactly 1 and 1 - 1 = 0; with FMA it is 2^-54.
		{"no_fma", []float64{0.1}, 10, -1, []float64{0}},
		{"no_fma_pair", []float64{0.1, 0.1}, 10, -1, []float64{0, 0}},
		{"negative_zero", []float64{negZ}, 1, negZ, []float64{negZ}},
		{"inf_minus_inf", []float64{inf}, 1, -inf, []float64{nan}},
	}
	for _, tt := range tests {
		if got := inPlace(tt.x, func(x []float64) { mapLinearF64(x, tt.a, tt.b) }); !slices.Equal(got, allBits(tt.want)) {
			t.Errorf("%s: mapLinearF64 = %#x, want %#x", tt.name, got, allBits(tt.want))
		}
	}
}

func TestBinaryF64(t *testing.T) {
	tests := []struct {
		name   string
		kernel func(dst, a, b []float64)
		a, b   []float64
		want   []float64
	}{
		{"add", addF64, []float64{1, negZ, inf}, []float64{2, 0, -inf}, []float64{3, 0, nan}},
		{"sub", subF64, []float64{1, negZ, inf}, []float64{2, 0, inf}, []float64{-1, negZ, nan}},
		{"mul", mulF64, []float64{1.5, negZ, 0}, []float64{2, 3, inf}, []float64{3, negZ, nan}},
	}
	for _, tt := range tests {
		dst := slices.Repeat([]float64{7}, len(tt.a))
		tt.kernel(dst, tt.a, tt.b)
		if got := allBits(dst); !slices.Equal(got, allBits(tt.want)) {
			t.Errorf("%s = %#x, want %#x", tt.name, got, allBits(tt.want))
		}
	}
}

func TestBinaryF64Aliasing(t *testing.T) {
	x := []float64{1, 2, 3}
	addF64(x, x, []float64{10, 20, 30})
	if !slices.Equal(x, []float64{11, 22, 33}) {
		t.Fatalf("x = %v", x)
	}
}

func TestKernelNames(t *testing.T) {
	for i, name := range kernelNames {
		if k, ok := kernelByName(name); !ok || k != kernel(i) {
			t.Errorf("kernelByName(%q) = %d, %v", name, k, ok)
		}
	}
	if _, ok := kernelByName("sum"); ok {
		t.Error(`kernelByName("sum") found a kernel`)
	}
}
