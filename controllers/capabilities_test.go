package controllers

import (
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

// The controllers ask the backend what it can do; the same spec is accepted or refused, and
// the app asked for carries scopes and audiences or not, by the declared capabilities alone.
func TestCapabilitiesDecide(t *testing.T) {
	okta, hydra := fake.OktaLike, fake.HydraLike
	rotation := &oauthv1.Rotation{Interval: metav1.Duration{Duration: 24 * time.Hour}}
	tests := map[string]struct {
		caps      provider.Capabilities
		audiences []string
		rotation  *oauthv1.Rotation
		lifetime  time.Duration
		// wantRefused: a stall with reason UnsupportedByBackend naming this field.
		wantRefused string
		// wantScopes, wantAudiences: what the desired app carries.
		wantScopes, wantAudiences []string
		// wantLifetime: the access-token lifetime the desired app carries.
		wantLifetime time.Duration
	}{
		"okta-like, plain client":                {caps: okta},
		"okta-like, rotation overlaps":           {caps: okta, rotation: rotation},
		"okta-like, audiences refused":           {caps: okta, audiences: []string{"api://x"}, wantRefused: "spec.audiences"},
		"hydra-like, plain client":               {caps: hydra, wantScopes: []string{"hello:read"}},
		"hydra-like, audiences on the client":    {caps: hydra, audiences: []string{"api://x"}, wantScopes: []string{"hello:read"}, wantAudiences: []string{"api://x"}},
		"hydra-like, rotation by a new client":   {caps: hydra, rotation: rotation, wantScopes: []string{"hello:read"}},
		"one secret, no new client: refused":     {caps: provider.Capabilities{AppScopes: true}, rotation: rotation, wantRefused: "spec.rotation"},
		"contract only: both refused, rotation":  {caps: provider.Capabilities{}, rotation: rotation, wantRefused: "spec.rotation"},
		"okta-like, lifetime left to the policy": {caps: okta, lifetime: 10 * time.Minute},
		"hydra-like, lifetime on the client": {caps: hydra, lifetime: 10 * time.Minute, wantScopes: []string{"hello:read"},
			wantLifetime: 10 * time.Minute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := readyClient()
			obj.Spec.Audiences, obj.Spec.Rotation = tc.audiences, tc.rotation
			if tc.lifetime != 0 {
				obj.Spec.AccessTokenLifetime = &metav1.Duration{Duration: tc.lifetime}
			}
			caps := tc.caps
			prov := &fake.Client{Caps: &caps}
			err := checkCapabilities(obj, prov)
			if tc.wantRefused != "" {
				var ce *conditionError
				if !errors.As(err, &ce) || ce.kind != stallKind || ce.reason != oauthv1.ReasonUnsupportedByBackend {
					t.Fatalf("checkCapabilities = %v; want a stall with reason %s", err, oauthv1.ReasonUnsupportedByBackend)
				}
				if !strings.Contains(ce.msg, tc.wantRefused) {
					t.Fatalf("message %q does not name %s", ce.msg, tc.wantRefused)
				}
				return
			}
			if err != nil {
				t.Fatalf("checkCapabilities = %v; want nil", err)
			}
			app := withCapabilities(desiredApp(obj, keyPlan{}), grants{scopes: obj.Spec.Scopes, audiences: obj.Spec.Audiences}, prov.Capabilities())
			if !slices.Equal(app.Scopes, tc.wantScopes) || !slices.Equal(app.Audiences, tc.wantAudiences) {
				t.Fatalf("desired app scopes %v audiences %v; want %v %v", app.Scopes, app.Audiences, tc.wantScopes, tc.wantAudiences)
			}
			if app.AccessTokenLifetime != tc.wantLifetime {
				t.Fatalf("desired app lifetime %s; want %s", app.AccessTokenLifetime, tc.wantLifetime)
			}
		})
	}
}
