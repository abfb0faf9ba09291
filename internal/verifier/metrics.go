package verifier

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metric names. All are prefixed clientcreds_verifier_.
const (
	MetricDecisions        = "clientcreds_verifier_decisions_total"
	MetricDecisionDuration = "clientcreds_verifier_decision_duration_seconds"
	MetricJWKSFetches      = "clientcreds_verifier_jwks_fetches_total"
	MetricJWKSKeys         = "clientcreds_verifier_jwks_keys"
	MetricJWKSLastSuccess  = "clientcreds_verifier_jwks_last_success_timestamp_seconds"
	MetricCacheHits        = "clientcreds_verifier_token_cache_hits_total"
	MetricCacheMisses      = "clientcreds_verifier_token_cache_misses_total"
	MetricJWKSStale        = "clientcreds_verifier_jwks_stale"
	MetricJWKSStaleDrops   = "clientcreds_verifier_jwks_stale_drops_total"
	MetricResponses        = "clientcreds_verifier_responses_total"
	MetricUpstreamErrors   = "clientcreds_verifier_upstream_errors_total"
	MetricConfigured       = "clientcreds_verifier_configured"
	MetricConfigReloads    = "clientcreds_verifier_config_reloads_total"
)

// Metrics holds the verifier's Prometheus collectors in their own registry.
// A nil *Metrics records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	decisions   *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	jwksFetches *prometheus.CounterVec
	jwksKeys    prometheus.Gauge
	jwksLast    prometheus.Gauge
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	stale       prometheus.Gauge
	staleDrops  prometheus.Counter
	fetchOK     prometheus.Counter
	fetchErr    prometheus.Counter
	responses   *prometheus.CounterVec
	upstreamErr prometheus.Counter
	configured  prometheus.Gauge
	reloads     *prometheus.CounterVec
	reloadOK    prometheus.Counter
	reloadErr   prometheus.Counter
}

// NewMetrics creates the collectors and registers them, with the Go runtime
// and process collectors, in a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricDecisions,
			Help: "Authorization decisions by result (allow, deny) and reason.",
		}, []string{"result", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricDecisionDuration,
			Help:    "Time taken to reach an authorization decision, by mode (verify, proxy, tokenreview).",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05, .25, 1},
		}, []string{"mode"}),
		jwksFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricJWKSFetches,
			Help: "JWKS fetch attempts by result (success, error).",
		}, []string{"result"}),
		jwksKeys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricJWKSKeys,
			Help: "Usable signing keys held from the last successful JWKS fetch.",
		}),
		jwksLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricJWKSLastSuccess,
			Help: "Unix time of the last successful JWKS fetch.",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricCacheHits,
			Help: "Tokens answered from the verified-token cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricCacheMisses,
			Help: "Tokens that had to be verified because the cache did not hold them.",
		}),
	}
	m.stale = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricJWKSStale,
		Help: "1 while the JWKS keys are dropped for staleness (every token is refused with 503), else 0.",
	})
	m.staleDrops = prometheus.NewCounter(prometheus.CounterOpts{
		Name: MetricJWKSStaleDrops,
		Help: "Times the JWKS keys were dropped because no refresh succeeded within --jwks-max-stale.",
	})
	m.responses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricResponses,
		Help: "Authorization answers by mode (verify, proxy, tokenreview) and HTTP status code of the decision (200, 400, 401, 403, 503, ...); a proxied request's upstream failures are clientcreds_verifier_upstream_errors_total.",
	}, []string{"mode", "code"})
	m.upstreamErr = prometheus.NewCounter(prometheus.CounterOpts{
		Name: MetricUpstreamErrors,
		Help: "Authorized requests the reverse proxy could not forward: the upstream gave no answer (answered 502).",
	})
	m.configured = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricConfigured,
		Help: "1 while the verifier has an issuer, audience and rules to decide with; 0 while the OAuthAPI named by --oauthapi is missing or has no status.issuer and status.audience (every request is then refused with 503).",
	})
	m.configured.Set(1)
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricConfigReloads,
		Help: "Changes of issuer, audience or rules read from the --oauthapi OAuthAPI, by result: success (applied) or error (refused, e.g. invalid rules; the last good settings stay in force).",
	}, []string{"result"})
	m.reloadOK = m.reloads.WithLabelValues("success")
	m.reloadErr = m.reloads.WithLabelValues("error")
	m.fetchOK = m.jwksFetches.WithLabelValues("success")
	m.fetchErr = m.jwksFetches.WithLabelValues("error")
	m.Registry.MustRegister(m.decisions, m.duration, m.jwksFetches, m.jwksKeys, m.jwksLast,
		m.cacheHits, m.cacheMisses, m.stale, m.staleDrops, m.responses, m.upstreamErr,
		m.configured, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) decision(mode, result, reason string, status int, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(result, reason).Inc()
	m.responses.WithLabelValues(mode, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(mode).Observe(elapsed.Seconds())
}

func (m *Metrics) upstreamError() {
	if m != nil {
		m.upstreamErr.Inc()
	}
}

func (m *Metrics) jwksFetch(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.fetchOK.Inc()
	} else {
		m.fetchErr.Inc()
	}
}

func (m *Metrics) jwksLoaded(keys int, at time.Time) {
	if m == nil {
		return
	}
	m.jwksKeys.Set(float64(keys))
	m.jwksLast.Set(float64(at.Unix()))
}

func (m *Metrics) cacheHit() {
	if m != nil {
		m.cacheHits.Inc()
	}
}

func (m *Metrics) cacheMiss() {
	if m != nil {
		m.cacheMisses.Inc()
	}
}

func (m *Metrics) jwksStale(stale bool) {
	if m == nil {
		return
	}
	if stale {
		m.stale.Set(1)
		m.staleDrops.Inc()
		m.jwksKeys.Set(0)
	} else {
		m.stale.Set(0)
	}
}

// Collectors returns the verifier's own collectors (without the Go and process ones), for
// the generated metrics reference (hack/tools/metricsdoc).
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.decisions, m.duration, m.jwksFetches, m.jwksKeys, m.jwksLast,
		m.cacheHits, m.cacheMisses, m.stale, m.staleDrops, m.responses, m.upstreamErr,
		m.configured, m.reloads}
}

func (m *Metrics) configActive(on bool) {
	if m == nil {
		return
	}
	if on {
		m.configured.Set(1)
	} else {
		m.configured.Set(0)
	}
}

func (m *Metrics) configReload(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloadOK.Inc()
	} else {
		m.reloadErr.Inc()
	}
}
