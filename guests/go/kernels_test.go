// This file tests the Go guest's kernels against the edge cases of kernels-zig/edge-cases.json,
// which kernels-rust and the Zig kernels are tested against too, so the three implementations
// are held to one table; the file's "about" field describes the format. The tests after the
// table cover what it cannot, such as clamp over a grid of bounds. It calls the kernels through
// the same functions simd.go uses, so it covers the pure Go kernels of kernels.go, or the cgo
// wrappers of kernels_tinygo.go in a TinyGo build.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
)

// edgeCase is one case of edge-cases.json: a kernel, its inputs named as the fields of an ABI.md
// section 9 request, and its expected result r.
type edgeCase struct {
	Kernel  string   `json:"kernel"`
	Name    string   `json:"name"`
	Purpose string   `json:"purpose"`
	A       []string `json:"a"`
	B       []string `json:"b"`
	S       *string  `json:"s"`
	T       *string  `json:"t"`
	R       []string `json:"r"`
}

// unwritten is what an output holds before a kernel runs: a number that no case expects and not
// a NaN, so an output the kernel never writes cannot match a result, not even a NaN one.
const unwritten = 1234.5

func loadEdgeCases(t *testing.T) []edgeCase {
	text, err := os.ReadFile("../../kernels-zig/edge-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		About string     `json:"about"`
		Cases []edgeCase `json:"cases"`
	}
	decoder := json.NewDecoder(bytes.NewReader(text))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&file); err != nil {
		t.Fatalf("edge-cases.json: %v", err)
	}
	if len(file.Cases) == 0 {
		t.Fatal("edge-cases.json has no cases")
	}
	return file.Cases
}

// hexBits parses exactly digits lowercase hex digits.
func hexBits(value string, digits int) uint64 {
	bits, err := parseHex(value, digits)
	if err != "" {
		panic(err)
	}
	return bits
}

func hexF64s(values []string) []float64 {
	xs := make([]float64, len(values))
	for i, v := range values {
		xs[i] = math.Float64frombits(hexBits(v, 16))
	}
	return xs
}

func hexScalar(value *string) float64 {
	if value == nil {
		panic("the kernel takes a scalar the case does not give")
	}
	return math.Float64frombits(hexBits(*value, 16))
}

// run runs the case's kernel on its inputs and returns the result's bits, laid out as r.
func (c edgeCase) run() []uint64 {
	k, ok := kernelByName(c.Kernel)
	if !ok {
		panic("no kernel " + c.Kernel)
	}
	if k == kernelSumI32 {
		x := make([]int32, len(c.A))
		for i, v := range c.A {
			x[i] = int32(uint32(hexBits(v, 8)))
		}
		return []uint64{uint64(sumI32(x))}
	}
	a, b := hexF64s(c.A), hexF64s(c.B)
	switch k {
	case kernelSumF64:
		return []uint64{math.Float64bits(sumF64(a))}
	case kernelDotF64:
		return []uint64{math.Float64bits(dotF64(a, b))}
	case kernelScaleF64:
		scaleF64(a, hexScalar(c.S))
	case kernelAddF64, kernelSubF64, kernelMulF64:
		op := map[kernel]func(dst, a, b []float64){kernelAddF64: addF64, kernelSubF64: subF64, kernelMulF64: mulF64}[k]
		dst := slices.Repeat([]float64{unwritten}, min(len(a), len(b)))
		op(dst, a, b)
		return f64Bits(dst)
	case kernelMinmaxF64:
		out := [2]float64{unwritten, unwritten}
		minmaxF64(a, &out)
		if out == [2]float64{unwritten, unwritten} {
			return []uint64{}
		}
		return f64Bits(out[:])
	case kernelClampF64:
		clampF64(a, hexScalar(c.S), hexScalar(c.T))
	case kernelMapLinearF64:
		mapLinearF64(a, hexScalar(c.S), hexScalar(c.T))
	}
	return f64Bits(a)
}

// shown writes result bits as 16 hex digits each, every f64 NaN as the same NaN, so that
// comparing the strings matches any NaN with any NaN ([kernel.nan]) and everything else bit for
// bit. The int64 of sum_i32 is never a NaN.
func shown(k string, bits []uint64) []string {
	out := make([]string, len(bits))
	for i, b := range bits {
		if k != "sum_i32" && math.IsNaN(math.Float64frombits(b)) {
			b = nanBits
		}
		out[i] = fmt.Sprintf("%016x", b)
	}
	return out
}

func TestEdgeCases(t *testing.T) {
	for _, c := range loadEdgeCases(t) {
		t.Run(c.Kernel+"/"+c.Name, func(t *testing.T) {
			want := make([]uint64, len(c.R))
			for i, r := range c.R {
				want[i] = hexBits(r, 16)
			}
			if got := shown(c.Kernel, c.run()); !slices.Equal(got, shown(c.Kernel, want)) {
				t.Errorf("%s\n    got  %v\n    want %v", c.Purpose, got, shown(c.Kernel, want))
			}
		})
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

// TestClampF64PairsAndTail checks clampF64 against [kernel.clamp] written another way, for every
// element and pair of bounds from a grid of special values, lo > hi among them: a paired element
// is hi if above hi, else lo if below lo, else itself; the odd last element is clamped
// sequentially. Each vector holds one value three times, so lanes 0 and 1 and the tail see the
// same element.
func TestClampF64PairsAndTail(t *testing.T) {
	inf := math.Inf(1)
	grid := []float64{math.NaN(), -inf, -2, -1, math.Copysign(0, -1), 0, 0.5, 1, 2, inf}
	for _, lo := range grid {
		for _, hi := range grid {
			for _, v := range grid {
				paired := v
				if v > hi {
					paired = hi
				} else if v < lo {
					paired = lo
				}
				tail := v
				if tail < lo {
					tail = lo
				}
				if tail > hi {
					tail = hi
				}
				x := []float64{v, v, v}
				clampF64(x, lo, hi)
				if got, want := f64Bits(x), f64Bits([]float64{paired, paired, tail}); !slices.Equal(got, want) {
					t.Errorf("clamp(%v, lo = %v, hi = %v) = %#x, want %#x", v, lo, hi, got, want)
				}
			}
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
