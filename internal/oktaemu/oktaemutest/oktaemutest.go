// Package oktaemutest starts an Okta emulator for tests of other packages
// and offers helpers that drive it the way real clients drive Okta.
package oktaemutest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaspec"
)

// Env is a running emulator.
type Env struct {
	Server   *oktaemu.Server
	HTTP     *httptest.Server
	URL      string // the org URL, e.g. http://127.0.0.1:41234
	APIToken string // SSWS token of the management API
	Issuer   string // URL + "/oauth2/default"
	TokenURL string // Issuer + "/v1/token"
	JWKSURL  string // Issuer + "/v1/keys"
}

// App is a service app created through the management API.
type App struct {
	ID           string
	ClientID     string
	ClientSecret string // empty for private_key_jwt
	AuthMethod   string
	// PrivateKey (with KeyID as its kid) signs client assertions of a
	// private_key_jwt app; its public half is registered on the app.
	PrivateKey jwk.Key
	KeyID      string
}

// Start runs an emulator on a loopback httptest server and stops it when
// the test ends. An empty cfg.APIToken gets a random token.
func Start(t testing.TB, cfg oktaemu.Config) *Env {
	t.Helper()
	if cfg.APIToken == "" {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatalf("oktaemutest: random token: %v", err)
		}
		cfg.APIToken = fmt.Sprintf("00emu%x", b)
	}
	srv, err := oktaemu.New(cfg)
	if err != nil {
		t.Fatalf("oktaemutest: start emulator: %v", err)
	}
	hs := httptest.NewServer(srv)
	if cfg.OrgURL == "" {
		srv.SetOrgURL(hs.URL)
	}
	org := srv.OrgURL()
	env := &Env{
		Server: srv, HTTP: hs, URL: org, APIToken: cfg.APIToken,
		Issuer: org + "/oauth2/default", TokenURL: org + "/oauth2/default/v1/token", JWKSURL: org + "/oauth2/default/v1/keys",
	}
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("oktaemutest: close emulator: %v", err)
		}
	})
	return env
}

// SpecCheckedClient returns an HTTP client whose every request and response
// is validated against Okta's OpenAPI spec; mismatches fail the test.
func (e *Env) SpecCheckedClient(t testing.TB) *http.Client {
	t.Helper()
	v, err := oktaspec.Load()
	if err != nil {
		t.Fatalf("oktaemutest: load spec: %v", err)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &oktaspec.Transport{
		Validator: v, ValidateRequests: true,
		OnError: func(err error) { t.Errorf("%v", err) },
		Skip:    func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/_emulator/") },
	}}
}

// CreateServiceApp creates and activates an OIDC service app (client
// credentials grant) with the given token_endpoint_auth_method
// ("client_secret_basic", "client_secret_post" or "private_key_jwt"; ""
// means client_secret_basic), through the management API over HTTP.
func (e *Env) CreateServiceApp(t testing.TB, label, authMethod string) App {
	t.Helper()
	if authMethod == "" {
		authMethod = "client_secret_basic"
	}
	settings := map[string]any{
		"application_type": "service",
		"grant_types":      []string{"client_credentials"},
		"response_types":   []string{"token"},
	}
	app := App{AuthMethod: authMethod}
	if authMethod == "private_key_jwt" {
		raw, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatalf("oktaemutest: generate key: %v", err)
		}
		priv, err := jwk.FromRaw(raw)
		if err != nil {
			t.Fatalf("oktaemutest: jwk: %v", err)
		}
		app.KeyID = "k-" + fmt.Sprint(time.Now().UnixNano())
		_ = priv.Set(jwk.KeyIDKey, app.KeyID)
		_ = priv.Set(jwk.AlgorithmKey, jwa.RS256)
		pub, err := priv.PublicKey()
		if err != nil {
			t.Fatalf("oktaemutest: public key: %v", err)
		}
		app.PrivateKey = priv
		settings["jwks"] = map[string]any{"keys": []any{pub}}
	}
	body := map[string]any{
		"name": "oidc_client", "label": label, "signOnMode": "OPENID_CONNECT",
		"credentials": map[string]any{"oauthClient": map[string]any{"token_endpoint_auth_method": authMethod}},
		"settings":    map[string]any{"oauthClient": settings},
	}
	var out struct {
		ID          string `json:"id"`
		Credentials struct {
			OAuthClient struct {
				ClientID     string `json:"client_id"`
				ClientSecret string `json:"client_secret"`
			} `json:"oauthClient"`
		} `json:"credentials"`
	}
	status, data := Admin(t, e.URL, e.APIToken, http.MethodPost, "/api/v1/apps?activate=true", body)
	if status != http.StatusOK {
		t.Fatalf("oktaemutest: create app %q: status %d: %s", label, status, data)
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("oktaemutest: create app: %v", err)
	}
	app.ID, app.ClientID, app.ClientSecret = out.ID, out.Credentials.OAuthClient.ClientID, out.Credentials.OAuthClient.ClientSecret
	return app
}

