package tokeninjector

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/clientcreds/clientcreds/internal/kubeletvolume"
	"github.com/clientcreds/clientcreds/pkg/credentials"
)

// fakeIDP issues tokens to the client secret "s1" while up is true.
type fakeIDP struct {
	*httptest.Server
	up     atomic.Bool
	issued atomic.Int64
}

func newFakeIDP(tb testing.TB) *fakeIDP {
	tb.Helper()
	p := &fakeIDP{}
	p.up.Store(true)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if _, secret, ok := r.BasicAuth(); !ok || secret != "s1" || !p.up.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"Client authentication failed."}`)
			return
		}
		_, _ = fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, p.issued.Add(1))
	}))
	tb.Cleanup(p.Close)
	return p
}

func newSource(tb testing.TB, tokenURL string, m *Metrics) *credentials.Source {
	tb.Helper()
	dir := tb.TempDir()
	if err := kubeletvolume.Write(dir, map[string][]byte{
		"CLIENT_ID": []byte("c1"), "CLIENT_SECRET": []byte("s1"), "TOKEN_URL": []byte(tokenURL),
		"SCOPE": []byte("hello:read"), "AUTH_METHOD": []byte("client_secret_basic"),
	}); err != nil {
		tb.Fatal(err)
	}
	src, err := credentials.FromDir(dir, credentials.WithLogger(slog.New(slog.DiscardHandler)), credentials.WithFetchObserver(m.ObserveFetch))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = src.Close() })
	return src
}

// upstreamRecorder records what reached the upstream.
type upstreamRecorder struct {
	mu    sync.Mutex
	calls []*http.Request
}

func (u *upstreamRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.calls = append(u.calls, r.Clone(r.Context()))
	u.mu.Unlock()
	w.Header().Set("X-Upstream", "yes")
	_, _ = fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
}

func TestInjector(t *testing.T) {
	tests := map[string]struct {
		idpUp      bool
		method     string
		path       string
		header     map[string]string
		admin      bool // the admin endpoints share the listener
		wantStatus int
		wantBody   string
		wantAuth   string // Authorization the upstream saw; "" means it must not be called
	}{
		"forwards with the token":             {idpUp: true, method: "GET", path: "/hello?x=1", wantStatus: 200, wantBody: "GET /hello?x=1", wantAuth: "Bearer tok-1"},
		"replaces the caller's Authorization": {idpUp: true, method: "POST", path: "/p", header: map[string]string{"Authorization": "Bearer forged"}, wantStatus: 200, wantBody: "POST /p", wantAuth: "Bearer tok-1"},
		"no token: 503, nothing forwarded":    {idpUp: false, method: "GET", path: "/hello", wantStatus: 503, wantBody: "no access token available"},
		"healthz on the shared listener":      {idpUp: false, method: "GET", path: "/healthz", admin: true, wantStatus: 200, wantBody: "ok"},
		"readyz without a token":              {idpUp: false, method: "GET", path: "/readyz", admin: true, wantStatus: 503, wantBody: "no access token"},
		"other paths pass the admin dispatch": {idpUp: true, method: "GET", path: "//odd/../path", admin: true, wantStatus: 200, wantBody: "GET //odd/../path", wantAuth: "Bearer tok-1"},
		"metrics on the shared listener":      {idpUp: true, method: "GET", path: "/metrics", admin: true, wantStatus: 200, wantBody: "clientcreds_token_injector_token_fetches_total"},
		"readyz after a token (warm)":         {idpUp: true, method: "GET", path: "/readyz", admin: true, wantStatus: 200, wantBody: "ok"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			idp := newFakeIDP(t)
			idp.up.Store(tc.idpUp)
			up := &upstreamRecorder{}
			upSrv := httptest.NewServer(up)
			defer upSrv.Close()
			m := NewMetrics()
			src := newSource(t, idp.URL+"/token", m)
			u, _ := url.Parse(upSrv.URL)
			h, err := New(Config{Upstream: u, Source: src, Metrics: m, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			var handler http.Handler = h
			if tc.admin {
				handler = Admin(src, m, h)
				if strings.Contains(name, "warm") {
					_, _ = src.Token()
				}
			}
			srv := httptest.NewServer(handler)
			defer srv.Close()
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("%d %q, want %d containing %q", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
			up.mu.Lock()
			defer up.mu.Unlock()
			if tc.wantAuth == "" {
				if len(up.calls) != 0 {
					t.Fatalf("the upstream was called %d times", len(up.calls))
				}
				return
			}
			if len(up.calls) != 1 || up.calls[0].Header.Get("Authorization") != tc.wantAuth {
				t.Fatalf("upstream calls %d, Authorization %q; want one with %q", len(up.calls), up.calls[0].Header.Get("Authorization"), tc.wantAuth)
			}
		})
	}
}

func TestMetricsCount(t *testing.T) {
	idp := newFakeIDP(t)
	up := httptest.NewServer(&upstreamRecorder{})
	defer up.Close()
	m := NewMetrics()
	src := newSource(t, idp.URL+"/token", m)
	u, _ := url.Parse(up.URL)
	h, _ := New(Config{Upstream: u, Source: src, Metrics: m, Log: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(Admin(src, m, h))
	defer srv.Close()
	for range 3 {
		resp, err := http.Get(srv.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{
		`clientcreds_token_injector_token_fetches_total{result="success"} 1`,
		`clientcreds_token_injector_token_fetches_total{result="refused"} 0`,
		`clientcreds_token_injector_injected_requests_total 3`,
		`clientcreds_token_injector_rejected_requests_total 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(body), "tok-1") || strings.Contains(string(body), "s1\"") {
		t.Error("metrics show a token or secret")
	}
}
