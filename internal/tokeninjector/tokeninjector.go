// Package tokeninjector is the logic of cmd/token-injector: an HTTP handler that forwards
// every request to one upstream with "Authorization: Bearer <token>" from a
// credentials.Source, answers 503 instead of forwarding when it has no token, and the
// /healthz, /readyz and /metrics endpoints of the sidecar.
package tokeninjector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clientcreds/clientcreds/pkg/credentials"
)

// Metrics of the injector, registered on their own registry.
type Metrics struct {
	Registry      *prometheus.Registry
	fetches       *prometheus.CounterVec
	fetchDuration prometheus.Histogram
	injected      prometheus.Counter
	noToken       prometheus.Counter
	upstreamErr   prometheus.Counter
}

// Fetch results, the values of the result label of token_fetches_total.
const (
	FetchSuccess = "success"
	FetchRefused = "refused" // the token endpoint answered with an error
	FetchError   = "error"   // no answer, or unusable credentials
)

// NewMetrics creates the metrics (names clientcreds_token_injector_*) with the Go and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clientcreds_token_injector_token_fetches_total",
			Help: "Token fetches by result: success, refused (the token endpoint answered with an error), error (no answer or unusable credentials).",
		}, []string{"result"}),
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clientcreds_token_injector_token_fetch_duration_seconds",
			Help:    "Duration of token fetches, including a retry with re-read credentials.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		injected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clientcreds_token_injector_injected_requests_total",
			Help: "Requests forwarded to the upstream with a bearer token.",
		}),
		noToken: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clientcreds_token_injector_rejected_requests_total",
			Help: "Requests answered 503 without being forwarded because no token could be had.",
		}),
		upstreamErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clientcreds_token_injector_upstream_errors_total",
			Help: "Forwarded requests that got no answer from the upstream (answered 502).",
		}),
	}
	for _, r := range []string{FetchSuccess, FetchRefused, FetchError} {
		m.fetches.WithLabelValues(r)
	}
	m.Registry.MustRegister(m.fetches, m.fetchDuration, m.injected, m.noToken, m.upstreamErr,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveFetch records a token fetch; pass it to credentials.WithFetchObserver.
func (m *Metrics) ObserveFetch(f credentials.Fetch) {
	result := FetchSuccess
	switch {
	case f.Err == nil:
	case f.Refused():
		result = FetchRefused
	default:
		result = FetchError
	}
	m.fetches.WithLabelValues(result).Inc()
	m.fetchDuration.Observe(f.Duration.Seconds())
}

// Config of a Handler.
type Config struct {
	Upstream *url.URL
	Source   *credentials.Source
	Metrics  *Metrics
	Log      *slog.Logger
	// Transport to the upstream; nil: a clone of http.DefaultTransport with more idle
	// connections per host.
	Transport http.RoundTripper
	// TokenWait bounds how long a request waits for a token when none is cached (default 10s).
	TokenWait time.Duration
}

// Handler forwards requests with a bearer token.
type Handler struct {
	cfg   Config
	proxy *httputil.ReverseProxy
}

// New builds the forwarding handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Upstream == nil || (cfg.Upstream.Scheme != "http" && cfg.Upstream.Scheme != "https") || cfg.Upstream.Host == "" {
		return nil, errors.New("the upstream must be an absolute http(s) URL")
	}
	if cfg.Source == nil || cfg.Metrics == nil {
		return nil, errors.New("a credentials source and metrics are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.TokenWait <= 0 {
		cfg.TokenWait = 10 * time.Second
	}
	if cfg.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 512, 256
		cfg.Transport = t
	}
	h := &Handler{cfg: cfg}
	upstream := cfg.Upstream
	h.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			// The token was set on the inbound copy; Rewrite keeps it (SetURL does not
			// touch headers).
		},
		Transport: cfg.Transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			cfg.Metrics.upstreamErr.Inc()
			cfg.Log.Warn("Upstream request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
			http.Error(w, "token-injector: the upstream did not answer", http.StatusBadGateway)
		},
	}
	return h, nil
}

// ServeHTTP forwards r with the token, or answers 503 when there is none.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.TokenWait)
	tok, err := h.cfg.Source.TokenContext(ctx)
	cancel()
	if err != nil {
		h.cfg.Metrics.noToken.Inc()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "token-injector: no access token available, the request was not forwarded: %v\n", err)
		return
	}
	out := r.Clone(r.Context())
	out.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	h.cfg.Metrics.injected.Inc()
	h.proxy.ServeHTTP(w, out)
}

// Admin returns the handler of /healthz, /readyz and /metrics. With next (the forwarding
// handler), every other request goes to next untouched (no path cleaning or redirects).
func Admin(src *credentials.Source, m *Metrics, next http.Handler) http.Handler {
	metrics := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = fmt.Fprintln(w, "ok")
		case "/readyz":
			if !src.HasToken() {
				http.Error(w, "no access token yet", http.StatusServiceUnavailable)
				return
			}
			_, _ = fmt.Fprintln(w, "ok")
		case "/metrics":
			metrics.ServeHTTP(w, r)
		default:
			if next == nil {
				http.NotFound(w, r)
				return
			}
			next.ServeHTTP(w, r)
		}
	})
}

// KeepWarm asks src for a token every interval until ctx ends, so that the token is
// renewed ahead of expiry (and /readyz stays true) without traffic.
func KeepWarm(ctx context.Context, src *credentials.Source, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		tctx, cancel := context.WithTimeout(ctx, interval)
		_, _ = src.TokenContext(tctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Collectors returns the token-injector's own collectors (without the Go and process ones),
// for the generated metrics reference (hack/tools/metricsdoc).
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.fetches, m.fetchDuration, m.injected, m.noToken, m.upstreamErr}
}
