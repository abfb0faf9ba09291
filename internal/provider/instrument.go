package provider

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// Metric names of the backend-neutral call and rate-limit metrics. Every backend's calls
// are counted here (the Clients cache wraps each client it builds); a backend may keep its own,
// finer metrics besides (Okta: clientcreds_okta_*).
const (
	MetricBackendCalls          = "clientcreds_backend_calls_total"
	MetricBackendCallDuration   = "clientcreds_backend_call_duration_seconds"
	MetricBackendRateRemaining  = "clientcreds_backend_rate_limit_remaining"
	MetricBackendRateLimit      = "clientcreds_backend_rate_limit_limit"
	MetricBackendRateLimitReset = "clientcreds_backend_rate_limit_reset_timestamp_seconds"
)

// Values of the outcome label of clientcreds_backend_calls_total: success, or the class of
// the error (errors.go). The set is closed, so the label's cardinality is bounded.
const (
	OutcomeSuccess           = "success"
	OutcomeNotFound          = "not_found"
	OutcomeConflict          = "conflict"
	OutcomeRateLimited       = "rate_limited"
	OutcomeTransient         = "transient"
	OutcomeUnauthorized      = "unauthorized"
	OutcomeForbidden         = "forbidden"
	OutcomeFeatureNotEnabled = "feature_not_enabled"
	OutcomeInvalidClient     = "invalid_client"
	OutcomeInvalidScope      = "invalid_scope"
	OutcomePermanent         = "permanent"
	OutcomeCanceled          = "canceled"
	OutcomeError             = "error" // unclassified
)

// Outcomes lists every value of the outcome label.
var Outcomes = []string{OutcomeSuccess, OutcomeNotFound, OutcomeConflict, OutcomeRateLimited,
	OutcomeTransient, OutcomeUnauthorized, OutcomeForbidden, OutcomeFeatureNotEnabled,
	OutcomeInvalidClient, OutcomeInvalidScope, OutcomePermanent, OutcomeCanceled, OutcomeError}

var (
	backendCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricBackendCalls,
		Help: "Calls the controllers made to a backend, by backend (the provider spec field: okta, ...), operation (create_app, request_token, ...) and outcome (success or the error class: not_found, conflict, rate_limited, transient, unauthorized, forbidden, feature_not_enabled, invalid_client, invalid_scope, permanent, canceled, error).",
	}, []string{"backend", "operation", "outcome"})
	backendCallDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricBackendCallDuration,
		Help:    "Duration of calls the controllers made to a backend (including rate-limit waits and retries inside the backend), by backend and operation.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"backend", "operation"})
	rateRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricBackendRateRemaining,
		Help: "Requests left in the backend's current rate-limit window, as the backend last reported, by backend and bucket (the backend's endpoint family).",
	}, []string{"backend", "bucket"})
	rateLimit = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricBackendRateLimit,
		Help: "Size of the backend's current rate-limit window (requests), as the backend last reported, by backend and bucket.",
	}, []string{"backend", "bucket"})
	rateReset = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricBackendRateLimitReset,
		Help: "Unix time at which the backend's current rate-limit window ends, as the backend last reported, by backend and bucket.",
	}, []string{"backend", "bucket"})
)

func init() {
	metrics.Registry.MustRegister(backendCalls, backendCallDuration, rateRemaining, rateLimit, rateReset)
}

// ReportRateLimit records what a backend last reported about one rate-limit bucket.
func ReportRateLimit(backend, bucket string, remaining, limit int, reset time.Time) {
	rateRemaining.WithLabelValues(backend, bucket).Set(float64(remaining))
	rateLimit.WithLabelValues(backend, bucket).Set(float64(limit))
	if !reset.IsZero() {
		rateReset.WithLabelValues(backend, bucket).Set(float64(reset.Unix()))
	}
}