// Admin sends a management request to the org at orgURL with the SSWS token, as an
// admin or the Okta console would, and returns the status and the body. Any failure to
// send or read it ends the test.
func Admin(t testing.TB, orgURL, apiToken, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("oktaemutest: encode: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, orgURL+path, rd)
	if err != nil {
		t.Fatalf("oktaemutest: request: %v", err)
	}
	req.Header.Set("Authorization", "SSWS "+apiToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("oktaemutest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("oktaemutest: read: %v", err)
	}
	return resp.StatusCode, data
}

// TokenResult is the decoded answer of the token endpoint.
type TokenResult struct {
	Status      int
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// RequestToken posts form to the token endpoint; when clientID is not
// empty it authenticates with HTTP Basic (client_secret_basic).
func (e *Env) RequestToken(form url.Values, clientID, secret string) (TokenResult, error) {
	req, err := http.NewRequest(http.MethodPost, e.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return TokenResult{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if clientID != "" {
		req.SetBasicAuth(clientID, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return TokenResult{}, err
	}
	defer resp.Body.Close()
	var out TokenResult
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return TokenResult{Status: resp.StatusCode}, fmt.Errorf("decode token response: %w", err)
	}
	out.Status = resp.StatusCode
	return out, nil
}

// FetchToken gets an access token exactly as Okta's client-credentials
// tutorial does: HTTP Basic client authentication and the form body
// grant_type=client_credentials&scope=... . It fails the test otherwise.
func (e *Env) FetchToken(t testing.TB, clientID, secret, scope string) string {
	t.Helper()
	res, err := e.RequestToken(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, clientID, secret)
	if err != nil {
		t.Fatalf("oktaemutest: token request: %v", err)
	}
	if res.Status != http.StatusOK || res.AccessToken == "" {
		t.Fatalf("oktaemutest: token request: status %d: %s: %s", res.Status, res.Error, res.Description)
	}
	return res.AccessToken
}

// ClientAssertion signs a private_key_jwt client assertion for app, valid
// for five minutes, with a unique jti.
func (e *Env) ClientAssertion(t testing.TB, app App) string {
	t.Helper()
	if app.PrivateKey == nil {
		t.Fatalf("oktaemutest: app %s has no private key", app.ClientID)
	}
	var raw any
	if err := app.PrivateKey.Raw(&raw); err != nil {
		t.Fatalf("oktaemutest: private key: %v", err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		t.Fatalf("oktaemutest: private key of type %T cannot sign", raw)
	}
	signed, err := oauth2client.ClientAssertion{
		ClientID: app.ClientID, Audience: e.TokenURL, KeyID: app.KeyID, Key: signer, Lifetime: 5 * time.Minute,
	}.Sign(time.Now())
	if err != nil {
		t.Fatalf("oktaemutest: sign assertion: %v", err)
	}
	return signed
}

// FetchTokenWithKey gets an access token for a private_key_jwt app.
func (e *Env) FetchTokenWithKey(t testing.TB, app App, scope string) string {
	t.Helper()
	res, err := e.RequestToken(url.Values{
		"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {e.ClientAssertion(t, app)},
	}, "", "")
	if err != nil {
		t.Fatalf("oktaemutest: token request: %v", err)
	}
	if res.Status != http.StatusOK || res.AccessToken == "" {
		t.Fatalf("oktaemutest: token request: status %d: %s: %s", res.Status, res.Error, res.Description)
	}
	return res.AccessToken
}
