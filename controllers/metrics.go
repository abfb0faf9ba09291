package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	credentialsIssued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clientcreds_credentials_issued_total",
		Help: "Credentials issued to OAuthClients, by why: create, adopt (after a lost create answer), take-over (an app adopted through spec.adopt), restore (Secret deleted or edited, or credentials refused), rotate.",
	}, []string{"reason"})
	rateLimitWaits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "clientcreds_reconcile_rate_limit_waits_total",
		Help: "Reconciles that stopped to wait for the backend's rate limit to reset.",
	})
	rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clientcreds_secret_rotations_total",
		Help: "Client-secret replacements by phase: started (a new secret is published) and completed (the secrets no longer published are revoked).",
	}, []string{"phase"})
	appsDeleted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "clientcreds_apps_deleted_total",
		Help: "Apps deleted from the backend because their OAuthClient was deleted.",
	})
)

func init() {
	metrics.Registry.MustRegister(credentialsIssued, rateLimitWaits, rotations, appsDeleted)
}

// MetricCollectors returns the collectors this package registers in controller-runtime's
// registry, for the generated metrics reference (hack/tools/metricsdoc). The gauges read
// from the cache are NewStateCollector's.
func MetricCollectors() []prometheus.Collector {
	return []prometheus.Collector{credentialsIssued, rateLimitWaits, rotations, appsDeleted, stateScrapeErrors, timeToReady}
}
