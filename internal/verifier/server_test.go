package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	authv1 "k8s.io/api/authentication/v1"
)

// serverEnv is a verifier behind its HTTP handler with a small rule set.
type serverEnv struct {
	ti      *testIssuer
	v       *Verifier
	policy  *Policy
	good    string // hello:read
	admin   string // hello:read hello:admin
	expired string
}

func newServerEnv(t testing.TB) *serverEnv {
	t.Helper()
	k := testKeys(t)
	ti := newTestIssuer(t, rsaJWK(t, k.a, kidA))
	v := newTestVerifier(t, ti, newFakeClock(), nil)
	policy, err := NewPolicy([]string{"hello:read"}, []Rule{
		{PathPrefix: "/public", Public: true},
		{PathPrefix: "/admin", Scopes: []string{"hello:admin"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &serverEnv{
		ti:     ti,
		v:      v,
		policy: policy,
		good:   goodToken(t, ti, nil),
		admin: goodToken(t, ti, func(m map[string]any) {
			m["scp"] = []string{"hello:read", "hello:admin"}
		}),
		expired: goodToken(t, ti, func(m map[string]any) { m["exp"] = testNow.Unix() - 3600 }),
	}
}

func TestForwardAuth(t *testing.T) {
	env := newServerEnv(t)
	srv := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Realm: "hello"})
	bearer := func(tok string) []string { return []string{"Bearer " + tok} }

	cases := []struct {
		name       string
		method     string
		target     string
		headers    map[string][]string
		wantStatus int
		// wantChallenge is the exact WWW-Authenticate value ("" = none);
		// wantChallengeHas is a substring that must appear instead.
		wantChallenge    string
		wantChallengeHas []string
		wantClient       string
		wantReason       string
	}{
		{name: "nginx auth_request, valid token", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/hello?x=1"}, "X-Original-Method": {"GET"}, "Authorization": bearer(env.good),
		}, wantStatus: 200, wantClient: testClientID, wantReason: "ok"},
		{name: "nginx auth_request, no token", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/hello"}, "X-Original-Method": {"GET"},
		}, wantStatus: 401, wantChallenge: `Bearer realm="hello"`, wantReason: "missing_token"},
		{name: "nginx auth_request, expired token", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/hello"}, "Authorization": bearer(env.expired),
		}, wantStatus: 401, wantChallenge: `Bearer error="invalid_token", error_description="the token has expired"`, wantReason: "expired"},
		{name: "nginx auth_request, missing scope", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/admin/users"}, "X-Original-Method": {"DELETE"}, "Authorization": bearer(env.good),
		}, wantStatus: 403, wantChallengeHas: []string{`Bearer error="insufficient_scope"`, `scope="hello:admin"`}, wantReason: "insufficient_scope"},
		{name: "nginx auth_request, scope present", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/admin/users"}, "Authorization": bearer(env.admin),
		}, wantStatus: 200, wantClient: testClientID, wantReason: "ok"},
		{name: "ingress-nginx auth-url", target: "/verify", headers: map[string][]string{
			"X-Original-Url": {"https://app.example.com/admin/x?y=1"}, "X-Original-Method": {"GET"}, "Authorization": bearer(env.good),
		}, wantStatus: 403, wantChallengeHas: []string{`scope="hello:admin"`}, wantReason: "insufficient_scope"},
		{name: "Traefik ForwardAuth, public path without token", target: "/verify", headers: map[string][]string{
			"X-Forwarded-Uri": {"/public/logo.png"}, "X-Forwarded-Method": {"GET"}, "X-Forwarded-Host": {"app"},
		}, wantStatus: 200, wantReason: "public"},
		{name: "Traefik ForwardAuth, valid token", target: "/verify", headers: map[string][]string{
			"X-Forwarded-Uri": {"/hello"}, "X-Forwarded-Method": {"POST"}, "Authorization": bearer(env.good),
		}, wantStatus: 200, wantClient: testClientID, wantReason: "ok"},
		{name: "Envoy ext_authz path prefix, valid token", method: "POST", target: "/verify/hello/world?q=1", headers: map[string][]string{
			"Authorization": bearer(env.good),
		}, wantStatus: 200, wantClient: testClientID, wantReason: "ok"},
		{name: "Envoy ext_authz path prefix, missing scope", method: "PUT", target: "/verify/admin", headers: map[string][]string{
			"Authorization": bearer(env.good),
		}, wantStatus: 403, wantChallengeHas: []string{`scope="hello:admin"`}, wantReason: "insufficient_scope"},
		{name: "Envoy ext_authz, public path", target: "/verify/public/", wantStatus: 200, wantReason: "public"},
		{name: "client-added X-Original-Uri conflicting with Envoy's path", target: "/verify/admin", headers: map[string][]string{
			"X-Original-Uri": {"/public"},
		}, wantStatus: 403, wantReason: "bad_request"},
		{name: "client-added X-Original-Uri conflicting with ingress-nginx", target: "/verify", headers: map[string][]string{
			"X-Original-Url": {"https://app/admin"}, "X-Original-Uri": {"/public"},
		}, wantStatus: 403, wantReason: "bad_request"},
		{name: "client-added X-Original-Uri conflicting with Traefik", target: "/verify", headers: map[string][]string{
			"X-Forwarded-Uri": {"/admin"}, "X-Original-Uri": {"/public"}, "Authorization": bearer(env.admin),
		}, wantStatus: 403, wantReason: "bad_request"},
		{name: "agreeing sources", target: "/verify", headers: map[string][]string{
			"X-Forwarded-Uri": {"/public/a"}, "X-Original-Uri": {"/public/%61"},
		}, wantStatus: 200, wantReason: "public"},
		{name: "conflicting methods", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/hello"}, "X-Original-Method": {"GET"}, "X-Forwarded-Method": {"POST"}, "Authorization": bearer(env.good),
		}, wantStatus: 403, wantReason: "bad_request"},
		{name: "repeated X-Original-Uri", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/public", "/admin"},
		}, wantStatus: 403, wantReason: "bad_request"},
		{name: "dot segments out of a public prefix", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/public/../admin"},
		}, wantStatus: 403, wantReason: "bad_request"},
		{name: "encoded slash", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/public%2F..%2Fadmin"},
		}, wantStatus: 403, wantReason: "bad_request"},
		{name: "Basic credentials count as no bearer token", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/hello"}, "Authorization": {"Basic dXNlcjpwYXNz"},
		}, wantStatus: 401, wantChallenge: `Bearer realm="hello"`, wantReason: "missing_token"},
		{name: "two Authorization headers", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/hello"}, "Authorization": {"Bearer " + env.good, "Bearer " + env.admin},
		}, wantStatus: 401, wantChallengeHas: []string{`Bearer error="invalid_request"`}, wantReason: "malformed"},
		{name: "Bearer without a token", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/hello"}, "Authorization": {"Bearer "},
		}, wantStatus: 401, wantChallengeHas: []string{`error="invalid_request"`}, wantReason: "malformed"},
		{name: "lower-case scheme", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/hello"}, "Authorization": {"bearer " + env.good},
		}, wantStatus: 200, wantClient: testClientID, wantReason: "ok"},
		{name: "garbage token with header-breaking characters", target: "/verify", headers: map[string][]string{
			"X-Original-Uri": {"/hello"}, "Authorization": {"Bearer \"x\r\nSet-Cookie: a=b"},
		}, wantStatus: 401, wantChallengeHas: []string{`error="invalid_`}, wantReason: "malformed"},
		{name: "no original request information uses the default scopes", target: "/verify", headers: map[string][]string{
			"Authorization": bearer(env.good),
		}, wantStatus: 200, wantClient: testClientID, wantReason: "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, tc.target, nil)
			for n, vs := range tc.headers {
				req.Header[n] = vs
			}
			before := counterValue(t, env.v.metrics.decisions.WithLabelValues(resultFor(tc.wantStatus), tc.wantReason))
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tc.wantStatus, rec.Body.String())
			}
			got := rec.Header().Get("WWW-Authenticate")
			if tc.wantChallengeHas != nil {
				for _, want := range tc.wantChallengeHas {
					if !strings.Contains(got, want) {
						t.Fatalf("WWW-Authenticate = %q, want it to contain %q", got, want)
					}
				}
			} else if got != tc.wantChallenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tc.wantChallenge)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Fatalf("WWW-Authenticate holds a line break: %q", got)
			}
			if c := rec.Header().Get(HeaderClientID); c != tc.wantClient {
				t.Fatalf("%s = %q, want %q", HeaderClientID, c, tc.wantClient)
			}
			if tc.wantClient != "" {
				if s := rec.Header().Get(HeaderSubject); s != testClientID {
					t.Fatalf("%s = %q", HeaderSubject, s)
				}
				if s := rec.Header().Get(HeaderScopes); !strings.Contains(s, "hello:read") {
					t.Fatalf("%s = %q", HeaderScopes, s)
				}
			}
			after := counterValue(t, env.v.metrics.decisions.WithLabelValues(resultFor(tc.wantStatus), tc.wantReason))
			if after != before+1 {
				t.Fatalf("decision metric {%s,%s} went from %v to %v", resultFor(tc.wantStatus), tc.wantReason, before, after)
			}
		})
	}
}

