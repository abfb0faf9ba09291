package oktaemu_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// get reads a dotted path ("a.b.c") out of decoded JSON.
func get(v any, path string) any {
	for _, k := range splitPath(path) {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return append(out, p[start:])
}

// TestServiceAppAsRecorded creates service apps with the bodies Okta's
// Terraform provider sent and checks the members real orgs answered.
func TestServiceAppAsRecorded(t *testing.T) {
	h := newHarness(t, oktaemu.Config{Scopes: []string{"hello:read"}})
	defaultKid := get(h.call(http.MethodGet, "/api/v1/authorizationServers/default", nil, "").json(t), "credentials.signing.kid")

	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecJWK, _ := jwk.FromRaw(ecPriv.Public())
	ecJSON, _ := json.Marshal(ecJWK)
	var ecNoCrv map[string]any
	_ = json.Unmarshal(ecJSON, &ecNoCrv)
	delete(ecNoCrv, "crv")
	ecNoCrv["kid"], ecNoCrv["status"] = "SIGNING_KEY_EC", "ACTIVE"

	settings := func(extra map[string]any) map[string]any {
		s := map[string]any{"application_type": "service", "consent_method": "TRUSTED", "dpop_bound_access_tokens": false,
			"grant_types": []string{"client_credentials"}, "idp_initiated_login": map[string]any{"default_scope": []string{}, "mode": "DISABLED"},
			"issuer_mode": "ORG_URL", "response_types": []string{"token"}, "wildcard_redirect": "DISABLED"}
		for k, v := range extra {
			s[k] = v
		}
		return s
	}
	body := func(method string, extra map[string]any) map[string]any {
		return map[string]any{
			"accessibility": map[string]any{}, "label": "testAcc", "name": "oidc_client", "signOnMode": "OPENID_CONNECT",
			"credentials": map[string]any{"oauthClient": map[string]any{"autoKeyRotation": true, "pkce_required": false, "token_endpoint_auth_method": method},
				"userNameTemplate": map[string]any{"template": "${source.login}", "type": "BUILT_IN"}},
			"settings":   map[string]any{"notes": map[string]any{}, "oauthClient": settings(extra)},
			"visibility": map[string]any{"hide": map[string]any{"iOS": true, "web": true}},
		}
	}
	tests := []struct {
		name, cassette string
		body           map[string]any
		want           map[string]any // dotted path -> value; nil = absent or null
	}{
		{"jwks_uri with a secret", "TestAccResourceOktaAppOAuthRoleAssignment_basic #0",
			body("client_secret_basic", map[string]any{"jwks_uri": "https://example.com"}),
			map[string]any{"settings.oauthClient.jwks_uri": "https://example.com", "settings.oauthClient.jwks": nil}},
		{"EC key without crv", "TestAccResourceOktaAppOauth_serviceWithJWKS #1",
			body("private_key_jwt", map[string]any{"jwks": map[string]any{"keys": []any{ecNoCrv}}}),
			map[string]any{"credentials.oauthClient.client_secret": nil}},
		{"implicit beside client_credentials", "TestAccResourceOktaAppOauth_serviceNative #0",
			body("client_secret_basic", map[string]any{"grant_types": []string{"implicit", "client_credentials"}, "redirect_uris": []string{"http://test.com"}}),
			map[string]any{"settings.oauthClient.application_type": "service"}},
	}
	common := map[string]any{
		"credentials.signing.kid":                         defaultKid,
		"settings.oauthClient.dpop_bound_access_tokens":   false,
		"settings.oauthClient.participate_slo":            false,
		"settings.emOptInStatus":                          "NONE",
		"settings.manualProvisioning":                     false,
		"settings.notifications.vpn.network.connection":   "DISABLED",
		"universalLogout.status":                          "DISABLED",
		"universalLogout.protocol":                        "GLOBAL_TOKEN_REVOCATION",
		"visibility.appLinks.oidc_client_link":            true,
		"settings.oauthClient.idp_initiated_login.mode":   "DISABLED",
		"settings.oauthClient.token_endpoint_auth_method": nil,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.call(http.MethodPost, "/api/v1/apps?activate=true", tc.body, "")
			if r.status != http.StatusOK {
				t.Fatalf("%s: create: %d %s", tc.cassette, r.status, r.body)
			}
			var app any
			_ = json.Unmarshal(r.body, &app)
			for _, want := range []map[string]any{common, tc.want} {
				for p, v := range want {
					if got := get(app, p); got != v {
						t.Errorf("%s: %s = %v, want %v", tc.cassette, p, got, v)
					}
				}
			}
			if _, ok := get(app, "settings.oauthClient.redirect_uris").([]any); !ok {
				t.Errorf("%s: redirect_uris is not a list", tc.cassette)
			}
		})
	}

	// The EC key comes back with Okta's id and status, crv and use as null
	// and no timestamps (TestAccResourceOktaAppOauth_serviceWithJWKS #1) ...
	r := h.call(http.MethodPost, "/api/v1/apps?activate=true", body("private_key_jwt", map[string]any{"jwks": map[string]any{"keys": []any{ecNoCrv}}}), "")
	var app map[string]any
	_ = json.Unmarshal(r.body, &app)
	key := get(app, "settings.oauthClient.jwks").(map[string]any)["keys"].([]any)[0].(map[string]any)
	if id, _ := key["id"].(string); len(id) != 20 || id[:3] != "pks" || key["status"] != "ACTIVE" {
		t.Errorf("key id/status: %v", key)
	}
	for _, m := range []string{"crv", "use"} {
		if v, ok := key[m]; !ok || v != nil {
			t.Errorf("key %s = %v (present %v), want null", m, v, ok)
		}
	}
	for _, m := range []string{"created", "lastUpdated"} {
		if _, ok := key[m]; ok {
			t.Errorf("key has %s", m)
		}
	}
	// ... and it authenticates: the curve follows from the coordinates.
	clientID := get(app, "credentials.oauthClient.client_id").(string)
	priv, _ := jwk.FromRaw(ecPriv)
	_ = priv.Set(jwk.KeyIDKey, "SIGNING_KEY_EC")
	now := time.Now()
	tok, _ := jwt.NewBuilder().Issuer(clientID).Subject(clientID).Audience([]string{h.TokenURL}).
		IssuedAt(now).Expiration(now.Add(5 * time.Minute)).JwtID("ec-assertion-1").Build()
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, priv))
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.RequestToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"hello:read"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {string(signed)}}, "", "")
	if err != nil || res.Status != http.StatusOK {
		t.Errorf("ES256 assertion with a crv-less registered key: %v %d %s %s", err, res.Status, res.Error, res.Description)
	}
}

