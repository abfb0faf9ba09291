// Command verifier checks OAuth 2.0 access tokens against an issuer's JWKS
// and answers forward-auth requests (/verify), proxies verified requests to
// an upstream (--upstream), and serves kube-apiserver's webhook token
// authenticator (/tokenreview, with --tokenreview-audiences). Every flag has
// a VERIFIER_* environment variable twin; see --help.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/clientcreds/clientcreds/internal/flagenv"
	"github.com/clientcreds/clientcreds/internal/oauthapiwatch"
	"github.com/clientcreds/clientcreds/internal/verifier"
)

const envPrefix = "VERIFIER"

// Server timeout defaults.
const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 60 * time.Second
	defaultIdleTimeout       = 2 * time.Minute
)

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

// options is the parsed command line.
type options struct {
	verifier  verifier.Config
	server    verifier.ServerConfig
	rulesFile string
	// oauthapi, when set, is where issuer, audience and rules come from.
	oauthapi      *oauthapiwatch.Ref
	kubeconfig    string
	scopes        []string
	listen        string
	adminListen   string
	metricsListen string
	tlsCert       string
	tlsKey        string
	clientCA      string
	logLevel      slog.Level
	shutdown      time.Duration
	timeouts      serverTimeouts
}

type serverTimeouts struct {
	readHeader, read, write, idle time.Duration
}