func resultFor(status int) string {
	if status == http.StatusOK {
		return "allow"
	}
	return "deny"
}

// upstreamSeen is what the echo upstream received.
type upstreamSeen struct {
	Path     string              `json:"path"`
	RawQuery string              `json:"rawQuery"`
	Host     string              `json:"host"`
	Headers  map[string][]string `json:"headers"`
}

func TestReverseProxy(t *testing.T) {
	env := newServerEnv(t)
	var upstreamCalls atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		_ = json.NewEncoder(w).Encode(upstreamSeen{Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host, Headers: r.Header})
	}))
	defer upstream.Close()
	up, _ := url.Parse(upstream.URL)
	front := httptest.NewServer(NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Upstream: up, ServeMetrics: true}))
	defer front.Close()

	spoofed := map[string][]string{
		"X-Auth-Client-Id": {"admin"},
		"X_Auth_Client_Id": {"admin"},
		"x-auth-scopes":    {"hello:admin"},
		"X-Auth-Subject":   {"root"},
	}
	cases := []struct {
		name         string
		method       string
		path         string
		token        string
		extra        map[string][]string
		wantStatus   int
		wantUpstream bool
		wantPath     string
		wantClient   string
	}{
		{name: "valid token, spoofed identity replaced", path: "/hello?x=1", token: env.good, extra: spoofed, wantStatus: 200, wantUpstream: true, wantPath: "/hello", wantClient: testClientID},
		{name: "public path, spoofed identity stripped", path: "/public/a", extra: spoofed, wantStatus: 200, wantUpstream: true, wantPath: "/public/a"},
		{name: "no token", path: "/hello", wantStatus: 401},
		{name: "bad token", path: "/hello", token: env.expired, wantStatus: 401},
		{name: "missing scope", method: "POST", path: "/admin/x", token: env.good, wantStatus: 403},
		{name: "scope present", method: "POST", path: "/admin/x", token: env.admin, wantStatus: 200, wantUpstream: true, wantPath: "/admin/x", wantClient: testClientID},
		{name: "dot segments are refused even with every scope", path: "/public/../admin/x", token: env.admin, wantStatus: 400},
		{name: "dot segments out of public", path: "/public/../admin/x", wantStatus: 400},
		{name: "encoded slash", path: "/public%2F..%2Fadmin", wantStatus: 400},
		{name: "percent-encoded letters are forwarded as sent", path: "/public/%61", wantStatus: 200, wantUpstream: true, wantPath: "/public/a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, front.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for n, vs := range tc.extra {
				req.Header[n] = vs
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			calls := upstreamCalls.Load()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tc.wantStatus, body)
			}
			reached := upstreamCalls.Load() > calls
			if reached != tc.wantUpstream {
				t.Fatalf("upstream reached = %v, want %v", reached, tc.wantUpstream)
			}
			if !tc.wantUpstream {
				return
			}
			var seen upstreamSeen
			if err := json.Unmarshal(body, &seen); err != nil {
				t.Fatalf("upstream answer: %v", err)
			}
			if seen.Path != tc.wantPath {
				t.Fatalf("upstream path = %q, want %q", seen.Path, tc.wantPath)
			}
			h := http.Header(seen.Headers)
			if got := h.Values(HeaderClientID); tc.wantClient == "" && len(got) != 0 || tc.wantClient != "" && !slices.Equal(got, []string{tc.wantClient}) {
				t.Fatalf("upstream %s = %q, want %q", HeaderClientID, got, tc.wantClient)
			}
			for name := range seen.Headers {
				if strings.EqualFold(strings.ReplaceAll(name, "_", "-"), HeaderClientID) && name != HeaderClientID {
					t.Fatalf("upstream received the client-sent header %q", name)
				}
			}
			if tc.wantClient == "" && (h.Get(HeaderScopes) != "" || h.Get(HeaderSubject) != "") {
				t.Fatalf("upstream received identity headers for a public request: %v", seen.Headers)
			}
			if tc.wantClient != "" && h.Get(HeaderScopes) == "hello:admin" {
				t.Fatalf("upstream received the client-sent scopes")
			}
		})
	}

	t.Run("upstream down is a 502, not a token problem", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL, _ := url.Parse(dead.URL)
		dead.Close()
		srv := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Upstream: deadURL})
		req := httptest.NewRequest(http.MethodGet, "/hello", nil)
		req.Header.Set("Authorization", "Bearer "+env.good)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadGateway {
			t.Fatalf("status = %d, want 502", rec.Code)
		}
	})
}

