package okta

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
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
		"key on P-384":          {ClientID: "c", AuthMethod: provider.AuthPrivateKeyJWT, PrivateKeyPEM: pemOf(t, ec, false), KeyID: "k", TokenURL: tokenURL},
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
