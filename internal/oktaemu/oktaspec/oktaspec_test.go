package oktaspec

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func mustLoad(t *testing.T) *Validator {
	t.Helper()
	v, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return v
}

// The trimmed documents are well-formed OpenAPI (the full management spec
// is not: see the package comment). Examples are not checked because
// Okta's own examples contradict some schemas.
func TestTrimmedSpecsValidate(t *testing.T) {
	v := mustLoad(t)
	mgmt, oauth := v.Docs()
	for name, doc := range map[string]*openapi3.T{ManagementSpec: mgmt, OAuthSpec: oauth} {
		if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if doc.Info == nil || doc.Info.License == nil || doc.Info.License.Name != "Apache-2.0" {
			t.Errorf("%s: licence information lost", name)
		}
	}
}

const oidcApp = `{"id":"0oa1","name":"oidc_client","label":"x","status":"ACTIVE","signOnMode":"OPENID_CONNECT",
 "credentials":{"oauthClient":{"client_id":"0oa1abc","token_endpoint_auth_method":"client_secret_basic"}},
 "settings":{"oauthClient":{"application_type":"service","grant_types":["client_credentials"],"response_types":["token"]}}}`

func TestValidateResponse(t *testing.T) {
	v := mustLoad(t)
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	tests := map[string]struct {
		method, path string
		status       int
		header       http.Header
		body         string
		wantErr      bool
	}{
		"valid app":                            {"GET", "/api/v1/apps/0oa1", 200, jsonHdr, oidcApp, false},
		"valid app list":                       {"GET", "/api/v1/apps", 200, jsonHdr, "[" + oidcApp + "]", false},
		"app without label":                    {"GET", "/api/v1/apps/0oa1", 200, jsonHdr, strings.Replace(oidcApp, `"label":"x",`, "", 1), true},
		"oidc app with bad app type":           {"GET", "/api/v1/apps/0oa1", 200, jsonHdr, strings.Replace(oidcApp, `"service"`, `"robot"`, 1), true},
		"oidc app without settings":            {"GET", "/api/v1/apps", 200, jsonHdr, "[" + strings.Replace(oidcApp, `"settings"`, `"x"`, 1) + "]", true},
		"null where the schema wants a string": {"GET", "/api/v1/apps/0oa1", 200, jsonHdr, strings.Replace(oidcApp, `"label":"x",`, `"label":"x","accessibility":{"errorRedirectUrl":null},`, 1), true},
		"bad status enum":                      {"GET", "/api/v1/apps/0oa1", 200, jsonHdr, strings.Replace(oidcApp, `"ACTIVE"`, `"ON"`, 1), true},
		"secret list":                          {"GET", "/api/v1/apps/0oa1/credentials/secrets", 200, jsonHdr, `[{"id":"ocs1","status":"ACTIVE","client_secret":"ab...cd"}]`, false},
		"secret with bad status":               {"GET", "/api/v1/apps/0oa1/credentials/secrets", 200, jsonHdr, `[{"id":"ocs1","status":"GONE"}]`, true},
		"undocumented success status":          {"POST", "/api/v1/apps/0oa1/credentials/secrets", 200, jsonHdr, `{"id":"ocs1"}`, true},
		"undocumented odd status":              {"GET", "/api/v1/apps", 418, jsonHdr, `{"errorCode":"E0000001","errorSummary":"x"}`, true},
		"generic 401 with Okta error":          {"GET", "/api/v1/apps", 401, jsonHdr, `{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"oae1","errorCauses":[]}`, false},
		"generic 401 without errorCode":        {"GET", "/api/v1/apps", 401, jsonHdr, `{"message":"no"}`, true},
		"error with bad causes":                {"GET", "/api/v1/apps/x", 404, jsonHdr, `{"errorCode":"E0000007","errorSummary":"x","errorCauses":"none"}`, true},
		"unknown path answered 200":            {"GET", "/api/v1/nope", 200, jsonHdr, `{}`, true},
		"unknown path answered 404":            {"GET", "/api/v1/nope", 404, jsonHdr, `{"errorCode":"E0000008","errorSummary":"The requested path was not found"}`, false},
		"token ok":                             {"POST", "/oauth2/default/v1/token", 200, jsonHdr, `{"token_type":"Bearer","expires_in":3600,"access_token":"a.b.c","scope":"s"}`, false},
		"token bad token_type":                 {"POST", "/oauth2/default/v1/token", 200, jsonHdr, `{"token_type":"MAC","expires_in":3600,"access_token":"a.b.c"}`, true},
		"token error":                          {"POST", "/oauth2/default/v1/token", 401, jsonHdr, `{"error":"invalid_client","error_description":"x"}`, false},
		"token error not OAuth shaped":         {"POST", "/oauth2/default/v1/token", 400, jsonHdr, `{"error":1}`, true},
		"error body that is not json":          {"GET", "/api/v1/apps", 500, http.Header{"Content-Type": {"text/plain"}}, `boom`, true},
		"jwks":                                 {"GET", "/oauth2/default/v1/keys", 200, jsonHdr, `{"keys":[{"kty":"RSA","alg":"RS256","kid":"k","use":"sig","e":"AQAB","n":"xyz"}]}`, false},
		"jwks with bad alg":                    {"GET", "/oauth2/default/v1/keys", 200, jsonHdr, `{"keys":[{"kty":"RSA","alg":"none","kid":"k"}]}`, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, nil)
			err := v.ValidateResponse(req, tc.status, tc.header, []byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
		})
	}
}

func TestValidateRequest(t *testing.T) {
	v := mustLoad(t)
	tests := map[string]struct {
		method, path, body string
		wantErr            bool
	}{
		"create oidc app":               {"POST", "/api/v1/apps?activate=true", oidcApp, false},
		"create with bad auth method":   {"POST", "/api/v1/apps", strings.Replace(oidcApp, `"client_secret_basic"`, `"magic"`, 1), true},
		"create with bad grant type":    {"POST", "/api/v1/apps", strings.Replace(oidcApp, `["client_credentials"]`, `["magic"]`, 1), true},
		"create without label":          {"POST", "/api/v1/apps", strings.Replace(oidcApp, `"label":"x",`, "", 1), true},
		"limit above the maximum":       {"GET", "/api/v1/apps?limit=500", "", true},
		"limit at the maximum":          {"GET", "/api/v1/apps?limit=200", "", false},
		"create secret":                 {"POST", "/api/v1/apps/0oa1/credentials/secrets", `{}`, false},
		"create secret with bad status": {"POST", "/api/v1/apps/0oa1/credentials/secrets", `{"status":"MAYBE"}`, true},
		"unknown operation":             {"PATCH", "/api/v1/apps/0oa1", `{}`, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, nil)
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			err := v.ValidateRequest(req, []byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

func TestFindRoute(t *testing.T) {
	v := mustLoad(t)
	tests := map[string]struct{ method, path, wantOp string }{
		"app":     {"GET", "/api/v1/apps/0oa1", "getApplication"},
		"secrets": {"POST", "/api/v1/apps/0oa1/credentials/secrets", "createOAuth2ClientSecret"},
		"token":   {"POST", "/oauth2/default/v1/token", "tokenCustomAS"},
		"rotate":  {"POST", "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate", "rotateAuthorizationServerKeys"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := v.FindRoute(httptest.NewRequest(tc.method, "http://localhost:9"+tc.path, nil))
			if err != nil {
				t.Fatal(err)
			}
			if r.OperationID != tc.wantOp {
				t.Errorf("operation = %s, want %s", r.OperationID, tc.wantOp)
			}
		})
	}
}