const testKubeAudience = "https://kubernetes.default.svc"

func TestTokenReview(t *testing.T) {
	env := newServerEnv(t)
	srv := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, TokenReviewAudiences: []string{testKubeAudience, "k8s-2"}})
	withAud := func(aud any, scopes ...string) string {
		return goodToken(t, env.ti, func(m map[string]any) {
			m["aud"] = aud
			if len(scopes) > 0 {
				m["scp"] = scopes
			}
		})
	}
	kube := withAud(testKubeAudience)
	kube2 := withAud("k8s-2")
	both := withAud([]string{testAudience, testKubeAudience})
	noScope := withAud(testKubeAudience, "other:scope")
	kubeExpired := goodToken(t, env.ti, func(m map[string]any) { m["aud"] = testKubeAudience; m["exp"] = testNow.Unix() - 3600 })

	review := func(apiVersion, token string, audiences []string) string {
		return mustJSON(t, map[string]any{
			"apiVersion": apiVersion,
			"kind":       "TokenReview",
			"spec":       map[string]any{"token": token, "audiences": audiences},
		})
	}
	const v1 = "authentication.k8s.io/v1"
	cases := []struct {
		name          string
		method        string
		body          string
		wantStatus    int
		wantAuth      bool
		wantReason    string
		wantVersion   string
		wantAudiences []string
	}{
		{name: "token for the Kubernetes API", body: review(v1, kube, nil), wantStatus: 200, wantAuth: true, wantReason: "ok", wantVersion: v1, wantAudiences: []string{testKubeAudience}},
		{name: "v1beta1 answered in kind", body: review("authentication.k8s.io/v1beta1", kube, nil), wantStatus: 200, wantAuth: true, wantReason: "ok", wantVersion: "authentication.k8s.io/v1beta1", wantAudiences: []string{testKubeAudience}},
		{name: "second TokenReview audience", body: review(v1, kube2, nil), wantStatus: 200, wantAuth: true, wantReason: "ok", wantVersion: v1, wantAudiences: []string{"k8s-2"}},
		{name: "review audiences intersected", body: review(v1, kube, []string{"elsewhere", testKubeAudience}), wantStatus: 200, wantAuth: true, wantReason: "ok", wantVersion: v1, wantAudiences: []string{testKubeAudience}},
		{name: "token for the API and Kubernetes: only Kubernetes reported", body: review(v1, both, nil), wantStatus: 200, wantAuth: true, wantReason: "ok", wantVersion: v1, wantAudiences: []string{testKubeAudience}},
		{name: "review audiences not held by the token", body: review(v1, kube, []string{"k8s-2"}), wantStatus: 200, wantReason: "bad_audience", wantVersion: v1},
		{name: "review audiences outside the configured ones", body: review(v1, both, []string{testAudience}), wantStatus: 200, wantReason: "bad_audience", wantVersion: v1},
		{name: "token for the protected API", body: review(v1, env.admin, nil), wantStatus: 200, wantReason: "bad_audience", wantVersion: v1},
		{name: "token for the protected API, API audience asked for", body: review(v1, env.good, []string{testAudience}), wantStatus: 200, wantReason: "bad_audience", wantVersion: v1},
		{name: "expired token", body: review(v1, kubeExpired, nil), wantStatus: 200, wantReason: "expired", wantVersion: v1},
		{name: "garbage token", body: review(v1, "not-a-token", nil), wantStatus: 200, wantReason: "malformed", wantVersion: v1},
		{name: "empty token", body: review(v1, "", nil), wantStatus: 200, wantReason: "missing_token", wantVersion: v1},
		{name: "missing required scope", body: review(v1, noScope, nil), wantStatus: 200, wantReason: "insufficient_scope", wantVersion: v1},
		{name: "wrong method", method: "GET", wantStatus: 405},
		{name: "not JSON", body: "{", wantStatus: 400},
		{name: "wrong kind", body: `{"apiVersion":"authentication.k8s.io/v1","kind":"SubjectAccessReview"}`, wantStatus: 400},
		{name: "wrong version", body: review("v1", kube, nil), wantStatus: 400},
		{name: "too large", body: `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"` + strings.Repeat("a", 100<<10) + `"}}`, wantStatus: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			var before float64
			if tc.wantReason != "" {
				before = counterValue(t, env.v.metrics.decisions.WithLabelValues(resultFor(map[bool]int{true: 200, false: 401}[tc.wantAuth]), tc.wantReason))
			}
			req := httptest.NewRequest(method, "/tokenreview", bytes.NewBufferString(tc.body))
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if rec.Code != 200 {
				return
			}
			after := counterValue(t, env.v.metrics.decisions.WithLabelValues(resultFor(map[bool]int{true: 200, false: 401}[tc.wantAuth]), tc.wantReason))
			if after != before+1 {
				t.Fatalf("decision {%v,%s} went from %v to %v", tc.wantAuth, tc.wantReason, before, after)
			}
			var out authv1.TokenReview
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			if out.APIVersion != tc.wantVersion || out.Kind != "TokenReview" {
				t.Fatalf("answer is %s %s", out.APIVersion, out.Kind)
			}
			st := out.Status
			if st.Authenticated != tc.wantAuth {
				t.Fatalf("authenticated = %v, want %v (error %q)", st.Authenticated, tc.wantAuth, st.Error)
			}
			if !tc.wantAuth {
				if st.Error == "" || st.User.Username != "" || len(st.Audiences) != 0 {
					t.Fatalf("refusal status = %+v", st)
				}
				return
			}
			if st.User.Username != "oauth:"+testClientID {
				t.Fatalf("username = %q", st.User.Username)
			}
			if !slices.Contains(st.User.Groups, "oauth:scope:hello:read") {
				t.Fatalf("groups = %v", st.User.Groups)
			}
			if len(st.Audiences) == 0 || !slices.Equal(st.Audiences, tc.wantAudiences) {
				t.Fatalf("audiences = %v, want %v", st.Audiences, tc.wantAudiences)
			}
		})
	}

	t.Run("not served without TokenReview audiences", func(t *testing.T) {
		off := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy})
		rec := httptest.NewRecorder()
		off.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/tokenreview", bytes.NewBufferString(review(v1, env.good, nil))))
		if rec.Code != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", rec.Code)
		}
	})
	t.Run("the protected API's audience cannot be a TokenReview audience", func(t *testing.T) {
		cfg := ServerConfig{Verifier: env.v, Policy: env.policy, TokenReviewAudiences: []string{testKubeAudience, testAudience}}
		if err := CheckServerConfig(cfg); !errors.Is(err, ErrServerConfig) {
			t.Fatalf("CheckServerConfig = %v, want ErrServerConfig", err)
		}
		rec := httptest.NewRecorder()
		NewServer(cfg).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/tokenreview", bytes.NewBufferString(review(v1, env.good, nil))))
		if rec.Code != http.StatusNotFound {
			t.Fatalf("status = %d, want 404 (TokenReview off)", rec.Code)
		}
	})
}

