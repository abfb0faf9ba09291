package provider_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

// withPolicies is a fake backend that also manages access policies.
type withPolicies struct {
	*fake.Client
	deleted string
}

func (p *withPolicies) ManagesAccessPolicies() bool { return true }
func (p *withPolicies) EnsureAccessPolicy(context.Context, string, provider.AccessPolicySpec) (provider.AccessPolicyResult, error) {
	return provider.AccessPolicyResult{}, provider.Errorf(provider.ErrRateLimited, "ensure", "slow down")
}
func (p *withPolicies) DeleteAccessPolicy(_ context.Context, id string) error {
	p.deleted = id
	return nil
}

func calls(t *testing.T, backend, op, outcome string) float64 {
	t.Helper()
	v, _ := sample(t, provider.MetricBackendCalls, map[string]string{"backend": backend, "operation": op, "outcome": outcome})
	return v
}

func TestInstrumentCountsCallsByOutcome(t *testing.T) {
	backend := "test-" + t.Name()
	inner := &fake.Client{
		GetAppFn: func(context.Context, string) (*provider.App, error) {
			return nil, provider.Errorf(provider.ErrNotFound, "get app", "gone")
		},
		DeleteAppFn: func(context.Context, string) error { return nil },
		RequestTokenFn: func(context.Context, provider.Credentials) error {
			return fmt.Errorf("wrapped: %w", context.Canceled)
		},
	}
	p := provider.Instrument(backend, inner)
	if _, ok := p.(provider.AccessPolicyManager); ok {
		t.Fatal("a backend without access policies gained the interface")
	}
	if _, err := p.GetApp(context.Background(), "a"); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("GetApp error %v, want the backend's not found", err)
	}
	_ = p.DeleteApp(context.Background(), "a")
	_ = p.DeleteApp(context.Background(), "b")
	_ = p.RequestToken(context.Background(), provider.Credentials{})
	_, _ = p.CheckHealth(context.Background()) // unset in the fake: permanent

	for _, c := range []struct {
		op, outcome string
		want        float64
	}{
		{"get_app", provider.OutcomeNotFound, 1},
		{"delete_app", provider.OutcomeSuccess, 2},
		{"request_token", provider.OutcomeCanceled, 1},
		{"check_health", provider.OutcomePermanent, 1},
		{"get_app", provider.OutcomeSuccess, 0},
	} {
		if got := calls(t, backend, c.op, c.outcome); got != c.want {
			t.Errorf("%s %s: %v calls counted, want %v", c.op, c.outcome, got, c.want)
		}
	}
}

func TestInstrumentKeepsOptionalInterfaces(t *testing.T) {
	backend := "test-" + t.Name()
	inner := &withPolicies{Client: &fake.Client{}}
	p := provider.Instrument(backend, inner)
	apm, ok := p.(provider.AccessPolicyManager)
	if !ok {
		t.Fatal("the instrumented backend lost AccessPolicyManager")
	}
	if !apm.ManagesAccessPolicies() {
		t.Error("ManagesAccessPolicies not passed through")
	}
	if err := apm.DeleteAccessPolicy(context.Background(), "pol1"); err != nil || inner.deleted != "pol1" {
		t.Errorf("DeleteAccessPolicy: err %v, backend saw %q", err, inner.deleted)
	}
	if _, err := apm.EnsureAccessPolicy(context.Background(), "", provider.AccessPolicySpec{}); !errors.Is(err, provider.ErrRateLimited) {
		t.Errorf("EnsureAccessPolicy error %v, want the backend's", err)
	}
	if got := calls(t, backend, "ensure_access_policy", provider.OutcomeRateLimited); got != 1 {
		t.Errorf("ensure_access_policy rate_limited counted %v times, want 1", got)
	}
	if got := calls(t, backend, "delete_access_policy", provider.OutcomeSuccess); got != 1 {
		t.Errorf("delete_access_policy success counted %v times, want 1", got)
	}
}

