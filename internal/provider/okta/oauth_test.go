package okta

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// fakeOrgAS is a TEST DOUBLE of an Okta org authorization server and of one management
// endpoint (GET /api/v1/apps), written from RFC 9449 (DPoP) and RFC 7523 (client assertions)
// so the provider's OAuth transport can be unit-tested without the emulator. The envtest
// tests in controllers/ run the same flows against the emulator's org authorization server.
type fakeOrgAS struct {
	t        *testing.T
	srv      *httptest.Server
	clientID string
	pub      crypto.PublicKey // the key registered on the app
	kid      string           // its kid
	granted  map[string]bool
	lifetime int // expires_in of issued tokens
	now      func() time.Time

	mu sync.Mutex
	// asNonce / rsNonce: when set, proofs at the token endpoint / the API must carry them.
	asNonce, rsNonce string
	// dpopRefused: the API answers invalid_dpop_proof to every proof.
	dpopRefused bool
	// needScope: the API wants this scope (Okta: 403 insufficient_scope).
	needScope string
	// revoked: tokens the API refuses as invalid_token.
	revoked map[string]bool
	tokens  map[string]string // access token → jkt it is bound to
	// counters
	tokenRequests, apiRequests int
	// proofs seen (jti), to check that every proof is fresh
	jtis map[string]bool
}

