package okta

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/clientcreds/clientcreds/internal/provider"
)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func pemOf(t *testing.T, key any, pkcs1 bool) []byte {
	t.Helper()
	if pkcs1 {
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))})
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// tokenRequest is what the fake token endpoint received.
type tokenRequest struct {
	basicID, basicSecret string
	hasBasic             bool
	form                 url.Values
}

func TestRequestTokenAuthMethods(t *testing.T) {
	const (
		clientID = "client id+/é"
		secret   = "s3cr:et/+ &=%é"
		keyID    = "key-1"
	)
	key := testRSAKey(t)
	var mu sync.Mutex
	var got []tokenRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", 400)
			return
		}
		tr := tokenRequest{form: r.PostForm}
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Basic ") {
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
			id, sec, _ := strings.Cut(string(raw), ":")
			tr.hasBasic = true
			tr.basicID, _ = url.QueryUnescape(id)
			tr.basicSecret, _ = url.QueryUnescape(sec)
		}
		mu.Lock()
		got = append(got, tr)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.token.value","scope":"a b"}`))
	}))
	t.Cleanup(srv.Close)
	tokenURL := srv.URL + "/oauth2/default/v1/token"

	tests := map[string]struct {
		creds provider.Credentials
		check func(t *testing.T, r tokenRequest)
	}{
		"client_secret_basic": {
			creds: provider.Credentials{ClientID: clientID, ClientSecret: secret, AuthMethod: provider.AuthClientSecretBasic},
			check: func(t *testing.T, r tokenRequest) {
				if !r.hasBasic || r.basicID != clientID || r.basicSecret != secret {
					t.Errorf("basic credentials do not round-trip through form-urlencoding")
				}
				if r.form.Has("client_secret") || r.form.Has("client_assertion") {
					t.Errorf("credentials also in the body: %v", keys(r.form))
				}
			},
		},
		"client_secret_post": {
			creds: provider.Credentials{ClientID: clientID, ClientSecret: secret, AuthMethod: provider.AuthClientSecretPost},
			check: func(t *testing.T, r tokenRequest) {
				if r.hasBasic {
					t.Error("basic auth sent for client_secret_post")
				}
				if r.form.Get("client_id") != clientID || r.form.Get("client_secret") != secret {
					t.Error("client_id/client_secret not in the body")
				}
			},
		},
		"private_key_jwt (PKCS#8)": {
			creds: provider.Credentials{ClientID: clientID, AuthMethod: provider.AuthPrivateKeyJWT, PrivateKeyPEM: pemOf(t, key, false), KeyID: keyID},
			check: func(t *testing.T, r tokenRequest) { checkAssertion(t, r, key, clientID, keyID, tokenURL) },
		},
		"private_key_jwt (PKCS#1)": {
			creds: provider.Credentials{ClientID: clientID, AuthMethod: provider.AuthPrivateKeyJWT, PrivateKeyPEM: pemOf(t, key, true), KeyID: keyID},
			check: func(t *testing.T, r tokenRequest) { checkAssertion(t, r, key, clientID, keyID, tokenURL) },
		},
	}
	p := newTestProvider(t, srv.URL)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			tc.creds.TokenURL = tokenURL
			tc.creds.Scopes = []string{"hello:read", "hello:write"}
			if err := p.RequestToken(context.Background(), tc.creds); err != nil {
				t.Fatalf("RequestToken: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Fatalf("token endpoint saw %d requests, want 1", len(got))
			}
			r := got[0]
			if r.form.Get("grant_type") != "client_credentials" || r.form.Get("scope") != "hello:read hello:write" {
				t.Errorf("grant_type %q scope %q", r.form.Get("grant_type"), r.form.Get("scope"))
			}
			tc.check(t, r)
		})
	}
}

func keys(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	return out
}

