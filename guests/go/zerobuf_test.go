// This file tests the zerobuf layout of zerobuf.go natively, without WebAssembly: a fake Memory
// over a byte slice stands in for linear memory, responses are checked against golden bytes
// worked out by hand from conformance/ABI.md, and requests are built slot by slot as the host
// writes them.

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

// fakeMemory is linear memory as a byte slice; address 0 is its first byte.
type fakeMemory []byte

func (m fakeMemory) Bytes(addr, n uint32) []byte {
	return m[addr : addr+n : addr+n]
}

// unhex decodes hex digits, ignoring spaces and newlines so golden bytes can be laid out by slot.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeResponseGoldenText(t *testing.T) {
	r := Response{Status: 200, ContentType: "text/plain", Body: []byte("hi"), Headers: "a: b\n"}
	want := unhex(t, `
		02000000 c8000000 0000000000000000
		04000000 40100000 0000000000000000
		04000000 50100000 0000000000000000
		04000000 58100000 0000000000000000
		0a000000 746578742f706c61696e 0000
		02000000 6869 0000
		05000000 613a20620a 000000
	`)
	got := EncodeResponse(r, 0x1000)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n got %x\nwant %x", got, want)
	}
	if n := EncodedLen(r); n != len(want) {
		t.Fatalf("EncodedLen = %d, want %d", n, len(want))
	}
}

func TestEncodeResponseGoldenBytesNoHeaders(t *testing.T) {
	r := Response{Status: 404, ContentType: "x", Body: []byte{0, 1, 2, 3}, BodyIsBytes: true}
	want := unhex(t, `
		02000000 94010000 0000000000000000
		04000000 48000000 0000000000000000
		08000000 50000000 0000000000000000
		00000000 00000000 0000000000000000
		01000000 78 000000
		04000000 00010203
	`)
	got := EncodeResponse(r, 8)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n got %x\nwant %x", got, want)
	}
}

func TestEncodeResponseIntoClearsPadding(t *testing.T) {
	r := Response{Status: 200, ContentType: "text/plain", Body: []byte("hi"), Headers: "a: b\n"}
	want := EncodeResponse(r, 64)
	dirty := bytes.Repeat([]byte{0xee}, len(want)+8)
	if n := EncodeResponseInto(dirty, r, 64); n != len(want) {
		t.Fatalf("wrote %d bytes, want %d", n, len(want))
	}
	if !bytes.Equal(dirty[:len(want)], want) {
		t.Fatalf("encoded into a dirty buffer\n got %x\nwant %x", dirty[:len(want)], want)
	}
	if dirty[len(want)] != 0xee {
		t.Fatal("wrote past EncodedLen")
	}
}

// TestEncodeResponseReadBack places an encoding in a fake memory at its base and reads every
// slot back through its pointers, as a host does.
func TestEncodeResponseReadBack(t *testing.T) {
	const base = 0x200
	r := Response{Status: 201, ContentType: "text/plain; charset=utf-8", Body: []byte("Grüß 🌍"), Headers: responseHeaders}
	mem := make(fakeMemory, 0x1000)
	copy(mem[base:], EncodeResponse(r, base))
	le := binary.LittleEndian
	if mem[base] != tagI32 || int32(le.Uint32(mem[base+4:])) != 201 {
		t.Fatalf("slot 0 = %x", mem[base:base+16])
	}
	for slot, want := range []string{r.ContentType, string(r.Body), r.Headers} {
		at := base + (slot+1)*slotSize
		if mem[at] != tagString {
			t.Fatalf("slot %d tag = %d", slot+1, mem[at])
		}
		ptr := le.Uint32(mem[at+4:])
		if ptr%4 != 0 {
			t.Fatalf("slot %d payload at %#x is not 4-byte aligned", slot+1, ptr)
		}
		n := le.Uint32(mem[ptr:])
		if got := string(mem[ptr+4 : ptr+4+n]); got != want {
			t.Fatalf("slot %d = %q, want %q", slot+1, got, want)
		}
	}
}

// requestBuilder writes request slots and their string payloads into a fake memory, as the host
// does: six slots at base, then each payload at the next 4-byte boundary.
type requestBuilder struct {
	mem  fakeMemory
	base uint32
	next uint32
}

func newRequestBuilder(size, base uint32) *requestBuilder {
	return &requestBuilder{mem: make(fakeMemory, size), base: base, next: base + requestSlots*slotSize}
}

func (b *requestBuilder) str(slot int, text []byte) {
	at := b.base + uint32(slot*slotSize)
	b.mem[at] = tagString
	binary.LittleEndian.PutUint32(b.mem[at+4:], b.next)
	binary.LittleEndian.PutUint32(b.mem[b.next:], uint32(len(text)))
	copy(b.mem[b.next+4:], text)
	b.next += uint32(payloadLen(len(text)))
}

func (b *requestBuilder) tag(slot int, tag byte) {
	b.mem[b.base+uint32(slot*slotSize)] = tag
}

