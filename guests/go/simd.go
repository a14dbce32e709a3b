// This file holds the SIMD routes of conformance/ABI.md section 9: the seed's /simd demo and
// POST /simd/<kernel> with its hex body format, answered as the Rust guest (guests/rust/src/simd.rs)
// answers them, error messages included. It reaches the ten kernels only through the package
// functions sumF64, dotF64 and so on, so that the same code runs on the pure Go kernels of
// kernels.go or on the Zig kernels behind cgo wrappers in a TinyGo build.

package main

import (
	"math"
	"strconv"
	"strings"
)

// kernel is one of the ten kernels, by the index of its name in kernelNames.
type kernel int

const (
	kernelSumF64 kernel = iota
	kernelSumI32
	kernelDotF64
	kernelScaleF64
	kernelAddF64
	kernelSubF64
	kernelMulF64
	kernelMinmaxF64
	kernelClampF64
	kernelMapLinearF64
)

// kernelNames are the names of the kernels in routes, in the order of the constants above.
var kernelNames = [...]string{
	"sum_f64", "sum_i32", "dot_f64", "scale_f64", "add_f64",
	"sub_f64", "mul_f64", "minmax_f64", "clamp_f64", "map_linear_f64",
}

// kernelByName returns the kernel of the route /simd/<name>.
func kernelByName(name string) (kernel, bool) {
	for i, n := range kernelNames {
		if n == name {
			return kernel(i), true
		}
	}
	return 0, false
}

// fields returns the fields the kernel takes, in the order a, b, s, t.
func (k kernel) fields() string {
	switch k {
	case kernelSumF64, kernelSumI32, kernelMinmaxF64:
		return "a"
	case kernelDotF64, kernelAddF64, kernelSubF64, kernelMulF64:
		return "ab"
	case kernelScaleF64:
		return "as"
	default: // clamp_f64 and map_linear_f64
		return "ast"
	}
}

// nanBits are the bits of the NaN that minmax's output starts as.
const nanBits = 0x7ff8000000000000

// simdDemo answers /simd: the seed page's demo on 1..8.
func simdDemo() Response {
	a := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	scaled := append([]float64(nil), a...)
	scaleF64(scaled, 2)
	out := [2]float64{math.Float64frombits(nanBits), math.Float64frombits(nanBits)}
	minmaxF64(a, &out)
	sum := sumF64(a)
	dot := dotF64(a, a)
	scaledSum := sumF64(scaled)
	return jsonResponse(`{"sum":` + rustDisplayF64(sum) + `,"dot":` + rustDisplayF64(dot) +
		`,"scaled_sum":` + rustDisplayF64(scaledSum) + `,"min":` + rustDisplayF64(out[0]) +
		`,"max":` + rustDisplayF64(out[1]) + `}`)
}

// rustDisplayF64 formats x as Rust's `{}` does: the shortest decimal that reads back as x,
// never with an exponent, and inf, -inf and NaN for the special values.
func rustDisplayF64(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	case math.IsNaN(x):
		return "NaN"
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// simdInput holds the parsed fields of a SIMD body.
type simdInput struct {
	aF64 []float64
	aI32 []int32
	b    []float64
	s, t float64
}

// runSimd answers POST /simd/<kernel>: it parses the body, runs the kernel and answers
// `r <hex>,...`, or 400 with a one-line message.
func runSimd(k kernel, body string) Response {
	in, err := parseSimd(k, body)
	if err != "" {
		return textResponse(400, err)
	}
	words := in.run(k)
	line := make([]byte, 0, 1+17*len(words))
	line = append(line, 'r')
	for i, w := range words {
		if i == 0 {
			line = append(line, ' ')
		} else {
			line = append(line, ',')
		}
		line = appendHex16(line, w)
	}
	return Response{Status: 200, ContentType: "text/plain", Body: line}
}

// appendHex16 appends the 16 lowercase hex digits of w.
func appendHex16(dst []byte, w uint64) []byte {
	const hexDigits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(w>>uint(shift))&0xf])
	}
	return dst
}

