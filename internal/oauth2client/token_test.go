package oauth2client

import (
	"context"
	"crypto"
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
	ecKey   *ecdsa.PrivateKey
)

func testKeys(t *testing.T) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, ecKey
}

// pemOf encodes key as typ: "RSA PRIVATE KEY" (PKCS#1), "EC PRIVATE KEY" (SEC 1) or
// "PRIVATE KEY" (PKCS#8).
func pemOf(t *testing.T, key any, typ string) []byte {
	t.Helper()
	var der []byte
	var err error
	switch typ {
	case "RSA PRIVATE KEY":
		der = x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))
	case "EC PRIVATE KEY":
		der, err = x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	case "PRIVATE KEY":
		der, err = x509.MarshalPKCS8PrivateKey(key)
	case "PUBLIC KEY":
		der, err = x509.MarshalPKIXPublicKey(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// received is what the fake token endpoint got.
type received struct {
	basicID, basicSecret string
	hasBasic             bool
	form                 url.Values
	header               http.Header
}

func TestRequestTokenAuthMethods(t *testing.T) {
	const (
		clientID = "client id+/é"
		secret   = "s3cr:et/+ &=%é"
		keyID    = "key-1"
	)
	rk, ek := testKeys(t)
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", 400)
			return
		}
		rc := received{form: r.PostForm, header: r.Header}
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Basic ") {
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
			id, sec, _ := strings.Cut(string(raw), ":")
			rc.hasBasic = true
			rc.basicID, _ = url.QueryUnescape(id)
			rc.basicSecret, _ = url.QueryUnescape(sec)
		}
		mu.Lock()
		got = append(got, rc)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("DPoP-Nonce", "n-1")
		_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.token.value","scope":"a b"}`))
	}))
	t.Cleanup(srv.Close)
	tokenURL := srv.URL + "/oauth2/default/v1/token"

	tests := map[string]struct {
		creds Credentials
		check func(t *testing.T, r received)
	}{
		"client_secret_basic": {
			creds: Credentials{ClientID: clientID, ClientSecret: secret, AuthMethod: ClientSecretBasic},
			check: func(t *testing.T, r received) {
				if !r.hasBasic || r.basicID != clientID || r.basicSecret != secret {
					t.Errorf("basic credentials do not round-trip through form-urlencoding")
				}
				if r.form.Has("client_secret") || r.form.Has("client_assertion") {
					t.Errorf("credentials also in the body: %v", r.form)
				}
			},
		},
		"client_secret_post": {
			creds: Credentials{ClientID: clientID, ClientSecret: secret, AuthMethod: ClientSecretPost},
			check: func(t *testing.T, r received) {
				if r.hasBasic {
					t.Error("basic auth sent for client_secret_post")
				}
				if r.form.Get("client_id") != clientID || r.form.Get("client_secret") != secret {
					t.Error("client_id/client_secret not in the body")
				}
			},
		},
		"private_key_jwt, RSA PKCS#8": {
			creds: Credentials{ClientID: clientID, AuthMethod: PrivateKeyJWT, PrivateKeyPEM: pemOf(t, rk, "PRIVATE KEY"), KeyID: keyID},
			check: func(t *testing.T, r received) {
				checkAssertion(t, r, jwa.RS256, rk.Public(), clientID, keyID, tokenURL)
			},
		},
		"private_key_jwt, RSA PKCS#1": {
			creds: Credentials{ClientID: clientID, AuthMethod: PrivateKeyJWT, PrivateKeyPEM: pemOf(t, rk, "RSA PRIVATE KEY"), KeyID: keyID},
			check: func(t *testing.T, r received) {
				checkAssertion(t, r, jwa.RS256, rk.Public(), clientID, keyID, tokenURL)
			},
		},
		"private_key_jwt, EC P-256 SEC 1": {
			creds: Credentials{ClientID: clientID, AuthMethod: PrivateKeyJWT, PrivateKeyPEM: pemOf(t, ek, "EC PRIVATE KEY"), KeyID: keyID},
			check: func(t *testing.T, r received) {
				checkAssertion(t, r, jwa.ES256, ek.Public(), clientID, keyID, tokenURL)
			},
		},
		"private_key_jwt, EC P-256 PKCS#8": {
			creds: Credentials{ClientID: clientID, AuthMethod: PrivateKeyJWT, PrivateKeyPEM: pemOf(t, ek, "PRIVATE KEY"), KeyID: keyID},
			check: func(t *testing.T, r received) {
				checkAssertion(t, r, jwa.ES256, ek.Public(), clientID, keyID, tokenURL)
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			tc.creds.TokenURL = tokenURL
			tc.creds.Scopes = []string{"hello:read", "hello:write"}
			tok, err := RequestToken(context.Background(), nil, tc.creds, WithHeader("DPoP", "proof-1"), WithHeader("Authorization", "Bearer not-this"))
			if err != nil {
				t.Fatalf("RequestToken: %v", err)
			}
			if tok.AccessToken != "eyJ.token.value" || tok.Scope != "a b" || tok.Header.Get("DPoP-Nonce") != "n-1" {
				t.Errorf("token %q scope %q nonce %q", tok.AccessToken, tok.Scope, tok.Header.Get("DPoP-Nonce"))
			}
			if d := time.Until(tok.Expiry); d < 59*time.Minute || d > time.Hour {
				t.Errorf("expiry in %v, want about an hour", d)
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
			if r.header.Get("DPoP") != "proof-1" {
				t.Errorf("extra header DPoP = %q", r.header.Get("DPoP"))
			}
			if strings.Contains(r.header.Get("Authorization"), "not-this") {
				t.Error("an extra header replaced Authorization")
			}
			tc.check(t, r)
		})
	}
}

