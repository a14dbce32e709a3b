// This file is the reference app: every route of conformance/ABI.md section 9, answered byte for
// byte as the Rust reference guest (guests/rust/src/app.rs) answers it. It exists so that the Go
// guest can be checked by the whole conformance corpus, whatever entry file (wasip1 or TinyGo)
// wraps it; it knows nothing of memory or exports, only Request and Response. The fetch and KV
// routes ask for their outbound fetches through the fetcher of fetch.go.

package main

import (
	"errors"
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
	// Replay is the fetch result this call carries when the host replays the request after a
	// fetch (slot 4 has the string tag), and nil otherwise.
	Replay *Replay
}

// Route returns the path without its query, which is what routing uses.
func (r Request) Route() string {
	path, _, _ := strings.Cut(r.Path, "?")
	return path
}

// Query returns the value of query parameter name as conformance/ABI.md section 9 reads it, and
// whether it is there. The query is everything after the first `?`; it is split on `&`, each part
// at its first `=` (a part without one has an empty value), and names and values are
// percent-decoded with `+` as a space, then read as UTF-8 lossily. The first part with the name
// wins. A `%` not followed by two hex digits anywhere in the query is an error whose text is the
// 400 message, `bad query: Q`. This is written by hand, rather than with net/url, so that it
// behaves exactly as the Rust guest does, in standard Go and TinyGo alike: url.ParseQuery also
// rejects `;`, and still returns the parts it could decode when an escape is bad.
func (r Request) Query(name string) (value string, found bool, err error) {
	_, query, ok := strings.Cut(r.Path, "?")
	if !ok {
		return "", false, nil
	}
	for _, part := range strings.Split(query, "&") {
		rawName, rawValue, _ := strings.Cut(part, "=")
		partName, okName := percentDecode(rawName)
		partValue, okValue := percentDecode(rawValue)
		if !okName || !okValue {
			return "", false, errors.New("bad query: " + query)
		}
		if partName == name && !found {
			value, found = partValue, true
		}
	}
	return value, found, nil
}

// percentDecode decodes `%XX` escapes (either case of hex digit) and `+` as a space, and reads the
// bytes as UTF-8 lossily. It fails on a `%` not followed by two hex digits.
func percentDecode(text string) (string, bool) {
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(text) {
				return "", false
			}
			hi, okHi := hexValue(text[i+1])
			lo, okLo := hexValue(text[i+2])
			if !okHi || !okLo {
				return "", false
			}
			out = append(out, hi<<4|lo)
			i += 2
		default:
			out = append(out, c)
		}
	}
	return lossyString(out), true
}

