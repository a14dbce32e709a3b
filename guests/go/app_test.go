// This file tests the routes of app.go and simd.go natively, against the answers the Rust
// reference guest gives (conformance/ABI.md section 9 and conformance/cases), so that a route
// that drifts from the reference fails here before it reaches the conformance corpus.

package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

func get(path string) Response {
	return Handle(Request{Method: "GET", Path: path, Slot4: "null", Slot5: "null"})
}

func post(path, body string) Response {
	return Handle(Request{Method: "POST", Path: path, Body: body, Slot4: "null", Slot5: "null"})
}

// expect checks a response's status, content type, body and body tag.
func expect(t *testing.T, r Response, status int32, contentType, body string, isBytes bool) {
	t.Helper()
	if r.Status != status || r.ContentType != contentType || string(r.BodyBytes()) != body || r.BodyIsBytes != isBytes {
		t.Fatalf("got %d %q %q bytes=%v, want %d %q %q bytes=%v",
			r.Status, r.ContentType, r.BodyBytes(), r.BodyIsBytes, status, contentType, body, isBytes)
	}
	if r.Headers != "" || r.HeadersSet {
		t.Fatalf("unexpected headers %q (set=%v)", r.Headers, r.HeadersSet)
	}
}

func TestRoot(t *testing.T) {
	expect(t, get("/"), 200, "text/plain", "Hello from GoMode!", false)
	expect(t, post("/?x=1&y=two", "ignored"), 200, "text/plain", "Hello from GoMode!", false)
}

func TestJSON(t *testing.T) {
	expect(t, get("/json?x=1"), 200, "application/json",
		`{"message":"Hello from GoMode!","method":"GET","path":"/json"}`, false)
	r := Handle(Request{Method: "PUT", Path: "/json"})
	expect(t, r, 200, "application/json", `{"message":"Hello from GoMode!","method":"PUT","path":"/json"}`, false)
}

func TestSimdDemo(t *testing.T) {
	expect(t, get("/simd"), 200, "application/json", `{"sum":36,"dot":204,"scaled_sum":72,"min":1,"max":8}`, false)
}

func TestNotFound(t *testing.T) {
	for _, path := range []string{"/nope", "/json/extra", "/json/", "/JSON", "/größe/日本", "/simd/"} {
		expect(t, get(path), 404, "text/plain", "not found: "+path, false)
	}
	expect(t, get("/nope?x=1"), 404, "text/plain", "not found: /nope", false)
	expect(t, post("/simd/fft_f64", "a\n"), 404, "text/plain", "not found: /simd/fft_f64", false)
}

func TestKernelMethodNotAllowed(t *testing.T) {
	expect(t, get("/simd/sum_f64"), 405, "text/plain", "method not allowed", false)
	r := Handle(Request{Method: "PUT", Path: "/simd/dot_f64", Body: "a\nb\n"})
	expect(t, r, 405, "text/plain", "method not allowed", false)
}

func TestStatus(t *testing.T) {
	for _, code := range []int{100, 201, 404, 599} {
		s := strconv.Itoa(code)
		expect(t, get("/status/"+s), int32(code), "text/plain", "status "+s, false)
	}
	expect(t, get("/status/0200"), 200, "text/plain", "status 200", false)
	bad := map[string]string{
		"600":                    `bad status code: "600", want a decimal in 100..=599`,
		"99":                     `bad status code: "99", want a decimal in 100..=599`,
		"abc":                    `bad status code: "abc", want a decimal in 100..=599`,
		"":                       `bad status code: "", want a decimal in 100..=599`,
		"+200":                   `bad status code: "+200", want a decimal in 100..=599`,
		"99999999999999999999":   `bad status code: "99999999999999999999", want a decimal in 100..=599`,
		"a\"b\\c\td\u0301\u00a0": `bad status code: "a\"b\\c\td\u{301}\u{a0}", want a decimal in 100..=599`,
	}
	for code, body := range bad {
		expect(t, get("/status/"+code), 400, "text/plain", body, false)
	}
}

