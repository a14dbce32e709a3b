// This file is the reference app: every route of conformance/ABI.md section 9, answered byte for
// byte as the Rust reference guest (guests/rust/src/app.rs) answers it. It exists so that the Go
// guest can be checked by the whole conformance corpus, whatever entry file (wasip1 or TinyGo)
// wraps it; it knows nothing of memory or exports, only Request and Response.

package main

import (
	"strconv"
	"strings"
	"unicode"
)

// hello is the greeting of / and /json, as on the seed page.
const hello = "Hello from GoMode!"

// utf8Text is the fixed multi-script text of /utf8.
const utf8Text = "Hello, world! Grüß Gott! Привет, мир! Γειά σου κόσμε! مرحبا بالعالم! שלום עולם! नमस्ते दुनिया! こんにちは世界! 你好，世界! 안녕하세요 세계! 🌍🚀✨"

// maxBytes is the largest body /bytes/<n> serves.
const maxBytes = 16 << 20

// responseHeaders are the slot 3 lines of /headers.
const responseHeaders = "cache-control: no-store\nx-gomode-abi: 1\n"

// counter counts Handle calls for /counter. Guests are single-threaded, and the instance is
// long-lived, so a plain package variable keeps its value from one request to the next.
var counter uint64

// Request is the request as decoded from slots 0 to 5.
type Request struct {
	// Method is slot 0, as sent.
	Method string
	// Path is slot 1: the path with its query.
	Path string
	// Body is slot 2.
	Body string
	// Headers is slot 3: `name: value\n` lines.
	Headers string
	// Slot4 and Slot5 are the tag names of the reserved slots 4 and 5, which /echo reports.
	Slot4, Slot5 string
}

// Route returns the path without its query, which is what routing uses.
func (r Request) Route() string {
	path, _, _ := strings.Cut(r.Path, "?")
	return path
}

// Handle routes one request by its path without the query. Every call counts for /counter, /panic
// included, because the count comes first.
func Handle(req Request) Response {
	counter++
	calls := counter
	route := req.Route()
	switch route {
	case "/":
		return textResponse(200, hello)
	case "/json":
		return jsonResponse(`{"message":` + jsonString(hello) + `,"method":` + jsonString(req.Method) +
			`,"path":` + jsonString(route) + `}`)
	case "/simd":
		return simdDemo()
	case "/echo":
		return echo(req)
	case "/utf8":
		return Response{Status: 200, ContentType: "text/plain; charset=utf-8", Body: []byte(utf8Text)}
	case "/headers":
		r := textResponse(200, "headers set")
		r.Headers = responseHeaders
		return r
	case "/counter":
		return textResponse(200, strconv.FormatUint(calls, 10))
	case "/raw_headers":
		// Slot 3 is the request body verbatim, unvalidated, so that tests can send malformed lines.
		r := textResponse(200, "raw headers set")
		r.Headers, r.HeadersSet = req.Body, true
		return r
	case "/panic":
		// An unrecovered panic, after counting. The wasip1 entry makes it trap (`unreachable`).
		panic("panic route")
	}
	if code, ok := strings.CutPrefix(route, "/status/"); ok {
		return status(code)
	}
	if n, ok := strings.CutPrefix(route, "/bytes/"); ok {
		return byteRun(n)
	}
	if name, ok := strings.CutPrefix(route, "/simd/"); ok {
		if k, ok := kernelByName(name); ok {
			if req.Method == "POST" {
				return runSimd(k, req.Body)
			}
			return textResponse(405, "method not allowed")
		}
	}
	return textResponse(404, "not found: "+route)
}

// textResponse is a text/plain response with no headers.
func textResponse(status int32, body string) Response {
	return Response{Status: status, ContentType: "text/plain", Body: []byte(body)}
}

// jsonResponse is a 200 application/json response with no headers.
func jsonResponse(body string) Response {
	return Response{Status: 200, ContentType: "application/json", Body: []byte(body)}
}

