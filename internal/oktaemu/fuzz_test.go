package oktaemu_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// FuzzRequests sends arbitrary methods, paths, queries and bodies: the
// emulator never answers 5xx (no faults are configured), never panics, and
// always answers JSON.
func FuzzRequests(f *testing.F) {
	seeds := []struct{ method, target, body string }{
		{"POST", "/api/v1/apps?activate=false", `{"name":"oidc_client","label":"x","signOnMode":"OPENID_CONNECT","settings":{"oauthClient":{"application_type":"service"}}}`},
		{"PUT", "/api/v1/apps/0oa", `{"label":null,"profile":[1]}`},
		{"GET", "/api/v1/apps?filter=status%20eq%20%22A%22%20or&q=%00&limit=-5&after=9", ``},
		{"POST", "/api/v1/apps", `{"settings":{"oauthClient":{"jwks":{"keys":[{"kty":"EC","crv":"P-256"}]}}}}`},
		{"POST", "/oauth2/default/v1/token", `grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJub25lIn0.e30.`},
		{"POST", "/api/v1/authorizationServers/default/policies", `{"type":"OAUTH_AUTHORIZATION_POLICY","priority":-3}`},
		{"DELETE", "/api/v1/apps/%2F..%2F", ``},
		{"GET", "//api//v1", ``},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.body)
	}
	srv, err := oktaemu.New(oktaemu.Config{APIToken: "tok", OrgURL: "http://127.0.0.1:1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n#") || method == "" || strings.ContainsAny(method, " \r\n/:") {
			return
		}
		req, err := http.NewRequest(method, "http://127.0.0.1:1"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "SSWS tok")
		if strings.HasPrefix(target, "/oauth2/") {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusNoContent && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: %d: not JSON: %q", method, target, rec.Code, rec.Body)
		}
	})
}
