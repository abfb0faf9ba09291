// Command token-injector is a sidecar that adds OAuth 2.0 access tokens to an app's outbound
// calls: it listens on loopback (--listen), forwards every request to --upstream with
// "Authorization: Bearer <token>", and gets the token with the client credentials of the
// Secret the clientcreds operator wrote, mounted at --credentials-dir (see pkg/credentials:
// tokens are cached and renewed ahead of expiry, and new Secret versions are picked up).
// Without a token it answers 503 and forwards nothing. Every flag has a TOKEN_INJECTOR_*
// environment variable twin; see --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clientcreds/clientcreds/internal/flagenv"
	"github.com/clientcreds/clientcreds/internal/tokeninjector"
	"github.com/clientcreds/clientcreds/pkg/credentials"
)

const envPrefix = "TOKEN_INJECTOR"

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "token-injector:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("token-injector", flag.ContinueOnError)
	var (
		listen      = fs.String("listen", "127.0.0.1:8099", "`address` the app sends its requests to (keep it on loopback)")
		upstream    = fs.String("upstream", "", "`URL` every request is forwarded to (required)")
		credsDir    = fs.String("credentials-dir", "", "`directory` where the OAuthClient's Secret is mounted (required)")
		adminListen = fs.String("admin-listen", "", "separate `address` for /healthz, /readyz and /metrics, e.g. :8098 for kubelet probes\n(default: served on --listen, where these three paths are then not forwarded)")
		poll        = fs.Duration("poll-interval", credentials.DefaultPollInterval, "how often the credentials directory is checked for a new Secret version")
		maxAge      = fs.Duration("max-token-age", 0, "renew tokens at least this often (0: as their lifetime says); a token is renewed at half this age")
		tokenWait   = fs.Duration("token-wait", 10*time.Second, "how long a request waits for a token when none is cached before it gets 503")
		logLevel    = fs.String("log-level", "info", "log level: debug, info, warn, error")
		shutdown    = fs.Duration("shutdown-timeout", 10*time.Second, "time allowed for in-flight requests at shutdown")
	)
	fs.Usage = flagenv.Usage(fs, envPrefix, "Usage: token-injector --upstream URL --credentials-dir DIR [flags]\n\n"+
		"Forwards every request on --listen to --upstream with a bearer token; /healthz, /readyz\n"+
		"(a token was obtained) and /metrics on --admin-listen, or on --listen without it.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := flagenv.Apply(fs, envPrefix); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *upstream == "" {
		return errors.New("--upstream is required")
	}
	u, err := url.Parse(*upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--upstream %q must be an absolute http(s) URL", *upstream)
	}
	if *credsDir == "" {
		return errors.New("--credentials-dir is required")
	}
	if *poll <= 0 || *tokenWait <= 0 || *maxAge < 0 {
		return errors.New("--poll-interval and --token-wait must be positive, --max-token-age not negative")
	}
	if host, _, err := net.SplitHostPort(*listen); err != nil {
		return fmt.Errorf("--listen %q: %w", *listen, err)
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		// Anyone who can reach the port can act as the client: say so loudly.
		log.Warn("--listen is not a loopback address: every peer that reaches it gets requests sent with this client's token", "listen", *listen)
	}

	metrics := tokeninjector.NewMetrics()
	src, err := credentials.FromDir(*credsDir, credentials.WithLogger(log), credentials.WithPollInterval(*poll), credentials.WithMaxTokenAge(*maxAge),
		credentials.WithFetchObserver(metrics.ObserveFetch))
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	inject, err := tokeninjector.New(tokeninjector.Config{Upstream: u, Source: src, Metrics: metrics, Log: log, TokenWait: *tokenWait})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go tokeninjector.KeepWarm(ctx, src, time.Second)

	var servers []*http.Server
	if *adminListen != "" {
		servers = append(servers,
			&http.Server{Addr: *listen, Handler: inject, ReadHeaderTimeout: 10 * time.Second},
			&http.Server{Addr: *adminListen, Handler: tokeninjector.Admin(src, metrics, nil), ReadHeaderTimeout: 10 * time.Second})
	} else {
		servers = append(servers, &http.Server{Addr: *listen, Handler: tokeninjector.Admin(src, metrics, inject), ReadHeaderTimeout: 10 * time.Second})
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			return err
		}
		log.Info("Listening", "addr", ln.Addr().String(), "upstream", u.Redacted())
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("Shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
	defer cancel()
	var firstErr error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