func TestHealthReadyMetrics(t *testing.T) {
	k := testKeys(t)
	ti := newTestIssuer(t, rsaJWK(t, k.a, kidA))
	v, err := New(Config{Issuer: ti.issuer, Audience: testAudience, Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	get := func(h http.Handler, p string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		return rec
	}
	srv := NewServer(ServerConfig{Verifier: v, ServeMetrics: true})
	if c := get(srv, "/healthz").Code; c != 200 {
		t.Fatalf("/healthz = %d", c)
	}
	if c := get(srv, "/readyz").Code; c != 503 {
		t.Fatalf("/readyz before the first fetch = %d, want 503", c)
	}
	if err := v.Keys().Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := get(srv, "/readyz").Code; c != 200 {
		t.Fatalf("/readyz after the first fetch = %d, want 200", c)
	}
	tok := goodToken(t, ti, nil)
	for range 2 {
		req := httptest.NewRequest(http.MethodGet, "/verify", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	srv.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/verify", nil))
	m := get(srv, "/metrics")
	if m.Code != 200 {
		t.Fatalf("/metrics = %d", m.Code)
	}
	body := m.Body.String()
	for _, want := range []string{
		MetricDecisions + `{reason="ok",result="allow"} 2`,
		MetricDecisions + `{reason="missing_token",result="deny"} 1`,
		MetricJWKSFetches + `{result="success"} 1`,
		MetricCacheHits + " 1",
		MetricCacheMisses + " 1",
		MetricDecisionDuration + `_count{mode="verify"} 3`,
		MetricJWKSKeys + " 1",
		MetricJWKSLastSuccess,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if c := get(NewServer(ServerConfig{Verifier: v}), "/metrics").Code; c != 404 {
		t.Fatalf("/metrics with ServeMetrics off = %d, want 404", c)
	}
	if c := get(srv, "/elsewhere").Code; c != 404 {
		t.Fatalf("unknown path without an upstream = %d, want 404", c)
	}
}
