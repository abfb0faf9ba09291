package credentials

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/kubeletvolume"
	"github.com/clientcreds/clientcreds/internal/oauth2client"
)

// idp is a fake token endpoint that accepts the client secrets in ok.
type idp struct {
	*httptest.Server
	mu       sync.Mutex
	ok       map[string]bool // accepted client secrets; "jwt" accepts any client assertion
	status   int             // when set, every request gets it
	lifetime int
	seen     []string // the secret (or "jwt") of each request
	issued   atomic.Int64
}

func newIDP(t *testing.T, lifetime int, ok ...string) *idp {
	t.Helper()
	p := &idp{ok: map[string]bool{}, lifetime: lifetime}
	for _, s := range ok {
		p.ok[s] = true
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		cred := r.PostForm.Get("client_secret")
		if _, s, found := r.BasicAuth(); found {
			cred = s
		}
		if r.PostForm.Get("client_assertion") != "" {
			cred = "jwt"
		}
		p.mu.Lock()
		p.seen = append(p.seen, cred)
		accept, status := p.ok[cred], p.status
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case status != 0:
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":"server_error"}`))
		case !accept:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"Client authentication failed."}`))
		default:
			n := p.issued.Add(1)
			_, _ = fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, p.lifetime)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) set(f func(p *idp)) { p.mu.Lock(); f(p); p.mu.Unlock() }

func (p *idp) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// clock is a test clock: real time plus an offset the test advances.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

func withClock(c *clock) Option { return func(o *config) { o.now = c.now } }

// logBuffer collects the Source's log for the no-secret checks.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *logBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

func secretData(tokenURL, secret, method string) map[string][]byte {
	return map[string][]byte{
		KeyClientID: []byte("client-1"), KeyClientSecret: []byte(secret), KeyTokenURL: []byte(tokenURL),
		KeyScope: []byte("hello:read"), KeyAuthMethod: []byte(method), "ISSUER": []byte("ignored"),
	}
}

func ecPEM(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFromDirReadsCredentials(t *testing.T) {
	key := ecPEM(t)
	tests := map[string]struct {
		data    map[string][]byte
		plain   bool // written as plain files, not through ..data
		want    oauth2client.Credentials
		wantErr string
	}{
		"client_secret_basic": {data: secretData("https://idp.example/token", "s3cret\n", "client_secret_basic"),
			want: oauth2client.Credentials{ClientID: "client-1", ClientSecret: "s3cret", TokenURL: "https://idp.example/token", Scopes: []string{"hello:read"}, AuthMethod: oauth2client.ClientSecretBasic}},
		"plain directory": {plain: true, data: secretData("https://idp.example/token", "s", "client_secret_post"),
			want: oauth2client.Credentials{ClientID: "client-1", ClientSecret: "s", TokenURL: "https://idp.example/token", Scopes: []string{"hello:read"}, AuthMethod: oauth2client.ClientSecretPost}},
		"no AUTH_METHOD means basic": {data: map[string][]byte{KeyClientID: []byte("c"), KeyClientSecret: []byte("s"), KeyTokenURL: []byte("http://127.0.0.1:1/t")},
			want: oauth2client.Credentials{ClientID: "c", ClientSecret: "s", TokenURL: "http://127.0.0.1:1/t", AuthMethod: oauth2client.ClientSecretBasic}},
		"private_key_jwt": {data: map[string][]byte{KeyClientID: []byte("c"), KeyTokenURL: []byte("https://idp.example/token"), KeyAuthMethod: []byte("private_key_jwt"), KeyPrivateKey: key, KeyKeyID: []byte("kid-1"), KeyScope: []byte("a  b")},
			want: oauth2client.Credentials{ClientID: "c", TokenURL: "https://idp.example/token", AuthMethod: oauth2client.PrivateKeyJWT, PrivateKeyPEM: key, KeyID: "kid-1", Scopes: []string{"a", "b"}}},
		"empty directory":       {data: map[string][]byte{}, wantErr: "none of the credentials files"},
		"no client secret":      {data: map[string][]byte{KeyClientID: []byte("c"), KeyTokenURL: []byte("https://idp.example/token")}, wantErr: "client secret is empty"},
		"unknown method":        {data: secretData("https://idp.example/token", "s", "client_secret_jwt"), wantErr: "AUTH_METHOD names an unsupported method"},
		"http token url":        {data: secretData("http://idp.example/token", "s", "client_secret_basic"), wantErr: "http is allowed only for loopback"},
		"key without KEY_ID":    {data: map[string][]byte{KeyClientID: []byte("c"), KeyTokenURL: []byte("https://idp.example/token"), KeyAuthMethod: []byte("private_key_jwt"), KeyPrivateKey: key}, wantErr: "key id is empty"},
		"key that is not a key": {data: map[string][]byte{KeyClientID: []byte("c"), KeyTokenURL: []byte("https://idp.example/token"), KeyAuthMethod: []byte("private_key_jwt"), KeyPrivateKey: []byte("secret-garbage"), KeyKeyID: []byte("k")}, wantErr: "not PEM-encoded"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.plain {
				for k, v := range tc.data {
					if err := os.WriteFile(filepath.Join(dir, k), v, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			} else if err := kubeletvolume.Write(dir, tc.data); err != nil {
				t.Fatal(err)
			}
			s, err := FromDir(dir, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				for _, v := range tc.data {
					if len(v) > 3 && strings.Contains(err.Error(), string(v)) && !strings.HasPrefix(string(v), "http") && string(v) != "client_secret_jwt" {
						t.Errorf("the error quotes a value: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := s.snap.creds
			if got.ClientID != tc.want.ClientID || got.ClientSecret != tc.want.ClientSecret || got.TokenURL != tc.want.TokenURL ||
				got.AuthMethod != tc.want.AuthMethod || got.KeyID != tc.want.KeyID || !bytes.Equal(got.PrivateKeyPEM, tc.want.PrivateKeyPEM) ||
				strings.Join(got.Scopes, " ") != strings.Join(tc.want.Scopes, " ") {
				t.Errorf("read %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("APP_CLIENT_ID", "env-client")
	t.Setenv("APP_CLIENT_SECRET", "env-secret")
	t.Setenv("APP_TOKEN_URL", "https://idp.example/token")
	t.Setenv("APP_AUTH_METHOD", "client_secret_post")
	s, err := FromEnv(WithEnvPrefix("APP_"), WithScopes("x", "y"))
	if err != nil {
		t.Fatal(err)
	}
	c := s.snap.creds
	if c.ClientID != "env-client" || c.ClientSecret != "env-secret" || c.AuthMethod != oauth2client.ClientSecretPost || strings.Join(c.Scopes, ",") != "x,y" {
		t.Errorf("read %+v", c)
	}
	if _, err := FromEnv(WithEnvPrefix("NOPE_")); err == nil || !strings.Contains(err.Error(), "client id is empty") {
		t.Errorf("empty environment: %v", err)
	}
}

// TestTokenCachedAndRefreshedAhead: one request serves until half the lifetime; then
// callers keep the cached token while one background request renews it.
func TestTokenCachedAndRefreshedAhead(t *testing.T) {
	p := newIDP(t, 100, "s1")
	dir := t.TempDir()
	if err := kubeletvolume.Write(dir, secretData(p.URL+"/token", "s1", "client_secret_basic")); err != nil {
		t.Fatal(err)
	}
	var clk clock
	s, err := FromDir(dir, withClock(&clk), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.HasToken() {
		t.Fatal("HasToken before any fetch")
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok, err := s.Token(); err != nil || tok.AccessToken != "tok-1" {
				t.Errorf("Token: %v %v", tok, err)
			}
		}()
	}
	wg.Wait()
	if n := len(p.requests()); n != 1 {
		t.Fatalf("20 concurrent callers caused %d token requests, want 1", n)
	}
	clk.advance(49 * time.Second)
	if tok, _ := s.Token(); tok.AccessToken != "tok-1" || len(p.requests()) != 1 {
		t.Fatalf("before half the lifetime: token %v after %d requests", tok.AccessToken, len(p.requests()))
	}
	clk.advance(2 * time.Second) // past half
	if tok, _ := s.Token(); tok.AccessToken != "tok-1" {
		t.Fatalf("the cached token was not handed out while the refresh runs: %v", tok.AccessToken)
	}
	eventually(t, "the background refresh", func() bool { tok, _ := s.Token(); return tok.AccessToken == "tok-2" })
	clk.advance(95 * time.Second) // past tok-2's usable time: callers wait for tok-3
	if tok, err := s.Token(); err != nil || tok.AccessToken != "tok-3" {
		t.Fatalf("after expiry: %v %v", tok, err)
	}
	if !s.HasToken() {
		t.Error("HasToken false with a fresh token")
	}

	// WithMaxTokenAge: the same 100s tokens are treated as 10s ones.
	capped, err := FromDir(dir, withClock(&clk), WithMaxTokenAge(10*time.Second), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer capped.Close()
	first, _ := capped.Token()
	clk.advance(9500 * time.Millisecond) // past the capped usable time (9s)
	if tok, err := capped.Token(); err != nil || tok.AccessToken == first.AccessToken {
		t.Fatalf("with a 10s max age, a token was reused after 9.5s: %v %v", tok, err)
	}
}

// TestRotationThroughKubeletSwap: a new secret published through the ..data swap is read
// at the next poll and used at once; the old secret is never needed again.
func TestRotationThroughKubeletSwap(t *testing.T) {
	p := newIDP(t, 3600, "old", "new")
	dir := t.TempDir()
	if err := kubeletvolume.Write(dir, secretData(p.URL+"/token", "old", "client_secret_basic")); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	s, err := FromDir(dir, WithPollInterval(20*time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if tok, err := s.Token(); err != nil || tok.AccessToken != "tok-1" {
		t.Fatalf("Token: %v %v", tok, err)
	}
	if err := kubeletvolume.Write(dir, secretData(p.URL+"/token", "new", "client_secret_post")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a token fetched with the new secret", func() bool {
		r := p.requests()
		return len(r) == 2 && r[1] == "new"
	})
	eventually(t, "the new token handed out", func() bool { tok, _ := s.Token(); return tok.AccessToken == "tok-2" })
	p.set(func(p *idp) { delete(p.ok, "old") })
	if tok, err := s.Token(); err != nil || tok.AccessToken != "tok-2" {
		t.Fatalf("after the old secret was revoked: %v %v", tok, err)
	}
	// An unusable version is ignored, the last good one kept.
	if err := kubeletvolume.Write(dir, map[string][]byte{KeyClientID: []byte("client-1")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the unusable version reported", func() bool { return strings.Contains(logs.String(), "Ignoring unusable credentials") })
	if s.snap.creds.ClientSecret != "new" {
		t.Error("an unusable version replaced the credentials")
	}
	for _, secret := range []string{"old", "new"} {
		if strings.Contains(logs.String(), "="+secret) || strings.Contains(logs.String(), `"`+secret+`"`) {
			t.Errorf("the log shows the secret %q:\n%s", secret, logs.String())
		}
	}
}

// TestRefusedRequestRetriedWithFreshFiles: the watch has not seen the swap (it polls once an
// hour here); the refused request re-reads the files and succeeds with the new secret.
func TestRefusedRequestRetriedWithFreshFiles(t *testing.T) {
	p := newIDP(t, 3600, "new")
	dir := t.TempDir()
	if err := kubeletvolume.Write(dir, secretData(p.URL+"/token", "old", "client_secret_basic")); err != nil {
		t.Fatal(err)
	}
	var fetches []Fetch
	var mu sync.Mutex
	s, err := FromDir(dir, WithPollInterval(time.Hour), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		WithFetchObserver(func(f Fetch) { mu.Lock(); fetches = append(fetches, f); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := kubeletvolume.Write(dir, secretData(p.URL+"/token", "new", "client_secret_basic")); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token()
	if err != nil || tok.AccessToken != "tok-1" {
		t.Fatalf("Token: %v %v", tok, err)
	}
	if r := p.requests(); len(r) != 2 || r[0] != "old" || r[1] != "new" {
		t.Fatalf("requests %v, want old then new", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fetches) != 1 || !fetches[0].Retried || fetches[0].Err != nil {
		t.Fatalf("fetches %+v, want one retried success", fetches)
	}
}

// TestFailuresBackOff: without a token, a failed fetch is not repeated for every caller.
func TestFailuresBackOff(t *testing.T) {
	tests := map[string]struct {
		status    int
		wantIs    error
		wantCalls int
		refused   bool
	}{
		"server error":   {status: 500, wantCalls: 1, refused: true},
		"refused secret": {wantIs: oauth2client.ErrInvalidClient, wantCalls: 2, refused: true}, // retried once with re-read files
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := newIDP(t, 3600)
			p.set(func(p *idp) { p.status = tc.status })
			var fetches atomic.Int64
			var refused atomic.Bool
			s, err := FromEnv(WithEnvPrefix("BACKOFF_"), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
				WithFetchObserver(func(f Fetch) { fetches.Add(1); refused.Store(f.Refused()) }))
			_ = s
			if err == nil {
				t.Fatal("FromEnv without variables succeeded")
			}
			dir := t.TempDir()
			if err := kubeletvolume.Write(dir, secretData(p.URL+"/token", "nope", "client_secret_basic")); err != nil {
				t.Fatal(err)
			}
			s, err = FromDir(dir, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
				WithFetchObserver(func(f Fetch) { fetches.Add(1); refused.Store(f.Refused()) }))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := range 5 {
				_, err := s.Token()
				if err == nil {
					t.Fatalf("call %d: a token without valid credentials", i)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("call %d: %v is not %v", i, err, tc.wantIs)
				}
			}
			if n := len(p.requests()); n != tc.wantCalls {
				t.Errorf("%d token requests for 5 calls, want %d", n, tc.wantCalls)
			}
			if fetches.Load() != 1 || refused.Load() != tc.refused {
				t.Errorf("%d fetches observed (refused %v), want 1 (%v)", fetches.Load(), refused.Load(), tc.refused)
			}
		})
	}
}

func TestClientSetsBearerAndFailsClosed(t *testing.T) {
	p := newIDP(t, 3600, "s1")
	var gotAuth atomic.Value
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
	}))
	defer api.Close()
	dir := t.TempDir()
	if err := kubeletvolume.Write(dir, secretData(p.URL+"/token", "s1", "client_secret_basic")); err != nil {
		t.Fatal(err)
	}
	s, err := FromDir(dir, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Client().Get(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if gotAuth.Load() != "Bearer tok-1" {
		t.Fatalf("Authorization %q", gotAuth.Load())
	}
	_ = s.Close()
	gotAuth.Store("")
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, api.URL, nil)
	if _, err := s.Client().Do(req); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed source: %v", err)
	}
	if gotAuth.Load() != "" {
		t.Fatal("a request went out without a token")
	}
}