// hexValue returns the value of one ASCII hex digit.
func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Handle serves one call of handle_zerobuf: it counts the call for /counter (first, so /panic
// counts too), keeps the fetch result a replayed call carries, routes the request, and lets the
// fetcher turn the answer into the -1 response when a fetch is still pending (fetch.go).
func Handle(req Request) Response {
	counter++
	if req.Replay != nil {
		keepResult(*req.Replay)
	}
	var f fetcher
	return f.finish(dispatch(req, &f))
}

// dispatch answers one request by its path without the query; the fetch and KV routes fetch
// through f.
func dispatch(req Request, f *fetcher) Response {
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
	case "/fetch":
		return fetchOne(req, f)
	case "/fetch2":
		return fetchTwo(req, f)
	case "/kv":
		return kvList(req, f)
	}
	if code, ok := strings.CutPrefix(route, "/status/"); ok {
		return status(code)
	}
	if n, ok := strings.CutPrefix(route, "/bytes/"); ok {
		return byteRun(n)
	}
	if key, ok := strings.CutPrefix(route, "/kv/"); ok {
		return kv(req, key, f)
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

// required returns query parameter name, or, when it is missing or the query is bad, false and
// the 400 response to answer.
func required(req Request, name string) (string, Response, bool) {
	value, found, err := req.Query(name)
	if err != nil {
		return "", textResponse(400, err.Error()), false
	}
	if !found || value == "" {
		return "", textResponse(400, "missing query parameter: "+name), false
	}
	return value, Response{}, true
}

// resultJSON writes a fetch result as the JSON object /fetch answers.
func resultJSON(b *strings.Builder, r FetchResult) {
	b.WriteString(`{"status":`)
	b.WriteString(strconv.FormatInt(int64(r.Status), 10))
	b.WriteString(`,"content_type":`)
	writeJSONString(b, r.ContentType)
	b.WriteString(`,"body":`)
	writeJSONString(b, r.Body)
	b.WriteByte('}')
}

// fetchOne answers /fetch?url=U: one fetch of U with this request's method, its body (as
// text/plain when there is one) and its `x-` headers, in request order.
func fetchOne(req Request, f *fetcher) Response {
	url, bad, ok := required(req, "url")
	if !ok {
		return bad
	}
	want := Fetch{Method: req.Method, URL: url, Body: req.Body, Headers: xHeaders(req.Headers)}
	if req.Body != "" {
		want.ContentType = "text/plain"
	}
	result, ok := f.fetch(want)
	if !ok {
		return pendingResponse
	}
	var b strings.Builder
	resultJSON(&b, result)
	return jsonResponse(b.String())
}

// xHeaders returns the request header lines whose name starts with `x-`, in order. It reads the
// lines as the Rust guest's str::lines does: split on "\n", a "\r" before a "\n" dropped, and no
// empty last line after a final "\n"; each line splits at its first ": ", and a line without one
// is skipped.
func xHeaders(lines string) []Header {
	var headers []Header
	for lines != "" {
		line, rest, more := strings.Cut(lines, "\n")
		if more {
			line = strings.TrimSuffix(line, "\r")
		}
		lines = rest
		name, value, ok := strings.Cut(line, ": ")
		if ok && strings.HasPrefix(name, "x-") {
			headers = append(headers, Header{Name: name, Value: value})
		}
	}
	return headers
}

// fetchTwo answers /fetch2?a=U&b=V: two GET fetches in sequence, without body or headers.
func fetchTwo(req Request, f *fetcher) Response {
	a, bad, ok := required(req, "a")
	if !ok {
		return bad
	}
	b, bad, ok := required(req, "b")
	if !ok {
		return bad
	}
	first, ok := f.fetch(Fetch{Method: "GET", URL: a})
	if !ok {
		return pendingResponse
	}
	second, ok := f.fetch(Fetch{Method: "GET", URL: b})
	if !ok {
		return pendingResponse
	}
	var out strings.Builder
	out.WriteString(`{"a":`)
	resultJSON(&out, first)
	out.WriteString(`,"b":`)
	resultJSON(&out, second)
	out.WriteByte('}')
	return jsonResponse(out.String())
}

// kv answers /kv/<key>: GET, PUT (the request body is the value) or DELETE of the key, the rest
// of the path as it is, answered as the binding answered it.
func kv(req Request, key string, f *fetcher) Response {
	var want Fetch
	switch req.Method {
	case "GET":
		want = Fetch{Method: "__KV_GET"}
	case "PUT":
		want = Fetch{Method: "__KV_PUT", Body: req.Body}
	case "DELETE":
		want = Fetch{Method: "__KV_DELETE"}
	default:
		return textResponse(405, "method not allowed")
	}
	if key == "" {
		return textResponse(400, "empty key")
	}
	want.URL = key
	return binding(want, f)
}

// kvList answers GET /kv?prefix=P: the keys that start with P (every key when P is missing or
// empty).
func kvList(req Request, f *fetcher) Response {
	if req.Method != "GET" {
		return textResponse(405, "method not allowed")
	}
	prefix, _, err := req.Query("prefix")
	if err != nil {
		return textResponse(400, err.Error())
	}
	return binding(Fetch{Method: "__KV_LIST", URL: prefix}, f)
}

// binding runs a binding operation and answers its result as it is: its status, its content type
// and its body, with the string tag.
func binding(want Fetch, f *fetcher) Response {
	result, ok := f.fetch(want)
	if !ok {
		return pendingResponse
	}
	return Response{Status: result.Status, ContentType: result.ContentType, Body: []byte(result.Body)}
}

// status answers /status/<code>: that status, or 400 for a code outside 100..=599.
func status(code string) Response {
	if n, ok := decimal(code); ok && n >= 100 && n <= 599 {
		return textResponse(int32(n), "status "+strconv.FormatUint(n, 10))
	}
	return textResponse(400, "bad status code: "+rustDebugString(code)+", want a decimal in 100..=599")
}

// byteRun answers /bytes/<n>: n bytes where byte i is i % 251, with the bytes tag. fillPeriod
// writes them straight into the response memory (Response.FillBody).
func byteRun(text string) Response {
	n, ok := decimal(text)
	if !ok || n > maxBytes {
		return textResponse(400, "bad byte count: "+rustDebugString(text)+", want a decimal in 0..="+
			strconv.Itoa(maxBytes))
	}
	return Response{Status: 200, ContentType: "application/octet-stream", FillBody: fillPeriod, BodyLen: int(n),
		BodyIsBytes: true}
}

// fillPeriod fills body with the /bytes/<n> pattern, byte i being i % 251: it writes the first
// period, then doubles what is written with block copies until body is full. Each copy keeps the
// period of 251, because it moves a prefix whose length is a multiple of it to an offset that is
// the same multiple.
func fillPeriod(body []byte) {
	for i := 0; i < len(body) && i < 251; i++ {
		body[i] = byte(i)
	}
	for filled := 251; filled < len(body); filled *= 2 {
		copy(body[filled:], body[:filled])
	}
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
