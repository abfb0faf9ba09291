package oktaemu_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/okta/okta-sdk-golang/v2/okta"
	"github.com/okta/okta-sdk-golang/v2/okta/query"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
)

// TestAppGrantsWithSDK drives the app grants API with the Okta SDK (spec
// operations listScopeConsentGrants, grantConsentToScope,
// getScopeConsentGrant, revokeScopeConsentGrant; every answer is validated
// against the spec's OAuth2ScopeConsentGrant and error schemas).
func TestAppGrantsWithSDK(t *testing.T) {
	h := newHarness(t, oktaemu.Config{}) // every answer is checked against the spec
	env := h.Env
	ctx, c := h.sdk()
	app := env.CreateAPIServiceApp(t, "grants", jwa.RS256)

	g, resp, err := c.Application.GrantConsentToScope(ctx, app.ID, okta.OAuth2ScopeConsentGrant{Issuer: env.URL, ScopeId: "okta.apps.read"})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("grant: %v (%v)", err, resp)
	}
	if !strings.HasPrefix(g.Id, "oag") || g.Status != "ACTIVE" || g.ClientId != app.ClientID || g.Issuer != env.URL || g.ScopeId != "okta.apps.read" || g.Source != "ADMIN" {
		t.Errorf("grant %+v", g)
	}
	if _, _, err := c.Application.GrantConsentToScope(ctx, app.ID, okta.OAuth2ScopeConsentGrant{Issuer: env.URL, ScopeId: "okta.authorizationServers.manage"}); err != nil {
		t.Fatal(err)
	}
	list, _, err := c.Application.ListScopeConsentGrants(ctx, app.ID, nil)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	got, _, err := c.Application.GetScopeConsentGrant(ctx, app.ID, g.Id, nil)
	if err != nil || got.Id != g.Id || got.ScopeId != "okta.apps.read" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if resp, err := c.Application.RevokeScopeConsentGrant(ctx, app.ID, g.Id); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %v (%v)", err, resp)
	}
	if list, _, _ := c.Application.ListScopeConsentGrants(ctx, app.ID, nil); len(list) != 1 || list[0].ScopeId != "okta.authorizationServers.manage" {
		t.Errorf("after revoke: %+v", list)
	}

	// Bad input: Okta's 400 E0000001 or 404 E0000007, nothing granted.
	bad := map[string]struct {
		appID string
		body  okta.OAuth2ScopeConsentGrant
		code  string
	}{
		"unknown scope":  {app.ID, okta.OAuth2ScopeConsentGrant{Issuer: env.URL, ScopeId: "okta.everything"}, "E0000001"},
		"custom scope":   {app.ID, okta.OAuth2ScopeConsentGrant{Issuer: env.URL, ScopeId: "hello:read"}, "E0000001"},
		"no scope":       {app.ID, okta.OAuth2ScopeConsentGrant{Issuer: env.URL}, "E0000001"},
		"no issuer":      {app.ID, okta.OAuth2ScopeConsentGrant{ScopeId: "okta.apps.read"}, "E0000001"},
		"foreign issuer": {app.ID, okta.OAuth2ScopeConsentGrant{Issuer: "https://other.okta.com", ScopeId: "okta.apps.read"}, "E0000001"},
		"unknown app":    {"0oanope", okta.OAuth2ScopeConsentGrant{Issuer: env.URL, ScopeId: "okta.apps.read"}, "E0000007"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, _, err := c.Application.GrantConsentToScope(ctx, tc.appID, tc.body)
			if code := oktaCode(t, err); code != tc.code {
				t.Errorf("code %s, want %s", code, tc.code)
			}
		})
	}
	if list, _, _ := c.Application.ListScopeConsentGrants(ctx, app.ID, nil); len(list) != 1 {
		t.Errorf("bad input changed the grants: %d", len(list))
	}
	if r := h.call(http.MethodPost, "/api/v1/apps/"+app.ID+"/grants", `{"scopeId":`, ""); r.status != 400 || r.errorCode(t) != "E0000003" {
		t.Errorf("malformed body: %d %s", r.status, r.body)
	}
	if _, err := c.Application.RevokeScopeConsentGrant(ctx, app.ID, "oagnope"); oktaCode(t, err) != "E0000007" {
		t.Errorf("revoke unknown: %v", err)
	}
}

