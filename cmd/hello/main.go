// Command hello is the demo "Hello World!" service the verifier protects.
// Flags have HELLO_* environment variable twins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clientcreds/clientcreds/internal/flagenv"
	"github.com/clientcreds/clientcreds/internal/hello"
)

const envPrefix = "HELLO"

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	listen := fs.String("listen", ":8081", "`address` to serve on")
	shutdown := fs.Duration("shutdown-timeout", 10*time.Second, "time allowed for in-flight requests at shutdown")
	fs.Usage = flagenv.Usage(fs, envPrefix, "Usage: hello [flags]\n\nServes GET / (\"Hello World!\") and GET /healthz.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *listen, Handler: hello.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		log.Info("Listening", "addr", *listen)
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
	defer cancel()
	return srv.Shutdown(sctx)
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	return flagenv.Apply(fs, envPrefix)
}
