package controllers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

// policyProvider is the fake provider plus access-policy management.
type policyProvider struct {
	*fake.Client
	managed bool
	ensure  func(id string, spec provider.AccessPolicySpec) (provider.AccessPolicyResult, error)
	calls   int
}

func (p *policyProvider) ManagesAccessPolicies() bool { return p.managed }

func (p *policyProvider) EnsureAccessPolicy(_ context.Context, id string, spec provider.AccessPolicySpec) (provider.AccessPolicyResult, error) {
	p.calls++
	return p.ensure(id, spec)
}

func (p *policyProvider) DeleteAccessPolicy(context.Context, string) error { return nil }

func providerWith(mode oauthv1.AccessPolicyMode) *oauthv1.ClusterOAuthProvider {
	return &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{OrgURL: "https://example.okta.com", AccessPolicy: mode}}}
}

func TestReconcileAccessPolicy(t *testing.T) {
	created := func(string, provider.AccessPolicySpec) (provider.AccessPolicyResult, error) {
		return provider.AccessPolicyResult{ID: "pol-new", Created: true}, nil
	}
	tests := map[string]struct {
		mode        oauthv1.AccessPolicyMode
		policyID    string
		sync        bool
		scopes      []string
		lifetime    *metav1.Duration
		noManager   bool
		ensure      func(string, provider.AccessPolicySpec) (provider.AccessPolicyResult, error)
		wantCalls   int
		wantID      string
		wantReason  string
		wantSync    bool
		wantLife    time.Duration
		wantErrText string
	}{
		"External: nothing, and no policy tracked": {mode: oauthv1.AccessPolicyExternal, policyID: "pol-old", wantID: ""},
		"Managed, steady: no call":                 {mode: oauthv1.AccessPolicyManaged, policyID: "pol-1", wantID: "pol-1"},
		"Managed, resync: checked":                 {mode: oauthv1.AccessPolicyManaged, policyID: "pol-1", sync: true, wantCalls: 1, wantID: "pol-1", wantSync: true, wantLife: time.Hour},
		"Managed, first time: created, default 1h": {mode: oauthv1.AccessPolicyManaged, ensure: created, wantCalls: 1, wantID: "pol-new", wantSync: true, wantLife: time.Hour},
		"Managed, lifetime from the spec": {mode: oauthv1.AccessPolicyManaged, ensure: created, lifetime: &metav1.Duration{Duration: 30 * time.Minute},
			wantCalls: 1, wantID: "pol-new", wantSync: true, wantLife: 30 * time.Minute},
		"Managed, unknown scope": {mode: oauthv1.AccessPolicyManaged, ensure: func(string, provider.AccessPolicySpec) (provider.AccessPolicyResult, error) {
			return provider.AccessPolicyResult{}, provider.Errorf(provider.ErrInvalidScope, "create access policy rule", "400")
		}, wantCalls: 1, wantReason: oauthv1.ReasonInvalidScope},
		"Managed, forbidden passes the class on": {mode: oauthv1.AccessPolicyManaged, ensure: func(string, provider.AccessPolicySpec) (provider.AccessPolicyResult, error) {
			return provider.AccessPolicyResult{}, provider.Errorf(provider.ErrForbidden, "list access policies", "403")
		}, wantCalls: 1, wantErrText: "lacks the permission"},
		"Managed, no scopes": {mode: oauthv1.AccessPolicyManaged, scopes: []string{}, wantReason: oauthv1.ReasonInvalidSpec},
		// A backend that cannot manage policies refuses Managed when it loads the provider;
		// the phase itself only asks the backend.
		"backend without support: nothing": {mode: oauthv1.AccessPolicyManaged, noManager: true, policyID: "pol-old", wantID: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := readyClient()
			obj.Status.AccessPolicyID = tc.policyID
			obj.Spec.AccessTokenLifetime = tc.lifetime
			if tc.scopes != nil {
				obj.Spec.Scopes = tc.scopes
			}
			var seen provider.AccessPolicySpec
			pp := &policyProvider{Client: &fake.Client{}, managed: tc.mode == oauthv1.AccessPolicyManaged, ensure: func(id string, spec provider.AccessPolicySpec) (provider.AccessPolicyResult, error) {
				seen = spec
				if tc.ensure != nil {
					return tc.ensure(id, spec)
				}
				return provider.AccessPolicyResult{ID: id}, nil
			}}
			be := backend{object: providerWith(tc.mode), client: pp, granted: grants{scopes: obj.Spec.Scopes}}
			if tc.noManager {
				be.client = &fake.Client{}
			}
			r := &OAuthClientReconciler{Now: func() time.Time { return testNow }}
			res, err := r.reconcileAccessPolicy(context.Background(), obj, be, tc.sync)
			var ce *conditionError
			switch {
			case tc.wantReason != "":
				if v := judge(err, testNow, time.Minute); err == nil || v.reason != tc.wantReason {
					t.Fatalf("error %v, want reason %s", err, tc.wantReason)
				}
			case tc.wantErrText != "":
				if err == nil || errors.As(err, &ce) || !errors.Is(err, provider.ErrForbidden) {
					t.Fatalf("error %v, want the class passed on", err)
				}
			case err != nil:
				t.Fatalf("error %v", err)
			}
			if pp.calls != tc.wantCalls {
				t.Errorf("%d EnsureAccessPolicy calls, want %d", pp.calls, tc.wantCalls)
			}
			if tc.wantReason == "" && tc.wantErrText == "" && obj.Status.AccessPolicyID != tc.wantID {
				t.Errorf("status.accessPolicyID %q, want %q", obj.Status.AccessPolicyID, tc.wantID)
			}
			if synced := tc.sync || res.changed; synced != tc.wantSync {
				t.Errorf("sync %v, want %v (the token check must follow a new or repaired policy)", synced, tc.wantSync)
			}
			if tc.wantCalls > 0 && tc.wantLife > 0 {
				if seen.ClientID != "client-1" || !slices.Equal(seen.Scopes, obj.Spec.Scopes) || seen.TokenLifetime != tc.wantLife ||
					seen.Name != "clientcreds team-a/billing" {
					t.Errorf("policy spec %+v", seen)
				}
			}
		})
	}
}

