// Command nullserver answers 200 with an empty body to every request: the HTTP floor of
// the verifier benchmark, on the same Go net/http stack and server settings the verifier
// uses, so that the difference between the two is the verifier's own work.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8099", "address to serve on")
	flag.Parse()
	// The verifier's default server settings (cmd/verifier; since issue 14 read-header 10s,
	// read 30s, write 60s, idle 2m), so that both pay the same per-request deadlines.
	srv := &http.Server{
		Addr:              *listen,
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "nullserver:", err)
		os.Exit(1)
	}
}
