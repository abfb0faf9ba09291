package controllers_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
)

// moveClock changes an OAuthClient's status as a clock moved forward would have left it,
// then edits the spec (interval) so that the manager looks at it now.
func (h *hydraFixture) moveClock(name string, mutate func(*oauthv1.OAuthClientStatus), interval time.Duration) {
	h.t.Helper()
	h.eventually(waitTimeout, "status of "+name+" moved", func() (bool, string) {
		o := h.get(name)
		mutate(&o.Status)
		if err := k8s.Status().Update(h.ctx, o); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	h.update(name, func(o *oauthv1.OAuthClient) { o.Spec.Rotation.Interval = metav1.Duration{Duration: interval} })
}

// withScope is a copy of a Secret's keys asking for scope.
func withScope(data map[string][]byte, scope string) map[string][]byte {
	out := make(map[string][]byte, len(data))
	for k, v := range data {
		out[k] = v
	}
	out[controllers.KeyScope] = []byte(scope)
	return out
}

// A grant taken back during a rotation by a new client reaches every live client
// generation — an API dropped from spec.apis, then an API that stops allowing the client:
// neither the previous client (kept for its grace period) nor the current one can get a
// token with the withdrawn scope afterwards, while both keep the client's other scopes
// until the previous one is retired at the end of its grace period. A spec change (the
// access-token lifetime) reaches the previous client too.
func TestHydraWithdrawalReachesEveryGeneration(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, false)
	// A long grace period; the test moves the clock (status) instead of waiting for it.
	const grace = 20 * time.Minute
	h.newAPI("orders", func(a *oauthv1.OAuthAPI) {
		a.Spec.Scopes = helloScopes("orders")
		a.Spec.AllowedClients = &oauthv1.AllowedClients{Clients: []oauthv1.ClientReference{{Namespace: h.ns, Name: "shop"}}}
	})
	h.newAPI("billing", func(a *oauthv1.OAuthAPI) {
		a.Spec.Scopes = helloScopes("billing")
		a.Spec.AllowedClients = &oauthv1.AllowedClients{Clients: []oauthv1.ClientReference{{Namespace: h.ns, Name: "shop"}}}
	})
	h.waitAPI("orders", metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	h.waitAPI("billing", metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	h.newClient("shop", func(o *oauthv1.OAuthClient) {
		o.Spec.APIs = []oauthv1.APIGrant{{Namespace: h.ns, Name: "orders", Scopes: []string{"orders:read"}},
			{Namespace: h.ns, Name: "billing", Scopes: []string{"billing:read"}}}
		o.Spec.AccessTokenLifetime = &metav1.Duration{Duration: 6 * time.Minute}
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: time.Hour},
			GracePeriod: &metav1.Duration{Duration: grace}}
	})
	first := h.waitReady("shop")
	previous := h.secret(first.Status.SecretName).Data
	if s := string(previous[controllers.KeyScope]); s != "hello:read orders:read billing:read" {
		t.Fatalf("SCOPE = %q", s)
	}

	// The rotation is due.
	h.moveClock("shop", func(s *oauthv1.OAuthClientStatus) {
		s.LastRotationTime = &metav1.Time{Time: time.Now().Add(-2 * time.Hour)}
	}, 59*time.Minute)
	var rotated *oauthv1.OAuthClient
	h.eventually(waitTimeout, "a rotation by a new client, published", func() (bool, string) {
		rotated = h.get("shop")
		d := h.secret(rotated.Status.SecretName).Data
		return rotated.Status.PreviousClient != nil && string(d[controllers.KeyClientID]) == rotated.Status.ClientID, describeRotation(rotated)
	})
	current := h.secret(rotated.Status.SecretName).Data
	prevID := rotated.Status.PreviousClient.AppID
	if prevID != first.Status.AppID {
		t.Fatalf("previous client %s, want the first one %s", prevID, first.Status.AppID)
	}
	for name, data := range map[string]map[string][]byte{"previous": previous, "current": current} {
		if got, why := h.tokenLifetime(data); !lifetimeIs(got, 6*time.Minute) {
			t.Fatalf("%s client before the withdrawal: token exp-iat %s %s, want 6m (every generation keeps the lifetime)", name, got, why)
		}
	}

	// The client drops an API: its scope is taken from both clients.
	h.update("shop", func(o *oauthv1.OAuthClient) { o.Spec.APIs = o.Spec.APIs[:1] })
	for name, data := range map[string]map[string][]byte{"previous": previous, "current": current} {
		h.eventually(waitTimeout, "the "+name+" client refused billing:read", func() (bool, string) {
			code, _ := h.tokenWith(withScope(data, "billing:read"))
			return code != http.StatusOK, fmt.Sprint(code)
		})
		if code, _ := h.tokenWith(withScope(data, "hello:read orders:read")); code != http.StatusOK {
			t.Fatalf("the %s client's other scopes after billing was dropped: %d", name, code)
		}
	}
	h.waitReady("shop")

	// Withdrawn: the API no longer allows the client.
	h.updateAPI("orders", func(a *oauthv1.OAuthAPI) { a.Spec.AllowedClients.Clients = nil })
	h.waitReason("shop", metav1.ConditionFalse, oauthv1.ReasonAPINotAllowed)
	for name, data := range map[string]map[string][]byte{"previous": previous, "current": current} {
		h.eventually(waitTimeout, "the "+name+" client refused orders:read", func() (bool, string) {
			code, _ := h.tokenWith(withScope(data, "hello:read orders:read"))
			return code != http.StatusOK, fmt.Sprint(code)
		})
		if code, _ := h.tokenWith(withScope(data, "orders:read")); code == http.StatusOK {
			t.Fatalf("the %s client still gets a token for the withdrawn orders:read alone", name)
		}
		if code, _ := h.tokenWith(withScope(data, "hello:read")); code != http.StatusOK {
			t.Fatalf("the %s client's own scope after the withdrawal: %d, want 200 (until the grace period ends)", name, code)
		}
	}
	if c := h.rawClient(prevID); c == nil || c["scope"] != "hello:read" || len(c["audience"].([]any)) != 0 {
		t.Fatalf("the previous hydra client after the withdrawal: %v", c)
	}

	// A spec change during the grace period reaches the previous client too.
	h.update("shop", func(o *oauthv1.OAuthClient) { o.Spec.AccessTokenLifetime = &metav1.Duration{Duration: 7 * time.Minute} })
	h.eventually(waitTimeout, "the previous client's tokens of 7m", func() (bool, string) {
		got, why := h.tokenLifetime(withScope(previous, "hello:read"))
		return lifetimeIs(got, 7*time.Minute), got.String() + why
	})
	if o := h.get("shop"); o.Status.PreviousClient == nil || o.Status.PreviousClient.AppID != prevID {
		t.Fatalf("the previous client was retired before its grace period ended: %s", describeRotation(o))
	}

	// The grace period ends while the grant is still refused: the previous client goes.
	h.moveClock("shop", func(s *oauthv1.OAuthClientStatus) {
		s.RetireAfter = &metav1.Time{Time: time.Now().Add(-time.Second)}
	}, 58*time.Minute)
	h.eventually(waitTimeout, "the previous client retired", func() (bool, string) {
		o := h.get("shop")
		return o.Status.PreviousClient == nil && h.rawClient(prevID) == nil, describeRotation(o)
	})
	if code, _ := h.tokenWith(withScope(previous, "hello:read")); code == http.StatusOK {
		t.Fatal("the previous client's credentials work after its grace period")
	}
	if code, _ := h.tokenWith(withScope(current, "hello:read")); code != http.StatusOK {
		t.Fatalf("the current client after the previous one's retirement: %d", code)
	}
}
