// main_tinygo.go is the entry of the TinyGo guest (`tinygo-leaking`, `tinygo-conservative`), built
// with the command of GoMode's "Writing Handlers" page in its two GC modes:
// `tinygo build -target wasip1 -scheduler=none -gc=<leaking|conservative>` with the Zig kernel
// object linked through `-ldflags=-extldflags=...`. There is no `-buildmode=c-shared`, so the
// module is a command: it exports `_start` and no `_initialize`, and both profiles call `_start`,
// which runs the package init functions and main once and ends in `proc_exit(0)` (TinyGo 0.35 and
// later), a successful init; handle_zerobuf then serves every request on the same instance. This
// is not GoMode's current build, which uses `-gc=custom -tags=custommalloc` with the Zig bump
// allocator exported through `--export=malloc`; we keep the page's two modes. The exports are
// TinyGo's //export functions; `malloc` is the one TinyGo's runtime exports in these GC modes.

//go:build tinygo

package main

import "unsafe"

// wasmMemory reaches linear memory through absolute addresses, which is what pointers are on
// wasm32.
type wasmMemory struct{}

func (wasmMemory) Bytes(addr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(nil), addr)), n)
}

// lastResponse keeps the previous response reachable for the conservative collector until the
// next call, as the ABI's lifetime rule requires.
var lastResponse []uint64

//export handle_zerobuf
func handleZerobuf(reqBase uint32) uint32 {
	lastResponse = nil
	response := Handle(DecodeRequest(wasmMemory{}, reqBase))
	size := EncodedLen(response)
	buf := make([]uint64, (size+7)/8)
	base := uint32(uintptr(unsafe.Pointer(&buf[0])))
	EncodeResponseInto(unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8), response, base)
	lastResponse = buf
	return base
}

//export gomode_abi_version
func gomodeAbiVersion() int32 { return 1 }

//export gomode_abi_features
func gomodeAbiFeatures() int32 { return abiFeatures }

func main() {}