// TestOrgAuthorizationServerToken: the org authorization server's token
// endpoint (Okta's oauth spec: /oauth2/v1/token; client authentication
// with private_key_jwt, RFC 7523) with DPoP (RFC 9449): the nonce challenge
// (section 8: 400 use_dpop_nonce and a DPoP-Nonce header), a DPoP-bound
// token (token_type DPoP, cnf.jkt = the proof key's RFC 7638 thumbprint),
// and Okta's refusals.
func TestOrgAuthorizationServerToken(t *testing.T) {
	env := oktaemutest.Start(t, oktaemu.Config{})
	rsApp := env.CreateAPIServiceApp(t, "rs256", jwa.RS256, "okta.apps.read", "okta.apps.manage")
	esApp := env.CreateAPIServiceApp(t, "es256", jwa.ES256, "okta.apps.read")
	secretApp := env.CreateServiceApp(t, "secret", "")
	key := oktaemutest.NewDPoPKey(t)
	tokenURL := env.OrgTokenURL()

	// A nonce to use in the cases below.
	first := env.RequestOrgToken(t, env.OrgTokenForm(t, rsApp, "okta.apps.read"), oktaemutest.DPoPProof(t, key, "POST", tokenURL, "", ""))
	nonce := first.Header.Get("DPoP-Nonce")
	if first.Status != http.StatusBadRequest || first.Error != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("first request: %d %s nonce %q, want 400 use_dpop_nonce with a DPoP-Nonce", first.Status, first.Error, nonce)
	}
	proof := func() string { return oktaemutest.DPoPProof(t, key, "POST", tokenURL, nonce, "") }

	tests := map[string]struct {
		form      func() url.Values
		proof     func() string
		wantCode  int
		wantError string
		wantScope string
	}{
		"RS256 assertion": {form: func() url.Values { return env.OrgTokenForm(t, rsApp, "okta.apps.read okta.apps.manage") }, proof: proof,
			wantCode: 200, wantScope: "okta.apps.read okta.apps.manage"},
		"ES256 assertion": {form: func() url.Values { return env.OrgTokenForm(t, esApp, "okta.apps.read") }, proof: proof,
			wantCode: 200, wantScope: "okta.apps.read"},
		"scope not granted": {form: func() url.Values { return env.OrgTokenForm(t, esApp, "okta.apps.manage") }, proof: proof,
			wantCode: 400, wantError: "invalid_scope"},
		"custom scope": {form: func() url.Values { return env.OrgTokenForm(t, esApp, "hello:read") }, proof: proof,
			wantCode: 400, wantError: "invalid_scope"},
		"no scope": {form: func() url.Values { return env.OrgTokenForm(t, esApp, "") }, proof: proof,
			wantCode: 400, wantError: "invalid_scope"},
		"no DPoP proof": {form: func() url.Values { return env.OrgTokenForm(t, rsApp, "okta.apps.read") }, proof: func() string { return "" },
			wantCode: 400, wantError: "invalid_dpop_proof"},
		"proof for another URL": {form: func() url.Values { return env.OrgTokenForm(t, rsApp, "okta.apps.read") },
			proof:    func() string { return oktaemutest.DPoPProof(t, key, "POST", env.TokenURL, nonce, "") },
			wantCode: 400, wantError: "invalid_dpop_proof"},
		"proof for another method": {form: func() url.Values { return env.OrgTokenForm(t, rsApp, "okta.apps.read") },
			proof:    func() string { return oktaemutest.DPoPProof(t, key, "GET", tokenURL, nonce, "") },
			wantCode: 400, wantError: "invalid_dpop_proof"},
		"stale proof": {form: func() url.Values { return env.OrgTokenForm(t, rsApp, "okta.apps.read") },
			proof: func() string {
				return oktaemutest.DPoPProofAt(t, key, "POST", tokenURL, nonce, "", time.Now().Add(-time.Hour))
			},
			wantCode: 400, wantError: "invalid_dpop_proof"},
		"not a JWS": {form: func() url.Values { return env.OrgTokenForm(t, rsApp, "okta.apps.read") }, proof: func() string { return "a.b" },
			wantCode: 400, wantError: "invalid_dpop_proof"},
		"unknown nonce": {form: func() url.Values { return env.OrgTokenForm(t, rsApp, "okta.apps.read") },
			proof:    func() string { return oktaemutest.DPoPProof(t, key, "POST", tokenURL, "made-up", "") },
			wantCode: 400, wantError: "use_dpop_nonce"},
		"unknown client": {form: func() url.Values {
			f := env.OrgTokenForm(t, rsApp, "okta.apps.read")
			f.Set("client_id", "0oanobody")
			return f
		}, proof: proof, wantCode: 401, wantError: "invalid_client"},
		"assertion for the default server": {form: func() url.Values {
			f := env.OrgTokenForm(t, rsApp, "okta.apps.read")
			f.Set("client_assertion", env.ClientAssertion(t, rsApp)) // aud = /oauth2/default/v1/token
			return f
		}, proof: proof, wantCode: 401, wantError: "invalid_client"},
		"assertion signed by another key": {form: func() url.Values {
			f := env.OrgTokenForm(t, rsApp, "okta.apps.read")
			f.Set("client_assertion", env.OrgAssertion(t, oktaemutest.App{ClientID: rsApp.ClientID, PrivateKey: oktaemutest.NewSigningKey(t, jwa.RS256)}))
			return f
		}, proof: proof, wantCode: 401, wantError: "invalid_client"},
		"client secret": {form: func() url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "scope": {"okta.apps.read"}, "client_id": {secretApp.ClientID}, "client_secret": {secretApp.ClientSecret}}
		}, proof: proof, wantCode: 401, wantError: "invalid_client"},
		"other grant type": {form: func() url.Values {
			f := env.OrgTokenForm(t, rsApp, "okta.apps.read")
			f.Set("grant_type", "password")
			return f
		}, proof: proof, wantCode: 400, wantError: "unsupported_grant_type"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := env.RequestOrgToken(t, tc.form(), tc.proof())
			if res.Status != tc.wantCode || res.Error != tc.wantError {
				t.Fatalf("%d %s (%s), want %d %s", res.Status, res.Error, res.Description, tc.wantCode, tc.wantError)
			}
			if tc.wantCode != 200 {
				if res.AccessToken != "" {
					t.Error("a refused request got a token")
				}
				if tc.wantError == "use_dpop_nonce" && res.Header.Get("DPoP-Nonce") == "" {
					t.Error("use_dpop_nonce without a DPoP-Nonce header")
				}
				return
			}
			if res.TokenType != "DPoP" || res.ExpiresIn != 3600 || res.Scope != tc.wantScope {
				t.Errorf("token_type %s expires_in %d scope %q", res.TokenType, res.ExpiresIn, res.Scope)
			}
			// Signed by a key of {org}/oauth2/v1/keys, bound to the proof key.
			set, err := jwk.Fetch(context.Background(), env.URL+"/oauth2/v1/keys")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.Parse([]byte(res.AccessToken), jwt.WithKeySet(set), jwt.WithIssuer(env.URL), jwt.WithAudience(env.URL))
			if err != nil {
				t.Fatalf("token does not verify: %v", err)
			}
			cnf, _ := tok.Get("cnf")
			tp, _ := key.Thumbprint(crypto.SHA256)
			if m, _ := cnf.(map[string]any); m["jkt"] != base64.RawURLEncoding.EncodeToString(tp) {
				t.Errorf("cnf %v, want jkt of the proof key", cnf)
			}
		})
	}

	t.Run("replayed proof", func(t *testing.T) {
		p := proof()
		if res := env.RequestOrgToken(t, env.OrgTokenForm(t, rsApp, "okta.apps.read"), p); res.Status != 200 {
			t.Fatalf("first use: %d %s", res.Status, res.Error)
		}
		if res := env.RequestOrgToken(t, env.OrgTokenForm(t, rsApp, "okta.apps.read"), p); res.Error != "invalid_dpop_proof" {
			t.Errorf("replay: %d %s", res.Status, res.Error)
		}
	})
	t.Run("replayed assertion", func(t *testing.T) {
		f := env.OrgTokenForm(t, rsApp, "okta.apps.read")
		if res := env.RequestOrgToken(t, f, proof()); res.Status != 200 {
			t.Fatalf("first use: %d %s", res.Status, res.Error)
		}
		if res := env.RequestOrgToken(t, f, proof()); res.Status != 401 || res.Error != "invalid_client" {
			t.Errorf("replay: %d %s", res.Status, res.Error)
		}
	})
	t.Run("rotated nonces", func(t *testing.T) {
		env.Server.RotateDPoPNonces()
		res := env.RequestOrgToken(t, env.OrgTokenForm(t, rsApp, "okta.apps.read"), proof())
		if res.Error != "use_dpop_nonce" || res.Header.Get("DPoP-Nonce") == "" || res.Header.Get("DPoP-Nonce") == nonce {
			t.Errorf("after rotation: %d %s nonce %q", res.Status, res.Error, res.Header.Get("DPoP-Nonce"))
		}
		// FetchDPoPToken answers the challenge.
		env.FetchDPoPToken(t, rsApp, key, "okta.apps.read")
	})
	t.Run("revoked grant", func(t *testing.T) {
		_, c := plainSDK(t, env)
		grants, _, err := c.Application.ListScopeConsentGrants(context.Background(), esApp.ID, nil)
		if err != nil || len(grants) != 1 {
			t.Fatalf("grants: %v %v", grants, err)
		}
		if _, err := c.Application.RevokeScopeConsentGrant(context.Background(), esApp.ID, grants[0].Id); err != nil {
			t.Fatal(err)
		}
		res := env.RequestOrgToken(t, env.OrgTokenForm(t, esApp, "okta.apps.read"), oktaemutest.DPoPProof(t, key, "POST", tokenURL, "", ""))
		fresh := res.Header.Get("DPoP-Nonce") // the nonces were rotated above
		if res = env.RequestOrgToken(t, env.OrgTokenForm(t, esApp, "okta.apps.read"), oktaemutest.DPoPProof(t, key, "POST", tokenURL, fresh, "")); res.Error != "invalid_scope" {
			t.Errorf("after revoking: %d %s", res.Status, res.Error)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		status, body := oktaemutest.Admin(t, env.URL, env.APIToken, http.MethodGet, "/.well-known/oauth-authorization-server", nil)
		var m map[string]any
		if err := json.Unmarshal(body, &m); status != 200 || err != nil {
			t.Fatalf("%d %v", status, err)
		}
		if m["issuer"] != env.URL || m["token_endpoint"] != tokenURL || m["jwks_uri"] != env.URL+"/oauth2/v1/keys" {
			t.Errorf("metadata %v", m)
		}
		if algs, _ := m["dpop_signing_alg_values_supported"].([]any); len(algs) == 0 {
			t.Error("no dpop_signing_alg_values_supported")
		}
	})
}

