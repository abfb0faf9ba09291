package okta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// Issue 27: a tenant's "org" is a server the tenant runs. These tests play that server; the
// answers are not Okta's (no transcript or spec describes them) — they are what an attacker
// would send.

// hugeBody writes a JSON array of n bytes or a little more, streamed (chunked, no
// Content-Length) from one reused buffer, so the server itself allocates almost nothing.
func hugeBody(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	chunk := []byte(strings.Repeat(`"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",`, 2048))
	_, _ = w.Write([]byte("["))
	for written := 0; written < n; written += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
	_, _ = w.Write([]byte(`"a"]`))
}

// countingListener is a second loopback "host" that counts the requests it gets.
func countingListener(t *testing.T, ip string, port ...int) (addr string, hits *atomic.Int64) {
	t.Helper()
	hits = &atomic.Int64{}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(append(port, 0)[0])))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[]`))
	}))
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return l.Addr().String(), hits
}

// Finding 1: a 64 MiB answer to the health check's app listing is refused after
// provider.MaxResponseBytes, naming the endpoint and the limit, and the whole call allocates
// a bounded amount: runtime.MemStats.TotalAlloc (every byte allocated in the process during
// the call — an upper bound of the heap's growth) stays within 4× the limit plus 2 MiB
// (the SDK reads the body with io.ReadAll and copies it once: about 3× the limit), twice
// that under the race detector.
// Before the fix the call succeeded and allocated over 200 MiB.
func TestHugeAnswerIsBounded(t *testing.T) {
	const huge = 64 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hugeBody(w, huge)
	}))
	t.Cleanup(srv.Close)
	p := newTestProvider(t, srv.URL)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := p.CheckHealth(context.Background())
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated during the call: %.1f MiB (limit %d MiB); heap in use after: %.1f MiB",
		float64(allocated)/(1<<20), provider.MaxResponseBytes>>20, float64(after.HeapInuse)/(1<<20))

	if !errors.Is(err, provider.ErrResponseTooLarge) || !errors.Is(err, provider.ErrPermanent) {
		t.Fatalf("CheckHealth = %v, want class %v (and %v)", err, provider.ErrResponseTooLarge, provider.ErrPermanent)
	}
	for _, want := range []string{"GET /api/v1/apps", strconv.Itoa(provider.MaxResponseBytes)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if limit := uint64(allocSlack * (4*provider.MaxResponseBytes + 2<<20)); allocated > limit {
		t.Errorf("allocated %d bytes for one refused answer, want at most %d", allocated, limit)
	}
}

// Finding 1, the other readers: the metadata read is refused as too large (its own bound,
// 1 MiB, is stricter than the transport's); a client's token request fails permanently
// (golang.org/x/oauth2 reads at most 1 MiB of a token answer, under the transport's bound).
func TestHugeAnswerBoundedOnEveryPath(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/apps" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`[]`))
			return
		}
		hugeBody(w, 16<<20)
	}))
	t.Cleanup(srv.Close)
	p := newTestProvider(t, srv.URL)
	if _, err := p.CheckHealth(context.Background()); !errors.Is(err, provider.ErrResponseTooLarge) ||
		!strings.Contains(err.Error(), "/.well-known/oauth-authorization-server") {
		t.Errorf("metadata: %v, want %v naming the metadata endpoint", err, provider.ErrResponseTooLarge)
	}
	err := p.RequestToken(context.Background(), provider.Credentials{ClientID: "c", ClientSecret: "s",
		AuthMethod: provider.AuthClientSecretBasic, TokenURL: srv.URL + "/oauth2/default/v1/token"})
	if !errors.Is(err, provider.ErrPermanent) {
		t.Errorf("token: %v, want class %v", err, provider.ErrPermanent)
	}
}

// Finding 4: no management, metadata or token request follows a redirect, not even to
// the org itself; the target (a second loopback host) never sees a request.
func TestRedirectsAreRefused(t *testing.T) {
	target, hits := countingListener(t, "127.0.0.2")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/apps" && r.URL.Query().Get("limit") == "1" && r.Header.Get("X-Second") == "" {
			http.Redirect(w, r, "http://"+target+"/api/v1/apps", http.StatusFound)
			return
		}
		http.Redirect(w, r, "http://"+target+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	p := newTestProvider(t, srv.URL)
	ctx := context.Background()
	checks := map[string]func() error{
		"management (health check)": func() error { _, err := p.CheckHealth(ctx); return err },
		"management (get app)":      func() error { _, err := p.GetApp(ctx, appID); return err },
		"token request": func() error {
			return p.RequestToken(ctx, provider.Credentials{ClientID: "c", ClientSecret: "s",
				AuthMethod: provider.AuthClientSecretBasic, TokenURL: srv.URL + "/oauth2/default/v1/token"})
		},
	}
	for name, call := range checks {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, provider.ErrRedirectRefused) || !errors.Is(err, provider.ErrPermanent) {
				t.Errorf("error = %v, want class %v", err, provider.ErrRedirectRefused)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0", n)
	}
}

// Finding 2: pagination links are resolved against the org URL and followed only when
// scheme, host and path are the org's listing; anything else is an error (never a panic)
// and no request leaves for another host.
func TestPaginationLinksArePinned(t *testing.T) {
	attacker, hits := countingListener(t, "127.0.0.2")
	var pages atomic.Int64
	var link atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages.Add(1)
		if r.URL.Query().Get("after") == "" {
			w.Header().Add("Link", link.Load().(string))
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[]`))
	}))
	t.Cleanup(srv.Close)
	p := newTestProvider(t, srv.URL)
	// The "@attacker.example/..." names no port; such a link parses. Played by a
	// loopback address of its own on port 80, when this process may listen there.
	bare, bareHits := "", &atomic.Int64{}
	for i := range 10 {
		ip := fmt.Sprintf("127.%d.%d.%d", 30+i*20, 7, 1+i)
		if l, err := net.Listen("tcp", ip+":80"); err == nil {
			_ = l.Close()
			_, bareHits = countingListener(t, ip, 80)
			bare = ip
			break
		}
	}
	tests := map[string]struct {
		link      string
		wantPages int64 // requests the org gets
		wantErr   bool
	}{
		"relative next on the listing":  {link: `</api/v1/apps?after=0oa2&limit=200>; rel="next"`, wantPages: 2},
		"absolute next on the org":      {link: `<` + srv.URL + `/api/v1/apps?after=0oa2>; rel="next"`, wantPages: 2},
		"userinfo smuggled by relative": {link: `<@` + attacker + `/api/v1/apps?after=x>; rel="next"`, wantPages: 1, wantErr: true},
		"userinfo smuggled, no port":    {link: `<@` + bare + `/api/v1/apps?after=x>; rel="next"`, wantPages: 1, wantErr: true},
		"protocol-relative":             {link: `<//` + attacker + `/api/v1/apps?after=x>; rel="next"`, wantPages: 1, wantErr: true},
		"absolute other host":           {link: `<http://` + attacker + `/api/v1/apps?after=x>; rel="next"`, wantPages: 1, wantErr: true},
		"other path on the org":         {link: `</api/v1/users?after=x>; rel="next"`, wantPages: 1, wantErr: true},
		"dot segments out of the path":  {link: `</api/v1/apps/../users?after=x>; rel="next"`, wantPages: 1, wantErr: true},
		"next that does not parse":      {link: `<%zz>; rel="next"`, wantPages: 1, wantErr: true},
		"self that does not parse":      {link: `<http://[::1>; rel="self"`, wantPages: 1, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			link.Store(tc.link)
			before := pages.Load()
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
						t.Errorf("FindApps panicked: %v", r)
					}
				}()
				_, err = p.FindApps(context.Background(), "team")
			}()
			if got := pages.Load() - before; got != tc.wantPages {
				t.Errorf("the org got %d requests, want %d", got, tc.wantPages)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("FindApps error = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, provider.ErrPermanent) {
				t.Errorf("error = %v, want class %v", err, provider.ErrPermanent)
			}
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Error("the error holds the API token")
			}
		})
	}
	if n := hits.Load() + bareHits.Load(); n != 0 {
		t.Errorf("the attacker's hosts got %d requests, want 0", n)
	}
}

