// gc_leaking.go makes the standard Go guest's `leaking` mode: built with `-tags leaking`, it turns
// the collector off when the runtime starts, so memory is never reclaimed and only grows, like
// TinyGo's `-gc=leaking`. Without the tag (`conservative` mode) Go's default collector runs.

//go:build leaking && !tinygo

package main

import "runtime/debug"

func init() {
	debug.SetGCPercent(-1)
}