func checkAssertion(t *testing.T, r received, alg jwa.SignatureAlgorithm, pub crypto.PublicKey, clientID, keyID, tokenURL string) {
	t.Helper()
	if r.hasBasic || r.form.Has("client_secret") {
		t.Error("a secret was sent for private_key_jwt")
	}
	if r.form.Get("client_assertion_type") != ClientAssertionType || r.form.Get("client_id") != clientID {
		t.Errorf("client_assertion_type %q client_id %q", r.form.Get("client_assertion_type"), r.form.Get("client_id"))
	}
	checkAssertionJWS(t, r.form.Get("client_assertion"), alg, pub, clientID, keyID, tokenURL)
}

// checkAssertionJWS verifies an assertion against RFC 7523 §3 and returns its jti.
func checkAssertionJWS(t *testing.T, assertion string, alg jwa.SignatureAlgorithm, pub crypto.PublicKey, clientID, keyID, aud string) string {
	t.Helper()
	payload, err := jws.Verify([]byte(assertion), jws.WithKey(alg, pub))
	if err != nil {
		t.Fatalf("assertion does not verify with the public key as %s: %v", alg, err)
	}
	msg, err := jws.Parse([]byte(assertion))
	if err != nil {
		t.Fatal(err)
	}
	if h := msg.Signatures()[0].ProtectedHeaders(); h.KeyID() != keyID || h.Type() != "JWT" {
		t.Errorf("kid %q typ %q, want %q JWT", h.KeyID(), h.Type(), keyID)
	}
	var c struct {
		Iss, Sub, Aud, Jti string
		Iat, Exp           int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	if c.Iss != clientID || c.Sub != clientID || c.Aud != aud || c.Jti == "" {
		t.Errorf("claims iss=%q sub=%q aud=%q jti=%q", c.Iss, c.Sub, c.Aud, c.Jti)
	}
	if c.Iat > now+1 || c.Exp <= now || c.Exp-c.Iat > 300 {
		t.Errorf("iat %d exp %d: want a short-lived assertion issued now", c.Iat, c.Exp)
	}
	return c.Jti
}

func TestClientAssertionJTIIsUnique(t *testing.T) {
	rk, _ := testKeys(t)
	seen := map[string]bool{}
	for range 5 {
		a, err := ClientAssertion{ClientID: "c", Audience: "https://x.example/token", KeyID: "k", Key: rk}.Sign(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		jti := checkAssertionJWS(t, a, jwa.RS256, rk.Public(), "c", "k", "https://x.example/token")
		if seen[jti] {
			t.Fatalf("jti %q repeated", jti)
		}
		seen[jti] = true
	}
}

func TestRequestTokenOutcomes(t *testing.T) {
	const secret = "the-client-secret-value"
	tests := map[string]struct {
		status     int
		body       string
		ctype      string
		header     map[string]string
		wantIs     []error // nil and wantAnswer false: success
		wantCode   string
		wantStatus int // of *Error; 0: not an *Error
		retryable  bool
	}{
		"token issued":        {status: 200, body: `{"access_token":"eyJ.x.y","token_type":"Bearer"}`},
		"invalid client":      {status: 401, body: `{"error":"invalid_client","error_description":"Client authentication failed."}`, wantIs: []error{ErrInvalidClient}, wantCode: "invalid_client", wantStatus: 401},
		"401 without a body":  {status: 401, wantIs: []error{ErrInvalidClient}, wantStatus: 401},
		"invalid scope":       {status: 400, body: `{"error":"invalid_scope","error_description":"One or more scopes are not configured."}`, wantIs: []error{ErrInvalidScope}, wantCode: "invalid_scope", wantStatus: 400},
		"access denied":       {status: 403, body: `{"error":"access_denied","error_description":"Policy evaluation failed."}`, wantIs: []error{ErrAccessDenied}, wantCode: "access_denied", wantStatus: 403},
		"unauthorized client": {status: 400, body: `{"error":"unauthorized_client"}`, wantIs: []error{ErrUnauthorizedClient}, wantCode: "unauthorized_client", wantStatus: 400},
		"use dpop nonce": {status: 400, body: `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof."}`,
			header: map[string]string{"DPoP-Nonce": "abc"}, wantIs: []error{ErrUseDPoPNonce}, wantCode: "use_dpop_nonce", wantStatus: 400},
		"invalid dpop proof":         {status: 400, body: `{"error":"invalid_dpop_proof"}`, wantIs: []error{ErrInvalidDPoPProof}, wantCode: "invalid_dpop_proof", wantStatus: 400},
		"server error":               {status: 500, body: `{"error":"server_error"}`, wantCode: "server_error", wantStatus: 500, retryable: true},
		"unavailable without a body": {status: 503, header: map[string]string{"Retry-After": "7"}, wantStatus: 503, retryable: true},
		"rate limited":               {status: 429, body: `{"errorCode":"E0000047"}`, wantStatus: 429, retryable: true},
		"form-encoded error":         {status: 400, ctype: "application/x-www-form-urlencoded", body: "error=invalid_scope", wantIs: []error{ErrInvalidScope}, wantCode: "invalid_scope", wantStatus: 400},
		"200 without a token":        {status: 200, body: `{}`, wantIs: []error{ErrMalformedAnswer}},
		"200 that is not JSON":       {status: 200, body: `<html>`, wantIs: []error{ErrMalformedAnswer}},
		"redirect is not followed":   {status: 307, header: map[string]string{"Location": "/elsewhere"}, wantStatus: 307},
		"secret echoed in a description is masked": {status: 401, body: `{"error":"invalid_client","error_description":"bad secret ` + secret + `"}`,
			wantIs: []error{ErrInvalidClient}, wantCode: "invalid_client", wantStatus: 401},
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
				ct := tc.ctype
				if ct == "" {
					ct = "application/json"
				}
				w.Header().Set("Content-Type", ct)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			tok, err := RequestToken(context.Background(), srv.Client(), Credentials{
				ClientID: "cid", ClientSecret: secret, AuthMethod: ClientSecretPost, TokenURL: srv.URL + "/token",
			})
			if tc.wantIs == nil && tc.wantStatus == 0 {
				if err != nil || tok.AccessToken == "" {
					t.Fatalf("RequestToken: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("error %v is not %v", err, want)
				}
			}
			if errors.Is(err, ErrInvalidConfig) {
				t.Error("an answer classified as a configuration error")
			}
			var oe *Error
			if errors.As(err, &oe) != (tc.wantStatus != 0) {
				t.Fatalf("error %v: *Error = %v, want %v", err, errors.As(err, &oe), tc.wantStatus != 0)
			}
			if oe != nil {
				if oe.Status != tc.wantStatus || oe.Code != tc.wantCode || Code(err) != tc.wantCode || oe.Retryable() != tc.retryable {
					t.Errorf("status %d code %q retryable %v; want %d %q %v", oe.Status, oe.Code, oe.Retryable(), tc.wantStatus, tc.wantCode, tc.retryable)
				}
				for k, v := range tc.header {
					if oe.Header.Get(k) != v {
						t.Errorf("header %s = %q, want %q", k, oe.Header.Get(k), v)
					}
				}
				if tc.header["DPoP-Nonce"] != "" && oe.DPoPNonce() != tc.header["DPoP-Nonce"] {
					t.Errorf("DPoPNonce %q", oe.DPoPNonce())
				}
				if ra := tc.header["Retry-After"]; ra != "" {
					now := time.Now()
					if at, ok := oe.RetryAfter(now); !ok || at.Sub(now) != 7*time.Second {
						t.Errorf("RetryAfter = %v %v", at, ok)
					}
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "eyJ") {
				t.Error("the error contains the secret or a token")
			}
			mu.Lock()
			defer mu.Unlock()
			if calls["/token"] != 1 || calls["/elsewhere"] != 0 {
				t.Errorf("calls %v, want one to the token endpoint and none elsewhere", calls)
			}
		})
	}
}

func TestRequestTokenWithoutAnswer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	tokenURL := srv.URL + "/token"
	srv.Close()
	_, err := RequestToken(context.Background(), nil, Credentials{ClientID: "c", ClientSecret: "s", AuthMethod: ClientSecretBasic, TokenURL: tokenURL})
	var oe *Error
	if err == nil || errors.As(err, &oe) || errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrMalformedAnswer) {
		t.Fatalf("error %v; want a transport error", err)
	}
}

