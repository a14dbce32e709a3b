// gc_leaking.go makes the standard Go guest's `leaking` mode: built with `-tags leaking`, it turns
// the collector off in a package init function, which `_start` runs before main (see
// main_wasip1.go), so memory is never reclaimed and only grows, like TinyGo's `-gc=leaking`.
// Without the tag (`conservative` mode) Go's default collector runs.

//go:build leaking && !tinygo

package main

import "runtime/debug"

func init() {
	debug.SetGCPercent(-1)
}
