// main_wasip1.go is the entry of the standard Go guest (`go-leaking`, `go-conservative`): the
// exports of the zerobuf handler ABI, with //go:wasmexport, for a module built in Go's default
// exe build mode, `GOOS=wasip1 GOARCH=wasm go build` (no -buildmode). How it starts: the module
// exports `_start` and no `_initialize`, so GoMode's Worker (which calls only `_start`) and the
// `abi` profile (which calls `_initialize` if exported, else `_start`) run the same init.
// `_start` starts the Go runtime, runs the package init functions (gc_leaking.go's among them) and
// main, which returns at once; the runtime then ends `_start` with `proc_exit(0)`, which both
// profiles accept as a successful init, and the exports below serve every later call on the same
// instance, on the main goroutine's stack that proc_exit left in place. Go's wasmexport proposal
// (golang/go#65199) does not promise that exports still work after `_start` has ended; Go 1.27.3
// does it (measured on V8 and wasmtime, garbage collections included), and the conformance corpus
// checks it under both profiles. main must return: a main that blocks (`select {}`) dies with
// "all goroutines are asleep - deadlock!" and exit code 2. A c-shared build
// (`-buildmode=c-shared`) would export only `_initialize`, which GoMode never calls. Standard Go
// cannot link the Zig object, so this build uses the pure-Go kernels of kernels.go, which the
// cross-guest SIMD check holds to the same bits.

//go:build wasip1 && !tinygo

package main

import (
	"runtime/debug"
	"unsafe"
)

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
func gomodeAbiFeatures() int32 { return abiFeatures }

func init() {
	// An unrecovered panic (the /panic route) traps with `unreachable`, as it does in a c-shared
	// build, instead of exiting with code 2, which GoMode would report as `exit code: 2`.
	debug.SetTraceback("crash")
}

// main returns at once: returning ends `_start` (with proc_exit(0)) and leaves the runtime ready
// for the exports.
func main() {}
