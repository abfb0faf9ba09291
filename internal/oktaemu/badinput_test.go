package oktaemu_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// withPath sets a nested key in a JSON-like map.
func withPath(m map[string]any, path string, v any) map[string]any {
	data, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	cur := out
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := cur[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	if v == nil {
		delete(cur, parts[len(parts)-1])
	} else {
		cur[parts[len(parts)-1]] = v
	}
	return out
}

func rsaJWK(t *testing.T, bits int, kid string, private bool) map[string]any {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := jwk.FromRaw(raw)
	if kid != "" {
		_ = k.Set(jwk.KeyIDKey, kid)
	}
	if !private {
		k, _ = k.PublicKey()
	}
	data, _ := json.Marshal(k)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return m
}

// TestBadInput sends malformed and invalid requests: each gets Okta's status
// and error code, never a 5xx, and changes nothing.
func TestBadInput(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	ref := h.CreateServiceApp(t, "reference", "")
	refPath := "/api/v1/apps/" + ref.ID
	policies := h.call(http.MethodGet, "/api/v1/authorizationServers/default/policies", nil, "").list(t)
	policyPath := "/api/v1/authorizationServers/default/policies/" + policies[0]["id"].(string)

	// fingerprint captures the org's state as the API shows it.
	fingerprint := func() string {
		var b strings.Builder
		for _, p := range []string{"/api/v1/apps?limit=200", refPath + "/credentials/secrets",
			"/api/v1/authorizationServers/default/scopes", "/api/v1/authorizationServers/default/policies",
			policyPath + "/rules", "/api/v1/authorizationServers/default/credentials/keys",
			"/api/v1/authorizationServers", "/api/v1/authorizationServers/default/claims"} {
			b.Write(h.call(http.MethodGet, p, nil, "").body)
		}
		return b.String()
	}

	base := serviceApp("bad", "client_secret_basic")
	small := rsaJWK(t, 1024, "", false)
	priv := rsaJWK(t, 2048, "", true)
	k1, k2 := rsaJWK(t, 2048, "same", false), rsaJWK(t, 2048, "same", false)
	pkj := serviceApp("pkj", "private_key_jwt")

	type tc struct {
		method, path string
		body         any // string: raw; map: JSON
		auth         string
		status       int
		code         string
	}
	tests := map[string]tc{
		"malformed json":             {"POST", "/api/v1/apps", `{"label":`, "", 400, "E0000003"},
		"json array":                 {"POST", "/api/v1/apps", `[]`, "", 400, "E0000003"},
		"empty body":                 {"POST", "/api/v1/apps", ``, "", 400, "E0000003"},
		"trailing garbage":           {"POST", "/api/v1/apps", `{"label":"x"} {}`, "", 400, "E0000003"},
		"label of the wrong type":    {"POST", "/api/v1/apps", withPath(base, "label", 7), "", 400, "E0000003"},
		"settings of the wrong type": {"POST", "/api/v1/apps", withPath(base, "settings", "service"), "", 400, "E0000003"},
		"grant_types of wrong type":  {"POST", "/api/v1/apps", withPath(base, "settings.oauthClient.grant_types", "client_credentials"), "", 400, "E0000003"},
		"profile not an object":      {"POST", "/api/v1/apps", withPath(base, "profile", []string{"a"}), "", 400, "E0000003"},
		"missing label":              {"POST", "/api/v1/apps", withPath(base, "label", nil), "", 400, "E0000001"},
		"blank label":                {"POST", "/api/v1/apps", withPath(base, "label", "  "), "", 400, "E0000001"},
		"missing signOnMode":         {"POST", "/api/v1/apps", withPath(base, "signOnMode", nil), "", 400, "E0000001"},
		"bookmark app":               {"POST", "/api/v1/apps", withPath(base, "signOnMode", "BOOKMARK"), "", 400, "E0000001"},
		"wrong app name":             {"POST", "/api/v1/apps", withPath(base, "name", "bookmark"), "", 400, "E0000001"},
		"no oauth settings":          {"POST", "/api/v1/apps", withPath(base, "settings", nil), "", 400, "E0000001"},
		// Other app types stay refused (the recordings' web, native and browser
		// apps: TestAccResourceOktaAppOauth_basic #0 and #13, _pkce_required #0).
		"web app":                     {"POST", "/api/v1/apps", withPath(base, "settings.oauthClient.application_type", "web"), "", 400, "E0000001"},
		"native app":                  {"POST", "/api/v1/apps", withPath(base, "settings.oauthClient.application_type", "native"), "", 400, "E0000001"},
		"browser app":                 {"POST", "/api/v1/apps", withPath(base, "settings.oauthClient.application_type", "browser"), "", 400, "E0000001"},
		"unknown app type":            {"POST", "/api/v1/apps", withPath(base, "settings.oauthClient.application_type", "robot"), "", 400, "E0000001"},
		"password grant":              {"POST", "/api/v1/apps", withPath(base, "settings.oauthClient.grant_types", []string{"password"}), "", 400, "E0000001"},
		"unknown grant":               {"POST", "/api/v1/apps", withPath(base, "settings.oauthClient.grant_types", []string{"magic"}), "", 400, "E0000001"},
		"code response type":          {"POST", "/api/v1/apps", withPath(base, "settings.oauthClient.response_types", []string{"code"}), "", 400, "E0000001"},
		"unknown auth method":         {"POST", "/api/v1/apps", withPath(base, "credentials.oauthClient.token_endpoint_auth_method", "magic"), "", 400, "E0000001"},
		"auth method none":            {"POST", "/api/v1/apps", withPath(base, "credentials.oauthClient.token_endpoint_auth_method", "none"), "", 400, "E0000001"},
		"secret too short":            {"POST", "/api/v1/apps", withPath(base, "credentials.oauthClient.client_secret", "short"), "", 400, "E0000001"},
		"secret too long":             {"POST", "/api/v1/apps", withPath(base, "credentials.oauthClient.client_secret", strings.Repeat("s", 101)), "", 400, "E0000001"},
		"secret not ascii":            {"POST", "/api/v1/apps", withPath(base, "credentials.oauthClient.client_secret", "ééééééééééééééééé"), "", 400, "E0000001"},
		"client_id with bad chars":    {"POST", "/api/v1/apps", withPath(base, "credentials.oauthClient.client_id", "has space here"), "", 400, "E0000001"},
		"client_id ALL_CLIENTS":       {"POST", "/api/v1/apps", withPath(base, "credentials.oauthClient.client_id", "ALL_CLIENTS"), "", 400, "E0000001"},
		"client_id taken":             {"POST", "/api/v1/apps", withPath(base, "credentials.oauthClient.client_id", ref.ClientID), "", 400, "E0000001"},
		"consent method bogus":        {"POST", "/api/v1/apps", withPath(base, "settings.oauthClient.consent_method", "MAYBE"), "", 400, "E0000001"},
		"activate not a boolean":      {"POST", "/api/v1/apps?activate=maybe", base, "", 400, "E0000001"},
		"private_key_jwt no jwks":     {"POST", "/api/v1/apps", pkj, "", 400, "E0000001"},
		"private_key_jwt with secret": {"POST", "/api/v1/apps", withPath(withPath(pkj, "settings.oauthClient.jwks", map[string]any{"keys": []any{k1}}), "credentials.oauthClient.client_secret", "abcdefghijklmnopqrstu"), "", 400, "E0000001"},
		"jwks with a private key":     {"POST", "/api/v1/apps", withPath(pkj, "settings.oauthClient.jwks", map[string]any{"keys": []any{priv}}), "", 400, "E0000001"},
		"jwks with a 1024-bit key":    {"POST", "/api/v1/apps", withPath(pkj, "settings.oauthClient.jwks", map[string]any{"keys": []any{small}}), "", 400, "E0000001"},
		"jwks with duplicate kids":    {"POST", "/api/v1/apps", withPath(pkj, "settings.oauthClient.jwks", map[string]any{"keys": []any{k1, k2}}), "", 400, "E0000001"},
		"jwks key not a jwk":          {"POST", "/api/v1/apps", withPath(pkj, "settings.oauthClient.jwks", map[string]any{"keys": []any{map[string]any{"kty": "RSA"}}}), "", 400, "E0000001"},
		"jwks only inactive keys":     {"POST", "/api/v1/apps", withPath(pkj, "settings.oauthClient.jwks", map[string]any{"keys": []any{withPath(k1, "status", "INACTIVE")}}), "", 400, "E0000001"},
		"jwks_uri over http":          {"POST", "/api/v1/apps", withPath(pkj, "settings.oauthClient.jwks_uri", "http://example.com/jwks"), "", 400, "E0000001"},
		"jwks_uri and jwks":           {"POST", "/api/v1/apps", withPath(withPath(pkj, "settings.oauthClient.jwks", map[string]any{"keys": []any{k1}}), "settings.oauthClient.jwks_uri", "https://example.com/jwks"), "", 400, "E0000001"},
		"ec key of no known curve":    {"POST", "/api/v1/apps", withPath(pkj, "settings.oauthClient.jwks", map[string]any{"keys": []any{map[string]any{"kty": "EC", "kid": "ec", "x": "AAAA", "y": "AAAA"}}}), "", 400, "E0000001"},
		"code grant on service app":   {"POST", "/api/v1/apps", withPath(base, "settings.oauthClient.grant_types", []string{"authorization_code"}), "", 400, "E0000001"},
		// Authorization servers and claims (spec: createAuthorizationServer,
		// replaceAuthorizationServer, createOAuth2Claim, replaceOAuth2Claim).
		"server without name":         {"POST", "/api/v1/authorizationServers", map[string]any{"audiences": []string{"api://x"}}, "", 400, "E0000001"},
		"server without audiences":    {"POST", "/api/v1/authorizationServers", map[string]any{"name": "x"}, "", 400, "E0000001"},
		"server name taken":           {"POST", "/api/v1/authorizationServers", map[string]any{"name": "default", "audiences": []string{"api://x"}}, "", 400, "E0000001"},
		"server issuerMode bogus":     {"POST", "/api/v1/authorizationServers", map[string]any{"name": "x", "audiences": []string{"api://x"}, "issuerMode": "SOMETIMES"}, "", 400, "E0000001"},
		"server rotationMode bogus":   {"PUT", "/api/v1/authorizationServers/default", map[string]any{"name": "default", "audiences": []string{"api://default"}, "credentials": map[string]any{"signing": map[string]any{"rotationMode": "NEVER"}}}, "", 400, "E0000001"},
		"server malformed json":       {"POST", "/api/v1/authorizationServers", `{"name":`, "", 400, "E0000003"},
		"replace unknown server":      {"PUT", "/api/v1/authorizationServers/ausnope", map[string]any{"name": "x", "audiences": []string{"api://x"}}, "", 404, "E0000007"},
		"delete unknown server":       {"DELETE", "/api/v1/authorizationServers/ausnope", nil, "", 404, "E0000007"},
		"activate unknown server":     {"POST", "/api/v1/authorizationServers/ausnope/lifecycle/activate", nil, "", 404, "E0000007"},
		"claim without name":          {"POST", "/api/v1/authorizationServers/default/claims", map[string]any{"claimType": "RESOURCE", "valueType": "EXPRESSION", "value": "1"}, "", 400, "E0000001"},
		"claim valueType bogus":       {"POST", "/api/v1/authorizationServers/default/claims", map[string]any{"name": "c", "claimType": "RESOURCE", "valueType": "MAGIC", "value": "1"}, "", 400, "E0000001"},
		"claim valueType SYSTEM":      {"POST", "/api/v1/authorizationServers/default/claims", map[string]any{"name": "c", "claimType": "RESOURCE", "valueType": "SYSTEM"}, "", 400, "E0000001"},
		"claim without value":         {"POST", "/api/v1/authorizationServers/default/claims", map[string]any{"name": "c", "claimType": "RESOURCE", "valueType": "EXPRESSION"}, "", 400, "E0000001"},
		"groups claim without filter": {"POST", "/api/v1/authorizationServers/default/claims", map[string]any{"name": "c", "claimType": "RESOURCE", "valueType": "GROUPS", "value": "Everyone"}, "", 400, "E0000001"},
		"claim name taken":            {"POST", "/api/v1/authorizationServers/default/claims", map[string]any{"name": "sub", "claimType": "RESOURCE", "valueType": "EXPRESSION", "value": "1"}, "", 400, "E0000001"},
		"claim for unknown scope":     {"POST", "/api/v1/authorizationServers/default/claims", map[string]any{"name": "c", "claimType": "RESOURCE", "valueType": "EXPRESSION", "value": "1", "conditions": map[string]any{"scopes": []string{"nope"}}}, "", 400, "E0000001"},
		"unknown claim":               {"GET", "/api/v1/authorizationServers/default/claims/oclnope", nil, "", 404, "E0000007"},
		"delete unknown claim":        {"DELETE", "/api/v1/authorizationServers/default/claims/oclnope", nil, "", 404, "E0000007"},
		"oversized body":              {"POST", "/api/v1/apps", withPath(base, "profile", map[string]any{"blob": strings.Repeat("x", 2<<20)}), "", 413, "E0000003"},
		"replace unknown app":         {"PUT", "/api/v1/apps/0oanope", base, "", 404, "E0000007"},
		"replace with new client_id":  {"PUT", refPath, withPath(base, "credentials.oauthClient.client_id", "another-id"), "", 400, "E0000001"},
		"replace without label":       {"PUT", refPath, withPath(base, "label", nil), "", 400, "E0000001"},
		"replace with malformed json": {"PUT", refPath, `{"label"`, "", 400, "E0000003"},
		"patch app":                   {"PATCH", refPath, `{}`, "", 405, "E0000022"},
		"delete app collection":       {"DELETE", "/api/v1/apps", nil, "", 405, "E0000022"},
		"get unknown app":             {"GET", "/api/v1/apps/0oanope", nil, "", 404, "E0000007"},
		"activate unknown app":        {"POST", "/api/v1/apps/0oanope/lifecycle/activate", nil, "", 404, "E0000007"},
		"unknown secret":              {"GET", refPath + "/credentials/secrets/ocsnope", nil, "", 404, "E0000007"},
		"delete unknown secret":       {"DELETE", refPath + "/credentials/secrets/ocsnope", nil, "", 404, "E0000007"},
		"secret for unknown app":      {"POST", "/api/v1/apps/0oanope/credentials/secrets", `{}`, "", 404, "E0000007"},
		"secret status bogus":         {"POST", refPath + "/credentials/secrets", map[string]any{"status": "MAYBE"}, "", 400, "E0000001"},
		"secret value too short":      {"POST", refPath + "/credentials/secrets", map[string]any{"client_secret": "short"}, "", 400, "E0000001"},
		"secret body malformed":       {"POST", refPath + "/credentials/secrets", `{"client_secret":`, "", 400, "E0000003"},
		"unknown api path":            {"GET", "/api/v1/users", nil, "", 404, "E0000008"},
		"trailing slash":              {"GET", "/api/v1/apps/", nil, "", 404, "E0000008"},
		"no token":                    {"GET", "/api/v1/apps", nil, "-", 401, "E0000011"},
		"wrong token":                 {"GET", "/api/v1/apps", nil, "SSWS wrong", 401, "E0000011"},
		"bearer token":                {"POST", "/api/v1/apps", base, "Bearer " + "x", 401, "E0000011"},
		"limit not a number":          {"GET", "/api/v1/apps?limit=ten", nil, "", 400, "E0000001"},
		"after not a cursor":          {"GET", "/api/v1/apps?after=0oa123", nil, "", 400, "E0000001"},
		"unknown auth server":         {"GET", "/api/v1/authorizationServers/nope", nil, "", 404, "E0000007"},
		"rotate without body":         {"POST", "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate", ``, "", 400, "E0000003"},
		"rotate with use enc":         {"POST", "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate", map[string]any{"use": "enc"}, "", 400, "E0000001"},
		"scope without name":          {"POST", "/api/v1/authorizationServers/default/scopes", map[string]any{"description": "x"}, "", 400, "E0000001"},
		"scope already exists":        {"POST", "/api/v1/authorizationServers/default/scopes", map[string]any{"name": "hello:read"}, "", 400, "E0000001"},
		"scope consent bogus":         {"POST", "/api/v1/authorizationServers/default/scopes", map[string]any{"name": "a:b", "consent": "NEVER"}, "", 400, "E0000001"},
		"scope name with a space":     {"POST", "/api/v1/authorizationServers/default/scopes", map[string]any{"name": "a b"}, "", 400, "E0000001"},
		"unknown scope id":            {"GET", "/api/v1/authorizationServers/default/scopes/scpnope", nil, "", 404, "E0000007"},
		"policy without description":  {"POST", "/api/v1/authorizationServers/default/policies", map[string]any{"type": "OAUTH_AUTHORIZATION_POLICY", "name": "p", "conditions": map[string]any{"clients": map[string]any{"include": []string{"ALL_CLIENTS"}}}}, "", 400, "E0000001"},
		"policy for unknown client":   {"POST", "/api/v1/authorizationServers/default/policies", map[string]any{"type": "OAUTH_AUTHORIZATION_POLICY", "name": "p", "description": "d", "conditions": map[string]any{"clients": map[string]any{"include": []string{"nobody"}}}}, "", 400, "E0000001"},
		"policy of the wrong type":    {"POST", "/api/v1/authorizationServers/default/policies", map[string]any{"type": "PASSWORD", "name": "p", "description": "d"}, "", 400, "E0000001"},
		"rule with unknown scope":     {"POST", policyPath + "/rules", map[string]any{"type": "RESOURCE_ACCESS", "name": "r", "conditions": map[string]any{"grantTypes": map[string]any{"include": []string{"client_credentials"}}, "scopes": map[string]any{"include": []string{"nope"}}}}, "", 400, "E0000001"},
		"rule lifetime too short":     {"POST", policyPath + "/rules", map[string]any{"type": "RESOURCE_ACCESS", "name": "r", "conditions": map[string]any{"grantTypes": map[string]any{"include": []string{"client_credentials"}}, "scopes": map[string]any{"include": []string{"*"}}}, "actions": map[string]any{"token": map[string]any{"accessTokenLifetimeMinutes": 2}}}, "", 400, "E0000001"},
		"rule without type":           {"POST", policyPath + "/rules", map[string]any{"name": "r"}, "", 400, "E0000001"},
		"rule lifetime of wrong type": {"POST", policyPath + "/rules", map[string]any{"type": "RESOURCE_ACCESS", "name": "r", "actions": map[string]any{"token": map[string]any{"accessTokenLifetimeMinutes": "1h"}}}, "", 400, "E0000003"},
		"unknown rule":                {"DELETE", policyPath + "/rules/0prnope", nil, "", 404, "E0000007"},
		"unknown policy":              {"GET", "/api/v1/authorizationServers/default/policies/00pnope/rules", nil, "", 404, "E0000007"},
		"keys of unknown server":      {"GET", "/oauth2/nope/v1/keys", nil, "-", 404, "E0000007"},
	}
	before := fingerprint()
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			r := h.call(c.method, c.path, c.body, c.auth)
			if r.status >= 500 {
				t.Fatalf("5xx for bad input: %d %s", r.status, r.body)
			}
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if got := r.errorCode(t); got != c.code {
				t.Errorf("errorCode %s, want %s: %s", got, c.code, r.body)
			}
			m := r.json(t)
			if m["errorLink"] != c.code || m["errorId"] == "" || m["errorSummary"] == "" {
				t.Errorf("incomplete Okta error body: %s", r.body)
			}
			if _, ok := m["errorCauses"].([]any); !ok {
				t.Errorf("errorCauses is not an array: %s", r.body)
			}
			if r.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if after := fingerprint(); after != before {
				t.Errorf("refused request changed the org's state")
			}
		})
	}
}