func TestBytes(t *testing.T) {
	expect(t, get("/bytes/3"), 200, "application/octet-stream", "\x00\x01\x02", true)
	expect(t, get("/bytes/0"), 200, "application/octet-stream", "", true)
	for _, n := range []int{250, 251, 252, 502, 503, 1000, 65536} {
		r := get("/bytes/" + strconv.Itoa(n))
		body := r.BodyBytes()
		if r.Status != 200 || !r.BodyIsBytes || len(body) != n {
			t.Fatalf("/bytes/%d: %d bytes=%v len=%d", n, r.Status, r.BodyIsBytes, len(body))
		}
		for i, b := range body {
			if int(b) != i%251 {
				t.Fatalf("/bytes/%d: byte %d = %d, want %d", n, i, b, i%251)
			}
		}
		// Encoded, the body is written in place; it must read back the same.
		enc := EncodeResponse(r, 0x1000)
		at := binary.LittleEndian.Uint32(enc[2*slotSize+4:]) - 0x1000
		if enc[2*slotSize] != tagBytes || binary.LittleEndian.Uint32(enc[at:]) != uint32(n) ||
			string(enc[at+4:at+4+uint32(n)]) != string(body) || EncodedLen(r) != len(enc) {
			t.Fatalf("/bytes/%d: encoded body differs", n)
		}
	}
	if r := get("/bytes/16777216"); r.Status != 200 || len(r.BodyBytes()) != 16777216 ||
		r.BodyBytes()[16777215] != byte(16777215%251) {
		t.Fatalf("/bytes/16777216: %d len=%d", r.Status, len(r.BodyBytes()))
	}
	expect(t, get("/bytes/16777217"), 400, "text/plain", `bad byte count: "16777217", want a decimal in 0..=16777216`, false)
	expect(t, get("/bytes/-1"), 400, "text/plain", `bad byte count: "-1", want a decimal in 0..=16777216`, false)
}

func TestUTF8(t *testing.T) {
	expect(t, get("/utf8"), 200, "text/plain; charset=utf-8",
		"Hello, world! Grüß Gott! Привет, мир! Γειά σου κόσμε! مرحبا بالعالم! שלום עולם! नमस्ते दुनिया! こんにちは世界! 你好，世界! 안녕하세요 세계! 🌍🚀✨", false)
}

func TestHeaders(t *testing.T) {
	r := get("/headers")
	if r.Status != 200 || r.ContentType != "text/plain" || string(r.Body) != "headers set" ||
		r.Headers != "cache-control: no-store\nx-gomode-abi: 1\n" {
		t.Fatalf("got %+v", r)
	}
}

func TestRawHeaders(t *testing.T) {
	for _, body := range []string{"x-a: 1\n", "nospace:1\nbad name: v\r\nlast: noline", "", "Grüß: 🌍\n"} {
		r := post("/raw_headers", body)
		if r.Status != 200 || r.ContentType != "text/plain" || string(r.Body) != "raw headers set" ||
			r.BodyIsBytes || r.Headers != body || !r.HeadersSet {
			t.Fatalf("body %q: got %+v", body, r)
		}
		// Slot 3 is always a string, even an empty one.
		enc := EncodeResponse(r, 0x1000)
		if enc[3*slotSize] != tagString {
			t.Fatalf("body %q: slot 3 tag %d, want %d", body, enc[3*slotSize], tagString)
		}
		at := binary.LittleEndian.Uint32(enc[3*slotSize+4:]) - 0x1000
		n := binary.LittleEndian.Uint32(enc[at:])
		if got := string(enc[at+4 : at+4+n]); got != body {
			t.Fatalf("slot 3 payload %q, want %q", got, body)
		}
	}
	// A method without a body gives the empty string too.
	if r := get("/raw_headers"); r.Headers != "" || !r.HeadersSet {
		t.Fatalf("GET: got %+v", r)
	}
}

func TestPanicCountsFirst(t *testing.T) {
	first, err := strconv.ParseUint(string(get("/counter").Body), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if got := recover(); got != "panic route" {
				t.Fatalf("recovered %v, want \"panic route\"", got)
			}
		}()
		get("/panic?x=1")
	}()
	expect(t, get("/counter"), 200, "text/plain", strconv.FormatUint(first+2, 10), false)
}