func newFakeOrgAS(t *testing.T, clientID string, pub crypto.PublicKey, kid string, scopes ...string) *fakeOrgAS {
	f := &fakeOrgAS{t: t, clientID: clientID, pub: pub, kid: kid, granted: map[string]bool{}, lifetime: 3600, now: time.Now,
		revoked: map[string]bool{}, tokens: map[string]string{}, jtis: map[string]bool{}}
	for _, s := range scopes {
		f.granted[s] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/v1/token", f.token)
	mux.HandleFunc("GET /api/v1/apps", f.apps)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// checkProof verifies a DPoP proof and returns its key's thumbprint (jkt) and claims.
func (f *fakeOrgAS) checkProof(r *http.Request, htu string) (string, map[string]any, error) {
	raw := r.Header.Get("DPoP")
	if raw == "" {
		return "", nil, errors.New("no DPoP header")
	}
	msg, err := jws.Parse([]byte(raw))
	if err != nil || len(msg.Signatures()) != 1 {
		return "", nil, errors.New("not a JWS")
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.Type() != "dpop+jwt" || h.JWK() == nil || h.Algorithm().String() != "ES256" {
		return "", nil, fmt.Errorf("bad header typ=%q alg=%q", h.Type(), h.Algorithm())
	}
	if _, err := jws.Verify([]byte(raw), jws.WithKey(h.Algorithm(), h.JWK())); err != nil {
		return "", nil, errors.New("bad signature")
	}
	var claims map[string]any
	if err := json.Unmarshal(msg.Payload(), &claims); err != nil {
		return "", nil, errors.New("bad claims")
	}
	if claims["htm"] != r.Method || claims["htu"] != htu {
		return "", nil, fmt.Errorf("htm/htu %v %v, want %s %s", claims["htm"], claims["htu"], r.Method, htu)
	}
	iat, _ := claims["iat"].(float64)
	if d := f.now().Sub(time.Unix(int64(iat), 0)); d > time.Minute || d < -time.Minute {
		return "", nil, errors.New("iat out of range")
	}
	jti, _ := claims["jti"].(string)
	if jti == "" || f.jtis[jti] {
		return "", nil, errors.New("jti missing or replayed")
	}
	f.jtis[jti] = true
	if _, ok := h.JWK().(jwk.ECDSAPublicKey); !ok {
		return "", nil, errors.New("jwk is not an EC public key")
	}
	if _, isPriv := h.JWK().(jwk.ECDSAPrivateKey); isPriv {
		return "", nil, errors.New("jwk holds a private key")
	}
	tp, err := h.JWK().Thumbprint(crypto.SHA256)
	if err != nil {
		return "", nil, err
	}
	return base64.RawURLEncoding.EncodeToString(tp), claims, nil
}

func (f *fakeOrgAS) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenRequests++
	if err := r.ParseForm(); err != nil {
		oauthErr(w, 400, "invalid_request", "bad form")
		return
	}
	if r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("client_assertion_type") != oauth2client.ClientAssertionType {
		oauthErr(w, 400, "invalid_request", "want client_credentials with a jwt-bearer client assertion")
		return
	}
	// RFC 7523: iss = sub = client id, aud = the token endpoint, signed by the registered key.
	assertion := r.Form.Get("client_assertion")
	msg, err := jws.Parse([]byte(assertion))
	if err != nil || r.Form.Get("client_id") != f.clientID {
		oauthErr(w, 401, "invalid_client", "unknown client")
		return
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.KeyID() != f.kid {
		oauthErr(w, 401, "invalid_client", "no key with this kid")
		return
	}
	if _, err := jws.Verify([]byte(assertion), jws.WithKey(h.Algorithm(), f.pub)); err != nil {
		oauthErr(w, 401, "invalid_client", "The client_assertion signature is invalid.")
		return
	}
	var claims map[string]any
	_ = json.Unmarshal(msg.Payload(), &claims)
	if claims["iss"] != f.clientID || claims["sub"] != f.clientID || claims["aud"] != f.srv.URL+"/oauth2/v1/token" {
		oauthErr(w, 401, "invalid_client", "bad assertion claims")
		return
	}
	jkt, proof, err := f.checkProof(r, f.srv.URL+"/oauth2/v1/token")
	if err != nil {
		oauthErr(w, 400, "invalid_dpop_proof", err.Error())
		return
	}
	if _, ok := proof["ath"]; ok {
		oauthErr(w, 400, "invalid_dpop_proof", "ath at the token endpoint")
		return
	}
	if f.asNonce != "" && proof["nonce"] != f.asNonce {
		w.Header().Set("DPoP-Nonce", f.asNonce)
		oauthErr(w, 400, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof.")
		return
	}
	for _, s := range strings.Fields(r.Form.Get("scope")) {
		if !f.granted[s] {
			oauthErr(w, 400, "invalid_scope", "The following scopes are not granted: "+s)
			return
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	tok := "at-" + base64.RawURLEncoding.EncodeToString(b[:])
	f.tokens[tok] = jkt
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "DPoP", "expires_in": f.lifetime, "scope": r.Form.Get("scope")})
}

func (f *fakeOrgAS) apps(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apiRequests++
	challenge := func(code, desc string) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP algs="ES256", error=%q, error_description=%q`, code, desc))
		w.WriteHeader(http.StatusUnauthorized)
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
	if !ok || f.tokens[tok] == "" {
		challenge("invalid_token", "no DPoP token")
		return
	}
	if f.revoked[tok] {
		challenge("invalid_token", "The access token is invalid.")
		return
	}
	jkt, proof, err := f.checkProof(r, f.srv.URL+"/api/v1/apps")
	if err != nil || f.dpopRefused {
		challenge("invalid_dpop_proof", fmt.Sprint("refused: ", err))
		return
	}
	sum := sha256.Sum256([]byte(tok))
	if proof["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) || jkt != f.tokens[tok] {
		challenge("invalid_dpop_proof", "ath or key binding does not match")
		return
	}
	if f.needScope != "" {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP realm="x", scope=%q, error="insufficient_scope", error_description="The access token provided does not contain the required scopes."`, f.needScope))
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if f.rsNonce != "" && proof["nonce"] != f.rsNonce {
		w.Header().Set("DPoP-Nonce", f.rsNonce)
		challenge("use_dpop_nonce", "Resource server requires nonce in DPoP proof")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("[]"))
}

func (f *fakeOrgAS) counts() (tokens, api int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenRequests, f.apiRequests
}

func rsaPEM(t *testing.T, pkcs1 bool) ([]byte, crypto.PublicKey) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if pkcs1 {
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), &k.PublicKey
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), &k.PublicKey
}

func ecPEM(t *testing.T) ([]byte, crypto.PublicKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), &k.PublicKey
}