// TestAccessDeniedVerdict: External denials wait 1 min, then 2, 4, 8, 10, and name the
// server, client and scopes; Managed denials are progress (the policy may be propagating).
func TestAccessDeniedVerdict(t *testing.T) {
	obj := readyClient()
	obj.Status.Issuer = "https://example.okta.com/oauth2/default"
	r := &OAuthClientReconciler{Now: func() time.Time { return testNow }}
	be := backend{object: providerWith(oauthv1.AccessPolicyExternal), granted: grants{scopes: obj.Spec.Scopes}}
	denied := &provider.Error{Class: provider.ErrPermanent, Op: "request token", Code: provider.OAuthAccessDenied}
	for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		err := r.accessDenied(obj, be, denied)
		if v := judgeAt(stageToken, err, testNow, time.Minute); v.kind != waitKind || v.after != want ||
			v.reason != oauthv1.ReasonAccessPolicyDenied {
			t.Fatalf("verdict %+v of %v, want a wait of %v", v, err, want)
		} else {
			for _, s := range []string{`"default"`, "client-1", "hello:read", "accessPolicy: Managed"} {
				if !strings.Contains(v.msg, s) {
					t.Errorf("message %q lacks %q", v.msg, s)
				}
			}
		}
	}
	// Within the wait nothing is asked again; a spec change asks at once.
	if err := r.heldDenial(obj, be, tokenCheck{needed: true}); err == nil {
		t.Fatal("a denied client asked again within its wait")
	}
	obj.Generation++
	if err := r.heldDenial(obj, be, tokenCheck{needed: true}); err != nil {
		t.Fatalf("after a spec change: %v", err)
	}
	be = backend{object: providerWith(oauthv1.AccessPolicyManaged), client: &policyProvider{Client: &fake.Client{}, managed: true}, granted: be.granted}
	if v := judgeAt(stageToken, r.accessDenied(obj, be, denied), testNow, time.Minute); v.kind != progressKind ||
		v.reason != oauthv1.ReasonAccessPolicyDenied {
		t.Fatalf("Managed verdict %+v, want progress", v)
	}
}
