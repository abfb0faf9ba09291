// Command hello-client is the example of package pkg/credentials: it calls a protected URL
// every --interval with a bearer token obtained with the client credentials of a mounted
// OAuthClient Secret (--credentials-dir) and logs each answer's status. Tokens are cached and
// renewed, and a rotated Secret is picked up, by the package; the program does nothing for it.
// With --credentials-from-env it reads the Secret from its environment (envFrom) instead and
// sees new credentials only when restarted (spec.rotation.restart).
//
//	go run ./examples/hello-client --credentials-dir /var/run/secrets/oauth --url http://hello:8080/
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clientcreds/clientcreds/pkg/credentials"
)

func main() {
	dir := flag.String("credentials-dir", "/var/run/secrets/oauth", "`directory` where the OAuthClient's Secret is mounted")
	target := flag.String("url", "", "`URL` to call (required)")
	interval := flag.Duration("interval", 5*time.Second, "time between calls")
	fromEnv := flag.Bool("credentials-from-env", false, "read the credentials from the environment (CLIENT_ID, CLIENT_SECRET, TOKEN_URL, …: the Secret through envFrom) instead of --credentials-dir")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if *target == "" {
		fmt.Fprintln(os.Stderr, "hello-client: --url is required")
		os.Exit(2)
	}

	var src *credentials.Source
	var err error
	if *fromEnv {
		src, err = credentials.FromEnv(credentials.WithLogger(log))
	} else {
		src, err = credentials.FromDir(*dir, credentials.WithLogger(log))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello-client:", err)
		os.Exit(1)
	}
	defer func() { _ = src.Close() }()
	client := src.Client() // adds "Authorization: Bearer <token>"
	client.Timeout = 10 * time.Second

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		call(ctx, log, client, *target)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func call(ctx context.Context, log *slog.Logger, client *http.Client, target string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		log.Error("Bad URL", "error", err.Error())
		return
	}
	resp, err := client.Do(req)
	if err != nil && ctx.Err() != nil {
		return // stopping (SIGTERM): the call was cut short, it did not fail
	}
	if err != nil {
		log.Warn("Call failed", "error", err.Error())
		return
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	log.Info("Called", "status", resp.StatusCode, "body", string(body))
}
