// This file gives package main the main function it needs outside WebAssembly. Native builds
// of this guest exist only so that `go test` and `go vet` can run on the host; the real entry
// points live in the wasip1 and TinyGo entry files, which are built for wasm only.

//go:build !wasip1

package main

func main() {}
