package verifier

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

func snapshotKids(v *Verifier) []string {
	var kids []string
	if s := v.keys.snap.Load(); s != nil {
		for kid, ks := range s.byKid {
			for range ks {
				kids = append(kids, kid)
			}
		}
	}
	sort.Strings(kids)
	return kids
}

func TestJWKSDropsUnusableKeys(t *testing.T) {
	k := testKeys(t)
	symmetric, err := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	_ = symmetric.Set(jwk.KeyIDKey, "oct")
	noKid := publicJWK(t, k.b, map[string]any{"alg": "RS256"})
	ti := newTestIssuer(t,
		rsaJWK(t, k.a, kidA),
		publicJWK(t, k.b, map[string]any{"kid": "enc", "use": "enc"}),
		publicJWK(t, k.b, map[string]any{"kid": "ops-encrypt", "key_ops": []string{"encrypt"}}),
		symmetric,
		publicJWK(t, k.weak, map[string]any{"kid": "rsa-1024", "alg": "RS256"}),
		publicJWK(t, k.b, map[string]any{"kid": "pinned-hs256", "alg": "HS256"}),
		publicJWK(t, k.b, map[string]any{"kid": "pinned-rs384", "alg": "RS384"}),
		publicJWK(t, k.ec, map[string]any{"kid": "ec-no-alg"}),
		noKid,
		publicJWK(t, k.b, map[string]any{"kid": kidB, "use": "sig"}),
	)
	cases := map[string]struct {
		algs []string
		want []string
	}{
		"RS256 only":      {algs: []string{"RS256"}, want: []string{kidA, kidB}},
		"RS256 and ES256": {algs: []string{"RS256", "ES256"}, want: []string{"ec-no-alg", kidA, kidB}},
		"RS384 only":      {algs: []string{"RS384"}, want: []string{kidB, "pinned-rs384"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := newTestVerifier(t, ti, newFakeClock(), func(c *Config) { c.AllowedAlgs = tc.algs })
			got := snapshotKids(v)
			sort.Strings(tc.want)
			if len(got) != len(tc.want) {
				t.Fatalf("kept keys %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("kept keys %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestJWKSWithoutUsableKeysKeepsOldKeys(t *testing.T) {
	k := testKeys(t)
	ti := newTestIssuer(t, rsaJWK(t, k.a, kidA))
	v := newTestVerifier(t, ti, newFakeClock(), nil)
	for name, body := range map[string]string{
		"only a weak key": "",
		"not JSON":        "<html>",
		"no keys":         `{"keys":[]}`,
		"keys not a list": `{"keys":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if body == "" {
				ti.setKeys(t, publicJWK(t, k.weak, map[string]any{"kid": "weak", "alg": "RS256"}))
			} else {
				ti.setRawJWKS([]byte(body))
			}
			if err := v.Keys().Refresh(context.Background()); err == nil {
				t.Fatal("Refresh succeeded on an unusable key set")
			}
			if _, err := v.Verify(context.Background(), goodToken(t, ti, nil)); err != nil {
				t.Fatalf("old key stopped working: %v", err)
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	k := testKeys(t)
	cases := map[string]struct {
		setup   func(ti *testIssuer)
		wantErr bool
	}{
		"RFC 8414 metadata":            {setup: func(*testIssuer) {}},
		"falls back to OIDC discovery": {setup: func(ti *testIssuer) { ti.noRFC8414.Store(true) }},
		"metadata names another issuer": {setup: func(ti *testIssuer) {
			ti.mdIssuer.Store("https://evil.example/oauth2/default")
		}, wantErr: true},
		"issuer down": {setup: func(ti *testIssuer) { ti.down.Store(true) }, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ti := newTestIssuer(t, rsaJWK(t, k.a, kidA))
			tc.setup(ti)
			v, err := New(Config{Issuer: ti.issuer, Audience: testAudience, Now: newFakeClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			if v.Ready() {
				t.Fatal("ready before any fetch")
			}
			err = v.Keys().Refresh(context.Background())
			if tc.wantErr {
				if err == nil {
					t.Fatal("Refresh succeeded")
				}
				if v.Ready() {
					t.Fatal("ready after a failed first fetch")
				}
				// Tokens are refused, not errored, while no key is held.
				if _, err := v.Verify(context.Background(), goodToken(t, ti, nil)); !errors.Is(err, ErrNoKeys) {
					t.Fatalf("Verify error = %v, want ErrNoKeys", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if !v.Ready() {
				t.Fatal("not ready after a good fetch")
			}
			if _, err := v.Verify(context.Background(), goodToken(t, ti, nil)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestStaleKeysServeWhileIssuerIsDown(t *testing.T) {
	k := testKeys(t)
	ti := newTestIssuer(t, rsaJWK(t, k.a, kidA))
	clock := newFakeClock()
	// No token cache: every call below really verifies against the key.
	v := newTestVerifier(t, ti, clock, func(c *Config) { c.TokenCacheSize = -1 })
	ti.down.Store(true)
	clock.Advance(time.Hour)
	if err := v.Keys().Refresh(context.Background()); err == nil {
		t.Fatal("Refresh succeeded against a down issuer")
	}
	tok := goodToken(t, ti, func(m map[string]any) { m["exp"] = clock.Now().Unix() + 600 })
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify with stale keys: %v", err)
	}
	if !v.Ready() {
		t.Fatal("readiness lost while serving stale keys")
	}
	// An unknown kid still fails closed while the issuer is down.
	clock.Advance(time.Hour)
	other := sign(t, mustJSON(t, header("new-key")), mustJSON(t, claimsFor(ti)), jwa.RS256, k.b)
	if _, err := v.Verify(context.Background(), other); !errors.Is(err, ErrUnknownKid) {
		t.Fatalf("Verify error = %v, want ErrUnknownKid", err)
	}
}

func randomKid(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestUnknownKidFlood sends 10,000 concurrent requests with random unknown
// key ids and counts the JWKS fetches they cause: at most one per cooldown.
func TestUnknownKidFlood(t *testing.T) {
	const flood = 10000
	k := testKeys(t)
	ti := newTestIssuer(t, rsaJWK(t, k.a, kidA))
	// A slow JWKS makes the flood overlap the fetch it triggers.
	ti.mu.Lock()
	ti.jwksDelay = 50 * time.Millisecond
	ti.mu.Unlock()
	clock := newFakeClock()
	cooldown := 30 * time.Second
	v := newTestVerifier(t, ti, clock, func(c *Config) { c.UnknownKidCooldown = cooldown })
	payload := b64s(mustJSON(t, claimsFor(ti)))
	sig := b64s("not a real signature, the key lookup fails first")
	tokens := make([]string, flood)
	for i := range tokens {
		tokens[i] = b64s(mustJSON(t, header(randomKid(t)))) + "." + payload + "." + sig
	}

	runFlood := func() int64 {
		before := ti.jwksHits.Load()
		var wg sync.WaitGroup
		errs := make(chan error, flood)
		for _, tok := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKid) {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("flood request error = %v, want ErrUnknownKid", err)
		}
		return ti.jwksHits.Load() - before
	}

	windows := []struct {
		name    string
		advance time.Duration
		want    int64
	}{
		{name: "right after the first fetch", advance: 0, want: 0},
		{name: "after one cooldown", advance: cooldown, want: 1},
		{name: "again in the same cooldown", advance: cooldown / 2, want: 0},
		{name: "after the next cooldown", advance: cooldown, want: 1},
	}
	var total int64
	for _, w := range windows {
		clock.Advance(w.advance)
		got := runFlood()
		total += got
		t.Logf("%s: %d concurrent unknown-kid requests caused %d JWKS fetches", w.name, flood, got)
		if got != w.want {
			t.Fatalf("%s: %d JWKS fetches, want %d", w.name, got, w.want)
		}
	}
	t.Logf("total: %d JWKS fetches for %d requests over %d windows", total, flood*len(windows), len(windows))
	if got := counterValue(t, v.metrics.fetchOK); got != float64(total+1) {
		t.Fatalf("%s{result=success} = %v, want %d", MetricJWKSFetches, got, total+1)
	}
}

func TestRotation(t *testing.T) {
	k := testKeys(t)
	ti := newTestIssuer(t, rsaJWK(t, k.a, kidA), rsaJWK(t, k.b, kidB))
	clock := newFakeClock()
	cooldown := time.Minute
	v := newTestVerifier(t, ti, clock, func(c *Config) { c.UnknownKidCooldown = cooldown })
	ctx := context.Background()
	tokB := sign(t, mustJSON(t, header(kidB)), mustJSON(t, claimsFor(ti)), jwa.RS256, k.b)

	if _, err := v.Verify(ctx, tokB); err != nil {
		t.Fatalf("Verify before rotation: %v", err)
	}
	if _, err := v.Verify(ctx, tokB); err != nil {
		t.Fatalf("Verify from cache: %v", err)
	}
	if hits := counterValue(t, v.metrics.cacheHits); hits != 1 {
		t.Fatalf("cache hits = %v, want 1", hits)
	}

	// Key B leaves the JWKS: the cached token must stop working.
	ti.setKeys(t, rsaJWK(t, k.a, kidA))
	if err := v.Keys().Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tokB); !errors.Is(err, ErrUnknownKid) {
		t.Fatalf("Verify after key B left = %v, want ErrUnknownKid", err)
	}
	// Tokens signed by the key that stayed remain cached across the refresh.
	tokA := goodToken(t, ti, nil)
	if _, err := v.Verify(ctx, tokA); err != nil {
		t.Fatal(err)
	}
	if err := v.Keys().Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	hitsBefore := counterValue(t, v.metrics.cacheHits)
	if _, err := v.Verify(ctx, tokA); err != nil {
		t.Fatal(err)
	}
	if counterValue(t, v.metrics.cacheHits) != hitsBefore+1 {
		t.Fatal("a refresh with unchanged keys emptied the token cache")
	}

	// A new key C appears: a token naming it triggers one fetch (after the
	// cooldown) and verifies.
	ti.setKeys(t, rsaJWK(t, k.a, kidA), rsaJWK(t, k.other, "key-c"))
	tokC := sign(t, mustJSON(t, header("key-c")), mustJSON(t, claimsFor(ti)), jwa.RS256, k.other)
	clock.Advance(cooldown)
	fetches := ti.jwksHits.Load()
	if _, err := v.Verify(ctx, tokC); err != nil {
		t.Fatalf("Verify with a new key: %v", err)
	}
	if got := ti.jwksHits.Load() - fetches; got != 1 {
		t.Fatalf("new key caused %d fetches, want 1", got)
	}
}

func TestTokenCache(t *testing.T) {
	k := testKeys(t)
	ti := newTestIssuer(t, rsaJWK(t, k.a, kidA))
	ctx := context.Background()

	t.Run("entry expires with the token", func(t *testing.T) {
		clock := newFakeClock()
		v := newTestVerifier(t, ti, clock, nil)
		tok := goodToken(t, ti, func(m map[string]any) { m["exp"] = testNow.Unix() + 60 })
		for range 2 {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(60*time.Second + DefaultClockSkew)
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("Verify after expiry = %v, want ErrExpired", err)
		}
		if n := v.cache.len(); n != 0 {
			t.Fatalf("expired token still cached (%d entries)", n)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		const size = 32
		v := newTestVerifier(t, ti, newFakeClock(), func(c *Config) { c.TokenCacheSize = size })
		for i := range 200 {
			tok := goodToken(t, ti, func(m map[string]any) { m["jti"] = i })
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := v.cache.len(); n > size || n == 0 {
			t.Fatalf("cache holds %d entries, want 1..%d", n, size)
		}
	})

	t.Run("disabled", func(t *testing.T) {
		v := newTestVerifier(t, ti, newFakeClock(), func(c *Config) { c.TokenCacheSize = -1 })
		tok := goodToken(t, ti, nil)
		for range 3 {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if hits := counterValue(t, v.metrics.cacheHits); hits != 0 {
			t.Fatalf("cache hits = %v with the cache disabled", hits)
		}
	})

	t.Run("a refused token is not cached as good", func(t *testing.T) {
		v := newTestVerifier(t, ti, newFakeClock(), nil)
		bad := goodToken(t, ti, func(m map[string]any) { m["aud"] = "other" })
		for range 2 {
			if _, err := v.Verify(ctx, bad); !errors.Is(err, ErrBadAudience) {
				t.Fatalf("Verify = %v, want ErrBadAudience", err)
			}
		}
	})
}

// TestJWKSURIFromMetadata: a jwks_uri learned from metadata must be https
// (or http on a loopback IP address) unless insecure issuers are allowed.
func TestJWKSURIFromMetadata(t *testing.T) {
	k := testKeys(t)
	cases := []struct {
		name     string
		jwksURI  func(ti *testIssuer) string
		insecure bool
		wantErr  string // substring; "" = success
	}{
		{name: "loopback http", jwksURI: func(ti *testIssuer) string { return ti.issuer + "/v1/keys" }},
		{name: "http on a name", jwksURI: func(*testIssuer) string { return "http://keys.example.invalid/keys" }, wantErr: "no usable jwks_uri"},
		{name: "http on a 127. name", jwksURI: func(*testIssuer) string { return "http://127.example.invalid/keys" }, wantErr: "no usable jwks_uri"},
		{name: "ftp", jwksURI: func(*testIssuer) string { return "ftp://keys.example.invalid/keys" }, wantErr: "no usable jwks_uri"},
		{name: "relative", jwksURI: func(*testIssuer) string { return "/v1/keys" }, wantErr: "no usable jwks_uri"},
		// Allowed explicitly: the fetch is attempted (and fails on the name).
		{name: "http on a name, insecure allowed", jwksURI: func(*testIssuer) string { return "http://keys.example.invalid/keys" }, insecure: true, wantErr: `Get "http://keys.example.invalid/keys"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ti := newTestIssuer(t, rsaJWK(t, k.a, kidA))
			ti.mdJWKSURI.Store(tc.jwksURI(ti))
			v, err := New(Config{Issuer: ti.issuer, Audience: testAudience, Now: newFakeClock().Now, AllowInsecureIssuer: tc.insecure})
			if err != nil {
				t.Fatal(err)
			}
			err = v.Keys().Refresh(context.Background())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Refresh: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Refresh error = %v, want one mentioning %q", err, tc.wantErr)
			}
			if tc.insecure && strings.Contains(err.Error(), "no usable jwks_uri") {
				t.Fatalf("the jwks_uri was refused although insecure issuers are allowed: %v", err)
			}
		})
	}
}

// TestJWKSRedirects: redirects to http are not followed unless insecure
// issuers are allowed; https redirects are.
func TestJWKSRedirects(t *testing.T) {
	k := testKeys(t)
	ti := newTestIssuer(t, rsaJWK(t, k.a, kidA))
	var target atomic.Value
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys" {
			ti.mu.Lock()
			body := ti.jwks
			ti.mu.Unlock()
			_, _ = w.Write(body)
			return
		}
		http.Redirect(w, r, target.Load().(string), http.StatusFound)
	}))
	defer tlsSrv.Close()
	cases := []struct {
		name     string
		to       string
		insecure bool
		wantOK   bool
	}{
		{name: "https to http (loopback) refused", to: ti.issuer + "/v1/keys"},
		{name: "https to http allowed when insecure", to: ti.issuer + "/v1/keys", insecure: true, wantOK: true},
		{name: "https to https followed", to: tlsSrv.URL + "/keys", wantOK: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target.Store(tc.to)
			v, err := New(Config{Issuer: ti.issuer, JWKSURL: tlsSrv.URL + "/redirect", Audience: testAudience,
				Now: newFakeClock().Now, HTTPClient: tlsSrv.Client(), AllowInsecureIssuer: tc.insecure})
			if err != nil {
				t.Fatal(err)
			}
			err = v.Keys().Refresh(context.Background())
			if tc.wantOK != (err == nil) {
				t.Fatalf("Refresh = %v, want ok=%v", err, tc.wantOK)
			}
			if !tc.wantOK && !strings.Contains(err.Error(), "non-https") {
				t.Fatalf("Refresh error = %v, want the redirect refused", err)
			}
		})
	}
}

