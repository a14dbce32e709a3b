// This file is the guest's side of the two-phase outbound fetch of conformance/ABI.md section 12,
// shared by the wasip1 and TinyGo builds. A handler that needs a fetch (or a KV operation, which
// travels the same way) answers status -1 with the fetch it wants; the host makes it and calls
// handle_zerobuf again with the same request and the result in request slots 4 and 5.
//
// How a handler waits: it does not. Every call runs the handler from the start with a fresh
// fetcher. The fetcher numbers a handler's fetches from 0, and fetch number n returns the result
// the host gave for call index n, kept across calls in fetchResults. When there is no result yet,
// fetch records that fetch as pending and returns ok == false, and the handler returns at once
// with any response; finish then throws that response away and answers the -1 response asking
// for the pending fetch. When a handler finishes with nothing pending, the kept results are dropped. So
// N fetches in sequence cost N + 1 calls, and whatever a handler does before its last fetch (such
// as counting for /counter) happens again on every call, as on GoMode.
//
// We return (result, ok) and let each route return early, rather than panic with a sentinel and
// recover in the entry: the control flow stays visible in the route, and TinyGo has long had no
// recover on WebAssembly (tinygo-org/tinygo#2914), which this file must build for too.

package main

import (
	"strconv"
	"strings"
)

// FetchResult is what a fetch gave, as the host's record holds it: the status, the content type
// (empty when the upstream sent none) and the body as text.
type FetchResult struct {
	Status      int32
	ContentType string
	Body        string
}

// Replay is the fetch result a replayed call carries: the record slot 4 points at, under the call
// index of slot 5.
type Replay struct {
	Index  int32
	Result FetchResult
}

// Header is one request header a fetch sends.
type Header struct {
	Name, Value string
}

// Fetch is a fetch a handler asks for. A method that starts with `__` is a binding operation,
// such as `__KV_GET`, with the key as the URL.
type Fetch struct {
	Method      string
	URL         string
	ContentType string
	Body        string
	Headers     []Header
}

// fetchResults holds the results the host has given so far for the request being served, by
// call index. Guests are single-threaded and the instance is long-lived, so a package variable
// keeps them from one call to the next.
var fetchResults = map[int32]FetchResult{}

// keepResult stores the result a replayed call carries.
func keepResult(replay Replay) {
	fetchResults[replay.Index] = replay.Result
}

// pendingResponse is what a route returns when a fetch is pending. finish always replaces it, so
// no host ever sees it; it only makes such a response easy to recognize in a test.
var pendingResponse = textResponse(202, "pending")

// fetcher hands out the kept results to one run of a handler, in call order.
type fetcher struct {
	// next is the call index of the next fetch.
	next int32
	// hasPending says that pending, at call index pendingIndex, is the first fetch of this run
	// that has no result yet.
	hasPending   bool
	pendingIndex int32
	pending      Fetch
}

// fetch returns the result of want, the next fetch of this run, and true; or, when the host has
// not made it yet, false, and the caller must return at once (its response is not used).
func (f *fetcher) fetch(want Fetch) (FetchResult, bool) {
	index := f.next
	f.next++
	result, ok := fetchResults[index]
	if !ok && !f.hasPending {
		f.hasPending, f.pendingIndex, f.pending = true, index, want
	}
	return result, ok
}

// finish returns what to answer after the handler: the -1 response asking for the pending fetch,
// or, when nothing is pending, the handler's own response, after the kept results are dropped.
// The -1 response is laid out as GoMode's SDK writes it: slot 1 `METHOD "\n" CONTENT_TYPE`,
// slot 2 `URL "\n" BODY`, slot 3 the decimal call index, then, when there are headers, "\n" and
// one `Name: Value\n` line each.
func (f *fetcher) finish(handled Response) Response {
	if !f.hasPending {
		clear(fetchResults)
		return handled
	}
	want := f.pending
	var slot3 strings.Builder
	slot3.WriteString(strconv.FormatInt(int64(f.pendingIndex), 10))
	if len(want.Headers) > 0 {
		slot3.WriteByte('\n')
		for _, h := range want.Headers {
			slot3.WriteString(h.Name + ": " + h.Value + "\n")
		}
	}
	return Response{
		Status:      -1,
		ContentType: want.Method + "\n" + want.ContentType,
		Body:        []byte(want.URL + "\n" + want.Body),
		Headers:     slot3.String(),
		HeadersSet:  true,
	}
}