func TestRequestTokenRefusesBadInputWithoutCalling(t *testing.T) {
	rk, ek := testKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	called := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called++ }))
	t.Cleanup(srv.Close)
	tokenURL := srv.URL + "/oauth2/default/v1/token"
	rsaPEM := pemOf(t, rk, "PRIVATE KEY")
	tests := map[string]Credentials{
		"no client id":          {ClientSecret: "s", AuthMethod: ClientSecretBasic, TokenURL: tokenURL},
		"no secret":             {ClientID: "c", AuthMethod: ClientSecretBasic, TokenURL: tokenURL},
		"no method":             {ClientID: "c", ClientSecret: "s", TokenURL: tokenURL},
		"unknown method":        {ClientID: "c", ClientSecret: "s", AuthMethod: "client_secret_jwt", TokenURL: tokenURL},
		"plain http off-host":   {ClientID: "c", ClientSecret: "s", AuthMethod: ClientSecretBasic, TokenURL: "http://example.okta.com/oauth2/default/v1/token"},
		"relative token url":    {ClientID: "c", ClientSecret: "s", AuthMethod: ClientSecretBasic, TokenURL: "/oauth2/default/v1/token"},
		"user info in url":      {ClientID: "c", ClientSecret: "s", AuthMethod: ClientSecretBasic, TokenURL: "https://u:p@example.okta.com/token"},
		"no key id":             {ClientID: "c", AuthMethod: PrivateKeyJWT, PrivateKeyPEM: rsaPEM, TokenURL: tokenURL},
		"key is not PEM":        {ClientID: "c", AuthMethod: PrivateKeyJWT, PrivateKeyPEM: []byte("not a key"), KeyID: "k", TokenURL: tokenURL},
		"key on P-384":          {ClientID: "c", AuthMethod: PrivateKeyJWT, PrivateKeyPEM: pemOf(t, p384, "PRIVATE KEY"), KeyID: "k", TokenURL: tokenURL},
		"RSA key of 1024 bits":  {ClientID: "c", AuthMethod: PrivateKeyJWT, PrivateKeyPEM: pemOf(t, small, "RSA PRIVATE KEY"), KeyID: "k", TokenURL: tokenURL},
		"key is a public key":   {ClientID: "c", AuthMethod: PrivateKeyJWT, PrivateKeyPEM: pemOf(t, ek.Public(), "PUBLIC KEY"), KeyID: "k", TokenURL: tokenURL},
		"corrupt PKCS#8 body":   {ClientID: "c", AuthMethod: PrivateKeyJWT, PrivateKeyPEM: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), KeyID: "k", TokenURL: tokenURL},
		"no private key at all": {ClientID: "c", AuthMethod: PrivateKeyJWT, KeyID: "k", TokenURL: tokenURL},
	}
	for name, creds := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := RequestToken(context.Background(), nil, creds)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error = %v, want ErrInvalidConfig", err)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") && name != "key is a public key" {
				t.Errorf("the error quotes the key: %v", err)
			}
			if strings.Contains(err.Error(), ":p@") {
				t.Errorf("the error quotes URL credentials: %v", err)
			}
		})
	}
	if called != 0 {
		t.Errorf("the token endpoint was called %d times", called)
	}
}