// parseSimd parses a SIMD body for kernel k. It returns the message of the first problem, in the
// order the Rust guest finds them, or "" when the body is well formed.
func parseSimd(k kernel, body string) (simdInput, string) {
	var in simdInput
	fields := k.fields()
	seen := ""
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		name, values, _ := strings.Cut(line, " ")
		if len(name) != 1 || !strings.Contains("abst", name) {
			return in, "unknown field " + rustDebugString(name)
		}
		if !strings.Contains(fields, name) {
			return in, "kernel does not take field " + rustDebugString(name)
		}
		if strings.Contains(seen, name) {
			return in, "field " + rustDebugString(name) + " given twice"
		}
		seen += name
		var list []string
		if values != "" {
			list = strings.Split(values, ",")
		}
		switch {
		case name == "a" && k == kernelSumI32:
			in.aI32 = make([]int32, len(list))
			for i, v := range list {
				bits, err := parseHex(v, 8)
				if err != "" {
					return in, err
				}
				in.aI32[i] = int32(uint32(bits))
			}
		case name == "a" || name == "b":
			xs, err := parseF64s(list)
			if err != "" {
				return in, err
			}
			if name == "a" {
				in.aF64 = xs
			} else {
				in.b = xs
			}
		default:
			xs, err := parseF64s(list)
			if err != "" {
				return in, err
			}
			if len(xs) != 1 {
				return in, "scalar " + rustDebugString(name) + " needs exactly one value"
			}
			if name == "s" {
				in.s = xs[0]
			} else {
				in.t = xs[0]
			}
		}
	}
	for i := 0; i < len(fields); i++ {
		if !strings.Contains(seen, fields[i:i+1]) {
			return in, "missing field '" + fields[i:i+1] + "'"
		}
	}
	if strings.Contains(fields, "b") && len(in.aF64) != len(in.b) {
		return in, "a has " + strconv.Itoa(len(in.aF64)) + " values but b has " + strconv.Itoa(len(in.b))
	}
	return in, ""
}

// parseF64s parses f64 values of 16 hex digits each.
func parseF64s(values []string) ([]float64, string) {
	xs := make([]float64, len(values))
	for i, v := range values {
		bits, err := parseHex(v, 16)
		if err != "" {
			return nil, err
		}
		xs[i] = math.Float64frombits(bits)
	}
	return xs, ""
}

// parseHex parses exactly digits lowercase hex digits.
func parseHex(value string, digits int) (uint64, string) {
	bad := len(value) != digits
	var bits uint64
	for i := 0; !bad && i < len(value); i++ {
		c := value[i]
		switch {
		case c >= '0' && c <= '9':
			bits = bits<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			bits = bits<<4 | uint64(c-'a'+10)
		default:
			bad = true
		}
	}
	if bad {
		return 0, "bad value " + rustDebugString(value) + ": want " + strconv.Itoa(digits) + " lowercase hex digits"
	}
	return bits, ""
}

// run runs kernel k on the parsed input and returns the result's bits: one word for a reduction,
// the resulting vector for element-wise and in-place kernels, and min then max for minmax.
func (in simdInput) run(k kernel) []uint64 {
	a := in.aF64
	switch k {
	case kernelSumF64:
		return []uint64{math.Float64bits(sumF64(a))}
	case kernelSumI32:
		return []uint64{uint64(sumI32(in.aI32))}
	case kernelDotF64:
		return []uint64{math.Float64bits(dotF64(a, in.b))}
	case kernelScaleF64:
		scaleF64(a, in.s)
		return f64Bits(a)
	case kernelAddF64, kernelSubF64, kernelMulF64:
		dst := make([]float64, len(a))
		switch k {
		case kernelAddF64:
			addF64(dst, a, in.b)
		case kernelSubF64:
			subF64(dst, a, in.b)
		default:
			mulF64(dst, a, in.b)
		}
		return f64Bits(dst)
	case kernelMinmaxF64:
		out := [2]float64{math.Float64frombits(nanBits), math.Float64frombits(nanBits)}
		minmaxF64(a, &out)
		return f64Bits(out[:])
	case kernelClampF64:
		clampF64(a, in.s, in.t)
		return f64Bits(a)
	default: // map_linear_f64
		mapLinearF64(a, in.s, in.t)
		return f64Bits(a)
	}
}

// f64Bits returns the bits of every element of xs.
func f64Bits(xs []float64) []uint64 {
	bits := make([]uint64, len(xs))
	for i, x := range xs {
		bits[i] = math.Float64bits(x)
	}
	return bits
}
