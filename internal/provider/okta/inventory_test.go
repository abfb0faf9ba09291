package okta_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// TestEmulatorListApps: ListApps pages through every OpenID Connect app of the org (the
// filter name eq "oidc_client" is in the spec's listApplications), whoever made it, active
// or not, without secrets; the requests are spec-checked.
func TestEmulatorListApps(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)
	const n = 205
	for i := range n {
		if _, err := e.p.CreateApp(c, e.spec4(fmt.Sprintf("app-%03d", i), provider.AuthClientSecretBasic)); err != nil {
			t.Fatalf("CreateApp %d: %v", i, err)
		}
	}
	// One made by hand, inactive, without an owner.
	st, made := e.raw(t, http.MethodPost, "/api/v1/apps?activate=false", map[string]any{
		"name": "oidc_client", "label": "hand made", "signOnMode": "OPENID_CONNECT",
		"credentials": map[string]any{"oauthClient": map[string]any{"token_endpoint_auth_method": "client_secret_post"}},
		"settings": map[string]any{"oauthClient": map[string]any{"application_type": "service",
			"grant_types": []string{"client_credentials"}, "response_types": []string{"token"}}},
	})
	if st != http.StatusOK {
		t.Fatalf("create by hand: %d", st)
	}
	before := e.Server.Stats().Route("GET /api/v1/apps")
	apps, err := e.p.ListApps(c)
	if err != nil {
		t.Fatal(err)
	}
	if pages := e.Server.Stats().Route("GET /api/v1/apps") - before; pages != 2 {
		t.Errorf("%d list requests for %d apps, want 2", pages, n+1)
	}
	if len(apps) != n+1 {
		t.Fatalf("listed %d apps, want %d", len(apps), n+1)
	}
	i := slices.IndexFunc(apps, func(a provider.App) bool { return a.ID == made["id"] })
	if i < 0 {
		t.Fatal("the hand-made app is not listed")
	}
	hand := apps[i]
	if hand.Active || hand.Owner.UID != "" || hand.AuthMethod != provider.AuthClientSecretPost || !hand.ClientCredentialsOnly || hand.Label != "hand made" {
		t.Errorf("hand-made app listed as %+v", hand)
	}
	for _, a := range apps {
		if a.ClientSecret != "" {
			t.Fatalf("app %s listed with its client secret", a.ID)
		}
	}
	if e.spec.failures > 0 {
		t.Fatalf("%d requests did not conform to the spec", e.spec.failures)
	}
}

// TestEmulatorScopeGrants: ScopeGrants returns the active client_credentials rules of the
// active policies, naming their clients (ALL_CLIENTS as provider.AllClients) and scopes;
// inactive policies and rules, rules for other grants and rules with a user condition
// are left out.
func TestEmulatorScopeGrants(t *testing.T) {
	e := start(t, oktaemu.Config{Scopes: []string{"a:read", "a:write", "b:read"}})
	c := ctx(t)
	policy := func(name, status string, clients []string) string {
		t.Helper()
		st, out := e.raw(t, http.MethodPost, "/api/v1/authorizationServers/default/policies", map[string]any{
			"type": "OAUTH_AUTHORIZATION_POLICY", "name": name, "description": name, "status": status,
			"conditions": map[string]any{"clients": map[string]any{"include": clients}},
		})
		if st != http.StatusCreated {
			t.Fatalf("create policy %s: %d %v", name, st, out)
		}
		return out["id"].(string)
	}
	rule := func(pol, name, status string, grants, scopes []string, users []string) {
		t.Helper()
		people := map[string]any{"groups": map[string]any{"include": []string{"EVERYONE"}}}
		if users != nil {
			people = map[string]any{"users": map[string]any{"include": users}}
		}
		st, out := e.raw(t, http.MethodPost, "/api/v1/authorizationServers/default/policies/"+pol+"/rules", map[string]any{
			"type": "RESOURCE_ACCESS", "name": name, "status": status,
			"conditions": map[string]any{"people": people, "grantTypes": map[string]any{"include": grants},
				"scopes": map[string]any{"include": scopes}},
			"actions": map[string]any{"token": map[string]any{"accessTokenLifetimeMinutes": 60}},
		})
		if st != http.StatusCreated {
			t.Fatalf("create rule %s: %d %v", name, st, out)
		}
	}
	var ids []string
	for _, label := range []string{"a", "b"} {
		app, err := e.p.CreateApp(c, e.spec4(label, provider.AuthClientSecretBasic))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, app.ClientID)
	}
	p1 := policy("one", "ACTIVE", ids)
	rule(p1, "cc", "ACTIVE", []string{"client_credentials"}, []string{"a:read", "a:write"}, nil)
	rule(p1, "off", "INACTIVE", []string{"client_credentials"}, []string{"b:read"}, nil)
	rule(p1, "code only", "ACTIVE", []string{"authorization_code"}, []string{"b:read"}, nil)
	rule(p1, "a user", "ACTIVE", []string{"client_credentials"}, []string{"b:read"}, []string{"00uAAAAAAAAAAAAAAAAA"})
	p2 := policy("two", "INACTIVE", ids[:1])
	rule(p2, "cc", "ACTIVE", []string{"client_credentials"}, []string{"b:read"}, nil)

	grants, err := e.p.ScopeGrants(c)
	if err != nil {
		t.Fatal(err)
	}
	want := []provider.ScopeGrant{
		{Policy: "Default Policy", Rule: "Default Policy Rule", Clients: []string{provider.AllClients}, Scopes: []string{"*"}},
		{Policy: "one", Rule: "cc", Clients: ids, Scopes: []string{"a:read", "a:write"}},
	}
	if len(grants) != len(want) {
		t.Fatalf("grants %+v, want %+v", grants, want)
	}
	for i := range want {
		g, w := grants[i], want[i]
		if g.Policy != w.Policy || g.Rule != w.Rule || !slices.Equal(g.Clients, w.Clients) || !slices.Equal(g.Scopes, w.Scopes) {
			t.Errorf("grant %d: %+v, want %+v", i, g, w)
		}
	}
	if e.spec.failures > 0 {
		t.Fatalf("%d requests did not conform to the spec", e.spec.failures)
	}
}