// Outcome names the class of err for the outcome label.
func Outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, ErrNotFound):
		return OutcomeNotFound
	case errors.Is(err, ErrConflict):
		return OutcomeConflict
	case errors.Is(err, ErrRateLimited):
		return OutcomeRateLimited
	case errors.Is(err, ErrTransient):
		return OutcomeTransient
	case errors.Is(err, ErrUnauthorized):
		return OutcomeUnauthorized
	case errors.Is(err, ErrForbidden):
		return OutcomeForbidden
	case errors.Is(err, ErrFeatureNotEnabled):
		return OutcomeFeatureNotEnabled
	case errors.Is(err, ErrInvalidClient):
		return OutcomeInvalidClient
	case errors.Is(err, ErrInvalidScope):
		return OutcomeInvalidScope
	case errors.Is(err, ErrPermanent):
		return OutcomePermanent
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return OutcomeCanceled
	default:
		return OutcomeError
	}
}

// Instrument returns p with every call counted and timed under backend. The optional
// interfaces p implements (AccessPolicyManager, ScopeManager) are kept: a type assertion on
// the result answers as it would on p. A backend adding an optional interface the
// controllers use adds it here too (TestInstrumentKeepsOptionalInterfaces); Inventory, which
// only the kubectl plugin uses, is reached through Unwrap (InventoryOf) and not counted.
func Instrument(backend string, p Client) Client {
	in := &instrumented{Client: p, backend: backend}
	apm, hasPolicies := p.(AccessPolicyManager)
	sm, hasScopes := p.(ScopeManager)
	switch {
	case hasPolicies && hasScopes:
		return &instrumentedPoliciesAndScopes{
			instrumentedAccessPolicies: &instrumentedAccessPolicies{instrumented: in, apm: apm},
			scopeCalls:                 scopeCalls{in: in, sm: sm}}
	case hasPolicies:
		return &instrumentedAccessPolicies{instrumented: in, apm: apm}
	case hasScopes:
		return &instrumentedScopes{instrumented: in, scopeCalls: scopeCalls{in: in, sm: sm}}
	}
	return in
}

type instrumented struct {
	Client
	backend string
}

// Unwrap returns the backend's own client (InventoryOf).
func (p *instrumented) Unwrap() Client { return p.Client }

func (p *instrumented) observe(op string, start time.Time, err error) {
	backendCalls.WithLabelValues(p.backend, op, Outcome(err)).Inc()
	backendCallDuration.WithLabelValues(p.backend, op).Observe(time.Since(start).Seconds())
}

func (p *instrumented) CheckHealth(ctx context.Context) (Endpoints, error) {
	start := time.Now()
	e, err := p.Client.CheckHealth(ctx)
	p.observe("check_health", start, err)
	return e, err
}

func (p *instrumented) CreateApp(ctx context.Context, spec AppSpec) (*App, error) {
	start := time.Now()
	a, err := p.Client.CreateApp(ctx, spec)
	p.observe("create_app", start, err)
	return a, err
}

func (p *instrumented) GetApp(ctx context.Context, id string) (*App, error) {
	start := time.Now()
	a, err := p.Client.GetApp(ctx, id)
	p.observe("get_app", start, err)
	return a, err
}

func (p *instrumented) FindApps(ctx context.Context, label string) ([]App, error) {
	start := time.Now()
	a, err := p.Client.FindApps(ctx, label)
	p.observe("find_apps", start, err)
	return a, err
}

func (p *instrumented) UpdateApp(ctx context.Context, app *App, spec AppSpec) (*App, error) {
	start := time.Now()
	a, err := p.Client.UpdateApp(ctx, app, spec)
	p.observe("update_app", start, err)
	return a, err
}

func (p *instrumented) DeleteApp(ctx context.Context, id string) error {
	start := time.Now()
	err := p.Client.DeleteApp(ctx, id)
	p.observe("delete_app", start, err)
	return err
}

func (p *instrumented) ListSecrets(ctx context.Context, appID string) ([]ClientSecret, error) {
	start := time.Now()
	s, err := p.Client.ListSecrets(ctx, appID)
	p.observe("list_secrets", start, err)
	return s, err
}

func (p *instrumented) CreateSecret(ctx context.Context, appID string) (*ClientSecret, error) {
	start := time.Now()
	s, err := p.Client.CreateSecret(ctx, appID)
	p.observe("create_secret", start, err)
	return s, err
}

func (p *instrumented) ReadSecrets(ctx context.Context, appID string) ([]ClientSecret, error) {
	start := time.Now()
	s, err := p.Client.ReadSecrets(ctx, appID)
	p.observe("read_secrets", start, err)
	return s, err
}

