// This file tests the fetch and KV routes natively: the query parser of app.go, and the fetch
// state machine of fetch.go, by playing the host's part of conformance/ABI.md section 12. A test
// calls Handle, reads the -1 response, and calls Handle again with the same request and the
// result, as the host replays it, until the handler answers.

package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestQuery(t *testing.T) {
	type want struct {
		value string
		found bool
		err   string
	}
	cases := []struct {
		path, name string
		want       want
	}{
		{"/fetch", "url", want{}},
		{"/fetch?", "url", want{}},
		{"/fetch?url=a", "url", want{"a", true, ""}},
		{"/fetch?url", "url", want{"", true, ""}},
		{"/fetch?url=", "url", want{"", true, ""}},
		{"/fetch?other=1", "url", want{}},
		{"/fetch?url=1&url=2", "url", want{"1", true, ""}},
		{"/fetch?url&url=2", "url", want{"", true, ""}},
		{"/fetch?a=b+c%20d", "a", want{"b c d", true, ""}},
		{"/fetch?u%72l=x", "url", want{"x", true, ""}},
		{"/fetch?url=a=b", "url", want{"a=b", true, ""}},
		{"/fetch?url=a?b", "url", want{"a?b", true, ""}},
		{"/fetch?url=%26%3D%2B", "url", want{"&=+", true, ""}},
		{"/fetch?&&=v&url=w", "url", want{"w", true, ""}},
		{"/fetch?=v", "", want{"v", true, ""}},
		// A `;` is an ordinary character, where net/url's ParseQuery fails.
		{"/fetch?a=1;url=2", "url", want{}},
		{"/fetch?a=1;url=2", "a", want{"1;url=2", true, ""}},
		{"/fetch?url=%C3%BC%c3%bc", "url", want{"üü", true, ""}},
		{"/fetch?url=ü", "url", want{"ü", true, ""}},
		// Decoded bytes are read lossily, one U+FFFD per maximal invalid subpart.
		{"/fetch?url=%ff%E2%82x", "url", want{"\ufffd\ufffdx", true, ""}},
		{"/fetch?url=%zz", "url", want{err: "bad query: url=%zz"}},
		{"/fetch?url=%4", "url", want{err: "bad query: url=%4"}},
		{"/fetch?url=%", "url", want{err: "bad query: url=%"}},
		{"/fetch?url=%g0", "url", want{err: "bad query: url=%g0"}},
		{"/fetch?url=%0g", "url", want{err: "bad query: url=%0g"}},
		{"/fetch?url=%üü", "url", want{err: "bad query: url=%üü"}},
		// A bad escape anywhere fails the whole query, even after the wanted part or in a name.
		{"/fetch?url=ok&x=%", "url", want{err: "bad query: url=ok&x=%"}},
		{"/fetch?%zz=1&url=ok", "url", want{err: "bad query: %zz=1&url=ok"}},
	}
	for _, c := range cases {
		value, found, err := Request{Path: c.path}.Query(c.name)
		got := want{value, found, ""}
		if err != nil {
			got.err = err.Error()
		}
		if got != c.want {
			t.Errorf("Query(%q) of %q = %+v, want %+v", c.name, c.path, got, c.want)
		}
	}
}

func TestXHeaders(t *testing.T) {
	got := xHeaders("accept: */*\nx-a: 1, 2\nx-b: c: d\r\nX-Up: no\nx-none\n\nx-empty: \nxy: no\nx-last: tail\r")
	want := []Header{{"x-a", "1, 2"}, {"x-b", "c: d"}, {"x-empty", ""}, {"x-last", "tail\r"}}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if got := xHeaders(""); got != nil {
		t.Fatalf("no headers gave %q", got)
	}
}

// host plays the host's side of the fetch protocol for one request: it calls Handle, and while
// the answer is -1 it checks the call index, asks answer for the result and replays.
type host struct {
	t     *testing.T
	calls int
	asked []Response
}

func (h *host) serve(req Request, answer func(asked Response) FetchResult) Response {
	h.t.Helper()
	req.Slot4, req.Slot5 = "null", "null"
	for {
		h.calls++
		r := Handle(req)
		if r.Status != -1 {
			return r
		}
		h.asked = append(h.asked, r)
		index, _, _ := strings.Cut(r.Headers, "\n")
		i, err := strconv.Atoi(index)
		if err != nil || i != len(h.asked)-1 {
			h.t.Fatalf("call %d asked with slot 3 %q, want call index %d", h.calls, r.Headers, len(h.asked)-1)
		}
		req.Replay = &Replay{Index: int32(i), Result: answer(r)}
		req.Slot4, req.Slot5 = "string", "i32"
	}
}