// parseOptions reads flags (and their VERIFIER_* twins) and checks the
// combinations that do not need the network.
func parseOptions(args []string, output io.Writer) (*options, error) {
	fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
	fs.SetOutput(output)
	var (
		o             options
		issuer        = fs.String("issuer", "", "token issuer, compared exactly with the iss claim; its metadata names the JWKS (required)")
		jwksURL       = fs.String("jwks-url", "", "JWKS `URL`; skips metadata discovery")
		audience      = fs.String("audience", "", "audience the aud claim must contain (required)")
		scopes        = fs.String("required-scopes", "", "scopes every request needs unless a rule says otherwise (comma or space separated)")
		upstream      = fs.String("upstream", "", "reverse-proxy mode: verify every request on --listen and forward it to this `URL`;\nthe verifier's own endpoints are then served on --admin-listen only")
		algs          = fs.String("allowed-algs", "RS256", "signature algorithms accepted (comma separated; asymmetric only)")
		cacheSize     = fs.Int("token-cache-size", verifier.DefaultTokenCacheSize, "verified tokens to remember (0 or negative: no cache)")
		logLevel      = fs.String("log-level", "info", "log level: debug, info, warn, error")
		trAudiences   = fs.String("tokenreview-audiences", "", "serve /tokenreview, authenticating only tokens whose aud holds one of these `audiences`\n(the Kubernetes API's, e.g. https://kubernetes.default.svc; never --audience)")
		allowParams   = fs.Bool("allow-path-params", false, "accept \";\" path parameters (rules then match the path without them); refused by default")
		allowUpgrade  = fs.Bool("allow-upgrade", false, "proxy mode: let requests with an Upgrade header (WebSocket) through; refused by default")
		proxyDial     = fs.Duration("proxy-dial-timeout", verifier.DefaultProxyDialTimeout, "proxy mode: time allowed to connect to the upstream")
		proxyRespHead = fs.Duration("proxy-response-header-timeout", verifier.DefaultProxyResponseHeaderTimeout, "proxy mode: time allowed for the upstream's response headers")
	)
	fs.StringVar(&o.rulesFile, "rules", "", "rules `file` (YAML or JSON): per path prefix and method, required scopes or public")
	oauthapi := fs.String("oauthapi", "", "follow this OAuthAPI (`namespace/name`): issuer and audience from its status, rules from its spec.rules,\n"+
		"applied as they change; excludes --issuer, --audience, --jwks-url and --rules. Until the OAuthAPI exists\n"+
		"with status.issuer and status.audience (and after it is deleted) every request is answered 503")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "with --oauthapi: kubeconfig `file` to reach the API server (default: the pod's in-cluster configuration)")
	fs.StringVar(&o.listen, "listen", ":8080", "`address` to serve on")
	fs.StringVar(&o.adminListen, "admin-listen", "", "`address` for the verifier's own endpoints (/verify, /tokenreview, /healthz, /readyz, /metrics);\nrequired with --upstream, optional otherwise")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "separate `address` for /metrics (default: served with the other endpoints)")
	fs.DurationVar(&o.verifier.ClockSkew, "clock-skew", verifier.DefaultClockSkew, "leeway for exp, nbf and iat")
	fs.DurationVar(&o.verifier.JWKSRefreshInterval, "jwks-refresh-interval", verifier.DefaultJWKSRefresh, "how often the JWKS is refetched in the background")
	fs.DurationVar(&o.verifier.UnknownKidCooldown, "unknown-kid-cooldown", verifier.DefaultUnknownKidCooldown, "least time between JWKS fetches caused by unknown key ids")
	fs.DurationVar(&o.verifier.JWKSMaxStale, "jwks-max-stale", verifier.DefaultJWKSMaxStale, "keys not refreshed successfully for this long are dropped; tokens are then refused with 503")
	fs.BoolVar(&o.verifier.StrictTyp, "strict-typ", false, "refuse tokens whose typ header is not JWT or at+jwt (Okta tokens have none: leave off for Okta)")
	fs.StringVar(&o.server.Realm, "realm", "clientcreds", "realm in the WWW-Authenticate challenge")
	fs.BoolVar(&o.verifier.AllowInsecureIssuer, "allow-insecure-issuer", false, "allow http for the issuer, the JWKS URL (configured or from metadata) and redirects on non-loopback hosts")
	fs.StringVar(&o.tlsCert, "tls-cert-file", "", "serve --listen and --admin-listen over TLS with this PEM certificate `file` (needs --tls-key-file)")
	fs.StringVar(&o.tlsKey, "tls-key-file", "", "PEM private key `file` for --tls-cert-file")
	fs.StringVar(&o.clientCA, "tokenreview-client-ca", "", "PEM CA bundle `file`: /tokenreview callers must present a TLS client certificate it verifies\n(needs --tls-cert-file and --tokenreview-audiences)")
	fs.DurationVar(&o.shutdown, "shutdown-timeout", 10*time.Second, "time allowed for in-flight requests at shutdown")
	fs.DurationVar(&o.timeouts.readHeader, "read-header-timeout", defaultReadHeaderTimeout, "time allowed to read a request's headers")
	fs.DurationVar(&o.timeouts.read, "read-timeout", defaultReadTimeout, "time allowed to read a whole request, body included (0: none)")
	fs.DurationVar(&o.timeouts.write, "write-timeout", defaultWriteTimeout, "time allowed to write a response, from the end of the request headers (0: none;\nupgraded connections are bounded by it too)")
	fs.DurationVar(&o.timeouts.idle, "idle-timeout", defaultIdleTimeout, "how long an idle keep-alive connection is kept")
	fs.Usage = flagenv.Usage(fs, envPrefix, "Usage: verifier --issuer URL --audience AUD [--rules FILE] [flags]\n"+
		"   or: verifier --oauthapi NAMESPACE/NAME [--kubeconfig FILE] [flags]\n\n"+
		"Endpoints: /verify (forward auth; also /verify/<path> for Envoy ext_authz), /tokenreview\n"+
		"(with --tokenreview-audiences), /healthz, /readyz, /metrics. With --upstream, --listen\n"+
		"verifies and proxies every path and these endpoints are on --admin-listen only.\n"+
		"Request targets with dot segments, \"//\", \";\" parameters, encoded or raw backslashes,\n"+
		"encoded slashes or non-upper-case methods are refused (403 on /verify, 400 when proxying).")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = fmt.Fprint(fs.Output(), "\n"+verifier.RulesFormat)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := flagenv.Apply(fs, envPrefix); err != nil {
		return nil, err
	}

	if err := o.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	o.verifier.Issuer = *issuer
	o.verifier.JWKSURL = *jwksURL
	o.verifier.Audience = *audience
	o.verifier.AllowedAlgs = splitList(*algs)
	o.verifier.TokenCacheSize = tokenCacheSize(*cacheSize)
	o.scopes = splitList(*scopes)
	o.server.Target.AllowPathParams = *allowParams
	o.server.AllowUpgrade = *allowUpgrade
	o.server.ProxyDialTimeout = *proxyDial
	o.server.ProxyResponseHeaderTimeout = *proxyRespHead
	o.server.TokenReviewAudiences = splitList(*trAudiences)
	o.server.TokenReviewRequireClientCert = o.clientCA != ""
	o.server.ServeMetrics = o.metricsListen == ""

	if *oauthapi != "" {
		ref, err := oauthapiwatch.ParseRef(*oauthapi)
		if err != nil {
			return nil, fmt.Errorf("--oauthapi: %w", err)
		}
		o.oauthapi = &ref
		for name, v := range map[string]string{"--issuer": *issuer, "--audience": *audience, "--jwks-url": *jwksURL, "--rules": o.rulesFile} {
			if v != "" {
				return nil, fmt.Errorf("--oauthapi and %s cannot be combined: the OAuthAPI %s is the one source of issuer, audience and rules (the JWKS follows the issuer's metadata)", name, ref)
			}
		}
	} else if o.kubeconfig != "" {
		return nil, errors.New("--kubeconfig applies to --oauthapi only")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, errors.New("--tls-cert-file and --tls-key-file go together")
	}
	if o.clientCA != "" && o.tlsCert == "" {
		return nil, errors.New("--tokenreview-client-ca needs --tls-cert-file: client certificates come with TLS")
	}
	if o.clientCA != "" && len(o.server.TokenReviewAudiences) == 0 {
		return nil, errors.New("--tokenreview-client-ca needs --tokenreview-audiences")
	}
	for _, a := range o.server.TokenReviewAudiences {
		if a == *audience {
			return nil, fmt.Errorf("--tokenreview-audiences must not include --audience %q: tokens for the protected API would authenticate to Kubernetes", a)
		}
	}
	for name, d := range map[string]time.Duration{
		"--proxy-dial-timeout": *proxyDial, "--proxy-response-header-timeout": *proxyRespHead,
		"--read-header-timeout": o.timeouts.readHeader, "--idle-timeout": o.timeouts.idle,
		"--jwks-max-stale": o.verifier.JWKSMaxStale,
	} {
		if d <= 0 {
			return nil, fmt.Errorf("%s must be positive", name)
		}
	}
	if o.timeouts.read < 0 || o.timeouts.write < 0 {
		return nil, errors.New("--read-timeout and --write-timeout must not be negative")
	}
	if *upstream != "" {
		u, err := url.Parse(*upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--upstream %q must be an absolute http(s) URL", *upstream)
		}
		o.server.Upstream = u
		if o.adminListen == "" {
			return nil, errors.New("--upstream needs --admin-listen: in proxy mode the verifier's own endpoints (/healthz, /readyz, /metrics, /verify, /tokenreview) are served there, never on the proxying listener")
		}
	}
	if *allowUpgrade && *upstream == "" {
		return nil, errors.New("--allow-upgrade applies to proxy mode only (--upstream)")
	}
	return &o, nil
}

