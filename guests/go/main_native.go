// This file gives package main the main function it needs outside WebAssembly. Native builds
// of this guest exist so that `go test` and `go vet` can run on the host; the real entry points
// live in the wasip1 and TinyGo entry files, which are built for wasm only. The one native
// program is the benchmark's HTTP server, server_native.go, built with `-tags gomodeserver`,
// which brings its own main instead of this one.

//go:build !wasip1 && !gomodeserver

package main

func main() {}