// expectAsked checks a -1 response: slots 1, 2 and 3 as the host reads them.
func expectAsked(t *testing.T, r Response, methodType, urlBody, slot3 string) {
	t.Helper()
	if r.Status != -1 || r.ContentType != methodType || string(r.Body) != urlBody || r.BodyIsBytes ||
		r.Headers != slot3 || !r.HeadersSet {
		t.Fatalf("asked %d %q %q bytes=%v headers %q (set=%v), want -1 %q %q %q",
			r.Status, r.ContentType, r.Body, r.BodyIsBytes, r.Headers, r.HeadersSet, methodType, urlBody, slot3)
	}
}

// freshFetches drops results an earlier test may have left.
func freshFetches() {
	clear(fetchResults)
}

func TestFetchPendingThenReplay(t *testing.T) {
	freshFetches()
	req := Request{
		Method:  "POST",
		Path:    "/fetch?url=http%3A%2F%2Fup.example%2Fecho%3Fa%3Db+c",
		Body:    "hello",
		Headers: "accept: text/plain\nx-trace: 7\nx-other: b\n",
	}
	h := &host{t: t}
	r := h.serve(req, func(Response) FetchResult {
		return FetchResult{Status: 201, ContentType: "text/x-test", Body: "say \"hi\"\n\x01"}
	})
	if h.calls != 2 || len(h.asked) != 1 {
		t.Fatalf("%d calls, %d fetches, want 2 and 1", h.calls, len(h.asked))
	}
	expectAsked(t, h.asked[0], "POST\ntext/plain", "http://up.example/echo?a=b c\nhello",
		"0\nx-trace: 7\nx-other: b\n")
	expect(t, r, 200, "application/json",
		`{"status":201,"content_type":"text/x-test","body":"say \"hi\"\n\u0001"}`, false)
	if len(fetchResults) != 0 {
		t.Fatalf("results kept after the handler answered: %v", fetchResults)
	}
}

func TestFetchWithoutBodyOrHeaders(t *testing.T) {
	freshFetches()
	r := Handle(Request{Method: "patch", Path: "/fetch?url=http://127.0.0.1:1/x", Headers: "accept: */*\n"})
	expectAsked(t, r, "patch\n", "http://127.0.0.1:1/x\n", "0")
	// A fresh request that asks again gets no stale result: the pending call kept none.
	r = Handle(Request{Method: "GET", Path: "/fetch?url=other"})
	expectAsked(t, r, "GET\n", "other\n", "0")
}

func TestFetchRouteErrors(t *testing.T) {
	freshFetches()
	expect(t, get("/fetch"), 400, "text/plain", "missing query parameter: url", false)
	expect(t, get("/fetch?uri=x"), 400, "text/plain", "missing query parameter: url", false)
	expect(t, get("/fetch?url=%zz"), 400, "text/plain", "bad query: url=%zz", false)
	expect(t, get("/fetch2"), 400, "text/plain", "missing query parameter: a", false)
	expect(t, get("/fetch2?b=x"), 400, "text/plain", "missing query parameter: a", false)
	expect(t, get("/fetch2?a=x"), 400, "text/plain", "missing query parameter: b", false)
	expect(t, get("/fetch2?a=x&b=%"), 400, "text/plain", "bad query: a=x&b=%", false)
	expect(t, get("/fetch/"), 404, "text/plain", "not found: /fetch/", false)
	expect(t, get("/fetch2/x?a=1"), 404, "text/plain", "not found: /fetch2/x", false)
}