func newOAuthProvider(t *testing.T, orgURL string, oc OAuthConfig) *Client {
	t.Helper()
	p, err := New(Config{OrgURL: orgURL, OAuth: &oc, Budgets: NewBudgets(BudgetOptions{}), AllowInsecureLoopbackHTTP: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// listApps makes one management call through the SDK (the health check's first call).
func listApps(p *Client) error {
	_, err := p.call(context.Background(), "list apps", http.MethodGet, "/api/v1/apps?limit=1", nil, nil, nil)
	return err
}

func TestOAuthTokenAndDPoP(t *testing.T) {
	rsa1, rsaPub1 := rsaPEM(t, true)
	rsa8, rsaPub8 := rsaPEM(t, false)
	ec, ecPub := ecPEM(t)
	otherKey, _ := rsaPEM(t, false)
	tests := map[string]struct {
		pem      []byte
		pub      crypto.PublicKey
		kid      string // registered on the app; "" = the key's thumbprint
		cfgKID   string
		scopes   []string // requested
		granted  []string
		asNonce  string
		rsNonce  string
		refuse   bool   // the API refuses every proof
		need     string // the API wants this scope
		wantErr  error
		wantCode string
		// token requests and API requests the fake must have seen
		wantTokens, wantAPI int
	}{
		"pkcs1 rsa, nonce challenge at the token endpoint": {pem: rsa1, pub: rsaPub1, granted: []string{"okta.apps.manage"}, asNonce: "n-as-1", wantTokens: 2, wantAPI: 1},
		"pkcs8 rsa with a key id":                          {pem: rsa8, pub: rsaPub8, kid: "my-key", cfgKID: "my-key", granted: []string{"okta.apps.manage"}, wantTokens: 1, wantAPI: 1},
		"ec p-256":                                         {pem: ec, pub: ecPub, granted: []string{"okta.apps.manage"}, wantTokens: 1, wantAPI: 1},
		"nonce challenge at the API":                       {pem: rsa8, pub: rsaPub8, granted: []string{"okta.apps.manage"}, rsNonce: "n-rs-1", wantTokens: 1, wantAPI: 2},
		"two scopes":                                       {pem: ec, pub: ecPub, scopes: []string{"okta.apps.manage", "okta.authorizationServers.manage"}, granted: []string{"okta.apps.manage", "okta.authorizationServers.manage"}, wantTokens: 1, wantAPI: 1},
		"wrong key": {pem: otherKey, pub: rsaPub8, kid: "k1", cfgKID: "k1", granted: []string{"okta.apps.manage"},
			wantErr: provider.ErrOAuthClientRejected, wantCode: "invalid_client", wantTokens: 1},
		"unknown key id": {pem: rsa8, pub: rsaPub8, kid: "k1", cfgKID: "k2", granted: []string{"okta.apps.manage"},
			wantErr: provider.ErrOAuthClientRejected, wantCode: "invalid_client", wantTokens: 1},
		"scope not granted": {pem: rsa8, pub: rsaPub8, granted: []string{"okta.users.read"},
			wantErr: provider.ErrOAuthScopeNotGranted, wantCode: "invalid_scope", wantTokens: 1},
		"scope missing for the call": {pem: rsa8, pub: rsaPub8, scopes: []string{"okta.apps.read"}, granted: []string{"okta.apps.read"}, need: "okta.apps.manage",
			wantErr: provider.ErrOAuthScopeNotGranted, wantCode: "insufficient_scope", wantTokens: 1, wantAPI: 1},
		"proof refused by the API": {pem: rsa8, pub: rsaPub8, granted: []string{"okta.apps.manage"}, refuse: true,
			wantErr: provider.ErrDPoPRejected, wantCode: "invalid_dpop_proof", wantTokens: 1, wantAPI: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kid := tc.kid
			if kid == "" {
				var err error
				if kid, err = oauth2client.KeyIDOf(tc.pem); err != nil {
					t.Fatal(err)
				}
			}
			f := newFakeOrgAS(t, "0oaOperator", tc.pub, kid, tc.granted...)
			f.asNonce, f.rsNonce, f.dpopRefused, f.needScope = tc.asNonce, tc.rsNonce, tc.refuse, tc.need
			p := newOAuthProvider(t, f.srv.URL, OAuthConfig{ClientID: "0oaOperator", PrivateKeyPEM: tc.pem, KeyID: tc.cfgKID, Scopes: tc.scopes})
			err := listApps(p)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("list apps: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("list apps error = %v, want %v", err, tc.wantErr)
			case tc.wantErr != nil:
				if !errors.Is(err, provider.ErrUnauthorized) {
					t.Errorf("%v does not also match ErrUnauthorized", err)
				}
				if tc.need != "" && !strings.Contains(err.Error(), tc.need) {
					t.Errorf("error %q does not name the scope %s", err, tc.need)
				}
				if got := provider.Code(err); got != tc.wantCode {
					t.Errorf("code %q, want %q", got, tc.wantCode)
				}
				if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "at-") {
					t.Errorf("error shows key or token material: %v", err)
				}
			}
			if tokens, api := f.counts(); tokens != tc.wantTokens || api != tc.wantAPI {
				t.Errorf("fake saw %d token and %d API requests, want %d and %d", tokens, api, tc.wantTokens, tc.wantAPI)
			}
			if tc.wantErr == nil {
				// The token is reused, with a fresh proof (the fake refuses a replayed jti).
				if err := listApps(p); err != nil {
					t.Fatalf("second call: %v", err)
				}
				if tokens, _ := f.counts(); tokens != tc.wantTokens {
					t.Errorf("second call requested a new token (%d token requests)", tokens)
				}
			}
		})
	}
}

func TestOAuthTokenRenewal(t *testing.T) {
	key, pub := rsaPEM(t, false)
	kid, _ := oauth2client.KeyIDOf(key)
	tests := map[string]struct {
		lifetime   int
		advance    time.Duration // clock moved between two calls
		revoke     bool          // the API refuses the first token between the calls
		wantTokens int
	}{
		"well before expiry: reused":         {lifetime: 3600, advance: 30 * time.Minute, wantTokens: 1},
		"in the renewal margin: renewed":     {lifetime: 3600, advance: 56 * time.Minute, wantTokens: 2},
		"short token past expiry: renewed":   {lifetime: 60, advance: 61 * time.Second, wantTokens: 2},
		"short token in its margin: renewed": {lifetime: 60, advance: 50 * time.Second, wantTokens: 2},
		"refused early: renewed and retried": {lifetime: 3600, revoke: true, wantTokens: 2},
		"short token, early in life: reused": {lifetime: 60, advance: 10 * time.Second, wantTokens: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeOrgAS(t, "0oaOp", pub, kid, "okta.apps.manage")
			f.lifetime = tc.lifetime
			p := newOAuthProvider(t, f.srv.URL, OAuthConfig{ClientID: "0oaOp", PrivateKeyPEM: key})
			var offset atomic.Int64
			clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			p.oauth.now, f.now = clock, clock
			if err := listApps(p); err != nil {
				t.Fatal(err)
			}
			offset.Store(int64(tc.advance))
			if tc.revoke {
				f.mu.Lock()
				for tok := range f.tokens {
					f.revoked[tok] = true
				}
				f.mu.Unlock()
			}
			if err := listApps(p); err != nil {
				t.Fatalf("second call: %v", err)
			}
			if tokens, _ := f.counts(); tokens != tc.wantTokens {
				t.Errorf("%d token requests, want %d", tokens, tc.wantTokens)
			}
		})
	}
}

