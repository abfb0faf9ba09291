package verifier

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// convention is one way a proxy tells the verifier about the original
// request, or proxy mode itself.
type convention struct {
	name string
	// build makes the request the verifier receives for the original
	// method and target (origin form: path and query).
	build func(method, target string) *http.Request
}

// rawRequest builds a request as Go's server would hand it over for a
// request line "method target", without the client-side normalisation
// httptest.NewRequest or http.Client would apply.
func rawRequest(method, target string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Method = method
	r.RequestURI = target
	if u, err := url.ParseRequestURI(target); err == nil {
		r.URL = u
	} else {
		r.URL = &url.URL{Path: target}
	}
	return r
}

var forwardAuthConventions = []convention{
	{name: "nginx auth_request", build: func(m, target string) *http.Request {
		r := rawRequest(http.MethodGet, "/verify")
		r.Header.Set("X-Original-Uri", target)
		r.Header.Set("X-Original-Method", m)
		return r
	}},
	{name: "ingress-nginx auth-url", build: func(m, target string) *http.Request {
		r := rawRequest(http.MethodGet, "/verify")
		r.Header.Set("X-Original-Url", "https://app.example.com"+target)
		r.Header.Set("X-Original-Method", m)
		return r
	}},
	{name: "Traefik ForwardAuth", build: func(m, target string) *http.Request {
		r := rawRequest(http.MethodGet, "/verify")
		r.Header.Set("X-Forwarded-Uri", target)
		r.Header.Set("X-Forwarded-Method", m)
		return r
	}},
	{name: "Envoy ext_authz path_prefix", build: func(m, target string) *http.Request {
		return rawRequest(m, "/verify"+target)
	}},
}

// ambiguousTargets are refused through every convention and in proxy
// mode, with a token that holds every scope (so the refusal is the
// target's, not the token's).
var ambiguousTargets = []struct {
	class, method, target string
}{
	{"dot-dot segment", "GET", "/public/../admin"},
	{"dot segment", "GET", "/admin/./x"},
	{"trailing dot-dot", "GET", "/admin/x/.."},
	{"encoded dot-dot, lower case", "GET", "/public/%2e%2e/admin"},
	{"encoded dot-dot, upper case", "GET", "/public/%2E%2E/admin"},
	{"encoded dot-dot, mixed", "GET", "/public/.%2E/admin"},
	{"encoded single dot", "GET", "/public/%2e/x"},
	{"double-encoded dot-dot", "GET", "/public/%252e%252e/admin"},
	{"path parameter", "GET", "/admin;jsessionid=1"},
	{"path parameter before dot-dot", "GET", "/public/..;/admin"},
	{"empty path parameter", "GET", "/public;/x"},
	{"encoded semicolon", "GET", "/admin%3bx"},
	{"encoded semicolon, upper case", "GET", "/admin%3Bx"},
	{"backslash", "GET", `/public\..\admin`},
	{"encoded backslash", "GET", "/public%5c..%5cadmin"},
	{"encoded slash", "GET", "/public%2F..%2Fadmin"},
	{"repeated slash", "GET", "//admin"},
	{"inner repeated slash", "GET", "/public//admin"},
	{"encoded NUL", "GET", "/admin%00"},
	{"lower-case method", "delete", "/admin"},
	{"mixed-case method", "Delete", "/admin"},
	{"lower-case GET", "get", "/public"},
}

func TestAmbiguousTargetsRefused(t *testing.T) {
	env := newServerEnv(t)
	srv := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy})
	for _, conv := range forwardAuthConventions {
		for _, tc := range ambiguousTargets {
			t.Run(conv.name+"/"+tc.class, func(t *testing.T) {
				r := conv.build(tc.method, tc.target)
				r.Header.Set("Authorization", "Bearer "+env.admin)
				before := counterValue(t, env.v.metrics.decisions.WithLabelValues("deny", "bad_request"))
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, r)
				if rec.Code != http.StatusForbidden {
					t.Fatalf("%s %s: status = %d, want 403", tc.method, tc.target, rec.Code)
				}
				if rec.Header().Get(HeaderClientID) != "" {
					t.Fatal("a refused request carries identity headers")
				}
				if after := counterValue(t, env.v.metrics.decisions.WithLabelValues("deny", "bad_request")); after != before+1 {
					t.Fatalf("bad_request refusals went from %v to %v", before, after)
				}
			})
		}
	}

	var upstreamCalls atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { upstreamCalls.Add(1) }))
	defer upstream.Close()
	up, _ := url.Parse(upstream.URL)
	proxy := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Upstream: up})
	for _, tc := range ambiguousTargets {
		t.Run("proxy mode/"+tc.class, func(t *testing.T) {
			r := rawRequest(tc.method, tc.target)
			r.Header.Set("Authorization", "Bearer "+env.admin)
			calls := upstreamCalls.Load()
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("%s %s: status = %d, want 400", tc.method, tc.target, rec.Code)
			}
			if upstreamCalls.Load() != calls {
				t.Fatal("the upstream was reached")
			}
		})
	}

	// The same through a real listener: Go's server hands the target over
	// as sent, and the verifier refuses it before any upstream call.
	front := httptest.NewServer(proxy)
	defer front.Close()
	for _, tc := range ambiguousTargets {
		t.Run("proxy mode over TCP/"+tc.class, func(t *testing.T) {
			calls := upstreamCalls.Load()
			status := rawHTTP(t, front.Listener.Addr().String(), tc.method+" "+tc.target+" HTTP/1.1\r\nHost: app\r\nAuthorization: Bearer "+env.admin+"\r\nConnection: close\r\n\r\n")
			if status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", status)
			}
			if upstreamCalls.Load() != calls {
				t.Fatal("the upstream was reached")
			}
		})
	}
}

