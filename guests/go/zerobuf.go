// This file is the guest's side of the zerobuf layout of conformance/ABI.md sections 1, 4, 5 and
// 12. It reads the six request slots the host wrote, with the fetch result record a replay points
// at, and lays out the four response slots the guest returns. It exists apart from the entry files because it does not care how linear memory is
// reached: the wasip1 and TinyGo entry points hand it a Memory, and the tests hand it a fake one
// over a byte slice, so the same code is checked natively and runs in the guest.

package main

import (
	"encoding/binary"
	"unicode/utf8"
)

// The zerobuf tags this guest reads or writes.
const (
	tagNull   = 0
	tagI32    = 2
	tagString = 4
	tagBytes  = 8
)

// slotSize is the size of one zerobuf value slot.
const slotSize = 16

// requestSlots is the number of slots the host writes at reqBase.
const requestSlots = 6

// responseSlots is the number of slots this guest writes: status, content type, body and the
// response headers of the response-headers feature.
const responseSlots = 4

// tagNames are the names of the tags, as /echo reports them for slots 4 and 5.
var tagNames = [...]string{"null", "bool", "i32", "f64", "string", "array", "object", "bigint", "bytes"}

// Memory is a view of the guest's linear memory.
type Memory interface {
	// Bytes returns the n bytes of linear memory that start at addr. The slice may alias memory,
	// so callers copy what they keep.
	Bytes(addr, n uint32) []byte
}

// DecodeRequest reads the six request slots at reqBase: the method, the path with its query, the
// body and the headers as strings, and the tag names of the reserved slots 4 and 5. A slot that
// is not a string reads as the empty string. The strings are copies, because request memory is
// reused by the host after the call. Bytes that are not UTF-8 are replaced by U+FFFD, one per
// maximal invalid sequence, exactly as the Rust guest's String::from_utf8_lossy does.
//
// When slot 4 has the string tag, the call is a replay (ABI.md section 12): slot 4's payload A
// points at the fetch result record the host wrote through malloc, and slot 5's payload A is the
// call index. As GoMode's SDK and the Rust guest do, only slot 4's tag is checked; slot 5 is read
// as an i32 whatever its tag.
func DecodeRequest(mem Memory, reqBase uint32) Request {
	slots := mem.Bytes(reqBase, requestSlots*slotSize)
	slotAddr := func(i int) uint32 { return reqBase + uint32(i*slotSize) }
	tag := func(i int) string {
		t := slots[i*slotSize]
		if int(t) < len(tagNames) {
			return tagNames[t]
		}
		return "invalid"
	}
	req := Request{
		Method:  readString(mem, slotAddr(0)),
		Path:    readString(mem, slotAddr(1)),
		Body:    readString(mem, slotAddr(2)),
		Headers: readString(mem, slotAddr(3)),
		Slot4:   tag(4),
		Slot5:   tag(5),
	}
	if slots[4*slotSize] == tagString {
		le := binary.LittleEndian
		record := le.Uint32(slots[4*slotSize+4:])
		req.Replay = &Replay{
			Index: int32(le.Uint32(slots[5*slotSize+4:])),
			Result: FetchResult{
				Status:      int32(le.Uint32(mem.Bytes(record+4, 4))),
				ContentType: readString(mem, record+slotSize),
				Body:        readString(mem, record+2*slotSize),
			},
		}
	}
	return req
}

// readString reads the slot at addr as a string: a copy of its payload, made valid UTF-8 by
// lossyString. A slot with another tag reads as the empty string.
func readString(mem Memory, addr uint32) string {
	slot := mem.Bytes(addr, slotSize)
	if slot[0] != tagString {
		return ""
	}
	header := binary.LittleEndian.Uint32(slot[4:8])
	n := binary.LittleEndian.Uint32(mem.Bytes(header, 4))
	if n == 0 {
		return ""
	}
	return lossyString(mem.Bytes(header+4, n))
}

// lossyString copies b into a string, replacing each maximal prefix of an invalid UTF-8
// sequence with U+FFFD. This is the WHATWG/Unicode "substitution of maximal subparts" that Rust's
// String::from_utf8_lossy implements; Go's own decoders replace byte by byte instead.
func lossyString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			out = append(out, b[i])
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			out = append(out, b[i:i+size]...)
			i += size
			continue
		}
		i += invalidPrefixLen(b[i:])
		out = utf8.AppendRune(out, utf8.RuneError)
	}
	return string(out)
}

// invalidPrefixLen returns how many bytes at the start of b, which does not start with a valid
// UTF-8 sequence, form one maximal invalid subpart: the lead byte and the continuation bytes that
// could still have completed a valid sequence. It is at least 1.
func invalidPrefixLen(b []byte) int {
	lead := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case lead >= 0xc2 && lead <= 0xdf:
		need = 1
	case lead == 0xe0:
		need, lo = 2, 0xa0
	case lead == 0xed:
		need, hi = 2, 0x9f
	case lead >= 0xe1 && lead <= 0xef:
		need = 2
	case lead == 0xf0:
		need, lo = 3, 0x90
	case lead == 0xf4:
		need, hi = 3, 0x8f
	case lead >= 0xf1 && lead <= 0xf3:
		need = 3
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		c := b[n]
		if k > 0 {
			lo, hi = 0x80, 0xbf
		}
		if c < lo || c > hi {
			break
		}
		n++
	}
	return n
}