func (p *instrumented) ImportSecret(ctx context.Context, appID, value string) (*ClientSecret, error) {
	start := time.Now()
	s, err := p.Client.ImportSecret(ctx, appID, value)
	p.observe("import_secret", start, err)
	return s, err
}

func (p *instrumented) RevokeSecret(ctx context.Context, appID, secretID string) error {
	start := time.Now()
	err := p.Client.RevokeSecret(ctx, appID, secretID)
	p.observe("revoke_secret", start, err)
	return err
}

func (p *instrumented) RequestToken(ctx context.Context, creds Credentials) error {
	start := time.Now()
	err := p.Client.RequestToken(ctx, creds)
	p.observe("request_token", start, err)
	return err
}

// instrumentedAccessPolicies is an instrumented backend that manages access policies.
type instrumentedAccessPolicies struct {
	*instrumented
	apm AccessPolicyManager
}

func (p *instrumentedAccessPolicies) ManagesAccessPolicies() bool {
	return p.apm.ManagesAccessPolicies()
}

func (p *instrumentedAccessPolicies) EnsureAccessPolicy(ctx context.Context, id string, spec AccessPolicySpec) (AccessPolicyResult, error) {
	start := time.Now()
	r, err := p.apm.EnsureAccessPolicy(ctx, id, spec)
	p.observe("ensure_access_policy", start, err)
	return r, err
}

func (p *instrumentedAccessPolicies) DeleteAccessPolicy(ctx context.Context, id string) error {
	start := time.Now()
	err := p.apm.DeleteAccessPolicy(ctx, id)
	p.observe("delete_access_policy", start, err)
	return err
}

// scopeCalls are the instrumented ScopeManager calls.
type scopeCalls struct {
	in *instrumented
	sm ScopeManager
}

func (c scopeCalls) AuthorizationServer(ctx context.Context) (ServerInfo, error) {
	start := time.Now()
	r, err := c.sm.AuthorizationServer(ctx)
	c.in.observe("get_authorization_server", start, err)
	return r, err
}

func (c scopeCalls) ListScopes(ctx context.Context) ([]Scope, error) {
	start := time.Now()
	r, err := c.sm.ListScopes(ctx)
	c.in.observe("list_scopes", start, err)
	return r, err
}

func (c scopeCalls) CreateScope(ctx context.Context, s Scope) (Scope, error) {
	start := time.Now()
	r, err := c.sm.CreateScope(ctx, s)
	c.in.observe("create_scope", start, err)
	return r, err
}

func (c scopeCalls) UpdateScope(ctx context.Context, s Scope) (Scope, error) {
	start := time.Now()
	r, err := c.sm.UpdateScope(ctx, s)
	c.in.observe("update_scope", start, err)
	return r, err
}

func (c scopeCalls) DeleteScope(ctx context.Context, id string) error {
	start := time.Now()
	err := c.sm.DeleteScope(ctx, id)
	c.in.observe("delete_scope", start, err)
	return err
}

// instrumentedScopes is an instrumented backend that manages its server's scopes.
type instrumentedScopes struct {
	*instrumented
	scopeCalls
}

// instrumentedPoliciesAndScopes manages access policies and scopes (Okta).
type instrumentedPoliciesAndScopes struct {
	*instrumentedAccessPolicies
	scopeCalls
}

// BackendOf names the backend obj's spec selects (the JSON name of its spec field: "okta"),
// among the backends registered with Register; "unknown" when it sets none or several.
func BackendOf(obj oauthv1.ProviderObject) string {
	field := "unknown"
	raw, err := json.Marshal(obj.ProviderSpec())
	if err != nil {
		return field
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return field
	}
	known := registeredBackends()
	n := 0
	for f, v := range fields {
		if _, ok := known[f]; ok && string(v) != "null" {
			field = f
			n++
		}
	}
	if n != 1 {
		return "unknown"
	}
	return field
}

// MetricCollectors returns the collectors this package registers in controller-runtime's
// registry, for the generated metrics reference (hack/tools/metricsdoc).
func MetricCollectors() []prometheus.Collector {
	return []prometheus.Collector{backendCalls, backendCallDuration, rateRemaining, rateLimit, rateReset}
}