func TestFetchTwoCostsThreeCalls(t *testing.T) {
	freshFetches()
	before, err := strconv.ParseUint(string(get("/counter").Body), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	h := &host{t: t}
	results := []FetchResult{
		{Status: 200, ContentType: "text/plain; charset=utf-8", Body: "hello from upstream"},
		{Status: 502, ContentType: "text/plain", Body: "TypeError: fetch failed"},
	}
	r := h.serve(Request{Method: "GET", Path: "/fetch2?a=http://u/a&b=http://u/b", Headers: "x-not-sent: 1\n"},
		func(Response) FetchResult { return results[len(h.asked)-1] })
	if h.calls != 3 {
		t.Fatalf("%d calls, want 3", h.calls)
	}
	expectAsked(t, h.asked[0], "GET\n", "http://u/a\n", "0")
	expectAsked(t, h.asked[1], "GET\n", "http://u/b\n", "1")
	expect(t, r, 200, "application/json",
		`{"a":{"status":200,"content_type":"text/plain; charset=utf-8","body":"hello from upstream"},`+
			`"b":{"status":502,"content_type":"text/plain","body":"TypeError: fetch failed"}}`, false)
	// /counter saw its own call, the three calls of /fetch2 and now this one.
	expect(t, get("/counter"), 200, "text/plain", strconv.FormatUint(before+4, 10), false)
}

func TestFetchPendingIsTheFirstWithoutResult(t *testing.T) {
	freshFetches()
	// A result for call index 1 alone does not answer call index 0, which is still asked for.
	req := Request{Method: "GET", Path: "/fetch2?a=A&b=B", Replay: &Replay{Index: 1, Result: FetchResult{Status: 200}}}
	expectAsked(t, Handle(req), "GET\n", "A\n", "0")
	req.Replay = &Replay{Index: 0, Result: FetchResult{Status: 204, ContentType: "x/y", Body: "a"}}
	expect(t, Handle(req), 200, "application/json",
		`{"a":{"status":204,"content_type":"x/y","body":"a"},"b":{"status":200,"content_type":"","body":""}}`, false)
}

func TestKVOperations(t *testing.T) {
	freshFetches()
	cases := []struct {
		method, path, body  string
		methodType, urlBody string
	}{
		{"GET", "/kv/a%20b", "", "__KV_GET\n", "a%20b\n"},
		{"GET", "/kv/a/b?x=1", "ignored", "__KV_GET\n", "a/b\n"},
		{"PUT", "/kv/k", "the value\n", "__KV_PUT\n", "k\nthe value\n"},
		{"PUT", "/kv/k", "", "__KV_PUT\n", "k\n"},
		{"DELETE", "/kv/k", "", "__KV_DELETE\n", "k\n"},
		{"GET", "/kv", "", "__KV_LIST\n", "\n"},
		{"GET", "/kv?prefix=", "", "__KV_LIST\n", "\n"},
		{"GET", "/kv?prefix=a+b%2F&prefix=no", "", "__KV_LIST\n", "a b/\n"},
	}
	for _, c := range cases {
		h := &host{t: t}
		r := h.serve(Request{Method: c.method, Path: c.path, Body: c.body, Headers: "x-no: 1\n"},
			func(Response) FetchResult {
				return FetchResult{Status: 404, ContentType: "text/plain;charset=UTF-8", Body: "é"}
			})
		if h.calls != 2 {
			t.Fatalf("%s %s: %d calls, want 2", c.method, c.path, h.calls)
		}
		expectAsked(t, h.asked[0], c.methodType, c.urlBody, "0")
		expect(t, r, 404, "text/plain;charset=UTF-8", "é", false)
	}
}

func TestKVRouteErrors(t *testing.T) {
	freshFetches()
	for _, method := range []string{"POST", "PATCH", "HEAD", "get"} {
		for _, path := range []string{"/kv/k", "/kv/", "/kv", "/kv?prefix=%zz"} {
			r := Handle(Request{Method: method, Path: path})
			expect(t, r, 405, "text/plain", "method not allowed", false)
		}
	}
	expect(t, get("/kv/"), 400, "text/plain", "empty key", false)
	expect(t, Handle(Request{Method: "PUT", Path: "/kv/?x"}), 400, "text/plain", "empty key", false)
	expect(t, get("/kv?prefix=%zz"), 400, "text/plain", "bad query: prefix=%zz", false)
	expect(t, get("/kvx"), 404, "text/plain", "not found: /kvx", false)
	if len(fetchResults) != 0 {
		t.Fatalf("results kept: %v", fetchResults)
	}
}

func TestFetchThroughZerobuf(t *testing.T) {
	freshFetches()
	// The first call: a request as the host writes it, and the -1 response as the host reads it.
	b := newRequestBuilder(4096, 64)
	b.str(0, []byte("GET"))
	b.str(1, []byte("/kv/key"))
	b.str(2, nil)
	b.str(3, nil)
	asked := EncodeResponse(Handle(DecodeRequest(b.mem, 64)), 0x1000)
	want := unhex(t, `
		02000000 ffffffff 0000000000000000
		04000000 40100000 0000000000000000
		04000000 50100000 0000000000000000
		04000000 58100000 0000000000000000
		09000000 5f5f4b565f4745540a 000000
		04000000 6b65790a
		01000000 30 000000`)
	if string(asked) != string(want) {
		t.Fatalf("asked\n% x\nwant\n% x", asked, want)
	}
	// The replay: the record of §6.5 at 0x800, slot 4 pointing at it and slot 5 the call index.
	writeRecord(b.mem, 0x800, 201, "text/x-test", "hello-fetch")
	b.mem[64+4*slotSize] = tagString
	putU32(b.mem, 64+4*slotSize+4, 0x800)
	b.mem[64+5*slotSize] = tagI32
	putU32(b.mem, 64+5*slotSize+4, 0)
	expect(t, Handle(DecodeRequest(b.mem, 64)), 201, "text/x-test", "hello-fetch", false)
}