// TestDPoPBoundServiceApp: dpop_bound_access_tokens is kept as sent (Okta's
// API service apps carry it true; transcripts TestAccResourceOktaAppOauth_*
// show it false on ordinary service apps). The custom authorization servers
// check no DPoP proofs, so a token request of such an app is refused as
// RFC 9449 section 5 has a server refuse a missing proof (400
// invalid_dpop_proof), never answered with a Bearer token; switching it off
// (the operator's repair) makes the app's secret work again.
func TestDPoPBoundServiceApp(t *testing.T) {
	h := newHarness(t, oktaemu.Config{Scopes: []string{"hello:read"}})
	body := serviceApp("dpop-bound", "client_secret_post")
	body["settings"].(map[string]any)["oauthClient"].(map[string]any)["dpop_bound_access_tokens"] = true
	created := h.call(http.MethodPost, "/api/v1/apps?activate=true", body, "")
	if created.status != http.StatusOK {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	app := created.json(t)
	id, _ := app["id"].(string)
	clientID, _ := get(app, "credentials.oauthClient.client_id").(string)
	secret, _ := get(app, "credentials.oauthClient.client_secret").(string)
	if v := get(h.call(http.MethodGet, "/api/v1/apps/"+id, nil, "").json(t), "settings.oauthClient.dpop_bound_access_tokens"); v != true {
		t.Fatalf("GET dpop_bound_access_tokens = %v, want true", v)
	}
	tokenBody := "grant_type=client_credentials&scope=hello:read&client_id=" + url.QueryEscape(clientID) + "&client_secret=" + url.QueryEscape(secret)
	r := h.form("/oauth2/default/v1/token", tokenBody, nil)
	if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_dpop_proof" {
		t.Fatalf("token for a DPoP-bound app: %d %s, want 400 invalid_dpop_proof", r.status, r.body)
	}

	cur := h.call(http.MethodGet, "/api/v1/apps/"+id, nil, "").json(t)
	cur["settings"].(map[string]any)["oauthClient"].(map[string]any)["dpop_bound_access_tokens"] = false
	if up := h.call(http.MethodPut, "/api/v1/apps/"+id, cur, ""); up.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", up.status, up.body)
	}
	if r := h.form("/oauth2/default/v1/token", tokenBody, nil); r.status != http.StatusOK {
		t.Fatalf("token after the flag was turned off: %d %s", r.status, r.body)
	}
}
