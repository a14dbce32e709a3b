// server_native.go is the reference handler served natively by Go's net/http, the baseline that
// `cargo xtask bench` compares GoMode's hosts with: the same Handle of app.go, compiled for the
// machine instead of WebAssembly, behind an ordinary Go HTTP server. It exists so that the
// benchmark's ratios say what running a handler as a zerobuf guest costs against the plain Go
// program its author would otherwise deploy.
//
// Build it with `go build -tags gomodeserver -o target/bench/go-native-server .` in guests/go, and
// run it with `-listen 127.0.0.1:8080`; it prints `listening on http://ADDR` once it listens and
// exits 0 on SIGINT or SIGTERM, like `gomode-host serve`. Each net/http request becomes the
// Request a guest would decode under GoMode's Worker (ABI.md §11): the method, the path with its
// query, the body only for POST, PUT and PATCH (lossy UTF-8, a leading byte order mark dropped),
// and the header lines as the Fetch Headers object iterates them (names lowercased and sorted,
// values trimmed, a repeated name joined with `, `, set-cookie never joined). The Response becomes
// the status, content type, header lines and body. Handle keeps package state (the /counter count,
// kept fetch results), as a guest instance does, so calls into it are serialized by a mutex, as
// calls into one instance are; net/http still reads and writes connections in parallel. A panic
// answers 500 `panic: <value>`, as GoMode's Worker answers a trap. Outbound fetch (status -1) is
// not served here: the routes that need it answer 501.

//go:build !wasip1 && !tinygo && gomodeserver

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// handleMu serializes calls into Handle, whose package state is not safe for concurrent use.
var handleMu sync.Mutex

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "the address to listen on")
	flag.Parse()
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("cannot listen on %s: %v", *listen, err)
	}
	fmt.Printf("listening on http://%s\n", listener.Addr())
	server := &http.Server{Handler: http.HandlerFunc(serve)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = server.Shutdown(context.Background())
	}()
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serve: %v", err)
	}
}

// serve answers one net/http request through Handle.
func serve(w http.ResponseWriter, r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.RequestURI(), Headers: headerLines(r), Slot4: "null", Slot5: "null"}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "cannot read the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = strings.TrimPrefix(lossyString(body), "\uFEFF")
	}
	resp, panicked := handle(req)
	if panicked != nil {
		resp = textResponse(500, fmt.Sprintf("panic: %v", panicked))
	}
	if resp.Status == -1 {
		resp = textResponse(501, "outbound fetch is not served by the native server")
	}
	if resp.Status < 200 || resp.Status > 599 {
		resp = textResponse(500, fmt.Sprintf("the handler answered status %d", resp.Status))
	}
	header := w.Header()
	for _, line := range strings.Split(resp.Headers, "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok {
			header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	if resp.ContentType != "" {
		header.Set("Content-Type", resp.ContentType)
	} else {
		// No content type: send none, rather than the one net/http would sniff.
		header["Content-Type"] = nil
	}
	w.WriteHeader(int(resp.Status))
	_, _ = w.Write(resp.BodyBytes())
}

// handle calls Handle under handleMu and returns what it answered, or the value it panicked
// with. The mutex is released on a panic too.
func handle(req Request) (resp Response, panicked any) {
	handleMu.Lock()
	defer handleMu.Unlock()
	defer func() { panicked = recover() }()
	return Handle(req), nil
}

// headerLines returns the request's headers as slot 3 holds them under GoMode's Worker.
func headerLines(r *http.Request) string {
	values := make(map[string][]string, len(r.Header)+1)
	if r.Host != "" {
		values["host"] = []string{r.Host}
	}
	for name, vs := range r.Header {
		lower := strings.ToLower(name)
		for _, v := range vs {
			values[lower] = append(values[lower], strings.Trim(v, " \t"))
		}
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		if name == "set-cookie" {
			for _, v := range values[name] {
				b.WriteString(name + ": " + v + "\n")
			}
			continue
		}
		b.WriteString(name + ": " + strings.Join(values[name], ", ") + "\n")
	}
	return b.String()
}
