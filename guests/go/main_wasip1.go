// main_wasip1.go is the entry of the standard Go guest (`go-leaking`, `go-conservative`): the
// exports of the zerobuf handler ABI, with //go:wasmexport, for a module built with
// `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared`. Such a module is a reactor: it exports
// `_initialize`, which starts the Go runtime and runs package init functions once, and `main` is
// never called. Standard Go cannot link the Zig object, so this build uses the pure-Go kernels of
// kernels.go, which the cross-guest SIMD check holds to the same bits.

//go:build wasip1 && !tinygo

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

var (
	// lastResponse keeps the previous response reachable until the next call, as the ABI's
	// lifetime rule requires; replacing it lets the collector free the one before.
	lastResponse []uint64
	// scratch keeps every block handed out by malloc reachable: the host owns them for the
	// instance's whole life, and a collector must not free them.
	scratch [][]uint64
)

//go:wasmexport handle_zerobuf
func handleZerobuf(reqBase int32) int32 {
	lastResponse = nil
	response := Handle(DecodeRequest(wasmMemory{}, uint32(reqBase)))
	size := EncodedLen(response)
	buf := make([]uint64, (size+7)/8)
	base := uint32(uintptr(unsafe.Pointer(&buf[0])))
	EncodeResponseInto(unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8), response, base)
	lastResponse = buf
	return int32(base)
}

//go:wasmexport malloc
func malloc(size int32) int32 {
	if size <= 0 {
		size = 1
	}
	block := make([]uint64, (int(size)+7)/8)
	scratch = append(scratch, block)
	return int32(uintptr(unsafe.Pointer(&block[0])))
}

//go:wasmexport gomode_abi_version
func gomodeAbiVersion() int32 { return 1 }

//go:wasmexport gomode_abi_features
func gomodeAbiFeatures() int32 { return featureResponseHeaders }

func main() {}