func checkAssertion(t *testing.T, r tokenRequest, key *rsa.PrivateKey, clientID, keyID, tokenURL string) {
	t.Helper()
	if r.hasBasic || r.form.Has("client_secret") {
		t.Error("a secret was sent for private_key_jwt")
	}
	if r.form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Errorf("client_assertion_type %q", r.form.Get("client_assertion_type"))
	}
	assertion := r.form.Get("client_assertion")
	payload, err := jws.Verify([]byte(assertion), jws.WithKey(jwa.RS256, &key.PublicKey))
	if err != nil {
		t.Fatalf("assertion does not verify with the public key as RS256: %v", err)
	}
	msg, err := jws.Parse([]byte(assertion))
	if err != nil {
		t.Fatal(err)
	}
	if kid := msg.Signatures()[0].ProtectedHeaders().KeyID(); kid != keyID {
		t.Errorf("kid %q, want %q", kid, keyID)
	}
	var c struct {
		Iss, Sub, Aud, Jti string
		Iat, Exp           int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	if c.Iss != clientID || c.Sub != clientID || c.Aud != tokenURL || c.Jti == "" {
		t.Errorf("claims iss=%q sub=%q aud=%q jti=%q", c.Iss, c.Sub, c.Aud, c.Jti)
	}
	if c.Iat > now+1 || c.Exp <= now || c.Exp-c.Iat > 300 {
		t.Errorf("iat %d exp %d: want a short-lived assertion issued now", c.Iat, c.Exp)
	}
}