// rawHTTP writes a request as given and returns the response status.
func rawHTTP(t *testing.T, addr, request string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestOriginalURLRefusals covers what only X-Original-URL can carry.
func TestOriginalURLRefusals(t *testing.T) {
	env := newServerEnv(t)
	srv := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy})
	for _, v := range []string{
		"/public",                           // not absolute
		"//app.example.com/public",          // scheme-relative
		"ftp://app.example.com/public",      // not http(s)
		"https://app.example.com",           // no path
		"https://app.example.com?x=/public", // no path, query only
		"https://user@app.example.com/public",
		"https://user:pw@app.example.com/public",
		"https://app.example.com/public#x",
		"https://app.example.com:port/public",
		"https://app.example.com:99999/public",
		"https://app.exa mple.com/public",
		"https://app..example.com/public",
		"https:///public",
		"https://[::1/public",
		"https:app.example.com/public",
		"https://app.example.com/public, https://app.example.com/admin",
	} {
		t.Run(v, func(t *testing.T) {
			r := rawRequest(http.MethodGet, "/verify")
			r.Header.Set("X-Original-Url", v)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, r)
			if rec.Code != http.StatusForbidden {
				t.Fatalf("status = %d, want 403", rec.Code)
			}
		})
	}
	t.Run("a fragment in X-Original-URI", func(t *testing.T) {
		r := rawRequest(http.MethodGet, "/verify")
		r.Header.Set("X-Original-Uri", "/public#/../admin")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("status = %d, want 403", rec.Code)
		}
	})
	t.Run("/verify reached only after decoding", func(t *testing.T) {
		r := rawRequest(http.MethodGet, "/%76erify/public")
		r.URL.Path = "/verify/public"
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("status = %d, want 403", rec.Code)
		}
	})
}

// TestAllowPathParams: with the flag, ";" parameters are accepted, rules
// are matched without them (as servlet containers route), and the
// upstream receives them.
func TestAllowPathParams(t *testing.T) {
	env := newServerEnv(t)
	opts := TargetOptions{AllowPathParams: true}
	srv := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Target: opts})
	cases := []struct {
		target     string
		token      string
		wantStatus int
	}{
		{target: "/public;jsessionid=1/x", wantStatus: 200},
		{target: "/admin;jsessionid=1", token: env.good, wantStatus: 403}, // the /admin rule applies
		{target: "/admin;jsessionid=1", token: env.admin, wantStatus: 200},
		{target: "/public/..;/admin", token: env.admin, wantStatus: 403}, // dot segment before ";"
		{target: "/admin%3bx", token: env.admin, wantStatus: 403},        // encoded ";" stays refused
	}
	for _, conv := range forwardAuthConventions {
		for _, tc := range cases {
			t.Run(conv.name+"/"+tc.target, func(t *testing.T) {
				r := conv.build(http.MethodGet, tc.target)
				if tc.token != "" {
					r.Header.Set("Authorization", "Bearer "+tc.token)
				}
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, r)
				if rec.Code != tc.wantStatus {
					t.Fatalf("status = %d, want %d", rec.Code, tc.wantStatus)
				}
			})
		}
	}

	var seenPath atomic.Value
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seenPath.Store(r.URL.EscapedPath()) }))
	defer upstream.Close()
	up, _ := url.Parse(upstream.URL)
	front := httptest.NewServer(NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Target: opts, Upstream: up}))
	defer front.Close()
	status := rawHTTP(t, front.Listener.Addr().String(), "GET /public;jsessionid=1/x HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
	if status != 200 || seenPath.Load() != "/public;jsessionid=1/x" {
		t.Fatalf("status %d, upstream saw %v; want 200 and the parameters kept", status, seenPath.Load())
	}
	if status := rawHTTP(t, front.Listener.Addr().String(), "GET /admin;jsessionid=1 HTTP/1.1\r\nHost: app\r\nAuthorization: Bearer "+env.good+"\r\nConnection: close\r\n\r\n"); status != http.StatusForbidden {
		t.Fatalf("/admin;... without the admin scope = %d, want 403", status)
	}
}

