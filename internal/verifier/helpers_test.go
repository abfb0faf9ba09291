package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// testNow is the fixed "now" of the unit tests.
var testNow = time.Unix(1_800_000_000, 0).UTC()

const (
	testAudience = "api://default"
	testClientID = "0oa1clientcreds"
	kidA         = "key-a"
	kidB         = "key-b"
)

// testKeys are generated once per test binary: RSA key generation is slow.
type testKeySet struct {
	a, b, other, weak *rsa.PrivateKey
	ec                *ecdsa.PrivateKey
}

var (
	keysOnce sync.Once
	keys     testKeySet
)

func testKeys(t testing.TB) testKeySet {
	t.Helper()
	keysOnce.Do(func() {
		gen := func(bits int) *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				panic(err)
			}
			return k
		}
		keys.a, keys.b, keys.other = gen(2048), gen(2048), gen(2048)
		keys.weak = gen(1024)
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		keys.ec = ec
	})
	return keys
}

// fakeClock is a settable clock for the verifier.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: testNow} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testIssuer serves authorization-server metadata and a JWKS that tests
// can change, count and take down.
type testIssuer struct {
	srv       *httptest.Server
	issuer    string
	mu        sync.Mutex
	jwks      []byte
	jwksDelay time.Duration
	down      atomic.Bool
	noRFC8414 atomic.Bool
	mdIssuer  atomic.Value // string override for the metadata issuer
	mdJWKSURI atomic.Value // string override for the metadata jwks_uri
	jwksHits  atomic.Int64
	otherHits atomic.Int64
}

func newTestIssuer(t testing.TB, jwksKeys ...jwk.Key) *testIssuer {
	t.Helper()
	ti := &testIssuer{}
	mux := http.NewServeMux()
	metadata := func(w http.ResponseWriter, r *http.Request) {
		if ti.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss := ti.issuer
		if v, ok := ti.mdIssuer.Load().(string); ok {
			iss = v
		}
		jwksURI := ti.issuer + "/v1/keys"
		if v, ok := ti.mdJWKSURI.Load().(string); ok {
			jwksURI = v
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer":   iss,
			"jwks_uri": jwksURI,
		})
	}
	mux.HandleFunc("/oauth2/default/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		if ti.noRFC8414.Load() {
			http.NotFound(w, r)
			return
		}
		metadata(w, r)
	})
	mux.HandleFunc("/oauth2/default/.well-known/openid-configuration", metadata)
	mux.HandleFunc("/oauth2/default/v1/keys", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksHits.Add(1)
		ti.mu.Lock()
		body, delay := ti.jwks, ti.jwksDelay
		ti.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		if ti.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ti.otherHits.Add(1)
		http.NotFound(w, r)
	})
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	ti.issuer = ti.srv.URL + "/oauth2/default"
	ti.setKeys(t, jwksKeys...)
	return ti
}

func (ti *testIssuer) setKeys(t testing.TB, ks ...jwk.Key) {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range ks {
		if err := set.AddKey(k); err != nil {
			t.Fatalf("adding key: %v", err)
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatalf("marshal jwks: %v", err)
	}
	ti.setRawJWKS(body)
}

func (ti *testIssuer) setRawJWKS(body []byte) {
	ti.mu.Lock()
	ti.jwks = body
	ti.mu.Unlock()
}

// publicJWK turns a key's public half into a JWK with the given fields
// (kid, alg, use...).
func publicJWK(t testing.TB, key any, fields map[string]any) jwk.Key {
	t.Helper()
	var pub any
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	default:
		pub = key
	}
	jk, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatalf("jwk from raw: %v", err)
	}
	for name, v := range fields {
		if err := jk.Set(name, v); err != nil {
			t.Fatalf("set %s: %v", name, err)
		}
	}
	return jk
}

func rsaJWK(t testing.TB, key *rsa.PrivateKey, kid string) jwk.Key {
	return publicJWK(t, key, map[string]any{"kid": kid, "alg": "RS256", "use": "sig"})
}

// newTestVerifier returns a verifier for ti whose keys were fetched once.
func newTestVerifier(t testing.TB, ti *testIssuer, clock *fakeClock, mutate func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{
		Issuer:             ti.issuer,
		Audience:           testAudience,
		UnknownKidCooldown: time.Minute,
		Now:                clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := v.Keys().Refresh(context.Background()); err != nil {
		t.Fatalf("first JWKS fetch: %v", err)
	}
	return v
}

func b64s(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// sign builds a compact JWS from raw header and payload JSON.
func sign(t testing.TB, header, payload string, alg jwa.SignatureAlgorithm, key any) string {
	t.Helper()
	input := b64s(header) + "." + b64s(payload)
	signer, err := jws.NewSigner(alg)
	if err != nil {
		t.Fatalf("signer %s: %v", alg, err)
	}
	sig, err := signer.Sign([]byte(input), key)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// claimsFor returns the claims of a good token from ti, valid at testNow.
func claimsFor(ti *testIssuer, scopes ...string) map[string]any {
	if scopes == nil {
		scopes = []string{"hello:read"}
	}
	return map[string]any{
		"ver": 1,
		"jti": "AT.test",
		"iss": ti.issuer,
		"aud": testAudience,
		"iat": testNow.Unix() - 60,
		"exp": testNow.Unix() + 3600,
		"cid": testClientID,
		"uid": nil,
		"scp": scopes,
		"sub": testClientID,
	}
}

func header(kid string) map[string]any { return map[string]any{"alg": "RS256", "kid": kid} }

// goodToken is an RS256 token signed by key A with the given claims edits.
func goodToken(t testing.TB, ti *testIssuer, edit func(map[string]any)) string {
	t.Helper()
	c := claimsFor(ti)
	if edit != nil {
		edit(c)
	}
	return sign(t, mustJSON(t, header(kidA)), mustJSON(t, c), jwa.RS256, testKeys(t).a)
}

func fmtUnix(v int64) string { return fmt.Sprintf("%d", v) }

// counterValue reads a counter or gauge.
func counterValue(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("reading metric: %v", err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric is neither a counter nor a gauge")
	return 0
}
