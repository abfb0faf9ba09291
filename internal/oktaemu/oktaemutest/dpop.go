package oktaemutest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// OAuth 2.0 access to the management API, the way a test gets it:
//
//	app := env.CreateAPIServiceApp(t, "operator", jwa.ES256, "okta.apps.manage")
//	key := oktaemutest.NewDPoPKey(t)
//	tok := env.FetchDPoPToken(t, app, key, "okta.apps.manage")
//	status, hdr, body := env.DPoPCall(t, tok, key, "GET", "/api/v1/apps", nil)
//
// or, for the Okta SDK, an *http.Client whose transport is
// &oktaemutest.DPoPTransport{Token: tok, Key: key} with the SDK in
// "Bearer" authorization mode and tok as its token.

// OrgTokenURL is the org authorization server's token endpoint.
func (e *Env) OrgTokenURL() string { return e.URL + "/oauth2/v1/token" }

// NewSigningKey makes a private JWK for alg (RS256 or ES256) with a kid.
func NewSigningKey(t testing.TB, alg jwa.SignatureAlgorithm) jwk.Key {
	t.Helper()
	var raw any
	var err error
	switch alg {
	case jwa.RS256:
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	case jwa.ES256:
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("oktaemutest: unsupported key algorithm %s", alg)
	}
	if err != nil {
		t.Fatalf("oktaemutest: generate key: %v", err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatalf("oktaemutest: jwk: %v", err)
	}
	tp, _ := key.Thumbprint(crypto.SHA256)
	_ = key.Set(jwk.KeyIDKey, base64.RawURLEncoding.EncodeToString(tp)[:16])
	_ = key.Set(jwk.AlgorithmKey, alg)
	return key
}

// NewDPoPKey makes an ES256 key for DPoP proofs.
func NewDPoPKey(t testing.TB) jwk.Key { return NewSigningKey(t, jwa.ES256) }

// CreateAPIServiceApp creates, with the SSWS token, an active service app
// with token_endpoint_auth_method private_key_jwt and a public key for alg
// (RS256 or ES256) in its JWKS, then grants it each okta.* scope
// (POST /api/v1/apps/{appId}/grants {issuer: org URL, scopeId}).
func (e *Env) CreateAPIServiceApp(t testing.TB, label string, alg jwa.SignatureAlgorithm, scopes ...string) App {
	t.Helper()
	priv := NewSigningKey(t, alg)
	pub, err := priv.PublicKey()
	if err != nil {
		t.Fatalf("oktaemutest: public key: %v", err)
	}
	body := map[string]any{
		"name": "oidc_client", "label": label, "signOnMode": "OPENID_CONNECT",
		"credentials": map[string]any{"oauthClient": map[string]any{"token_endpoint_auth_method": "private_key_jwt"}},
		"settings": map[string]any{"oauthClient": map[string]any{
			"application_type": "service", "grant_types": []string{"client_credentials"}, "response_types": []string{"token"},
			"jwks": map[string]any{"keys": []any{pub}},
		}},
	}
	status, data := Admin(t, e.URL, e.APIToken, http.MethodPost, "/api/v1/apps?activate=true", body)
	if status != http.StatusOK {
		t.Fatalf("oktaemutest: create API service app %q: status %d: %s", label, status, data)
	}
	var out struct {
		ID          string `json:"id"`
		Credentials struct {
			OAuthClient struct {
				ClientID string `json:"client_id"`
			} `json:"oauthClient"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("oktaemutest: create API service app: %v", err)
	}
	app := App{ID: out.ID, ClientID: out.Credentials.OAuthClient.ClientID, AuthMethod: "private_key_jwt", PrivateKey: priv, KeyID: priv.KeyID()}
	for _, sc := range scopes {
		e.Grant(t, app.ID, sc)
	}
	return app
}

// Grant grants appID the okta.* scope and returns the grant id.
func (e *Env) Grant(t testing.TB, appID, scope string) string {
	t.Helper()
	status, data := Admin(t, e.URL, e.APIToken, http.MethodPost, "/api/v1/apps/"+appID+"/grants",
		map[string]string{"issuer": e.URL, "scopeId": scope})
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("oktaemutest: grant %s: status %d: %s", scope, status, data)
	}
	var g struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(data, &g)
	return g.ID
}

// OrgAssertion signs a client assertion for app with aud = the org token
// URL, with the algorithm of the app's key.
func (e *Env) OrgAssertion(t testing.TB, app App) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer(app.ClientID).Subject(app.ClientID).Audience([]string{e.OrgTokenURL()}).
		IssuedAt(now).Expiration(now.Add(5 * time.Minute)).JwtID(randomID()).Build()
	if err != nil {
		t.Fatalf("oktaemutest: build assertion: %v", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(app.PrivateKey.Algorithm(), app.PrivateKey))
	if err != nil {
		t.Fatalf("oktaemutest: sign assertion: %v", err)
	}
	return string(signed)
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

// DPoPProof signs an RFC 9449 proof for method and target URL with key;
// nonce and accessToken (for ath) may be empty.
func DPoPProof(t testing.TB, key jwk.Key, method, target, nonce, accessToken string) string {
	t.Helper()
	return DPoPProofAt(t, key, method, target, nonce, accessToken, time.Now())
}

// DPoPProofAt is DPoPProof with the given iat.
func DPoPProofAt(t testing.TB, key jwk.Key, method, target, nonce, accessToken string, iat time.Time) string {
	t.Helper()
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatalf("oktaemutest: dpop public key: %v", err)
	}
	claims := map[string]any{"jti": randomID(), "htm": method, "htu": stripQuery(target), "iat": iat.Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	payload, _ := json.Marshal(claims)
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "dpop+jwt")
	_ = hdr.Set(jws.JWKKey, pub)
	signed, err := jws.Sign(payload, jws.WithKey(key.Algorithm(), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatalf("oktaemutest: sign dpop proof: %v", err)
	}
	return string(signed)
}

func stripQuery(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.RawQuery, p.Fragment = "", ""
	return p.String()
}

// OrgTokenResult is an answer of the org token endpoint.
type OrgTokenResult struct {
	TokenResult
	Header http.Header
}

// RequestOrgToken posts one token request to the org authorization
// server with a client assertion for app and, when proof is not empty, a
// DPoP header.
func (e *Env) RequestOrgToken(t testing.TB, form url.Values, proof string) OrgTokenResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.OrgTokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("oktaemutest: org token request: %v", err)
	}
	defer resp.Body.Close()
	var out OrgTokenResult
	if err := json.NewDecoder(resp.Body).Decode(&out.TokenResult); err != nil {
		t.Fatalf("oktaemutest: decode org token answer (%d): %v", resp.StatusCode, err)
	}
	out.Status, out.Header = resp.StatusCode, resp.Header
	return out
}

// OrgTokenForm is the client-credentials form for app and scope, with a
// fresh client assertion.
func (e *Env) OrgTokenForm(t testing.TB, app App, scope string) url.Values {
	t.Helper()
	return url.Values{
		"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {e.OrgAssertion(t, app)},
	}
}

// FetchDPoPToken gets a DPoP-bound access token for app from the org
// authorization server, answering its nonce challenge as RFC 9449 section
// 8 says: the first request has no nonce, the retry carries the
// DPoP-Nonce the server sent. It fails the test otherwise.
func (e *Env) FetchDPoPToken(t testing.TB, app App, dpopKey jwk.Key, scope string) string {
	t.Helper()
	res := e.RequestOrgToken(t, e.OrgTokenForm(t, app, scope), DPoPProof(t, dpopKey, http.MethodPost, e.OrgTokenURL(), "", ""))
	if res.Status == http.StatusBadRequest && res.Error == "use_dpop_nonce" {
		nonce := res.Header.Get("DPoP-Nonce")
		res = e.RequestOrgToken(t, e.OrgTokenForm(t, app, scope), DPoPProof(t, dpopKey, http.MethodPost, e.OrgTokenURL(), nonce, ""))
	}
	if res.Status != http.StatusOK || res.TokenType != "DPoP" || res.AccessToken == "" {
		t.Fatalf("oktaemutest: DPoP token: status %d %s: %s", res.Status, res.Error, res.Description)
	}
	return res.AccessToken
}

// DPoPCall sends a management request with "Authorization: DPoP <token>"
// and a fresh proof; when the emulator asks for a nonce (401
// use_dpop_nonce), it retries once with it.
func (e *Env) DPoPCall(t testing.TB, token string, key jwk.Key, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: &DPoPTransport{Token: token, Key: key}}).Do(req)
	if err != nil {
		t.Fatalf("oktaemutest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// DPoPTransport sends each request with "Authorization: DPoP <Token>"
// (replacing whatever Authorization the caller set, e.g. the Okta SDK's
// Bearer) and a DPoP proof signed by Key. It keeps the last DPoP-Nonce the
// server sent and retries once on 401 use_dpop_nonce.
type DPoPTransport struct {
	Token string
	Key   jwk.Key
	Base  http.RoundTripper // default http.DefaultTransport

	mu    sync.Mutex
	nonce string
}

// RoundTrip implements http.RoundTripper.
func (d *DPoPTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := d.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(d.sign(req))
	if err != nil {
		return nil, err
	}
	d.keepNonce(resp)
	if resp.StatusCode == http.StatusUnauthorized && strings.Contains(resp.Header.Get("WWW-Authenticate"), "use_dpop_nonce") &&
		(req.Body == nil || req.GetBody != nil) {
		_ = resp.Body.Close()
		retry := req.Clone(req.Context())
		if req.GetBody != nil {
			if retry.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		resp, err = base.RoundTrip(d.sign(retry))
		if err == nil {
			d.keepNonce(resp)
		}
	}
	return resp, err
}

func (d *DPoPTransport) keepNonce(resp *http.Response) {
	if n := resp.Header.Get("DPoP-Nonce"); n != "" {
		d.mu.Lock()
		d.nonce = n
		d.mu.Unlock()
	}
}

func (d *DPoPTransport) sign(req *http.Request) *http.Request {
	d.mu.Lock()
	nonce := d.nonce
	d.mu.Unlock()
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "DPoP "+d.Token)
	r.Header.Set("DPoP", dpopProofNoTest(d.Key, r.Method, r.URL.String(), nonce, d.Token))
	return r
}

// dpopProofNoTest is DPoPProof for the transport, which has no test to
// fail: a signing error yields an empty proof, which the server refuses.
func dpopProofNoTest(key jwk.Key, method, target, nonce, token string) string {
	pub, err := key.PublicKey()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	claims := map[string]any{"jti": randomID(), "htm": method, "htu": stripQuery(target), "iat": time.Now().Unix(),
		"ath": base64.RawURLEncoding.EncodeToString(sum[:])}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, _ := json.Marshal(claims)
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "dpop+jwt")
	_ = hdr.Set(jws.JWKKey, pub)
	signed, err := jws.Sign(payload, jws.WithKey(key.Algorithm(), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return ""
	}
	return string(signed)
}