// TestProxyModeKeepsOwnEndpointsOffTheProxy: in proxy mode /verify,
// /tokenreview, /metrics, /healthz and /readyz are upstream paths like any
// other; Admin serves them.
func TestProxyModeKeepsOwnEndpointsOffTheProxy(t *testing.T) {
	env := newServerEnv(t)
	var seen atomic.Value
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Method + " " + r.URL.Path)
		w.Header().Set("X-Upstream", "1")
	}))
	defer upstream.Close()
	up, _ := url.Parse(upstream.URL)
	srv := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Upstream: up, ServeMetrics: true, TokenReviewAudiences: []string{testKubeAudience}})
	front := httptest.NewServer(srv)
	defer front.Close()
	admin := httptest.NewServer(srv.Admin())
	defer admin.Close()

	for _, p := range []string{"/verify", "/verify/admin", "/tokenreview", "/metrics", "/healthz", "/readyz"} {
		t.Run(p, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				req, _ := http.NewRequest(method, front.URL+p, strings.NewReader("{}"))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s %s without a token on the proxy = %d, want 401 (verified like any upstream path)", method, p, resp.StatusCode)
				}
				req, _ = http.NewRequest(method, front.URL+p, strings.NewReader("{}"))
				req.Header.Set("Authorization", "Bearer "+env.admin)
				resp, err = http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("X-Upstream") != "1" || seen.Load() != method+" "+p {
					t.Fatalf("%s %s with a token = %d, upstream saw %v; want it proxied", method, p, resp.StatusCode, seen.Load())
				}
			}
		})
	}
	t.Run("admin listener", func(t *testing.T) {
		for p, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/verify": 401, "/nope": 404} {
			resp, err := http.Get(admin.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != want || resp.Header.Get("X-Upstream") != "" {
				t.Fatalf("admin %s = %d, want %d from the verifier", p, resp.StatusCode, want)
			}
		}
		body := mustJSON(t, map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": map[string]any{"token": env.good}})
		resp, err := http.Post(admin.URL+"/tokenreview", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var out struct {
			Status struct {
				Authenticated bool `json:"authenticated"`
			} `json:"status"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil || out.Status.Authenticated {
			t.Fatalf("admin /tokenreview = %d %+v, want a refusal of the API token", resp.StatusCode, out)
		}
	})
}

func TestProxyUpgradeAndTimeouts(t *testing.T) {
	env := newServerEnv(t)
	var upgrades atomic.Int64
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		if r.Header.Get("Upgrade") != "" {
			upgrades.Add(1)
		}
	}))
	defer upstream.Close()
	defer close(release)
	up, _ := url.Parse(upstream.URL)

	upgradeReq := func(front string) int {
		req, _ := http.NewRequest(http.MethodGet, front+"/hello", nil)
		req.Header.Set("Authorization", "Bearer "+env.good)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("Upgrade refused by default", func(t *testing.T) {
		front := httptest.NewServer(NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Upstream: up}))
		defer front.Close()
		before := counterValue(t, env.v.metrics.decisions.WithLabelValues("deny", "upgrade_refused"))
		if s := upgradeReq(front.URL); s != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", s)
		}
		if upgrades.Load() != 0 {
			t.Fatal("the upgrade reached the upstream")
		}
		if after := counterValue(t, env.v.metrics.decisions.WithLabelValues("deny", "upgrade_refused")); after != before+1 {
			t.Fatalf("upgrade_refused went from %v to %v", before, after)
		}
	})
	t.Run("Upgrade passed with AllowUpgrade", func(t *testing.T) {
		front := httptest.NewServer(NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Upstream: up, AllowUpgrade: true}))
		defer front.Close()
		if s := upgradeReq(front.URL); s != http.StatusOK {
			t.Fatalf("status = %d, want 200", s)
		}
		if upgrades.Load() != 1 {
			t.Fatalf("upstream saw %d upgrade requests, want 1", upgrades.Load())
		}
	})
	t.Run("response header timeout answers 502", func(t *testing.T) {
		srv := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Upstream: up, ProxyResponseHeaderTimeout: 50 * time.Millisecond})
		if tr, ok := srv.proxy.Transport.(*http.Transport); !ok || tr.ResponseHeaderTimeout != 50*time.Millisecond || tr.DialContext == nil {
			t.Fatalf("proxy transport = %#v", srv.proxy.Transport)
		}
		r := httptest.NewRequest(http.MethodGet, "/slow", nil)
		r.Header.Set("Authorization", "Bearer "+env.good)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		if rec.Code != http.StatusBadGateway {
			t.Fatalf("status = %d, want 502", rec.Code)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		srv := NewServer(ServerConfig{Verifier: env.v, Upstream: up})
		tr := srv.proxy.Transport.(*http.Transport)
		if tr.ResponseHeaderTimeout != DefaultProxyResponseHeaderTimeout || tr.TLSHandshakeTimeout != DefaultProxyDialTimeout {
			t.Fatalf("transport timeouts = %v, %v", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
		}
	})
}
