package oktaemu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaspec"
)

// harness is an emulator plus a spec-validating HTTP client: every response
// a test receives through it is checked against Okta's OpenAPI spec.
type harness struct {
	*oktaemutest.Env
	t         *testing.T
	client    *http.Client
	transport *oktaspec.Transport
}

func newHarness(t *testing.T, cfg oktaemu.Config) *harness {
	t.Helper()
	env := oktaemutest.Start(t, cfg)
	v, err := oktaspec.Load()
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	tr := &oktaspec.Transport{Validator: v, OnError: func(err error) { t.Errorf("spec validation: %v", err) },
		Skip: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/_emulator/") }}
	return &harness{Env: env, t: t, transport: tr, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// sdk returns an Okta SDK client using the validating transport.
func (h *harness) sdk() (context.Context, *okta.Client) {
	h.t.Helper()
	ctx, c, err := okta.NewClient(context.Background(),
		okta.WithOrgUrl(h.URL), okta.WithToken(h.APIToken),
		okta.WithCache(false), okta.WithTestingDisableHttpsCheck(true),
		okta.WithHttpClientPtr(h.client), okta.WithRateLimitMaxRetries(0),
		okta.WithRequestTimeout(30))
	if err != nil {
		h.t.Fatalf("okta.NewClient: %v", err)
	}
	return ctx, c
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %d body %q: %v", r.status, r.body, err)
	}
	return m
}

func (r response) list(t *testing.T) []map[string]any {
	t.Helper()
	var m []map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %d body %q: %v", r.status, r.body, err)
	}
	return m
}

// errorCode returns the Okta errorCode of an error body.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	code, _ := r.json(t)["errorCode"].(string)
	return code
}

// call sends a raw request through the validating client. body may be a
// string (sent as is) or any value (JSON-encoded). auth "" uses the API
// token; "-" sends none.
func (h *harness) call(method, path string, body any, auth string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	switch auth {
	case "":
		req.Header.Set("Authorization", "SSWS "+h.APIToken)
	case "-":
	default:
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// form posts a form to path (token endpoint) through the validating client.
func (h *harness) form(path, body string, hdr map[string]string) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// serviceApp is a create body for an OIDC service app.
func serviceApp(label, method string) map[string]any {
	return map[string]any{
		"name": "oidc_client", "label": label, "signOnMode": "OPENID_CONNECT",
		"credentials": map[string]any{"oauthClient": map[string]any{"token_endpoint_auth_method": method}},
		"settings": map[string]any{"oauthClient": map[string]any{
			"application_type": "service", "grant_types": []string{"client_credentials"}, "response_types": []string{"token"},
		}},
	}
}

// sdkServiceApp is the same app as an SDK object.
func sdkServiceApp(label, method string, profile map[string]any) *okta.OpenIdConnectApplication {
	app := okta.NewOpenIdConnectApplication()
	app.Label = label
	app.Profile = profile
	app.Credentials = &okta.OAuthApplicationCredentials{OauthClient: &okta.ApplicationCredentialsOAuthClient{TokenEndpointAuthMethod: method}}
	cc := okta.OAuthGrantType("client_credentials")
	tok := okta.OAuthResponseType("token")
	app.Settings = &okta.OpenIdConnectApplicationSettings{OauthClient: &okta.OpenIdConnectApplicationSettingsClient{
		ApplicationType: "service", GrantTypes: []*okta.OAuthGrantType{&cc}, ResponseTypes: []*okta.OAuthResponseType{&tok},
	}}
	return app
}

// oktaCode extracts the Okta error code from an SDK error.
func oktaCode(t *testing.T, err error) string {
	t.Helper()
	var oe *okta.Error
	if err == nil {
		t.Fatalf("expected an *okta.Error, got nil")
	}
	if !asOktaError(err, &oe) {
		t.Fatalf("expected an *okta.Error, got %T: %v", err, err)
	}
	return oe.ErrorCode
}

func asOktaError(err error, target **okta.Error) bool { return errors.As(err, target) }

func urlq(s string) string { return url.QueryEscape(s) }

func tokenForm(scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
}

// nextLink returns the path and query of the rel="next" Link header.
func (r response) nextLink(t *testing.T) string {
	t.Helper()
	for _, l := range r.header.Values("Link") {
		if strings.HasSuffix(l, `rel="next"`) {
			raw := strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(l, ";", 2)[0], "<"), ">")
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			return u.RequestURI()
		}
	}
	t.Fatalf("no next link in %q", r.header.Values("Link"))
	return ""
}

func jsonMarshal(v any) ([]byte, error)   { return json.Marshal(v) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