func TestDecodeRequest(t *testing.T) {
	b := newRequestBuilder(1024, 32)
	b.str(0, []byte("POST"))
	b.str(1, []byte("/echo?x=1"))
	b.str(2, []byte("héllo\n"))
	b.str(3, []byte("accept: */*\nx-a: 1, 2\n"))
	b.tag(4, 0)
	b.tag(5, 8)
	got := DecodeRequest(b.mem, 32)
	want := Request{
		Method: "POST", Path: "/echo?x=1", Body: "héllo\n", Headers: "accept: */*\nx-a: 1, 2\n",
		Slot4: "null", Slot5: "bytes",
	}
	if got != want {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
}

func TestDecodeRequestNonStringSlots(t *testing.T) {
	b := newRequestBuilder(256, 0)
	b.str(0, []byte("GET"))
	b.str(1, []byte("/"))
	b.str(2, nil)
	b.tag(3, 2) // an i32 slot reads as ""
	b.tag(4, 7)
	b.tag(5, 99)
	got := DecodeRequest(b.mem, 0)
	want := Request{Method: "GET", Path: "/", Slot4: "bigint", Slot5: "invalid"}
	if got != want {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
}

func TestDecodeRequestCopies(t *testing.T) {
	b := newRequestBuilder(256, 0)
	b.str(2, []byte("keep"))
	got := DecodeRequest(b.mem, 0)
	clear(b.mem)
	if got.Body != "keep" {
		t.Fatalf("body changed with request memory: %q", got.Body)
	}
}

func TestTagNames(t *testing.T) {
	want := []string{"null", "bool", "i32", "f64", "string", "array", "object", "bigint", "bytes", "invalid"}
	for tag, name := range want {
		b := newRequestBuilder(128, 0)
		b.tag(4, byte(tag))
		if got := DecodeRequest(b.mem, 0).Slot4; got != name {
			t.Errorf("tag %d = %q, want %q", tag, got, name)
		}
	}
}

// TestLossyString checks the replacement of invalid UTF-8 against what Rust's
// String::from_utf8_lossy gives (worked out with rustc 1.95): one U+FFFD per maximal subpart.
func TestLossyString(t *testing.T) {
	const r = "\uFFFD"
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"\uFFFD is valid", "\uFFFD is valid"},
		{"a\xe2\x82b", "a" + r + "b"},
		{"\xf0\x9f\x98\xff", r + r},
		{"\xc0\x80", r + r},
		{"\xed\xa0\x80z", r + r + r + "z"},
		{"\xf4\x90\x80\x80", r + r + r + r},
		{"\xe0\x80\x80\xe0\xa0\xf0\x90\x80", r + r + r + r + r},
		{"ok\xf0\x9f\x8c", "ok" + r},
	}
	for _, tt := range tests {
		if got := lossyString([]byte(tt.in)); got != tt.want {
			t.Errorf("lossyString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// putU32 writes a little-endian u32 at addr.
func putU32(mem fakeMemory, addr, v uint32) {
	binary.LittleEndian.PutUint32(mem[addr:], v)
}

// writeRecord lays out a fetch result record at ptr as GoMode's Worker writes it
// (/work/shared/gomode-hosts.md section 6.5): three slots, the content type at ptr+48 and the body
// at the next 4-byte boundary; the pad bytes are left as they were.
func writeRecord(mem fakeMemory, ptr uint32, status int32, contentType, body string) {
	mem[ptr] = tagI32
	putU32(mem, ptr+4, uint32(status))
	ct := ptr + 48
	mem[ptr+16] = tagString
	putU32(mem, ptr+20, ct)
	putU32(mem, ct, uint32(len(contentType)))
	copy(mem[ct+4:], contentType)
	b := (ct + 4 + uint32(len(contentType)) + 3) &^ 3
	mem[ptr+32] = tagString
	putU32(mem, ptr+36, b)
	putU32(mem, b, uint32(len(body)))
	copy(mem[b+4:], body)
}

func TestDecodeRequestReplay(t *testing.T) {
	b := newRequestBuilder(1024, 0)
	b.str(0, []byte("GET"))
	b.str(1, []byte("/fetch?url=x"))
	// The record GoMode wrote for an upstream 201 (gomode-hosts.md section 6.5), byte for byte,
	// with 0xee where GoMode leaves the pad bytes unwritten.
	record := unhex(t, `
		02000000 c9000000 0000000000000000
		04000000 30020000 0000000000000000
		04000000 40020000 0000000000000000
		0b000000 746578742f782d74657374 ee
		0b000000 68656c6c6f2d6665746368 ee`)
	copy(b.mem[0x200:], record)
	b.tag(4, tagString)
	putU32(b.mem, 4*slotSize+4, 0x200)
	b.tag(5, tagI32)
	putU32(b.mem, 5*slotSize+4, 3)
	got := DecodeRequest(b.mem, 0)
	want := Replay{Index: 3, Result: FetchResult{Status: 201, ContentType: "text/x-test", Body: "hello-fetch"}}
	if got.Replay == nil || *got.Replay != want || got.Slot4 != "string" || got.Slot5 != "i32" {
		t.Fatalf("decoded %+v (replay %+v), want replay %+v", got, got.Replay, want)
	}

	// writeRecord lays out the same bytes, and slot 5's tag is not checked, as in GoMode's SDK.
	clear(b.mem[0x200 : 0x200+len(record)])
	writeRecord(b.mem, 0x200, 201, "text/x-test", "hello-fetch")
	b.tag(5, tagNull)
	putU32(b.mem, 5*slotSize+4, uint32(0xffffffff))
	got = DecodeRequest(b.mem, 0)
	want.Index = -1
	if got.Replay == nil || *got.Replay != want {
		t.Fatalf("decoded replay %+v, want %+v", got.Replay, want)
	}

	// A non-string tag in a record slot reads as the empty string, and invalid UTF-8 lossily.
	writeRecord(b.mem, 0x200, 502, "", "a\xffb")
	b.mem[0x200+16] = tagBytes
	got = DecodeRequest(b.mem, 0)
	want.Result = FetchResult{Status: 502, Body: "a\ufffdb"}
	if got.Replay == nil || *got.Replay != want {
		t.Fatalf("decoded replay %+v, want %+v", got.Replay, want)
	}

	// Without slot 4's string tag there is no replay, whatever slot 5 holds.
	b.tag(4, tagNull)
	if got := DecodeRequest(b.mem, 0); got.Replay != nil {
		t.Fatalf("decoded replay %+v without slot 4", got.Replay)
	}
}
