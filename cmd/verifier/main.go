// Command verifier checks OAuth 2.0 access tokens against an issuer's JWKS
// and answers forward-auth requests (/verify), proxies verified requests to
// an upstream (--upstream), and serves kube-apiserver's webhook token
// authenticator (/tokenreview). Every flag has a VERIFIER_* environment
// variable twin; see --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/clientcreds/clientcreds/internal/flagenv"
	"github.com/clientcreds/clientcreds/internal/verifier"
)

const envPrefix = "VERIFIER"

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "verifier:", err)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func run(args []string) error {
	fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
	var (
		issuer        = fs.String("issuer", "", "token issuer, compared exactly with the iss claim; its metadata names the JWKS (required)")
		jwksURL       = fs.String("jwks-url", "", "JWKS `URL`; skips metadata discovery")
		audience      = fs.String("audience", "", "audience the aud claim must contain (required)")
		scopes        = fs.String("required-scopes", "", "scopes every request needs unless a rule says otherwise (comma or space separated)")
		rulesFile     = fs.String("rules", "", "rules `file` (YAML or JSON): per path prefix and method, required scopes or public")
		listen        = fs.String("listen", ":8080", "`address` to serve on")
		metricsListen = fs.String("metrics-listen", "", "separate `address` for /metrics (default: served on --listen)")
		upstream      = fs.String("upstream", "", "reverse-proxy mode: forward verified requests to this `URL`")
		algs          = fs.String("allowed-algs", "RS256", "signature algorithms accepted (comma separated; asymmetric only)")
		skew          = fs.Duration("clock-skew", verifier.DefaultClockSkew, "leeway for exp, nbf and iat")
		refresh       = fs.Duration("jwks-refresh-interval", verifier.DefaultJWKSRefresh, "how often the JWKS is refetched in the background")
		cooldown      = fs.Duration("unknown-kid-cooldown", verifier.DefaultUnknownKidCooldown, "least time between JWKS fetches caused by unknown key ids")
		strictTyp     = fs.Bool("strict-typ", false, "refuse tokens whose typ header is not JWT or at+jwt (Okta tokens have none: leave off for Okta)")
		cacheSize     = fs.Int("token-cache-size", verifier.DefaultTokenCacheSize, "verified tokens to remember (negative disables)")
		realm         = fs.String("realm", "clientcreds", "realm in the WWW-Authenticate challenge")
		insecure      = fs.Bool("allow-insecure-issuer", false, "allow an http issuer or JWKS URL on a non-loopback host")
		logLevel      = fs.String("log-level", "info", "log level: debug, info, warn, error")
		tlsCert       = fs.String("tls-cert-file", "", "serve --listen over TLS with this PEM certificate `file` (needs --tls-key-file)")
		tlsKey        = fs.String("tls-key-file", "", "PEM private key `file` for --tls-cert-file")
		shutdown      = fs.Duration("shutdown-timeout", 10*time.Second, "time allowed for in-flight requests at shutdown")
	)
	fs.Usage = flagenv.Usage(fs, envPrefix, "Usage: verifier --issuer URL --audience AUD [flags]\n\n"+
		"Endpoints: /verify (forward auth; also /verify/<path> for Envoy ext_authz), /tokenreview,\n"+
		"/healthz, /readyz, /metrics; with --upstream every other path is verified and proxied.")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = fmt.Fprint(fs.Output(), "\n"+verifier.RulesFormat)
		}
		return err
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	var rules []verifier.Rule
	if *rulesFile != "" {
		var err error
		if rules, err = verifier.LoadRules(*rulesFile); err != nil {
			return err
		}
	}
	policy, err := verifier.NewPolicy(splitList(*scopes), rules)
	if err != nil {
		return err
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert-file and --tls-key-file go together")
	}
	var upstreamURL *url.URL
	if *upstream != "" {
		u, err := url.Parse(*upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--upstream %q must be an absolute http(s) URL", *upstream)
		}
		upstreamURL = u
	}

	metrics := verifier.NewMetrics()
	v, err := verifier.New(verifier.Config{
		Issuer:              *issuer,
		JWKSURL:             *jwksURL,
		Audience:            *audience,
		AllowedAlgs:         splitList(*algs),
		ClockSkew:           *skew,
		JWKSRefreshInterval: *refresh,
		UnknownKidCooldown:  *cooldown,
		StrictTyp:           *strictTyp,
		TokenCacheSize:      tokenCacheSize(*cacheSize),
		AllowInsecureIssuer: *insecure,
		Logger:              log,
		Metrics:             metrics,
	})
	if err != nil {
		return err
	}
	handler := verifier.NewServer(verifier.ServerConfig{
		Verifier:     v,
		Policy:       policy,
		Upstream:     upstreamURL,
		Realm:        *realm,
		ServeMetrics: *metricsListen == "",
		Logger:       log,
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	v.Start(ctx)

	servers := []*http.Server{newServer(*listen, handler)}
	if *metricsListen != "" {
		servers = append(servers, newServer(*metricsListen, verifier.MetricsHandler(metrics)))
	}
	errc := make(chan error, len(servers))
	for i, s := range servers {
		useTLS := i == 0 && *tlsCert != ""
		log.Info("Listening", "addr", s.Addr, "tls", useTLS, "issuer", *issuer, "audience", *audience, "upstream", *upstream)
		go func() {
			var err error
			if useTLS {
				err = s.ListenAndServeTLS(*tlsCert, *tlsKey)
			} else {
				err = s.ListenAndServe()
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
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
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	return nil
}

// tokenCacheSize maps the flag (0 or negative: off) to the config field
// (negative: off, 0: default).
func tokenCacheSize(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

func newServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	return flagenv.Apply(fs, envPrefix)
}