func TestClientAssertionJTIIsUnique(t *testing.T) {
	creds := provider.Credentials{ClientID: "c", PrivateKeyPEM: pemOf(t, testRSAKey(t), false), KeyID: "k", TokenURL: "https://x.okta.com/oauth2/default/v1/token"}
	seen := map[string]bool{}
	for range 5 {
		a, err := clientAssertion(creds, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		payload, err := jws.Verify([]byte(a), jws.WithKey(jwa.RS256, &testRSAKey(t).PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		var c struct{ Jti string }
		_ = json.Unmarshal(payload, &c)
		if seen[c.Jti] {
			t.Fatalf("jti %q repeated", c.Jti)
		}
		seen[c.Jti] = true
	}
}

func TestRequestTokenOutcomes(t *testing.T) {
	const secret = "the-client-secret-value"
	reset := time.Now().Add(20 * time.Second)
	tests := map[string]struct {
		status     int
		body       string
		header     map[string]string
		wantClass  error // nil: success
		wantCode   string
		wantRetry  bool
		wantCalled int
	}{
		"token issued":               {status: 200, body: `{"access_token":"eyJ.x.y","token_type":"Bearer"}`, wantCalled: 1},
		"invalid client":             {status: 401, body: `{"error":"invalid_client","error_description":"Client authentication failed."}`, wantClass: provider.ErrInvalidClient, wantCode: "invalid_client", wantCalled: 1},
		"401 without a body":         {status: 401, wantClass: provider.ErrInvalidClient, wantCalled: 1},
		"invalid scope":              {status: 400, body: `{"error":"invalid_scope","error_description":"One or more scopes are not configured."}`, wantClass: provider.ErrInvalidScope, wantCode: "invalid_scope", wantCalled: 1},
		"unauthorized client":        {status: 400, body: `{"error":"unauthorized_client","error_description":"The client is not authorized."}`, wantClass: provider.ErrPermanent, wantCode: "unauthorized_client", wantCalled: 1},
		"invalid request":            {status: 400, body: `{"error":"invalid_request"}`, wantClass: provider.ErrPermanent, wantCode: "invalid_request", wantCalled: 1},
		"server error":               {status: 500, body: `{"error":"server_error"}`, wantClass: provider.ErrTransient, wantCode: "server_error", wantCalled: 1},
		"unavailable without a body": {status: 503, wantClass: provider.ErrTransient, wantCalled: 1},
		"200 without a token":        {status: 200, body: `{}`, wantClass: provider.ErrPermanent, wantCalled: 1},
		"redirect is not followed":   {status: 307, header: map[string]string{"Location": "/elsewhere"}, wantClass: provider.ErrPermanent, wantCalled: 1},
		"rate limited": {status: 429, body: `{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}`,
			header:    map[string]string{"X-Rate-Limit-Limit": "10", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": strconv.FormatInt(reset.Unix(), 10)},
			wantClass: provider.ErrRateLimited, wantCode: CodeRateLimited, wantRetry: true, wantCalled: 1},
		"secret echoed in a description is masked": {status: 401, body: `{"error":"invalid_client","error_description":"bad secret ` + secret + `"}`, wantClass: provider.ErrInvalidClient, wantCode: "invalid_client", wantCalled: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			calls := map[string]int{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls[r.URL.Path]++
				mu.Unlock()
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			p := newTestProvider(t, srv.URL)
			err := p.RequestToken(context.Background(), provider.Credentials{
				ClientID: "cid", ClientSecret: secret, AuthMethod: provider.AuthClientSecretPost,
				TokenURL: srv.URL + "/oauth2/default/v1/token",
			})
			if tc.wantClass == nil {
				if err != nil {
					t.Fatalf("RequestToken: %v", err)
				}
			} else if !errors.Is(err, tc.wantClass) {
				t.Fatalf("error = %v, want class %v", err, tc.wantClass)
			}
			if err != nil {
				if provider.Code(err) != tc.wantCode {
					t.Errorf("code %q, want %q", provider.Code(err), tc.wantCode)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "eyJ") {
					t.Error("the error contains the secret or a token")
				}
				if _, ok := provider.RetryAt(err); ok != tc.wantRetry {
					t.Errorf("RetryAt present = %v, want %v", ok, tc.wantRetry)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if calls["/oauth2/default/v1/token"] != tc.wantCalled || calls["/elsewhere"] != 0 {
				t.Errorf("calls %v, want %d to the token endpoint and none elsewhere", calls, tc.wantCalled)
			}
		})
	}
}

func TestRequestTokenRefusesBadInputWithoutCalling(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	called := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called++ }))
	t.Cleanup(srv.Close)
	tokenURL := srv.URL + "/oauth2/default/v1/token"
	rsaPEM := pemOf(t, testRSAKey(t), false)
	tests := map[string]provider.Credentials{
		"no client id":          {ClientSecret: "s", AuthMethod: provider.AuthClientSecretBasic, TokenURL: tokenURL},
		"no secret":             {ClientID: "c", AuthMethod: provider.AuthClientSecretBasic, TokenURL: tokenURL},
		"unknown method":        {ClientID: "c", ClientSecret: "s", AuthMethod: "client_secret_jwt", TokenURL: tokenURL},
		"plain http off-host":   {ClientID: "c", ClientSecret: "s", AuthMethod: provider.AuthClientSecretBasic, TokenURL: "http://example.okta.com/oauth2/default/v1/token"},
		"relative token url":    {ClientID: "c", ClientSecret: "s", AuthMethod: provider.AuthClientSecretBasic, TokenURL: "/oauth2/default/v1/token"},
		"no key id":             {ClientID: "c", AuthMethod: provider.AuthPrivateKeyJWT, PrivateKeyPEM: rsaPEM, TokenURL: tokenURL},
		"key is not PEM":        {ClientID: "c", AuthMethod: provider.AuthPrivateKeyJWT, PrivateKeyPEM: []byte("not a key"), KeyID: "k", TokenURL: tokenURL},
		"key is not RSA":        {ClientID: "c", AuthMethod: provider.AuthPrivateKeyJWT, PrivateKeyPEM: pemOf(t, ec, false), KeyID: "k", TokenURL: tokenURL},
		"key is a public key":   {ClientID: "c", AuthMethod: provider.AuthPrivateKeyJWT, PrivateKeyPEM: publicPEM(t), KeyID: "k", TokenURL: tokenURL},
		"no private key at all": {ClientID: "c", AuthMethod: provider.AuthPrivateKeyJWT, KeyID: "k", TokenURL: tokenURL},
	}
	p := newTestProvider(t, srv.URL)
	for name, creds := range tests {
		t.Run(name, func(t *testing.T) {
			err := p.RequestToken(context.Background(), creds)
			if !errors.Is(err, provider.ErrPermanent) {
				t.Fatalf("error = %v, want permanent", err)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Error("the error quotes the key")
			}
		})
	}
	if called != 0 {
		t.Errorf("the token endpoint was called %d times", called)
	}
}

func publicPEM(t *testing.T) []byte {
	der, err := x509.MarshalPKIXPublicKey(&testRSAKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