func run(args []string) error {
	o, err := parseOptions(args, os.Stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, o, os.Stderr)
}

// serve runs the verifier until ctx ends.
func serve(ctx context.Context, o *options, logTo io.Writer) error {
	var err error
	log := slog.New(slog.NewJSONHandler(logTo, &slog.HandlerOptions{Level: o.logLevel}))

	var tlsConfig *tls.Config
	if o.tlsCert != "" {
		if tlsConfig, err = serverTLS(o.tlsCert, o.tlsKey, o.clientCA); err != nil {
			return err
		}
	}

	o.verifier.Logger = log
	o.server.Logger = log
	var (
		srv     *verifier.Server
		metrics *verifier.Metrics
		source  []any
	)
	if o.oauthapi != nil {
		srv, metrics, err = followOAuthAPI(ctx, o, log)
		source = []any{"oauthapi", o.oauthapi.String()}
	} else {
		srv, metrics, err = staticServer(ctx, o)
		source = []any{"issuer", o.verifier.Issuer, "audience", o.verifier.Audience}
	}
	if err != nil {
		return err
	}

	type listener struct {
		s   *http.Server
		tls bool
		of  string
	}
	listeners := []listener{{newServer(o.listen, srv, o.timeouts, tlsConfig), tlsConfig != nil, "main"}}
	if o.adminListen != "" {
		listeners = append(listeners, listener{newServer(o.adminListen, srv.Admin(), o.timeouts, tlsConfig), tlsConfig != nil, "admin"})
	}
	if o.metricsListen != "" {
		listeners = append(listeners, listener{newServer(o.metricsListen, verifier.MetricsHandler(metrics), o.timeouts, nil), false, "metrics"})
	}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		upstream := ""
		if o.server.Upstream != nil {
			upstream = o.server.Upstream.Redacted()
		}
		log.Info("Listening", append([]any{"listener", l.of, "addr", l.s.Addr, "tls", l.tls}, append(source,
			"upstream", upstream, "tokenReviewAudiences", o.server.TokenReviewAudiences)...)...)
		go func() {
			var err error
			if l.tls {
				err = l.s.ListenAndServeTLS(o.tlsCert, o.tlsKey)
			} else {
				err = l.s.ListenAndServe()
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
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdown)
	defer cancel()
	for _, l := range listeners {
		_ = l.s.Shutdown(sctx)
	}
	return nil
}

// staticServer builds the server from --issuer, --audience and --rules and
// starts its key refresh.
func staticServer(ctx context.Context, o *options) (*verifier.Server, *verifier.Metrics, error) {
	var rules []verifier.Rule
	if o.rulesFile != "" {
		var err error
		if rules, err = verifier.LoadRules(o.rulesFile); err != nil {
			return nil, nil, err
		}
	}
	policy, err := verifier.NewPolicy(o.scopes, rules)
	if err != nil {
		return nil, nil, err
	}
	metrics := verifier.NewMetrics()
	o.verifier.Metrics = metrics
	v, err := verifier.New(o.verifier)
	if err != nil {
		return nil, nil, err
	}
	o.server.Verifier = v
	o.server.Policy = policy
	if err := verifier.CheckServerConfig(o.server); err != nil {
		return nil, nil, err
	}
	v.Start(ctx)
	return verifier.NewServer(o.server), metrics, nil
}

// followOAuthAPI builds a server that is not configured until the OAuthAPI
// named by --oauthapi is read, and starts the watch that configures it.
func followOAuthAPI(ctx context.Context, o *options, log *slog.Logger) (*verifier.Server, *verifier.Metrics, error) {
	restCfg, err := oauthapiwatch.RESTConfig(o.kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	client, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("--oauthapi: %w", err)
	}
	o.verifier.Metrics = verifier.NewMetrics()
	rl, err := verifier.NewReloader(ctx, verifier.ReloaderConfig{
		Verifier:      o.verifier,
		DefaultScopes: o.scopes,
		Server:        o.server,
		Waiting:       "oauthapi " + o.oauthapi.String() + " not read yet",
	})
	if err != nil {
		return nil, nil, err
	}
	// Answers while not configured say only verifier.NotConfiguredBody; why
	// is logged here and by the watch (read errors, not found, no status,
	// refused settings).
	log.Info("Following the OAuthAPI; every request is answered 503 until it is read with status.issuer and status.audience",
		"oauthapi", o.oauthapi.String())
	w := oauthapiwatch.New(oauthapiwatch.Config{Ref: *o.oauthapi, Client: client, Target: rl, Logger: log})
	go func() {
		if err := w.Run(ctx); err != nil {
			log.Error("Watching the OAuthAPI stopped", "error", err)
		}
	}()
	return rl.Server(), rl.Metrics(), nil
}

// tokenCacheSize maps the flag (0 or negative: no cache, as --help says) to
// the config field (negative: off, 0: default).
func tokenCacheSize(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// serverTLS loads the serving certificate and, when clientCA is set, asks
// for client certificates and verifies those given against it (the
// /tokenreview handler then refuses callers without one; /verify callers
// such as nginx need none).
func serverTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		return nil, fmt.Errorf("--tls-cert-file/--tls-key-file: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, fmt.Errorf("--tokenreview-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tokenreview-client-ca %s holds no PEM certificate", clientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

func newServer(addr string, h http.Handler, t serverTimeouts, tlsConfig *tls.Config) *http.Server {
	var cfg *tls.Config
	if tlsConfig != nil {
		cfg = tlsConfig.Clone()
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		TLSConfig:         cfg,
		ReadHeaderTimeout: t.readHeader,
		ReadTimeout:       t.read,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
		MaxHeaderBytes:    64 << 10,
	}
}
