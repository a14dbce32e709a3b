// main_tinygo.go is the entry of the TinyGo guest (`tinygo-leaking`, `tinygo-conservative`), built
// as GoMode builds its handlers: `tinygo build -target wasip1 -scheduler=none -gc=<mode>` with the
// Zig kernel object linked through `-extldflags`. The exports are TinyGo's //export functions;
// `malloc` is the one TinyGo's runtime already exports. With `-buildmode=c-shared` the module is a
// reactor (`_initialize`); without it, `_start` runs `main` once and ends in `proc_exit(0)`, which
// the ABI accepts as a successful init.

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
func gomodeAbiFeatures() int32 { return featureResponseHeaders }

func main() {}