// Response is a response before it is laid out in memory.
type Response struct {
	// Status is the HTTP status, written as an i32 in slot 0.
	Status int32
	// ContentType is written as a string in slot 1.
	ContentType string
	// Body is written in slot 2, as a string (it must then be UTF-8) or as bytes, unless FillBody
	// is set.
	Body []byte
	// FillBody, when set, stands for a body of BodyLen bytes in place of Body: EncodeResponseInto
	// calls it to write the body straight into the response memory, so that a large body is not
	// built in one place and then copied to another. It must write every byte of dst.
	FillBody func(dst []byte)
	// BodyLen is the length of the body FillBody writes; it is ignored without FillBody.
	BodyLen int
	// BodyIsBytes selects the bytes tag (8) for slot 2 instead of the string tag (4).
	BodyIsBytes bool
	// Headers are `name: value\n` lines for slot 3; empty writes a null slot unless HeadersSet.
	Headers string
	// HeadersSet writes slot 3 as a string (tag 4) even when Headers is empty.
	HeadersSet bool
}

// bodyLen is the length of the body in bytes, whether it is Body or written by FillBody.
func (r Response) bodyLen() int {
	if r.FillBody != nil {
		return r.BodyLen
	}
	return len(r.Body)
}

// BodyBytes returns the body as one slice: Body, or a new slice that FillBody fills. It is for
// code that serves or checks a Response outside linear memory (the native server and the tests).
func (r Response) BodyBytes() []byte {
	if r.FillBody == nil {
		return r.Body
	}
	body := make([]byte, r.BodyLen)
	r.FillBody(body)
	return body
}

// hasHeaders reports whether slot 3 is a string rather than null.
func (r Response) hasHeaders() bool {
	return r.Headers != "" || r.HeadersSet
}

// payloadLen is the space one `[len: u32][bytes]` payload of n bytes takes, with the padding
// that makes the next payload start at a 4-byte boundary.
func payloadLen(n int) int {
	return (4 + n + 3) &^ 3
}

// EncodedLen returns the number of bytes EncodeResponse returns for r: the four slots and each
// payload that is written, each padded to a multiple of 4 bytes.
func EncodedLen(r Response) int {
	n := responseSlots*slotSize + payloadLen(len(r.ContentType)) + payloadLen(r.bodyLen())
	if r.hasHeaders() {
		n += payloadLen(len(r.Headers))
	}
	return n
}

// EncodeResponse lays out r for the address base: slot 0 (i32 status), slot 1 (string content
// type), slot 2 (string or bytes body) and slot 3 (string headers, or null when there are none),
// then the content type, body and header payloads, each `[len: u32][bytes]` starting at a 4-byte
// boundary. Every pointer in a slot is base plus the payload's offset in the returned bytes, so
// the caller must place them at address base, which should be at least 4-byte aligned (the Rust
// guest uses 8). Padding bytes are zero. A body with FillBody is written by FillBody.
func EncodeResponse(r Response, base uint32) []byte {
	out := make([]byte, EncodedLen(r))
	EncodeResponseInto(out, r, base)
	return out
}

// EncodeResponseInto is EncodeResponse writing into dst, which must hold at least EncodedLen(r)
// bytes, so that a caller can allocate the response memory first, learn its address and then
// encode in place without a copy. It writes exactly EncodedLen(r) bytes, padding included, and
// returns that count.
func EncodeResponseInto(dst []byte, r Response, base uint32) int {
	size := EncodedLen(r)
	dst = dst[:size]
	clear(dst[:responseSlots*slotSize])
	le := binary.LittleEndian

	dst[0] = tagI32
	le.PutUint32(dst[4:8], uint32(r.Status))

	next := responseSlots * slotSize
	// put writes slot `slot` pointing at a payload of n bytes at next, with its length and padding,
	// and returns where the payload's bytes go.
	put := func(slot int, tag byte, n int) []byte {
		at := slot * slotSize
		dst[at] = tag
		le.PutUint32(dst[at+4:at+8], base+uint32(next))
		le.PutUint32(dst[next:next+4], uint32(n))
		payload := dst[next+4 : next+4+n]
		end := next + payloadLen(n)
		clear(dst[next+4+n : end])
		next = end
		return payload
	}
	copy(put(1, tagString, len(r.ContentType)), r.ContentType)
	bodyTag := byte(tagString)
	if r.BodyIsBytes {
		bodyTag = tagBytes
	}
	body := put(2, bodyTag, r.bodyLen())
	if r.FillBody != nil {
		r.FillBody(body)
	} else {
		copy(body, r.Body)
	}
	if r.hasHeaders() {
		copy(put(3, tagString, len(r.Headers)), r.Headers)
	} else {
		dst[3*slotSize] = tagNull
	}
	return size
}