// TestDPoPManagementCalls: a management call with "Authorization: DPoP
// <token>" and a proof (RFC 9449 section 7: htm, htu, iat, jti, ath, the
// key of cnf.jkt) is allowed for the scopes granted, as the security
// requirements of Okta's management spec (okta.apps.read|manage,
// okta.authorizationServers.read|manage); otherwise 403 E0000006 with a
// WWW-Authenticate insufficient_scope challenge (support.okta.com:
// "insufficient_scope error when making a request to an OAuth or
// management endpoint"), or 401 with a DPoP challenge for a bad proof.
func TestDPoPManagementCalls(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	env := oktaemutest.Start(t, oktaemu.Config{Now: clock.Now})
	app := env.CreateAPIServiceApp(t, "reader", jwa.ES256, "okta.apps.read")
	key := oktaemutest.NewDPoPKey(t)
	tok := env.FetchDPoPToken(t, app, key, "okta.apps.read")
	appsURL := env.URL + "/api/v1/apps"

	raw := func(auth, proof, method, path string) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, env.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&b)
		return resp.StatusCode, resp.Header, b
	}
	otherKey := oktaemutest.NewDPoPKey(t)
	otherTok := env.FetchDPoPToken(t, env.CreateAPIServiceApp(t, "other", jwa.RS256, "okta.apps.read"), otherKey, "okta.apps.read")

	tests := map[string]struct {
		auth, proof  func() string
		method, path string
		wantStatus   int
		wantChalleng string // in WWW-Authenticate
	}{
		"read with read scope": {auth: func() string { return "DPoP " + tok },
			proof:  func() string { return oktaemutest.DPoPProof(t, key, "GET", appsURL, "", tok) },
			method: "GET", path: "/api/v1/apps", wantStatus: 200},
		"query string is not in htu": {auth: func() string { return "DPoP " + tok },
			proof:  func() string { return oktaemutest.DPoPProof(t, key, "GET", appsURL+"?limit=1", "", tok) },
			method: "GET", path: "/api/v1/apps?limit=1", wantStatus: 200},
		"change with read scope": {auth: func() string { return "DPoP " + tok },
			proof:  func() string { return oktaemutest.DPoPProof(t, key, "POST", appsURL, "", tok) },
			method: "POST", path: "/api/v1/apps", wantStatus: 403, wantChalleng: `error="insufficient_scope"`},
		"authorization servers without the scope": {auth: func() string { return "DPoP " + tok },
			proof: func() string {
				return oktaemutest.DPoPProof(t, key, "GET", env.URL+"/api/v1/authorizationServers", "", tok)
			},
			method: "GET", path: "/api/v1/authorizationServers", wantStatus: 403, wantChalleng: `scope="okta.authorizationServers.read"`},
		"grants without the scope": {auth: func() string { return "DPoP " + tok },
			proof: func() string {
				return oktaemutest.DPoPProof(t, key, "GET", appsURL+"/"+app.ID+"/grants", "", tok)
			},
			method: "GET", path: "/api/v1/apps/" + app.ID + "/grants", wantStatus: 403, wantChalleng: "okta.appGrants"},
		"Bearer scheme": {auth: func() string { return "Bearer " + tok },
			proof:  func() string { return oktaemutest.DPoPProof(t, key, "GET", appsURL, "", tok) },
			method: "GET", path: "/api/v1/apps", wantStatus: 401, wantChalleng: `error="invalid_token"`},
		"no proof": {auth: func() string { return "DPoP " + tok }, proof: func() string { return "" },
			method: "GET", path: "/api/v1/apps", wantStatus: 401, wantChalleng: `error="invalid_dpop_proof"`},
		"proof without ath": {auth: func() string { return "DPoP " + tok },
			proof:  func() string { return oktaemutest.DPoPProof(t, key, "GET", appsURL, "", "") },
			method: "GET", path: "/api/v1/apps", wantStatus: 401, wantChalleng: `error="invalid_dpop_proof"`},
		"ath of another token": {auth: func() string { return "DPoP " + tok },
			proof:  func() string { return oktaemutest.DPoPProof(t, key, "GET", appsURL, "", otherTok) },
			method: "GET", path: "/api/v1/apps", wantStatus: 401, wantChalleng: `error="invalid_dpop_proof"`},
		"proof by another key": {auth: func() string { return "DPoP " + tok },
			proof:  func() string { return oktaemutest.DPoPProof(t, otherKey, "GET", appsURL, "", tok) },
			method: "GET", path: "/api/v1/apps", wantStatus: 401, wantChalleng: `error="invalid_dpop_proof"`},
		"proof for another method": {auth: func() string { return "DPoP " + tok },
			proof:  func() string { return oktaemutest.DPoPProof(t, key, "DELETE", appsURL, "", tok) },
			method: "GET", path: "/api/v1/apps", wantStatus: 401, wantChalleng: `error="invalid_dpop_proof"`},
		"proof for another path": {auth: func() string { return "DPoP " + tok },
			proof:  func() string { return oktaemutest.DPoPProof(t, key, "GET", appsURL+"/x", "", tok) },
			method: "GET", path: "/api/v1/apps", wantStatus: 401, wantChalleng: `error="invalid_dpop_proof"`},
		"forged token": {auth: func() string { return "DPoP " + tok[:len(tok)-4] + "AAAA" },
			proof:  func() string { return oktaemutest.DPoPProof(t, key, "GET", appsURL, "", tok[:len(tok)-4]+"AAAA") },
			method: "GET", path: "/api/v1/apps", wantStatus: 401, wantChalleng: `error="invalid_token"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, hdr, body := raw(tc.auth(), tc.proof(), tc.method, tc.path)
			if status != tc.wantStatus {
				t.Fatalf("%d %s, want %d", status, body, tc.wantStatus)
			}
			if tc.wantChalleng != "" && !strings.Contains(hdr.Get("WWW-Authenticate"), tc.wantChalleng) {
				t.Errorf("WWW-Authenticate %q lacks %s", hdr.Get("WWW-Authenticate"), tc.wantChalleng)
			}
			if status == 403 && !strings.Contains(string(body), `"E0000006"`) {
				t.Errorf("403 body %s, want E0000006", body)
			}
			if status == 401 && (!strings.Contains(string(body), `"E0000011"`) || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "DPoP ")) {
				t.Errorf("401: %s %q", body, hdr.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("replayed proof", func(t *testing.T) {
		p := oktaemutest.DPoPProof(t, key, "GET", appsURL, "", tok)
		if status, _, _ := raw("DPoP "+tok, p, "GET", "/api/v1/apps"); status != 200 {
			t.Fatalf("first use: %d", status)
		}
		if status, hdr, _ := raw("DPoP "+tok, p, "GET", "/api/v1/apps"); status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_dpop_proof") {
			t.Errorf("replay: %d %q", status, hdr.Get("WWW-Authenticate"))
		}
	})

	t.Run("resource nonce", func(t *testing.T) {
		env.Server.SetDPoPResourceNonce(true)
		defer env.Server.SetDPoPResourceNonce(false)
		status, hdr, _ := raw("DPoP "+tok, oktaemutest.DPoPProof(t, key, "GET", appsURL, "", tok), "GET", "/api/v1/apps")
		nonce := hdr.Get("DPoP-Nonce")
		if status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || nonce == "" {
			t.Fatalf("without a nonce: %d %q nonce %q", status, hdr.Get("WWW-Authenticate"), nonce)
		}
		status, hdr, _ = raw("DPoP "+tok, oktaemutest.DPoPProof(t, key, "GET", appsURL, nonce, tok), "GET", "/api/v1/apps")
		if status != 200 || hdr.Get("DPoP-Nonce") == "" {
			t.Fatalf("with the nonce: %d, next nonce %q", status, hdr.Get("DPoP-Nonce"))
		}
		// The transport follows nonces on its own, also after a rotation.
		env.Server.RotateDPoPNonces()
		if status, _, body := env.DPoPCall(t, tok, key, "GET", "/api/v1/apps", nil); status != 200 {
			t.Errorf("DPoPCall after rotation: %d %s", status, body)
		}
	})

	t.Run("expired token", func(t *testing.T) {
		clock.Add(time.Hour + time.Minute)
		defer clock.Add(-(time.Hour + time.Minute))
		status, hdr, _ := raw("DPoP "+tok, oktaemutest.DPoPProof(t, key, "GET", appsURL, "", tok), "GET", "/api/v1/apps")
		if status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("expired: %d %q", status, hdr.Get("WWW-Authenticate"))
		}
	})
}

// TestDPoPWithSDK drives the management API with the Okta SDK over a
// DPoP-bound token: the SDK in Bearer mode, its HTTP client's transport
// turning each request into a DPoP one. Scopes decide (Okta's management
// spec security requirements); the API token's role does not apply to
// OAuth tokens; each app has its own rate-limit share.
func TestDPoPWithSDK(t *testing.T) {
	env := oktaemutest.Start(t, oktaemu.Config{APITokenRole: oktaemu.RoleAppAdmin, RateLimits: oktaemu.RateLimits{Apps: 10}})
	opApp := env.CreateAPIServiceApp(t, "operator", jwa.ES256, "okta.apps.manage", "okta.authorizationServers.read")
	key := oktaemutest.NewDPoPKey(t)
	tok := env.FetchDPoPToken(t, opApp, key, "okta.apps.manage okta.authorizationServers.read")
	ctx, c, err := okta.NewClient(context.Background(), okta.WithOrgUrl(env.URL),
		okta.WithAuthorizationMode("Bearer"), okta.WithToken(tok),
		okta.WithHttpClientPtr(&http.Client{Transport: &oktaemutest.DPoPTransport{Token: tok, Key: key}}),
		okta.WithCache(false), okta.WithTestingDisableHttpsCheck(true), okta.WithRateLimitMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}

	created, _, err := c.Application.CreateApplication(ctx, sdkServiceApp("made-with-dpop", "client_secret_basic", nil), query.NewQueryParams(query.WithActivate(true)))
	if err != nil {
		t.Fatalf("create app with okta.apps.manage: %v", err)
	}
	if _, _, err := c.AuthorizationServer.GetAuthorizationServer(ctx, "default"); err != nil {
		t.Errorf("read the default server with okta.authorizationServers.read (the SSWS token is app-admin): %v", err)
	}
	_, _, err = c.AuthorizationServer.CreateAuthorizationServerPolicy(ctx, "default", sdkPolicyFor(created.(*okta.OpenIdConnectApplication).Credentials.OauthClient.ClientId, 1))
	var oe *okta.Error
	if !errors.As(err, &oe) || oe.ErrorCode != "E0000006" {
		t.Errorf("create policy without okta.authorizationServers.manage: %v, want E0000006", err)
	}

	// Apps bucket 10: the app's share is 5, the SSWS token's another 5 (it
	// spent 3: the app and its two grants). The app spent 1 on the create.
	for i := range 4 {
		if _, _, err := c.Application.ListApplications(ctx, nil); err != nil {
			t.Fatalf("apps call %d of the app's 5: %v", i+2, err)
		}
	}
	if _, _, err := c.Application.ListApplications(ctx, nil); err == nil {
		t.Error("sixth apps call of the app's share of 5 succeeded")
	}
	if status, _ := oktaemutest.Admin(t, env.URL, env.APIToken, http.MethodGet, "/api/v1/apps", nil); status != http.StatusOK {
		t.Errorf("the SSWS token's own share: %d", status)
	}
}

// TestGrantsSurviveRestart: grants are part of the state file, like apps.
func TestGrantsSurviveRestart(t *testing.T) {
	state := t.TempDir() + "/state.json"
	env := oktaemutest.Start(t, oktaemu.Config{StateFile: state})
	app := env.CreateAPIServiceApp(t, "persistent", jwa.RS256, "okta.apps.read")
	again := oktaemutest.Start(t, oktaemu.Config{StateFile: state, APIToken: env.APIToken})
	status, body := oktaemutest.Admin(t, again.URL, again.APIToken, http.MethodGet, "/api/v1/apps/"+app.ID+"/grants", nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"scopeId":"okta.apps.read"`) {
		t.Errorf("after restart: %d %s", status, body)
	}
}