func TestOAuthConfigValidation(t *testing.T) {
	key, _ := rsaPEM(t, false)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})
	pubDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	tests := map[string]struct {
		cfg     Config
		wantErr string
		wantIs  error
	}{
		"oauth ok":         {cfg: Config{OrgURL: "https://example.okta.com", OAuth: &OAuthConfig{ClientID: "0oa1", PrivateKeyPEM: key}}},
		"both":             {cfg: Config{OrgURL: "https://example.okta.com", APIToken: testToken, OAuth: &OAuthConfig{ClientID: "0oa1", PrivateKeyPEM: key}}, wantErr: "not both"},
		"no client id":     {cfg: Config{OrgURL: "https://example.okta.com", OAuth: &OAuthConfig{PrivateKeyPEM: key}}, wantErr: "client id is empty"},
		"client id path":   {cfg: Config{OrgURL: "https://example.okta.com", OAuth: &OAuthConfig{ClientID: "../x", PrivateKeyPEM: key}}, wantErr: "not a valid okta client id"},
		"no key":           {cfg: Config{OrgURL: "https://example.okta.com", OAuth: &OAuthConfig{ClientID: "0oa1"}}, wantIs: ErrPrivateKeyInvalid},
		"not pem":          {cfg: Config{OrgURL: "https://example.okta.com", OAuth: &OAuthConfig{ClientID: "0oa1", PrivateKeyPEM: []byte("secret-ish text")}}, wantIs: ErrPrivateKeyInvalid},
		"rsa 1024":         {cfg: Config{OrgURL: "https://example.okta.com", OAuth: &OAuthConfig{ClientID: "0oa1", PrivateKeyPEM: smallPEM}}, wantIs: ErrPrivateKeyInvalid},
		"public key":       {cfg: Config{OrgURL: "https://example.okta.com", OAuth: &OAuthConfig{ClientID: "0oa1", PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})}}, wantIs: ErrPrivateKeyInvalid},
		"scope with space": {cfg: Config{OrgURL: "https://example.okta.com", OAuth: &OAuthConfig{ClientID: "0oa1", PrivateKeyPEM: key, Scopes: []string{"a b"}}}, wantErr: "not a valid scope"},
		"truncated pkcs8":  {cfg: Config{OrgURL: "https://example.okta.com", OAuth: &OAuthConfig{ClientID: "0oa1", PrivateKeyPEM: truncatePEM(key)}}, wantIs: ErrPrivateKeyInvalid},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if tc.wantErr == "" && tc.wantIs == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if p.oauth == nil || strings.Join(p.oauth.creds.Scopes, " ") != DefaultOAuthScope {
					t.Errorf("oauth mode not set up with the default scope")
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted the config")
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if strings.Contains(err.Error(), "MII") || strings.Contains(err.Error(), "secret-ish") {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}

// truncatePEM keeps a valid PEM frame around a cut DER body.
func truncatePEM(p []byte) []byte {
	b, _ := pem.Decode(p)
	return pem.EncodeToMemory(&pem.Block{Type: b.Type, Bytes: b.Bytes[:len(b.Bytes)/2]})
}

func TestOAuthTokenRateLimited(t *testing.T) {
	key, _ := rsaPEM(t, false)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("X-Rate-Limit-Limit", "10")
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		w.Header().Set("X-Rate-Limit-Reset", fmt.Sprint(time.Now().Add(30*time.Second).Unix()))
		oauthErr(w, http.StatusTooManyRequests, "", "")
	}))
	defer srv.Close()
	budgets := NewBudgets(BudgetOptions{})
	p, err := New(Config{OrgURL: srv.URL, OAuth: &OAuthConfig{ClientID: "0oa1", PrivateKeyPEM: key}, Budgets: budgets, AllowInsecureLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	err = listApps(p)
	if !errors.Is(err, provider.ErrRateLimited) {
		t.Fatalf("error = %v, want rate limited", err)
	}
	if _, ok := provider.RetryAt(err); !ok {
		t.Errorf("no RetryAt on %v", err)
	}
	// A 429 blocks its bucket until the reset without rewriting the window (issue 11).
	if st := budgets.state(srv.URL, BucketOrgToken); !st.BlockedUntil.After(time.Now()) {
		t.Errorf("org-token bucket %+v, want blocked until the reset", st)
	}
	if st := budgets.state(srv.URL, BucketToken); st.Known || !st.BlockedUntil.IsZero() {
		t.Errorf("the custom authorization servers' token bucket learned from the org token endpoint: %+v", st)
	}
	// The spent bucket refuses the next token request locally.
	if err := listApps(p); !errors.Is(err, provider.ErrRateLimited) || calls.Load() != 1 {
		t.Errorf("second call: %v after %d server calls, want a local refusal after 1", err, calls.Load())
	}
}

func TestChallengeError(t *testing.T) {
	tests := map[string]struct {
		in             []string
		code, wantDesc string
	}{
		"dpop nonce":        {in: []string{`DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`}, code: "use_dpop_nonce", wantDesc: "Resource server requires nonce in DPoP proof"},
		"dpop after bearer": {in: []string{`Bearer realm="x"`, `DPoP algs="ES256", error="invalid_dpop_proof"`}, code: "invalid_dpop_proof"},
		"description first": {in: []string{`DPoP error_description="error=\"x\"", error="invalid_token"`}, code: "invalid_token"},
		"none":              {in: []string{`DPoP algs="ES256"`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, desc := challengeError(tc.in)
			if code != tc.code || (tc.wantDesc != "" && desc != tc.wantDesc) {
				t.Errorf("got %q %q, want %q %q", code, desc, tc.code, tc.wantDesc)
			}
		})
	}
}