func TestCounter(t *testing.T) {
	first, err := strconv.ParseUint(string(get("/counter").Body), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	get("/")
	expect(t, get("/counter"), 200, "text/plain", strconv.FormatUint(first+2, 10), false)
	expect(t, get("/counter"), 200, "text/plain", strconv.FormatUint(first+3, 10), false)
}

func TestEcho(t *testing.T) {
	req := Request{
		Method:  "POST",
		Path:    "/echo?a=1&b=%20&c=ü",
		Body:    "\"quoted\" \\ back\tslash\nnew\x01line\x7f\r\x1f Grüß 🌍",
		Headers: "accept: text/html\nx-test: 1\n",
		Slot4:   "null",
		Slot5:   "bytes",
	}
	r := Handle(req)
	if r.Status != 200 || r.ContentType != "application/json" || r.BodyIsBytes {
		t.Fatalf("got %d %q", r.Status, r.ContentType)
	}
	var got struct {
		Method  string `json:"method"`
		Path    string `json:"path"`
		Body    string `json:"body"`
		Headers string `json:"headers"`
		BodyLen int    `json:"body_len"`
		Slot4   string `json:"slot4"`
		Slot5   string `json:"slot5"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", r.Body, err)
	}
	if got.Method != req.Method || got.Path != req.Path || got.Body != req.Body || got.Headers != req.Headers ||
		got.BodyLen != len(req.Body) || got.Slot4 != "null" || got.Slot5 != "bytes" {
		t.Fatalf("echo %+v from %s", got, r.Body)
	}
	// The exact bytes the Rust guest writes, key order and escapes included.
	want := `{"method":"POST","path":"/echo?a=1&b=%20&c=ü","body":"\"quoted\" \\ back\tslash\nnew\u0001line` +
		"\x7f" + `\r\u001f Grüß 🌍","headers":"accept: text/html\nx-test: 1\n","body_len":` +
		strconv.Itoa(len(req.Body)) + `,"slot4":"null","slot5":"bytes"}`
	if string(r.Body) != want {
		t.Fatalf("echo\n got %s\nwant %s", r.Body, want)
	}
}

func TestEchoThroughZerobuf(t *testing.T) {
	b := newRequestBuilder(4096, 64)
	b.str(0, []byte("GET"))
	b.str(1, []byte("/echo"))
	b.str(2, nil)
	b.str(3, nil)
	r := Handle(DecodeRequest(b.mem, 64))
	want := `{"method":"GET","path":"/echo","body":"","headers":"","body_len":0,"slot4":"null","slot5":"null"}`
	if string(r.Body) != want {
		t.Fatalf("echo %s, want %s", r.Body, want)
	}
}

func TestJSONStringIsValid(t *testing.T) {
	var all strings.Builder
	for c := 0; c < 0x80; c++ {
		all.WriteByte(byte(c))
	}
	all.WriteString("é🌍\u2028")
	var back string
	lit := jsonString(all.String())
	if err := json.Unmarshal([]byte(lit), &back); err != nil || back != all.String() {
		t.Fatalf("jsonString gave %s (%v)", lit, err)
	}
}

func TestSimdKernels(t *testing.T) {
	tests := []struct{ path, body, want string }{
		{"/simd/sum_f64", "a 3ff0000000000000,4000000000000000\n", "r 4008000000000000"},
		{"/simd/sum_f64", "a 3ff0000000000000", "r 3ff0000000000000"},
		{"/simd/sum_f64?trace=1", "a 3ff0000000000000\n", "r 3ff0000000000000"},
		{"/simd/sum_f64", "a\n", "r 0000000000000000"},
		{"/simd/sum_f64", "a \n", "r 0000000000000000"},
		{"/simd/sum_f64", "a 8000000000000000\n", "r 0000000000000000"},
		{"/simd/dot_f64", "a 3ff0000000000000,4000000000000000,4008000000000000\n" +
			"b 4000000000000000,3fe0000000000000,c000000000000000\n", "r c008000000000000"},
		{"/simd/sum_i32", "a 7fffffff,7fffffff,00000001\n", "r 00000000ffffffff"},
		{"/simd/sum_i32", "a 80000000,ffffffff\n", "r ffffffff7fffffff"},
		{"/simd/scale_f64", "s 4000000000000000\na 3ff0000000000000\n", "r 4000000000000000"},
		{"/simd/add_f64", "a\nb\n", "r"},
		{"/simd/add_f64", "a 3ff0000000000000,4000000000000000\nb 4000000000000000,4000000000000000\n",
			"r 4008000000000000,4010000000000000"},
		{"/simd/sub_f64", "a 3ff0000000000000\nb 4000000000000000\n", "r bff0000000000000"},
		{"/simd/mul_f64", "a 3ff8000000000000\nb 4000000000000000\n", "r 4008000000000000"},
		{"/simd/minmax_f64", "a 4010000000000000,bff0000000000000,4022000000000000\n",
			"r bff0000000000000,4022000000000000"},
		{"/simd/minmax_f64", "a\n", "r 7ff8000000000000,7ff8000000000000"},
		{"/simd/minmax_f64", "a 7ff0000000000001,3ff0000000000000\n", "r 7ff0000000000001,7ff0000000000001"},
		{"/simd/clamp_f64", "a c014000000000000,3fe0000000000000,4014000000000000\ns bff0000000000000\nt 3ff0000000000000\n",
			"r bff0000000000000,3fe0000000000000,3ff0000000000000"},
		{"/simd/map_linear_f64", "a 3fb999999999999a\ns 4024000000000000\nt bff0000000000000\n", "r 0000000000000000"},
	}
	for _, tt := range tests {
		expect(t, post(tt.path, tt.body), 200, "text/plain", tt.want, false)
	}
}

func TestSimdErrors(t *testing.T) {
	const one = "3ff0000000000000"
	tests := []struct{ path, body, want string }{
		{"/simd/sum_f64", "", `unknown field ""`},
		{"/simd/sum_f64", "\n", `unknown field ""`},
		{"/simd/sum_f64", "a " + one + "\n\n", `unknown field ""`},
		{"/simd/sum_f64", "a " + one + "\nq " + one + "\n", `unknown field "q"`},
		{"/simd/sum_f64", "ab " + one + "\n", `unknown field "ab"`},
		{"/simd/sum_f64", "a " + one + "\ns " + one + "\n", `kernel does not take field "s"`},
		{"/simd/sum_f64", "a " + one + "\na " + one + "\n", `field "a" given twice`},
		{"/simd/sum_f64", "a 3FF0000000000000\n", `bad value "3FF0000000000000": want 16 lowercase hex digits`},
		{"/simd/sum_f64", "a 3ff\n", `bad value "3ff": want 16 lowercase hex digits`},
		{"/simd/sum_f64", "a " + one + "\r\n", `bad value "3ff0000000000000\r": want 16 lowercase hex digits`},
		{"/simd/sum_f64", "a " + one + ",," + one + "\n", `bad value "": want 16 lowercase hex digits`},
		{"/simd/sum_i32", "a " + one + "\n", `bad value "3ff0000000000000": want 8 lowercase hex digits`},
		{"/simd/dot_f64", "a " + one + "," + one + "\nb " + one + "\n", "a has 2 values but b has 1"},
		{"/simd/dot_f64", "b " + one + "\n", "missing field 'a'"},
		{"/simd/scale_f64", "a " + one + "\n", "missing field 's'"},
		{"/simd/clamp_f64", "a " + one + "\ns " + one + "\n", "missing field 't'"},
		{"/simd/scale_f64", "a " + one + "\ns " + one + "," + one + "\n", `scalar "s" needs exactly one value`},
		{"/simd/scale_f64", "a " + one + "\ns\n", `scalar "s" needs exactly one value`},
		{"/simd/scale_f64", "a " + one + "\ns zz\n", `bad value "zz": want 16 lowercase hex digits`},
		{"/simd/sum_f64", "a " + one + " " + one + "\n", `bad value "3ff0000000000000 3ff0000000000000": want 16 lowercase hex digits`},
	}
	for _, tt := range tests {
		expect(t, post(tt.path, tt.body), 400, "text/plain", tt.want, false)
	}
}

func TestRustDisplayF64(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{36, "36"}, {0.5, "0.5"}, {1e21, "1000000000000000000000"}, {math.Copysign(0, -1), "-0"},
		{1e-7, "0.0000001"}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		if got := rustDisplayF64(tt.x); got != tt.want {
			t.Errorf("rustDisplayF64(%v) = %q, want %q", tt.x, got, tt.want)
		}
	}
}
