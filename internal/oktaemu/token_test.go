package oktaemu_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
)

// verify checks an access token the way a resource server does: signature
// against the issuer's /v1/keys, issuer, audience and expiry.
func verify(t *testing.T, env *oktaemutest.Env, tok string) jwt.Token {
	t.Helper()
	return verifyWith(t, env.JWKSURL, env.Issuer, tok)
}

func verifyWith(t *testing.T, jwksURL, issuer, tok string) jwt.Token {
	t.Helper()
	set, err := jwk.Fetch(context.Background(), jwksURL)
	if err != nil {
		t.Fatalf("fetch jwks: %v", err)
	}
	parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithValidate(true),
		jwt.WithIssuer(issuer), jwt.WithAudience("api://default"))
	if err != nil {
		t.Fatalf("token does not verify against %s: %v", jwksURL, err)
	}
	return parsed
}

func tokenKid(t *testing.T, tok string) string {
	t.Helper()
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.Algorithm() != jwa.RS256 {
		t.Errorf("alg = %s, want RS256", h.Algorithm())
	}
	return h.KeyID()
}

// TestTutorialClientToken fetches a token exactly as Okta's tutorial test
// client does and validates it against /v1/keys with jwx.
func TestTutorialClientToken(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	app := h.CreateServiceApp(t, "tutorial", "client_secret_basic")

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(app.ClientID+":"+app.ClientSecret))
	r := h.form("/oauth2/default/v1/token", "grant_type=client_credentials&scope=hello:read", map[string]string{"Authorization": basic})
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	body := r.json(t)
	if body["token_type"] != "Bearer" || body["expires_in"] != 3600.0 || body["scope"] != "hello:read" {
		t.Errorf("token response = %v", body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	tok := body["access_token"].(string)
	parsed := verify(t, h.Env, tok)
	if tokenKid(t, tok) == "" {
		t.Error("no kid in the token header")
	}
	claims := parsed.PrivateClaims()
	if parsed.Subject() != app.ClientID || claims["cid"] != app.ClientID {
		t.Errorf("sub %q cid %v, want %s", parsed.Subject(), claims["cid"], app.ClientID)
	}
	if claims["ver"] != 1.0 || !strings.HasPrefix(parsed.JwtID(), "AT.") {
		t.Errorf("ver %v jti %q", claims["ver"], parsed.JwtID())
	}
	if scp, _ := claims["scp"].([]any); len(scp) != 1 || scp[0] != "hello:read" {
		t.Errorf("scp = %v", claims["scp"])
	}
	if d := parsed.Expiration().Sub(parsed.IssuedAt()); d != time.Hour {
		t.Errorf("lifetime = %s, want 1h from the default rule", d)
	}
	// The raw payload carries exactly Okta's claim set, aud as a string.
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	for _, c := range []string{`"ver":1`, `"aud":"api://default"`, `"iss":"` + h.Issuer + `"`} {
		if !strings.Contains(string(payload), c) {
			t.Errorf("payload %s lacks %s", payload, c)
		}
	}
}

func TestDiscovery(t *testing.T) {
	h := newHarness(t, oktaemu.Config{Scopes: []string{"hello:read", "hello:write"}})
	for _, p := range []string{"/oauth2/default/.well-known/openid-configuration", "/oauth2/default/.well-known/oauth-authorization-server"} {
		t.Run(p, func(t *testing.T) {
			r := h.call(http.MethodGet, p, nil, "-")
			m := r.json(t)
			if r.status != 200 || m["issuer"] != h.Issuer || m["jwks_uri"] != h.JWKSURL || m["token_endpoint"] != h.TokenURL {
				t.Fatalf("%d %v", r.status, m)
			}
			// The configured scopes and the system scopes every server has
			// (TestAccDataSourceOktaAuthServerScopes_read), all published.
			scopes, _ := m["scopes_supported"].([]any)
			for _, want := range []string{"hello:read", "hello:write", "openid", "profile", "offline_access"} {
				if !slices.Contains(scopes, any(want)) {
					t.Errorf("scopes_supported = %v, lacks %s", scopes, want)
				}
			}
		})
	}
	r := h.call(http.MethodGet, "/oauth2/nope/.well-known/openid-configuration", nil, "-")
	if r.status != http.StatusNotFound || r.errorCode(t) != "E0000007" {
		t.Errorf("unknown server: %d %s", r.status, r.body)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	basicApp := h.CreateServiceApp(t, "basic", "client_secret_basic")
	postApp := h.CreateServiceApp(t, "post", "client_secret_post")
	keyApp := h.CreateServiceApp(t, "key", "private_key_jwt")
	basic := func(id, secret string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))}
	}
	good := basic(basicApp.ClientID, basicApp.ClientSecret)
	tests := map[string]struct {
		body      string
		hdr       map[string]string
		path      string
		status    int
		wantError string
	}{
		"basic ok":                      {"grant_type=client_credentials&scope=hello:read", good, "", 200, ""},
		"post ok":                       {"grant_type=client_credentials&scope=hello:read&client_id=" + postApp.ClientID + "&client_secret=" + postApp.ClientSecret, nil, "", 200, ""},
		"post for a basic client ok":    {"grant_type=client_credentials&scope=hello:read&client_id=" + basicApp.ClientID + "&client_secret=" + basicApp.ClientSecret, nil, "", 200, ""},
		"wrong secret":                  {"grant_type=client_credentials&scope=hello:read", basic(basicApp.ClientID, "nope-nope-nope-nope"), "", 401, "invalid_client"},
		"unknown client":                {"grant_type=client_credentials&scope=hello:read", basic("0oaunknown", "x"), "", 401, "invalid_client"},
		"no credentials":                {"grant_type=client_credentials&scope=hello:read&client_id=" + basicApp.ClientID, nil, "", 401, "invalid_client"},
		"bearer instead of basic":       {"grant_type=client_credentials&scope=hello:read", map[string]string{"Authorization": "Bearer abc"}, "", 401, "invalid_client"},
		"secret for a private_key_jwt":  {"grant_type=client_credentials&scope=hello:read&client_id=" + keyApp.ClientID + "&client_secret=abcdefghijklmnop", nil, "", 401, "invalid_client"},
		"multiple credentials":          {"grant_type=client_credentials&scope=hello:read&client_secret=" + basicApp.ClientSecret, good, "", 400, "invalid_request"},
		"missing grant_type":            {"scope=hello:read", good, "", 400, "invalid_request"},
		"repeated scope":                {"grant_type=client_credentials&scope=hello:read&scope=hello:read", good, "", 400, "invalid_request"},
		"unknown grant type":            {"grant_type=magic&scope=hello:read", good, "", 400, "unsupported_grant_type"},
		"grant type not allowed":        {"grant_type=password&scope=hello:read", good, "", 400, "unauthorized_client"},
		"unknown scope":                 {"grant_type=client_credentials&scope=hello:read+admin", good, "", 400, "invalid_scope"},
		"no scope and no default scope": {"grant_type=client_credentials", good, "", 400, "invalid_scope"},
		"bad assertion type":            {"grant_type=client_credentials&scope=hello:read&client_assertion=x&client_assertion_type=foo", nil, "", 400, "invalid_request"},
		"garbage assertion":             {"grant_type=client_credentials&scope=hello:read&client_id=" + keyApp.ClientID + "&client_assertion=x.y.z&client_assertion_type=" + url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), nil, "", 401, "invalid_client"},
		"unknown authorization server":  {"grant_type=client_credentials&scope=hello:read", good, "/oauth2/nope/v1/token", 404, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/oauth2/default/v1/token"
			}
			r := h.form(path, tc.body, tc.hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.wantError != "" {
				if got := r.json(t)["error"]; got != tc.wantError {
					t.Errorf("error = %v, want %s (%s)", got, tc.wantError, r.body)
				}
			}
			if r.status == 401 && tc.hdr != nil && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 after Authorization header without WWW-Authenticate")
			}
		})
	}

	t.Run("json body", func(t *testing.T) {
		r := h.call(http.MethodPost, "/oauth2/default/v1/token", map[string]string{"grant_type": "client_credentials"}, "-")
		if r.status != 400 || r.json(t)["error"] != "invalid_request" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("GET", func(t *testing.T) {
		r := h.call(http.MethodGet, "/oauth2/default/v1/token", nil, "-")
		if r.status != 405 || r.errorCode(t) != "E0000022" || r.header.Get("Allow") != "POST" {
			t.Errorf("%d %s allow=%q", r.status, r.body, r.header.Get("Allow"))
		}
	})
	t.Run("oversized form", func(t *testing.T) {
		r := h.form("/oauth2/default/v1/token", "grant_type=client_credentials&scope="+strings.Repeat("a", 70<<10), good)
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}

// assertion builds a client assertion with overridable claims.
func assertion(t *testing.T, key jwk.Key, alg jwa.SignatureAlgorithm, mutate func(*jwt.Builder)) string {
	t.Helper()
	b := jwt.NewBuilder()
	mutate(b)
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func TestPrivateKeyJWT(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	app := h.CreateServiceApp(t, "pkj", "private_key_jwt")
	if app.ClientSecret != "" {
		t.Fatal("a private_key_jwt app must not get a client secret")
	}
	tok := h.FetchTokenWithKey(t, app, "hello:read")
	if verify(t, h.Env, tok).Subject() != app.ClientID {
		t.Fatal("wrong subject")
	}

	otherRaw, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := jwk.FromRaw(otherRaw)
	_ = other.Set(jwk.KeyIDKey, app.KeyID) // same kid, wrong key
	now := time.Now()
	std := func(b *jwt.Builder) {
		b.Issuer(app.ClientID).Subject(app.ClientID).Audience([]string{h.TokenURL}).
			IssuedAt(now).Expiration(now.Add(5 * time.Minute)).JwtID(fmt.Sprint(now.UnixNano()))
	}
	replayed := h.ClientAssertion(t, app)
	post := func(a string, extra string) response {
		return h.form("/oauth2/default/v1/token", "grant_type=client_credentials&scope=hello:read&client_assertion_type="+
			url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")+"&client_assertion="+a+extra, nil)
	}
	if r := post(replayed, ""); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	hsKey, _ := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	tests := map[string]struct {
		assertion string
		extra     string
	}{
		"replayed jti":      {replayed, ""},
		"foreign key":       {assertion(t, other, jwa.RS256, std), ""},
		"hmac":              {assertion(t, hsKey, jwa.HS256, std), ""},
		"wrong audience":    {assertion(t, app.PrivateKey, jwa.RS256, func(b *jwt.Builder) { std(b); b.Audience([]string{h.URL + "/oauth2/v1/token"}) }), ""},
		"expired":           {assertion(t, app.PrivateKey, jwa.RS256, func(b *jwt.Builder) { std(b); b.Expiration(now.Add(-10 * time.Minute)) }), ""},
		"exp too far":       {assertion(t, app.PrivateKey, jwa.RS256, func(b *jwt.Builder) { std(b); b.Expiration(now.Add(3 * time.Hour)) }), ""},
		"no exp":            {assertion(t, app.PrivateKey, jwa.RS256, func(b *jwt.Builder) { b.Issuer(app.ClientID).Subject(app.ClientID).Audience([]string{h.TokenURL}) }), ""},
		"iss is not sub":    {assertion(t, app.PrivateKey, jwa.RS256, func(b *jwt.Builder) { std(b); b.Issuer("someone") }), ""},
		"client_id differs": {h.ClientAssertion(t, app), "&client_id=0oaother"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := post(tc.assertion, tc.extra)
			if r.status != http.StatusUnauthorized || r.json(t)["error"] != "invalid_client" {
				t.Errorf("%d %s", r.status, r.body)
			}
		})
	}

	t.Run("no client secrets for private_key_jwt", func(t *testing.T) {
		r := h.call(http.MethodPost, "/api/v1/apps/"+app.ID+"/credentials/secrets", map[string]any{}, "")
		if r.status != 400 || r.errorCode(t) != "E0000001" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})

	t.Run("rotate the registered key with the SDK", func(t *testing.T) {
		ctx, c := h.sdk()
		got, _, err := c.Application.GetApplication(ctx, app.ID, okta.NewOpenIdConnectApplication(), nil)
		if err != nil {
			t.Fatal(err)
		}
		a := got.(*okta.OpenIdConnectApplication)
		if n := len(a.Settings.OauthClient.Jwks.Keys); n != 1 {
			t.Fatalf("registered keys = %d", n)
		}
		newRaw, _ := rsa.GenerateKey(rand.Reader, 2048)
		newPriv, _ := jwk.FromRaw(newRaw)
		_ = newPriv.Set(jwk.KeyIDKey, "second")
		pub, _ := newPriv.PublicKey()
		var jk okta.JsonWebKey
		data, _ := jsonMarshal(pub)
		if err := jsonUnmarshal(data, &jk); err != nil {
			t.Fatal(err)
		}
		a.Settings.OauthClient.Jwks.Keys = append(a.Settings.OauthClient.Jwks.Keys, &jk)
		if _, _, err := c.Application.UpdateApplication(ctx, app.ID, a); err != nil {
			t.Fatalf("add key: %v", err)
		}
		app2 := app
		app2.PrivateKey, app2.KeyID = newPriv, "second"
		h.FetchTokenWithKey(t, app2, "hello:read")
		h.FetchTokenWithKey(t, app, "hello:read")

		// Drop the first key: its assertions stop working.
		a.Settings.OauthClient.Jwks.Keys = a.Settings.OauthClient.Jwks.Keys[1:]
		if _, _, err := c.Application.UpdateApplication(ctx, app.ID, a); err != nil {
			t.Fatalf("remove key: %v", err)
		}
		if r := post(h.ClientAssertion(t, app), ""); r.status != 401 {
			t.Errorf("removed key still accepted: %d", r.status)
		}
		h.FetchTokenWithKey(t, app2, "hello:read")
	})
}

// TestPoliciesGovernTokens manages scopes, policies and rules with the SDK
// and checks that token issuance follows them.
func TestPoliciesGovernTokens(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	ctx, c := h.sdk()
	as := c.AuthorizationServer
	a1 := h.CreateServiceApp(t, "one", "")
	a2 := h.CreateServiceApp(t, "two", "")

	srv, _, err := as.GetAuthorizationServer(ctx, "default")
	if err != nil || srv.Issuer != h.Issuer || !slices.Equal(srv.Audiences, []string{"api://default"}) {
		t.Fatalf("get server: %v %+v", err, srv)
	}
	scope, resp, err := as.CreateOAuth2Scope(ctx, "default", okta.OAuth2Scope{Name: "orders:write", Description: "Write orders"})
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create scope: %v", err)
	}
	if _, _, err := as.CreateOAuth2Scope(ctx, "default", okta.OAuth2Scope{Name: "orders:write"}); oktaCode(t, err) != "E0000001" {
		t.Errorf("duplicate scope accepted")
	}
	// A replace may keep the scope's own name.
	scope.Description = "Write and amend orders"
	if got, _, err := as.UpdateOAuth2Scope(ctx, "default", scope.Id, *scope); err != nil || got.Description != scope.Description {
		t.Errorf("replace scope keeping its name: %v", err)
	}
	scopes, _, err := as.ListOAuth2Scopes(ctx, "default", nil)
	custom := 0
	for _, sc := range scopes {
		if !*sc.System {
			custom++
		}
	}
	if err != nil || custom != 2 {
		t.Fatalf("list scopes = %d custom of %d, %v", custom, len(scopes), err)
	}
	// The default rule grants every scope to every client.
	h.FetchToken(t, a1.ClientID, a1.ClientSecret, "orders:write hello:read")

	pols, _, err := as.ListAuthorizationServerPolicies(ctx, "default")
	if err != nil || len(pols) != 1 {
		t.Fatalf("policies = %d %v", len(pols), err)
	}
	rules, _, err := as.ListAuthorizationServerPolicyRules(ctx, "default", pols[0].Id)
	if err != nil || len(rules) != 1 || !slices.Contains(rules[0].Conditions.GrantTypes.Include, "client_credentials") {
		t.Fatalf("rules = %v %v", rules, err)
	}
	if _, err := as.DeactivateAuthorizationServerPolicyRule(ctx, "default", pols[0].Id, rules[0].Id); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.RequestToken(tokenForm("hello:read"), a1.ClientID, a1.ClientSecret); r.Status != 400 || r.Error != "access_denied" {
		t.Errorf("no active rule: %d %s", r.Status, r.Error)
	}

	// A policy for client one only, granting orders:write for 15 minutes.
	one := int64(1)
	pol, resp, err := as.CreateAuthorizationServerPolicy(ctx, "default", okta.AuthorizationServerPolicy{
		Type: "OAUTH_AUTHORIZATION_POLICY", Name: "orders", Description: "Orders writers", PriorityPtr: &one,
		Conditions: &okta.PolicyRuleConditions{Clients: &okta.ClientPolicyCondition{Include: []string{a1.ClientID}}},
	})
	if err != nil || resp.StatusCode != 201 || pol.Id == "" {
		t.Fatalf("create policy: %v", err)
	}
	life := int64(15)
	rule, _, err := as.CreateAuthorizationServerPolicyRule(ctx, "default", pol.Id, okta.AuthorizationServerPolicyRule{
		Type: "RESOURCE_ACCESS", Name: "cc orders",
		Conditions: &okta.AuthorizationServerPolicyRuleConditions{
			GrantTypes: &okta.GrantTypePolicyRuleCondition{Include: []string{"client_credentials"}},
			Scopes:     &okta.OAuth2ScopesMediationPolicyRuleCondition{Include: []string{"orders:write"}},
			People:     &okta.PolicyPeopleCondition{Groups: &okta.GroupCondition{Include: []string{"EVERYONE"}}},
		},
		Actions: &okta.AuthorizationServerPolicyRuleActions{Token: &okta.TokenAuthorizationServerPolicyRuleAction{AccessTokenLifetimeMinutesPtr: &life}},
	})
	if err != nil {
		t.Fatalf("create rule: %v", err)
	}
	tok := h.FetchToken(t, a1.ClientID, a1.ClientSecret, "orders:write")
	if p := verify(t, h.Env, tok); p.Expiration().Sub(p.IssuedAt()) != 15*time.Minute {
		t.Errorf("lifetime = %s, want the rule's 15m", p.Expiration().Sub(p.IssuedAt()))
	}
	for name, tc := range map[string]struct {
		app   oktaemutest.App
		scope string
	}{
		"other client":         {a2, "orders:write"},
		"scope outside rule":   {a1, "hello:read"},
		"one scope outside it": {a1, "orders:write hello:read"},
	} {
		if r, _ := h.RequestToken(tokenForm(tc.scope), tc.app.ClientID, tc.app.ClientSecret); r.Status != 400 || r.Error != "access_denied" {
			t.Errorf("%s: %d %s", name, r.Status, r.Error)
		}
	}
	// Update the rule's lifetime and check the policy round-trips.
	got, _, err := as.GetAuthorizationServerPolicyRule(ctx, "default", pol.Id, rule.Id)
	if err != nil {
		t.Fatal(err)
	}
	// The SDK serialises the plain field when it is set.
	got.Actions.Token.AccessTokenLifetimeMinutes = 30
	if _, _, err := as.UpdateAuthorizationServerPolicyRule(ctx, "default", pol.Id, rule.Id, *got); err != nil {
		t.Fatalf("update rule: %v", err)
	}
	tok = h.FetchToken(t, a1.ClientID, a1.ClientSecret, "orders:write")
	if p := verify(t, h.Env, tok); p.Expiration().Sub(p.IssuedAt()) != 30*time.Minute {
		t.Errorf("lifetime after update = %s", p.Expiration().Sub(p.IssuedAt()))
	}
	// Deleting the scope makes it unknown.
	if _, err := as.DeleteOAuth2Scope(ctx, "default", scope.Id); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.RequestToken(tokenForm("orders:write"), a1.ClientID, a1.ClientSecret); r.Error != "invalid_scope" {
		t.Errorf("deleted scope: %d %s", r.Status, r.Error)
	}
	if _, err := as.DeleteAuthorizationServerPolicy(ctx, "default", pol.Id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := as.GetAuthorizationServerPolicy(ctx, "default", pol.Id); oktaCode(t, err) != "E0000007" {
		t.Error("deleted policy still there")
	}
}

// TestKeyRotation: the NEXT key is published before it signs; after a
// rotation the previous key stays published, so old tokens still verify.
func TestKeyRotation(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	ctx, c := h.sdk()
	app := h.CreateServiceApp(t, "rot", "")
	before := h.FetchToken(t, app.ClientID, app.ClientSecret, "hello:read")
	oldKid := tokenKid(t, before)

	keys, _, err := c.AuthorizationServer.ListAuthorizationServerKeys(ctx, "default")
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %d %v", len(keys), err)
	}
	var nextKid string
	for _, k := range keys {
		if k.Status == "NEXT" {
			nextKid = k.Kid
		}
	}
	if _, _, err := c.AuthorizationServer.RotateAuthorizationServerKeys(ctx, "default", okta.JwkUse{Use: "enc"}); oktaCode(t, err) != "E0000001" {
		t.Error("rotation with use=enc accepted")
	}
	rotated, _, err := c.AuthorizationServer.RotateAuthorizationServerKeys(ctx, "default", okta.JwkUse{Use: "sig"})
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	status := map[string]string{}
	for _, k := range rotated {
		status[k.Kid] = k.Status
	}
	if status[oldKid] != "EXPIRED" || status[nextKid] != "ACTIVE" || len(status) != 3 {
		t.Errorf("after rotation: %v (old %s, next %s)", status, oldKid, nextKid)
	}
	after := h.FetchToken(t, app.ClientID, app.ClientSecret, "hello:read")
	if tokenKid(t, after) != nextKid {
		t.Errorf("new tokens are signed with %s, want %s", tokenKid(t, after), nextKid)
	}
	verify(t, h.Env, before)
	verify(t, h.Env, after)

	// A second rotation retires the first key from /v1/keys.
	if _, _, err := c.AuthorizationServer.RotateAuthorizationServerKeys(ctx, "default", okta.JwkUse{Use: "sig"}); err != nil {
		t.Fatal(err)
	}
	set, err := jwk.Fetch(context.Background(), h.JWKSURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set.LookupKeyID(oldKid); ok || set.Len() != 3 {
		t.Errorf("after two rotations: %d keys, old key published=%v", set.Len(), ok)
	}
}

func TestMintAccessToken(t *testing.T) {
	h := newHarness(t, oktaemu.Config{Scopes: []string{"hello:read", "hello:write"}})
	tok, err := h.Server.MintAccessToken("0oabench", []string{"hello:read", "hello:write"})
	if err != nil {
		t.Fatal(err)
	}
	p := verify(t, h.Env, tok)
	if p.Subject() != "0oabench" || p.PrivateClaims()["cid"] != "0oabench" || p.Expiration().Sub(p.IssuedAt()) != time.Hour {
		t.Errorf("minted claims: sub %s cid %v", p.Subject(), p.PrivateClaims()["cid"])
	}
	for name, tc := range map[string]struct {
		client string
		scopes []string
	}{
		"unknown scope": {"0oabench", []string{"admin"}},
		"no scopes":     {"0oabench", nil},
		"no client":     {"", []string{"hello:read"}},
	} {
		if _, err := h.Server.MintAccessToken(tc.client, tc.scopes); !errors.Is(err, oktaemu.ErrMint) {
			t.Errorf("%s: err = %v, want ErrMint", name, err)
		}
	}
}

// TestTokenLifetimeCap: a TokenLifetime below Okta's 5-minute minimum is an
// emulator-only cap for tests of token renewal (Okta itself refuses a rule
// lifetime under 5 minutes, spec: accessTokenLifetimeMinutes minimum 5): the
// default rule shows 5 minutes, and every access token — of rules with longer
// lifetimes too — lasts the cap.
func TestTokenLifetimeCap(t *testing.T) {
	h := newHarness(t, oktaemu.Config{TokenLifetime: 20 * time.Second})
	app := h.CreateServiceApp(t, "short", "client_secret_basic")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(app.ClientID+":"+app.ClientSecret))
	r := h.form("/oauth2/default/v1/token", "grant_type=client_credentials&scope=hello:read", map[string]string{"Authorization": basic})
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	body := r.json(t)
	if body["expires_in"] != 20.0 {
		t.Errorf("expires_in = %v, want 20", body["expires_in"])
	}
	parsed := verify(t, h.Env, body["access_token"].(string))
	if d := parsed.Expiration().Sub(parsed.IssuedAt()); d != 20*time.Second {
		t.Errorf("lifetime = %s, want the 20s cap", d)
	}
	pols := h.call(http.MethodGet, "/api/v1/authorizationServers/default/policies", nil, "").list(t)
	if len(pols) == 0 {
		t.Fatal("no policies on the default server")
	}
	rules := h.call(http.MethodGet, "/api/v1/authorizationServers/default/policies/"+pols[0]["id"].(string)+"/rules", nil, "").list(t)
	if len(rules) == 0 || get(rules[0], "actions.token.accessTokenLifetimeMinutes") != 5.0 {
		t.Errorf("default rule lifetime = %v, want Okta's minimum 5", get(rules[0], "actions.token.accessTokenLifetimeMinutes"))
	}
}
