package okta

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Values of the source label of clientcreds_okta_rate_limited_total.
const (
	// SourceLocal: the shared budget refused the request without calling Okta.
	SourceLocal = "local"
	// SourceOkta: Okta answered 429.
	SourceOkta = "okta"
	// SourceOktaConcurrency: Okta answered 429 for too many requests at once.
	SourceOktaConcurrency = "okta-concurrency"
)

// Metric names.
const (
	MetricRequests           = "clientcreds_okta_requests_total"
	MetricRequestDuration    = "clientcreds_okta_request_duration_seconds"
	MetricRateLimited        = "clientcreds_okta_rate_limited_total"
	MetricRateLimitWait      = "clientcreds_okta_rate_limit_wait_seconds"
	MetricRateLimitRemaining = "clientcreds_okta_rate_limit_remaining"
)

var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRequests,
		Help: "Requests sent to Okta, by endpoint (route template), method and HTTP status code (\"error\" when no answer arrived).",
	}, []string{"endpoint", "method", "code"})

	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricRequestDuration,
		Help:    "Duration of requests sent to Okta, by endpoint (route template).",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"endpoint"})

	rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRateLimited,
		Help: "Okta requests refused for rate limiting, by bucket and source (local: refused by the shared budget without calling Okta; okta: Okta answered 429).",
	}, []string{"bucket", "source"})

	rateLimitWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    MetricRateLimitWait,
		Help:    "Time requests waited in the shared Okta rate budget before being sent or refused.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	})

	rateLimitRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricRateLimitRemaining,
		Help: "Requests left in the current Okta rate-limit window, as last reported by Okta, by bucket.",
	}, []string{"bucket"})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal, requestDuration, rateLimited, rateLimitWait, rateLimitRemaining)
}

// MetricCollectors returns the collectors this package registers in controller-runtime's
// registry, for the generated metrics reference (hack/tools/metricsdoc).
func MetricCollectors() []prometheus.Collector {
	return []prometheus.Collector{requestsTotal, requestDuration, rateLimited, rateLimitWait, rateLimitRemaining}
}