// TestJWKSMaxStale: keys not refreshed for longer than JWKSMaxStale are
// dropped; tokens, cached or not, are refused with ErrKeysStale (503 on
// /verify, a metric), readiness is lost, and the next good refresh brings
// everything back.
func TestJWKSMaxStale(t *testing.T) {
	k := testKeys(t)
	ti := newTestIssuer(t, rsaJWK(t, k.a, kidA))
	clock := newFakeClock()
	v := newTestVerifier(t, ti, clock, func(c *Config) { c.JWKSMaxStale = 2 * time.Hour })
	srv := NewServer(ServerConfig{Verifier: v, ServeMetrics: true})
	tok := goodToken(t, ti, func(m map[string]any) { m["exp"] = clock.Now().Unix() + 24*3600 })
	verify := func() int {
		r := httptest.NewRequest(http.MethodGet, "/verify", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		return rec.Code
	}
	readyz := func() int {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	if c := verify(); c != 200 {
		t.Fatalf("/verify = %d, want 200", c)
	}
	ti.down.Store(true)
	clock.Advance(time.Hour)
	if err := v.Keys().Refresh(context.Background()); err == nil {
		t.Fatal("Refresh succeeded against a down issuer")
	}
	if c := verify(); c != 200 {
		t.Fatalf("/verify with keys an hour old = %d, want 200 (still within max stale)", c)
	}
	clock.Advance(time.Hour + time.Second)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrKeysStale) {
		t.Fatalf("Verify of a cached token with stale keys = %v, want ErrKeysStale", err)
	}
	before := counterValue(t, v.metrics.decisions.WithLabelValues("deny", "jwks_stale"))
	if c := verify(); c != http.StatusServiceUnavailable {
		t.Fatalf("/verify with stale keys = %d, want 503", c)
	}
	if after := counterValue(t, v.metrics.decisions.WithLabelValues("deny", "jwks_stale")); after != before+1 {
		t.Fatalf("jwks_stale decisions went from %v to %v", before, after)
	}
	if c := readyz(); c != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with stale keys = %d, want 503", c)
	}
	if g := counterValue(t, v.metrics.stale); g != 1 {
		t.Fatalf("%s = %v, want 1", MetricJWKSStale, g)
	}
	if n := counterValue(t, v.metrics.staleDrops); n != 1 {
		t.Fatalf("%s = %v, want 1", MetricJWKSStaleDrops, n)
	}
	// An uncached token (another token, same key) fails closed too.
	other := goodToken(t, ti, func(m map[string]any) { m["exp"] = clock.Now().Unix() + 600; m["jti"] = "other" })
	if _, err := v.Verify(context.Background(), other); !errors.Is(err, ErrKeysStale) {
		t.Fatalf("Verify of an uncached token with stale keys = %v, want ErrKeysStale", err)
	}

	ti.down.Store(false)
	if err := v.Keys().Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if c := verify(); c != 200 {
		t.Fatalf("/verify after a good refresh = %d, want 200", c)
	}
	if c := readyz(); c != 200 {
		t.Fatalf("/readyz after a good refresh = %d, want 200", c)
	}
	if g := counterValue(t, v.metrics.stale); g != 0 {
		t.Fatalf("%s = %v after recovery, want 0", MetricJWKSStale, g)
	}
}