// echo answers /echo: what the guest decoded from every request slot.
func echo(req Request) Response {
	var b strings.Builder
	b.Grow(len(req.Method) + len(req.Path) + len(req.Body) + len(req.Headers) + 128)
	b.WriteString(`{"method":`)
	writeJSONString(&b, req.Method)
	b.WriteString(`,"path":`)
	writeJSONString(&b, req.Path)
	b.WriteString(`,"body":`)
	writeJSONString(&b, req.Body)
	b.WriteString(`,"headers":`)
	writeJSONString(&b, req.Headers)
	b.WriteString(`,"body_len":`)
	b.WriteString(strconv.Itoa(len(req.Body)))
	// The tag names are fixed ASCII words, written unescaped as the Rust guest does.
	b.WriteString(`,"slot4":"` + req.Slot4 + `","slot5":"` + req.Slot5 + `"}`)
	return jsonResponse(b.String())
}

// status answers /status/<code>: that status, or 400 for a code outside 100..=599.
func status(code string) Response {
	if n, ok := decimal(code); ok && n >= 100 && n <= 599 {
		return textResponse(int32(n), "status "+strconv.FormatUint(n, 10))
	}
	return textResponse(400, "bad status code: "+rustDebugString(code)+", want a decimal in 100..=599")
}

// byteRun answers /bytes/<n>: n bytes where byte i is i % 251, with the bytes tag.
func byteRun(text string) Response {
	n, ok := decimal(text)
	if !ok || n > maxBytes {
		return textResponse(400, "bad byte count: "+rustDebugString(text)+", want a decimal in 0..="+
			strconv.Itoa(maxBytes))
	}
	body := make([]byte, n)
	for i := 0; i < len(body) && i < 251; i++ {
		body[i] = byte(i)
	}
	for filled := 251; filled < len(body); filled *= 2 {
		// Doubling copies keep the period of 251, because filled stays a multiple of it.
		copy(body[filled:], body[:filled])
	}
	return Response{Status: 200, ContentType: "application/octet-stream", Body: body, BodyIsBytes: true}
}

// decimal parses a plain decimal: ASCII digits only, no sign, no spaces. It fails on overflow.
func decimal(text string) (uint64, bool) {
	if text == "" {
		return 0, false
	}
	for i := 0; i < len(text); i++ {
		if text[i] < '0' || text[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(text, 10, 64)
	return n, err == nil
}

// jsonString returns text as a JSON string literal.
func jsonString(text string) string {
	var b strings.Builder
	b.Grow(len(text) + 2)
	writeJSONString(&b, text)
	return b.String()
}

// writeJSONString writes text as a JSON string literal: `"` and `\` are escaped, \n, \r and \t
// get their short escapes, other control characters below 0x20 become \u00XX (lowercase hex),
// and everything else, DEL and non-ASCII included, is copied as is. Request strings are valid
// UTF-8 (DecodeRequest makes them so), so the copy is valid UTF-8 too.
func writeJSONString(b *strings.Builder, text string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(text[start:i])
		start = i + 1
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		}
	}
	b.WriteString(text[start:])
	b.WriteByte('"')
}

// rustDebugString returns text quoted as Rust's `{:?}` formats a str, which the Rust guest uses
// in its 400 messages: `"` and `\` are escaped, \0, \t, \r and \n get their short escapes, and a
// character that is not printable or that extends a grapheme becomes \u{hex}.
func rustDebugString(text string) string {
	var b strings.Builder
	b.Grow(len(text) + 2)
	b.WriteByte('"')
	for _, r := range text {
		switch {
		case r == 0:
			b.WriteString(`\0`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			b.WriteString(`\"`)
		case r >= 0x20 && r < 0x7f:
			b.WriteByte(byte(r))
		case !unicode.IsPrint(r) || unicode.In(r, unicode.Mn, unicode.Me, unicode.Other_Grapheme_Extend):
			b.WriteString(`\u{` + strconv.FormatUint(uint64(r), 16) + `}`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
