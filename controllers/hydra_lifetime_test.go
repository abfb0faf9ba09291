package controllers_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/provider/hydra/hydratest"
)

// lifespanKey is the Hydra client field spec.accessTokenLifetime lands in.
const lifespanKey = "client_credentials_grant_access_token_lifespan"

// jwtLifetime is exp-iat of a JWT access token; 0 when tok is not one.
func jwtLifetime(tok string) time.Duration {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return 0
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 0
	}
	var c struct{ Exp, Iat int64 }
	if json.Unmarshal(payload, &c) != nil {
		return 0
	}
	return time.Duration(c.Exp-c.Iat) * time.Second
}

// lifetimeIs says whether a token's exp-iat is want. Hydra (fosite) sets exp when it takes
// the request and iat when it signs the token, so on a loaded machine exp-iat can fall a few
// seconds short of the lifespan; never above it.
func lifetimeIs(got, want time.Duration) bool {
	return got <= want && got > want-15*time.Second
}

// tokenLifetime requests a token with data (a Secret's keys) and returns its exp-iat, or
// the failure as text.
func (f *fixture) tokenLifetime(data map[string][]byte) (time.Duration, string) {
	f.t.Helper()
	code, tok := f.tokenWith(data)
	if code != http.StatusOK {
		return 0, fmt.Sprintf("token request answered %d", code)
	}
	return jwtLifetime(tok), ""
}

// setLifespans sets a client's token lifespans through Hydra's own admin endpoint, as an
// administrator would (body: the lifespan fields; the others are cleared).
func setLifespans(t *testing.T, hs *hydratest.Server, id string, body map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPut, hs.AdminURL+"/admin/clients/"+url.PathEscape(id)+"/lifespans", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("set lifespans of %s in hydra: %d", id, resp.StatusCode)
	}
}

// spec.accessTokenLifetime on Hydra: the client's tokens live that long (exp-iat), an edit
// of the spec changes it, a lifespan changed or cleared in Hydra directly is put back, and
// without it Hydra's own default (ttl.access_token, 1h) applies again.
func TestHydraAccessTokenLifetime(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 2*time.Second, false)
	h.newClient("short", func(o *oauthv1.OAuthClient) {
		o.Spec.AccessTokenLifetime = &metav1.Duration{Duration: 5 * time.Minute}
	})
	obj := h.waitReady("short")
	data := h.secret(obj.Status.SecretName).Data
	if got, why := h.tokenLifetime(data); !lifetimeIs(got, 5*time.Minute) {
		t.Fatalf("token exp-iat = %s %s, want 5m", got, why)
	}
	if c := h.rawClient(obj.Status.AppID); c[lifespanKey] != "5m0s" {
		t.Fatalf("hydra client %s = %v, want 5m0s", lifespanKey, c[lifespanKey])
	}

	h.update("short", func(o *oauthv1.OAuthClient) {
		o.Spec.AccessTokenLifetime = &metav1.Duration{Duration: 10 * time.Minute}
	})
	h.eventually(waitTimeout, "tokens of 10m after the spec edit", func() (bool, string) {
		got, why := h.tokenLifetime(data)
		return lifetimeIs(got, 10*time.Minute), got.String() + why
	})

	for _, edit := range []struct {
		name string
		body map[string]any
	}{
		{"changed in hydra", map[string]any{lifespanKey: "3h"}},
		{"cleared in hydra", map[string]any{}},
	} {
		setLifespans(t, h.hydra, obj.Status.AppID, edit.body)
		h.eventually(waitTimeout, "the lifespan "+edit.name+" put back", func() (bool, string) {
			c := h.rawClient(obj.Status.AppID)
			return c[lifespanKey] == "10m0s", fmt.Sprint(c[lifespanKey])
		})
		if got, why := h.tokenLifetime(data); !lifetimeIs(got, 10*time.Minute) {
			t.Fatalf("%s: token exp-iat after the repair = %s %s, want 10m", edit.name, got, why)
		}
	}

	h.update("short", func(o *oauthv1.OAuthClient) { o.Spec.AccessTokenLifetime = nil })
	h.eventually(waitTimeout, "the lifespan cleared: Hydra's default", func() (bool, string) {
		c := h.rawClient(obj.Status.AppID)
		return c[lifespanKey] == nil, fmt.Sprint(c[lifespanKey])
	})
	if got, why := h.tokenLifetime(data); !lifetimeIs(got, time.Hour) {
		t.Fatalf("token exp-iat with Hydra's default = %s %s, want 1h", got, why)
	}
	if o := h.waitReady("short"); o.Status.AppID != obj.Status.AppID {
		t.Fatalf("the client changed from %s to %s", obj.Status.AppID, o.Status.AppID)
	}
}

// Observe on Hydra reports a lifespan that differs from spec.accessTokenLifetime in the
// Drifted condition and writes nothing.
func TestHydraObserveLifetimeDrift(t *testing.T) {
	t.Parallel()
	f, hs, log := newLoggedHydraFixture(t)
	secret := "hand-made-" + randHex(10)
	id := handMadeHydraClient(t, hs, "Lifetime By Hand", secret)
	setLifespans(t, hs, id, map[string]any{lifespanKey: "2h"})
	f.userSecret("held", "CLIENT_SECRET", secret)
	start := log.mark()
	f.newClient("observed", func(o *oauthv1.OAuthClient) {
		o.Spec.Adopt = &oauthv1.Adopt{AppID: id}
		o.Spec.DisplayName = "Lifetime By Hand"
		o.Spec.ManagementPolicy = oauthv1.ManagementPolicyObserve
		o.Spec.AccessTokenLifetime = &metav1.Duration{Duration: 30 * time.Minute}
		o.Spec.CredentialsFrom = &oauthv1.CredentialsFrom{SecretRef: oauthv1.CredentialsSecretRef{Name: "held"}}
	})
	var d *metav1.Condition
	f.eventually(waitTimeout, "Drifted=True naming accessTokenLifetime", func() (bool, string) {
		d = drifted(f.get("observed"))
		return d != nil && d.Status == metav1.ConditionTrue && strings.Contains(d.Message, "accessTokenLifetime (app 2h0m0s, spec 30m0s)"),
			fmt.Sprint(d)
	})
	f.waitReady("observed")
	s := f.secret("observed-oauth-client")
	if got, why := f.tokenLifetime(s.Data); !lifetimeIs(got, 2*time.Hour) {
		t.Fatalf("token exp-iat of the observed client = %s %s, want its own 2h (Observe changes nothing)", got, why)
	}
	// The spec follows the app: no drift left.
	f.update("observed", func(o *oauthv1.OAuthClient) { o.Spec.AccessTokenLifetime = &metav1.Duration{Duration: 2 * time.Hour} })
	f.eventually(waitTimeout, "Drifted=False", func() (bool, string) {
		o := f.get("observed")
		d := drifted(o)
		return d != nil && d.Status == metav1.ConditionFalse && d.ObservedGeneration == o.Generation, fmt.Sprint(d)
	})
	writes, reads := log.since(start, "/admin/")
	if len(writes) != 0 || reads == 0 {
		t.Fatalf("Observe on hydra: %d admin reads, writes %q; want reads and no write", reads, writes)
	}
	if c := string(s.Data[controllers.KeyClientID]); c != id {
		t.Fatalf("CLIENT_ID %q, want the observed client %s", c, id)
	}
	t.Logf("Observe with a lifetime drift on hydra: %d admin reads, 0 writes", reads)
}