// TestOrgEndpointsMatchSpec sends the org authorization server's nonce
// challenge, keys and metadata through the spec-validating client (Okta's
// oauth spec: /oauth2/v1/token, /oauth2/v1/keys,
// /.well-known/openid-configuration).
func TestOrgEndpointsMatchSpec(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	app := h.CreateAPIServiceApp(t, "spec", jwa.ES256, "okta.apps.read")
	key := oktaemutest.NewDPoPKey(t)
	post := func(nonce string) response {
		return h.form("/oauth2/v1/token", h.OrgTokenForm(t, app, "okta.apps.read").Encode(),
			map[string]string{"DPoP": oktaemutest.DPoPProof(t, key, "POST", h.OrgTokenURL(), nonce, "")})
	}
	r := post("")
	if r.status != 400 || r.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	// The 200 is not validated: the spec's TokenResponseTokenType enum
	// (Bearer, N_A) lacks "DPoP", the token_type RFC 9449 section 5 and
	// Okta's DPoP guide (developer.okta.com/docs/guides/dpop) answer.
	res := h.RequestOrgToken(t, h.OrgTokenForm(t, app, "okta.apps.read"),
		oktaemutest.DPoPProof(t, key, "POST", h.OrgTokenURL(), r.header.Get("DPoP-Nonce"), ""))
	if res.Status != 200 || res.TokenType != "DPoP" {
		t.Fatalf("second: %d %s", res.Status, res.Error)
	}
	for _, p := range []string{"/oauth2/v1/keys", "/.well-known/openid-configuration"} {
		if r := h.call(http.MethodGet, p, nil, "-"); r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}
