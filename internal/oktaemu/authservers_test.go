package oktaemu_test

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// TestCustomAuthorizationServerLifecycle drives a custom authorization
// server through the management API the way the recordings do
// (TestAccResourceOktaAuthServer_crud, _gh299, _fullStack's create body)
// and checks that it is a server of its own: issuer {org}/oauth2/{id},
// metadata, keys, and a token endpoint governed by its own policies.
func TestCustomAuthorizationServerLifecycle(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	app := h.CreateServiceApp(t, "billing", "")

	// createAuthorizationServer: 201, ACTIVE, default false, AUTO rotation
	// whatever the body asked (TestAccResourceOktaAuthServer_gh299 #0).
	r := h.call(http.MethodPost, "/api/v1/authorizationServers", map[string]any{
		"name": "orders", "description": "Orders API", "audiences": []string{"api://orders"},
		"issuerMode": "ORG_URL", "credentials": map[string]any{"signing": map[string]any{"rotationMode": "MANUAL"}},
	}, "")
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	as := r.json(t)
	id, _ := as["id"].(string)
	signing, _ := as["credentials"].(map[string]any)["signing"].(map[string]any)
	switch {
	case !strings.HasPrefix(id, "aus") || len(id) != 20:
		t.Fatalf("id %q", id)
	case as["issuer"] != h.URL+"/oauth2/"+id || as["status"] != "ACTIVE" || as["default"] != false:
		t.Errorf("issuer %v status %v default %v", as["issuer"], as["status"], as["default"])
	case signing["rotationMode"] != "AUTO" || signing["kid"] == nil || signing["nextRotation"] == nil:
		t.Errorf("signing %v", signing)
	}
	base := "/api/v1/authorizationServers/" + id

	// The default server says so (TestAccResourceOktaAuthServerDefault_crud #0).
	if d := h.call(http.MethodGet, "/api/v1/authorizationServers/default", nil, "").json(t); d["default"] != true {
		t.Errorf("default server: default = %v", d["default"])
	}
	// listAuthorizationServers with q and limit (TestAccDataSourceOktaAuthServer_read #4).
	// q searches names and audiences (spec: listAuthorizationServers).
	for _, q := range []string{"ord", "api://ORD"} {
		if l := h.call(http.MethodGet, "/api/v1/authorizationServers?limit=200&q="+urlq(q), nil, "").list(t); len(l) != 1 || l[0]["id"] != id {
			t.Errorf("list q=%s: %v", q, l)
		}
	}
	if l := h.call(http.MethodGet, "/api/v1/authorizationServers?limit=1", nil, "").list(t); len(l) != 1 {
		t.Errorf("list limit=1: %d servers", len(l))
	}

	// A new server has the system scopes and claims and no policy
	// (TestAccResourceOktaAuthServerClaimDefault_crud #2).
	scopes := h.call(http.MethodGet, base+"/scopes", nil, "").list(t)
	if len(scopes) != 7 || scopes[0]["name"] != "openid" || scopes[0]["system"] != true {
		t.Errorf("scopes of a new server: %d, first %v", len(scopes), scopes[0])
	}
	claims := h.call(http.MethodGet, base+"/claims", nil, "").list(t)
	if len(claims) != 19 || !slices.ContainsFunc(claims, func(c map[string]any) bool { return c["name"] == "sub" && c["valueType"] == "EXPRESSION" }) {
		t.Errorf("claims of a new server: %d", len(claims))
	}
	if pols := h.call(http.MethodGet, base+"/policies", nil, "").list(t); len(pols) != 0 {
		t.Errorf("a new server has %d policies", len(pols))
	}

	// Its own metadata and keys.
	meta := h.call(http.MethodGet, "/oauth2/"+id+"/.well-known/oauth-authorization-server", nil, "-").json(t)
	if meta["issuer"] != h.URL+"/oauth2/"+id || meta["token_endpoint"] != h.URL+"/oauth2/"+id+"/v1/token" {
		t.Errorf("metadata %v", meta)
	}
	keys := h.call(http.MethodGet, "/oauth2/"+id+"/v1/keys", nil, "-").json(t)["keys"].([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["kid"] != signing["kid"] {
		t.Errorf("keys %v, want the active kid %v first", keys, signing["kid"])
	}

	// One key by kid (spec: getAuthorizationServerKey; members as in
	// TestAccDataSourceOktaAuthServerKeys_read).
	kr := h.call(http.MethodGet, base+"/credentials/keys/"+signing["kid"].(string), nil, "")
	if km := kr.json(t); kr.status != http.StatusOK || km["kid"] != signing["kid"] || km["status"] != "ACTIVE" || km["kty"] != "RSA" || km["n"] == nil {
		t.Errorf("key by kid: %d %s", kr.status, kr.body)
	}
	if kr := h.call(http.MethodGet, base+"/credentials/keys/nope", nil, ""); kr.status != http.StatusNotFound || kr.errorCode(t) != "E0000007" {
		t.Errorf("unknown kid: %d %s", kr.status, kr.body)
	}

	// Its token endpoint follows its own policies: none yet, so Okta's
	// access_denied; then a policy for the app whose rule grants orders:read.
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(app.ClientID+":"+app.ClientSecret))
	tokenPath := "/oauth2/" + id + "/v1/token"
	if tr := h.form(tokenPath, "grant_type=client_credentials&scope=openid", map[string]string{"Authorization": basic}); tr.status != http.StatusBadRequest {
		t.Errorf("system scope openid with client_credentials: %d %s", tr.status, tr.body)
	}
	if sc := h.call(http.MethodPost, base+"/scopes", map[string]any{"name": "orders:read"}, ""); sc.status != http.StatusCreated {
		t.Fatalf("scope: %d %s", sc.status, sc.body)
	}
	if tr := h.form(tokenPath, "grant_type=client_credentials&scope=orders:read", map[string]string{"Authorization": basic}); tr.status != http.StatusBadRequest || tr.json(t)["error"] != "access_denied" {
		t.Errorf("token without policy: %d %s", tr.status, tr.body)
	}
	pol := h.call(http.MethodPost, base+"/policies", map[string]any{
		"type": "OAUTH_AUTHORIZATION_POLICY", "name": "billing", "description": "billing only", "priority": 1,
		"conditions": map[string]any{"clients": map[string]any{"include": []string{app.ClientID}}},
	}, "").json(t)
	rulesPath := base + "/policies/" + pol["id"].(string) + "/rules"
	rule := h.call(http.MethodPost, rulesPath, map[string]any{
		"type": "RESOURCE_ACCESS", "name": "orders",
		"conditions": map[string]any{"grantTypes": map[string]any{"include": []string{"client_credentials"}}, "scopes": map[string]any{"include": []string{"orders:read"}}},
	}, "")
	if rule.status != http.StatusCreated {
		t.Fatalf("rule: %d %s", rule.status, rule.body)
	}
	tr := h.form(tokenPath, "grant_type=client_credentials&scope=orders:read", map[string]string{"Authorization": basic})
	if tr.status != http.StatusOK {
		t.Fatalf("token: %d %s", tr.status, tr.body)
	}
	tok, err := jwt.ParseInsecure([]byte(tr.json(t)["access_token"].(string)))
	if err != nil || tok.Issuer() != h.URL+"/oauth2/"+id || !slices.Equal(tok.Audience(), []string{"api://orders"}) {
		t.Errorf("token iss/aud: %v %v %v", err, tok.Issuer(), tok.Audience())
	}
	// The default server knows nothing of orders:read.
	if tr := h.form("/oauth2/default/v1/token", "grant_type=client_credentials&scope=orders:read", map[string]string{"Authorization": basic}); tr.status != http.StatusBadRequest {
		t.Errorf("default server granted another server's scope: %d", tr.status)
	}

	// replaceAuthorizationServer: echoed read-only members are ignored and
	// rotation switches to MANUAL (TestAccResourceOktaAuthServerDefault_crud #1, _gh299 #4).
	as["description"] = "Orders and invoices"
	as["credentials"] = map[string]any{"signing": map[string]any{"rotationMode": "MANUAL"}}
	put := h.call(http.MethodPut, base, as, "")
	pm := put.json(t)
	if put.status != http.StatusOK || pm["description"] != "Orders and invoices" || pm["credentials"].(map[string]any)["signing"].(map[string]any)["nextRotation"] != nil {
		t.Errorf("replace: %d %s", put.status, put.body)
	}

	// Lifecycle answers 204 with no body (TestAccResourceOktaAuthServer_gh299 #2, #9).
	for _, step := range []struct{ path, status string }{{"/lifecycle/deactivate", "INACTIVE"}, {"/lifecycle/activate", "ACTIVE"}, {"/lifecycle/deactivate", "INACTIVE"}} {
		lr := h.call(http.MethodPost, base+step.path, nil, "")
		if lr.status != http.StatusNoContent || len(lr.body) != 0 {
			t.Errorf("%s: %d %q", step.path, lr.status, lr.body)
		}
		if got := h.call(http.MethodGet, base, nil, "").json(t)["status"]; got != step.status {
			t.Errorf("after %s: status %v", step.path, got)
		}
	}
	// deleteAuthorizationServer: 204, then 404 E0000007 everywhere.
	if d := h.call(http.MethodDelete, base, nil, ""); d.status != http.StatusNoContent {
		t.Errorf("delete: %d %s", d.status, d.body)
	}
	if g := h.call(http.MethodGet, base, nil, ""); g.status != http.StatusNotFound || g.errorCode(t) != "E0000007" {
		t.Errorf("get after delete: %d %s", g.status, g.body)
	}
	if k := h.call(http.MethodGet, "/oauth2/"+id+"/v1/keys", nil, "-"); k.status != http.StatusNotFound {
		t.Errorf("keys after delete: %d", k.status)
	}
}

// TestClaims follows the claims recordings: creating an expression and a
// groups claim (TestAccResourceOktaAuthServerClaim_create #2,
// TestAccResourceOktaAuthServerClaim_groupType #2), replacing one
// (_create #8), replacing a system claim (TestAccResourceOktaAuthServerClaimDefault_crud #7)
// and deleting (_create #12).
func TestClaims(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	base := "/api/v1/authorizationServers/default/claims"
	tests := []struct {
		name string
		body map[string]any
		want map[string]any
	}{
		{"expression", map[string]any{"alwaysIncludeInToken": true, "claimType": "RESOURCE", "conditions": map[string]any{}, "name": "test", "status": "ACTIVE", "value": "cool", "valueType": "EXPRESSION"},
			map[string]any{"valueType": "EXPRESSION", "value": "cool", "system": false, "status": "ACTIVE"}},
		{"groups", map[string]any{"alwaysIncludeInToken": true, "claimType": "RESOURCE", "conditions": map[string]any{}, "group_filter_type": "STARTS_WITH", "name": "test_sw", "status": "ACTIVE", "value": "Every", "valueType": "GROUPS"},
			map[string]any{"valueType": "GROUPS", "group_filter_type": "STARTS_WITH"}},
		{"inactive identity claim", map[string]any{"claimType": "IDENTITY", "conditions": map[string]any{"scopes": []string{"profile"}}, "name": "dept", "status": "INACTIVE", "value": "user.department", "valueType": "EXPRESSION"},
			map[string]any{"status": "INACTIVE", "claimType": "IDENTITY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.call(http.MethodPost, base, tc.body, "")
			if r.status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
			c := r.json(t)
			for k, v := range tc.want {
				if c[k] != v {
					t.Errorf("%s = %v, want %v", k, c[k], v)
				}
			}
			if _, ok := c["conditions"].(map[string]any)["scopes"].([]any); !ok {
				t.Errorf("conditions.scopes is not a list: %s", r.body)
			}
			path := base + "/" + c["id"].(string)
			tc.body["name"] = tc.body["name"].(string) + "_updated"
			if u := h.call(http.MethodPut, path, tc.body, "").json(t); u["name"] != tc.body["name"] {
				t.Errorf("replace: %v", u)
			}
			if d := h.call(http.MethodDelete, path, nil, ""); d.status != http.StatusNoContent {
				t.Errorf("delete: %d", d.status)
			}
			if g := h.call(http.MethodGet, path, nil, ""); g.status != http.StatusNotFound {
				t.Errorf("get after delete: %d", g.status)
			}
		})
	}
	t.Run("system claim", func(t *testing.T) {
		var addr map[string]any
		for _, c := range h.call(http.MethodGet, base, nil, "").list(t) {
			if c["name"] == "address" {
				addr = c
			}
		}
		if addr == nil || addr["system"] != true {
			t.Fatalf("no system address claim")
		}
		u := h.call(http.MethodPut, base+"/"+addr["id"].(string), map[string]any{
			"alwaysIncludeInToken": true, "claimType": "IDENTITY", "conditions": map[string]any{"scopes": []string{"address"}},
			"name": "address", "status": "ACTIVE", "valueType": "SYSTEM"}, "")
		if m := u.json(t); u.status != http.StatusOK || m["alwaysIncludeInToken"] != true || m["system"] != true {
			t.Errorf("replace system claim: %d %s", u.status, u.body)
		}
	})
}

// TestRuleWithEmptyScopes: Okta took a rule whose scope list is empty and
// answered "scopes": {"include": []} and users without "include"
// (TestAccResourceOktaAuthServerPolicyRule_create #8); such a rule grants
// no scope.
func TestRuleWithEmptyScopes(t *testing.T) {
	h := newHarness(t, oktaemu.Config{Scopes: []string{"hello:read"}})
	app := h.CreateServiceApp(t, "r", "")
	pols := h.call(http.MethodGet, "/api/v1/authorizationServers/default/policies", nil, "").list(t)
	polPath := "/api/v1/authorizationServers/default/policies/" + pols[0]["id"].(string)
	rules := h.call(http.MethodGet, polPath+"/rules", nil, "").list(t)
	// Only the new rule may grant: turn the default rule off.
	if r := h.call(http.MethodPost, polPath+"/rules/"+rules[0]["id"].(string)+"/lifecycle/deactivate", nil, ""); r.status != http.StatusNoContent {
		t.Fatalf("deactivate default rule: %d", r.status)
	}
	r := h.call(http.MethodPost, polPath+"/rules", map[string]any{
		"type": "RESOURCE_ACCESS", "name": "empty", "priority": 1,
		"conditions": map[string]any{"grantTypes": map[string]any{"include": []string{"client_credentials"}}, "people": map[string]any{"groups": map[string]any{"include": []string{"EVERYONE"}}, "users": map[string]any{}}, "scopes": map[string]any{}},
		"actions":    map[string]any{"token": map[string]any{"accessTokenLifetimeMinutes": 60, "inlineHook": map[string]any{"id": "calkwr3zt7815UERb1d7"}}},
	}, "")
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	m := r.json(t)
	cond := m["conditions"].(map[string]any)
	if inc, ok := cond["scopes"].(map[string]any)["include"].([]any); !ok || len(inc) != 0 {
		t.Errorf("scopes %v", cond["scopes"])
	}
	if users := cond["people"].(map[string]any)["users"].(map[string]any); users["include"] != nil || users["exclude"] == nil {
		t.Errorf("users %v", users)
	}
	if hook := m["actions"].(map[string]any)["token"].(map[string]any)["inlineHook"]; hook == nil {
		t.Errorf("inline hook not kept: %s", r.body)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(app.ClientID+":"+app.ClientSecret))
	if tr := h.form("/oauth2/default/v1/token", "grant_type=client_credentials&scope=hello:read", map[string]string{"Authorization": basic}); tr.status != http.StatusBadRequest || tr.json(t)["error"] != "access_denied" {
		t.Errorf("a rule with no scopes granted hello:read: %d %s", tr.status, tr.body)
	}
}

// TestScopeFields: every scope answer carries displayName, as every scope in the
// recordings does — also one created without it (TestAccResourceOktaAuthServerScope_crud
// #2 create, #7 replace; TestAccDataSourceOktaAuthServerScopes_read lists the system scopes
// with theirs) — and apiResourceId null (the same recordings; spec OAuth2Scope example).
func TestScopeFields(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	base := "/api/v1/authorizationServers/default/scopes"
	r := h.call(http.MethodPost, base, map[string]any{"name": "orders:read", "description": "Read orders"}, "")
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	created := r.json(t)
	for k, want := range map[string]any{"displayName": "", "description": "Read orders", "system": false,
		"consent": "IMPLICIT", "metadataPublish": "NO_CLIENTS", "apiResourceId": nil} {
		if got, ok := created[k]; !ok || got != want {
			t.Errorf("created scope %s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	id, _ := created["id"].(string)
	r = h.call(http.MethodPut, base+"/"+id, map[string]any{"name": "orders:read", "displayName": "Read orders", "description": "v2"}, "")
	if got := r.json(t); r.status != http.StatusOK || got["displayName"] != "Read orders" || got["description"] != "v2" {
		t.Fatalf("replace: %d %v", r.status, got)
	}
	for _, s := range h.call(http.MethodGet, base, nil, "").list(t) {
		if _, ok := s["displayName"]; !ok {
			t.Errorf("listed scope %v has no displayName", s["name"])
		}
	}
	// A second scope of the same name is a validation error naming the field (what the
	// Okta backend takes for a conflict).
	if r := h.call(http.MethodPost, base, map[string]any{"name": "orders:read"}, ""); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "already exists") {
		t.Errorf("duplicate: %d %s", r.status, r.body)
	}
}