func TestOutcomeNamesEveryClass(t *testing.T) {
	for class, want := range map[error]string{
		nil:                           provider.OutcomeSuccess,
		provider.ErrNotFound:          provider.OutcomeNotFound,
		provider.ErrConflict:          provider.OutcomeConflict,
		provider.ErrRateLimited:       provider.OutcomeRateLimited,
		provider.ErrTransient:         provider.OutcomeTransient,
		provider.ErrUnauthorized:      provider.OutcomeUnauthorized,
		provider.ErrForbidden:         provider.OutcomeForbidden,
		provider.ErrFeatureNotEnabled: provider.OutcomeFeatureNotEnabled,
		provider.ErrInvalidClient:     provider.OutcomeInvalidClient,
		provider.ErrInvalidScope:      provider.OutcomeInvalidScope,
		provider.ErrPermanent:         provider.OutcomePermanent,
		context.DeadlineExceeded:      provider.OutcomeCanceled,
		errors.New("unclassified"):    provider.OutcomeError,
	} {
		var err error
		if class != nil {
			err = provider.Errorf(class, "op", "detail")
		}
		if got := provider.Outcome(err); got != want {
			t.Errorf("Outcome(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestReportRateLimit(t *testing.T) {
	backend := "test-" + t.Name()
	provider.ReportRateLimit(backend, "apps", 7, 100, time.Unix(1700000000, 0))
	for name, want := range map[string]float64{
		provider.MetricBackendRateRemaining:  7,
		provider.MetricBackendRateLimit:      100,
		provider.MetricBackendRateLimitReset: 1700000000,
	} {
		if got, ok := sample(t, name, map[string]string{"backend": backend, "bucket": "apps"}); !ok || got != want {
			t.Errorf("%s = %v (found %v), want %v", name, got, ok, want)
		}
	}
}

// sample reads one series from controller-runtime's registry.
func sample(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

// scopeMethods are a backend's ScopeManager methods; withScopes and withScopesAndPolicies
// are backends with them.
type scopeMethods struct{ deleted string }

func (p *scopeMethods) AuthorizationServer(context.Context) (provider.ServerInfo, error) {
	return provider.ServerInfo{Audiences: []string{"api://default"}}, nil
}
func (p *scopeMethods) ListScopes(context.Context) ([]provider.Scope, error) { return nil, nil }
func (p *scopeMethods) CreateScope(_ context.Context, s provider.Scope) (provider.Scope, error) {
	return s, provider.Errorf(provider.ErrConflict, "create scope", "exists")
}
func (p *scopeMethods) UpdateScope(_ context.Context, s provider.Scope) (provider.Scope, error) {
	return s, nil
}
func (p *scopeMethods) DeleteScope(_ context.Context, id string) error {
	p.deleted = id
	return nil
}

type withScopes struct {
	*fake.Client
	*scopeMethods
}

type withScopesAndPolicies struct {
	*withPolicies
	*scopeMethods
}

func TestInstrumentKeepsScopeManager(t *testing.T) {
	caps := provider.Capabilities{ServerScopes: true}
	for name, tc := range map[string]struct {
		p        provider.Client
		sm       *scopeMethods
		policies bool
	}{
		"scopes only":         {sm: &scopeMethods{}},
		"scopes and policies": {sm: &scopeMethods{}, policies: true},
	} {
		t.Run(name, func(t *testing.T) {
			var inner provider.Client = &withScopes{Client: &fake.Client{Caps: &caps}, scopeMethods: tc.sm}
			if tc.policies {
				inner = &withScopesAndPolicies{withPolicies: &withPolicies{Client: &fake.Client{Caps: &caps}}, scopeMethods: tc.sm}
			}
			backend := "test-" + t.Name()
			p := provider.Instrument(backend, inner)
			sm := provider.ScopesOf(p)
			if sm == nil {
				t.Fatal("the instrumented backend lost ScopeManager")
			}
			if _, isAPM := p.(provider.AccessPolicyManager); isAPM != tc.policies {
				t.Fatalf("AccessPolicyManager kept = %v, want %v", isAPM, tc.policies)
			}
			if err := sm.DeleteScope(context.Background(), "scp1"); err != nil || tc.sm.deleted != "scp1" {
				t.Fatalf("DeleteScope: err %v, backend saw %q", err, tc.sm.deleted)
			}
			if _, err := sm.CreateScope(context.Background(), provider.Scope{Name: "x"}); !errors.Is(err, provider.ErrConflict) {
				t.Fatalf("CreateScope error %v, want the backend's", err)
			}
			if got := calls(t, backend, "create_scope", provider.OutcomeConflict); got != 1 {
				t.Errorf("create_scope conflict counted %v times, want 1", got)
			}
			if got := calls(t, backend, "delete_scope", provider.OutcomeSuccess); got != 1 {
				t.Errorf("delete_scope success counted %v times, want 1", got)
			}
		})
	}
	// Without the capability, ScopesOf says no even when the methods exist.
	if provider.ScopesOf(&withScopes{Client: &fake.Client{}, scopeMethods: &scopeMethods{}}) != nil {
		t.Error("ScopesOf ignored Capabilities.ServerScopes")
	}
}
