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