// Finding 5: rate-limit state of the management API is kept per credential: a 429 with a
// far reset answered to one API token does not hold back another token's calls to the same
// org (same registry), while it still holds back the same token's.
func TestRateLimitIsPerCredential(t *testing.T) {
	const other = "00other-token-of-another-tenant"
	reset := time.Now().Add(40 * time.Second)
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") == "SSWS "+other {
			w.Header().Set("X-Rate-Limit-Limit", "100")
			w.Header().Set("X-Rate-Limit-Remaining", "0")
			w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}`))
			return
		}
		_, _ = fmt.Fprintf(w, `{"id":%q,"name":"oidc_client","label":"x","status":"ACTIVE","signOnMode":"OPENID_CONNECT","credentials":{"oauthClient":{"client_id":"c","token_endpoint_auth_method":"client_secret_basic"}},"settings":{"oauthClient":{"grant_types":["client_credentials"],"response_types":["token"],"application_type":"service"}}}`, appID)
	}))
	t.Cleanup(srv.Close)
	budgets := NewBudgets(BudgetOptions{MaxJitter: -1})
	tenant, err := New(Config{OrgURL: srv.URL, APIToken: other, Budgets: budgets, AllowInsecureLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := New(Config{OrgURL: srv.URL, APIToken: testToken, Budgets: budgets, AllowInsecureLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tenant.GetApp(ctx, appID); !errors.Is(err, provider.ErrRateLimited) {
		t.Fatalf("tenant's get = %v, want rate limited", err)
	}
	if _, err := tenant.GetApp(ctx, appID); !errors.Is(err, provider.ErrRateLimited) {
		t.Fatalf("tenant's second get = %v, want rate limited (locally)", err)
	}
	if n := seen.Load(); n != 1 {
		t.Errorf("the org saw %d requests after the tenant's two, want 1 (the second refused locally)", n)
	}
	if _, err := cluster.GetApp(ctx, appID); err != nil {
		t.Fatalf("the other credential's get = %v: throttled by the tenant's 429", err)
	}
	if n := seen.Load(); n != 2 {
		t.Errorf("the org saw %d requests, want 2", n)
	}
}
