package hydra_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/hydra"
	"github.com/clientcreds/clientcreds/internal/provider/hydra/hydratest"
)

// countingTransport counts the requests sent to the admin API.
type countingTransport struct {
	admin string
	n     atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.String(), c.admin) {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// lifetimeIs says whether a token's exp-iat is want. Hydra (fosite) sets exp when it takes
// the request and iat when it signs the token, so on a loaded machine exp-iat can fall a few
// seconds short of the lifespan; never above it.
func lifetimeIs(got, want time.Duration) bool {
	return got <= want && got > want-15*time.Second
}

// tokenLifetime requests a token with creds and returns exp-iat of the JWT Hydra issued.
func tokenLifetime(t *testing.T, creds provider.Credentials) time.Duration {
	t.Helper()
	tok, err := oauth2client.RequestToken(context.Background(), http.DefaultClient, creds)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatal("hydra issued a non-JWT access token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Exp, Iat int64
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return time.Duration(claims.Exp-claims.Iat) * time.Second
}

// spec.accessTokenLifetime on Hydra is the client's client_credentials_grant_access_token_lifespan:
// sent with the create (one admin call), read back by GetApp, compared by Matches, put back
// after an administrator changed or cleared it, cleared when the spec has none (Hydra's
// ttl.access_token applies), and kept when a new secret is set. Tokens carry it (exp-iat).
func TestRealHydraAccessTokenLifetime(t *testing.T) {
	s := hydratest.Start(t, hydratest.Options{})
	ct := &countingTransport{admin: s.AdminURL}
	p, err := hydra.New(hydra.Config{AdminURL: s.AdminURL, Issuer: s.Issuer, Transport: ct})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := p.CheckHealth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if !p.Capabilities().AppTokenLifetime {
		t.Fatalf("capabilities %+v: hydra keeps the token lifetime on the client", p.Capabilities())
	}
	spec := provider.AppSpec{Label: "team-a/lifetime", AuthMethod: provider.AuthClientSecretBasic, Owner: owner,
		Scopes: []string{"hello:read"}, AccessTokenLifetime: 7 * time.Minute}
	before := ct.n.Load()
	app, err := p.CreateApp(ctx, spec)
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if calls := ct.n.Load() - before; calls != 1 {
		t.Fatalf("CreateApp with a lifetime made %d admin calls, want 1", calls)
	}
	if got := rawClient(t, s, app.ID)["client_credentials_grant_access_token_lifespan"]; got != "7m0s" {
		t.Fatalf("lifespan in hydra = %v, want 7m0s", got)
	}
	if app.AccessTokenLifetime != 7*time.Minute || !app.Matches(spec) {
		t.Fatalf("created app: lifetime %s, matches %v", app.AccessTokenLifetime, app.Matches(spec))
	}
	creds := provider.Credentials{ClientID: app.ClientID, AuthMethod: provider.AuthClientSecretBasic, ClientSecret: app.ClientSecret,
		TokenURL: ep.TokenURL, Scopes: spec.Scopes}
	if got := tokenLifetime(t, creds); !lifetimeIs(got, 7*time.Minute) {
		t.Fatalf("token exp-iat = %s, want 7m", got)
	}

	// An administrator changes the lifespan (Hydra's own lifespans endpoint): drift, repaired.
	for _, edit := range []struct {
		name string
		body map[string]any
		want time.Duration
	}{
		{"changed", map[string]any{"client_credentials_grant_access_token_lifespan": "2h"}, 2 * time.Hour},
		{"cleared", map[string]any{}, 0},
	} {
		if code := adminDo(t, s, http.MethodPut, "/admin/clients/"+app.ID+"/lifespans", edit.body); code != http.StatusOK {
			t.Fatalf("%s: set lifespans: %d", edit.name, code)
		}
		got, err := p.GetApp(ctx, app.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.AccessTokenLifetime != edit.want || got.Matches(spec) {
			t.Fatalf("%s: GetApp lifetime %s (want %s), matches %v", edit.name, got.AccessTokenLifetime, edit.want, got.Matches(spec))
		}
		if d := got.Differences(spec); len(d) != 1 || !strings.HasPrefix(d[0], "accessTokenLifetime") {
			t.Fatalf("%s: Differences = %q", edit.name, d)
		}
		if _, err := p.UpdateApp(ctx, got, spec); err != nil {
			t.Fatalf("%s: UpdateApp: %v", edit.name, err)
		}
		if got := tokenLifetime(t, creds); !lifetimeIs(got, 7*time.Minute) {
			t.Fatalf("%s: token exp-iat after the repair = %s, want 7m (the secret must survive too)", edit.name, got)
		}
	}

	// A new secret keeps the lifespan (the admin API's PUT takes the whole client).
	ns, err := p.CreateSecret(ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	creds.ClientSecret = ns.Value
	if got := tokenLifetime(t, creds); !lifetimeIs(got, 7*time.Minute) {
		t.Fatalf("token exp-iat after a new secret = %s, want 7m", got)
	}

	// No lifetime in the spec: cleared, Hydra's default (1h) applies.
	spec.AccessTokenLifetime = 0
	got, _ := p.GetApp(ctx, app.ID)
	if _, err := p.UpdateApp(ctx, got, spec); err != nil {
		t.Fatal(err)
	}
	if raw := rawClient(t, s, app.ID); raw["client_credentials_grant_access_token_lifespan"] != nil {
		t.Fatalf("lifespan after clearing = %v, want null", raw["client_credentials_grant_access_token_lifespan"])
	}
	if got := tokenLifetime(t, creds); !lifetimeIs(got, time.Hour) {
		t.Fatalf("token exp-iat with the server's default = %s, want 1h", got)
	}

	// A lifetime Hydra's lifespan cannot express is refused before any call.
	spec.AccessTokenLifetime = 1500 * time.Millisecond
	before = ct.n.Load()
	if _, err := p.CreateApp(ctx, spec); !errors.Is(err, provider.ErrPermanent) || !strings.Contains(err.Error(), "cannot be expressed") {
		t.Fatalf("CreateApp with 1.5s: %v, want ErrPermanent naming it", err)
	}
	if calls := ct.n.Load() - before; calls != 0 {
		t.Fatalf("a refused lifetime made %d admin calls", calls)
	}
}
