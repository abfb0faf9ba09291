package verifier

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// Benchmarks of the token path. Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/verifier/
func BenchmarkVerify(b *testing.B) {
	k := testKeys(b)
	ti := newTestIssuer(b, rsaJWK(b, k.a, kidA))
	clock := newFakeClock()
	cached := newTestVerifier(b, ti, clock, nil)
	uncached := newTestVerifier(b, ti, clock, func(c *Config) { c.TokenCacheSize = -1 })
	good := goodToken(b, ti, nil)
	parts := strings.Split(good, ".")
	ctx := context.Background()

	// cold has the cache on and full of other tokens, as a server under a
	// stream of unique tokens has it: every Verify misses, verifies and
	// inserts (evicting another entry); the loop then forgets the token so
	// that the next round misses again.
	cold := newTestVerifier(b, ti, clock, nil)
	fillCache(cold, DefaultTokenCacheSize)
	goodSum := sha256.Sum256([]byte(good))

	cases := []struct {
		name  string
		v     *Verifier
		token string
		ok    bool
		after func()
	}{
		{name: "cached", v: cached, token: good, ok: true},
		{name: "uncached", v: uncached, token: good, ok: true},
		{name: "cold", v: cold, token: good, ok: true, after: func() { cold.cache.remove(goodSum) }},
		{name: "refusal/malformed", v: cached, token: parts[0] + "." + parts[1], ok: false},
		{name: "refusal/unknown_kid", v: cached, token: sign(b, mustJSON(b, header("unknown")), parts[1], jwa.RS256, k.a), ok: false},
		{name: "refusal/bad_signature", v: cached, token: sign(b, mustJSON(b, header(kidA)), mustJSON(b, claimsFor(ti)), jwa.RS256, k.other), ok: false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			if _, err := tc.v.Verify(ctx, tc.token); (err == nil) != tc.ok {
				b.Fatalf("Verify = %v, want ok=%v", err, tc.ok)
			}
			if tc.after != nil {
				tc.after()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_, _ = tc.v.Verify(ctx, tc.token)
				if tc.after != nil {
					tc.after()
				}
			}
		})
	}
}

// fillCache fills v's token cache with n entries for made-up tokens that
// stay valid far beyond the test clock.
func fillCache(v *Verifier, n int) {
	id := &Identity{ClientID: testClientID}
	now := unixSeconds(v.now())
	for i := range n {
		var seed [8]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		v.cache.put(sha256.Sum256(seed[:]), cacheEntry{id: id, notAfter: now + 1e6}, now)
	}
}

// BenchmarkForwardAuth measures a whole /verify request through the
// handler (no network) with a cached token.
func BenchmarkForwardAuth(b *testing.B) {
	k := testKeys(b)
	ti := newTestIssuer(b, rsaJWK(b, k.a, kidA))
	v := newTestVerifier(b, ti, newFakeClock(), nil)
	policy, err := NewPolicy([]string{"hello:read"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(ServerConfig{Verifier: v, Policy: policy})
	req := httptest.NewRequest(http.MethodGet, "/verify", nil)
	req.Header.Set("Authorization", "Bearer "+goodToken(b, ti, nil))
	req.Header.Set("X-Original-URI", "/hello?x=1")
	req.Header.Set("X-Original-Method", "GET")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkTargetChecks measures the request-target checks on the /verify
// hot path: the checks alone, and whole /verify requests (cached token)
// through each header convention, including one refused target.
func BenchmarkTargetChecks(b *testing.B) {
	b.Run("checkPath/plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := checkPath("/api/v1/namespaces/team-a/hello", TargetOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("checkPath/percent-encoded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := checkPath("/api/v1/h%C3%A9llo%20world", TargetOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("checkPath/refused", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := checkPath("/public/%2e%2e/admin", TargetOptions{}); err == nil {
				b.Fatal("accepted")
			}
		}
	})

	k := testKeys(b)
	ti := newTestIssuer(b, rsaJWK(b, k.a, kidA))
	v := newTestVerifier(b, ti, newFakeClock(), nil)
	policy, err := NewPolicy([]string{"hello:read"}, []Rule{{PathPrefix: "/public", Public: true}})
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(ServerConfig{Verifier: v, Policy: policy})
	bearer := "Bearer " + goodToken(b, ti, nil)
	cases := []struct {
		name    string
		target  string
		headers map[string]string
		want    int
	}{
		{name: "verify/nginx", target: "/verify", headers: map[string]string{"X-Original-Uri": "/hello/world?x=1", "X-Original-Method": "GET"}, want: 200},
		{name: "verify/ingress-nginx", target: "/verify", headers: map[string]string{"X-Original-Url": "https://app.example.com:8443/hello/world?x=1", "X-Original-Method": "GET"}, want: 200},
		{name: "verify/traefik", target: "/verify", headers: map[string]string{"X-Forwarded-Uri": "/hello/world?x=1", "X-Forwarded-Method": "GET"}, want: 200},
		{name: "verify/envoy", target: "/verify/hello/world?x=1", want: 200},
		{name: "verify/refused-dot-segment", target: "/verify", headers: map[string]string{"X-Original-Uri": "/public/%2e%2e/admin", "X-Original-Method": "GET"}, want: 403},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			req.Header.Set("Authorization", bearer)
			for n, val := range tc.headers {
				req.Header.Set(n, val)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != tc.want {
					b.Fatalf("status %d, want %d", rec.Code, tc.want)
				}
			}
		})
	}
}
