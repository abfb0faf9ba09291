package verifier

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// FuzzVerify feeds arbitrary tokens to the verifier and its /verify
// handler. It is seeded with every refusal case of the table test, so the
// plain `go test` run replays them; `go test -fuzz FuzzVerify` explores
// further. Properties: no panic; every failure is a RefusalError answered
// 401; every success is a token that really verifies with one of the
// issuer's keys and carries the issuer and audience.
func FuzzVerify(f *testing.F) {
	env := newRefusalEnv(f)
	for _, tc := range env.cases {
		f.Add(tc.token)
	}
	f.Add(env.good)
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")

	k := testKeys(f)
	v := newTestVerifier(f, env.ti, newFakeClock(), func(c *Config) { c.AllowedAlgs = []string{"RS256", "ES256"} })
	srv := NewServer(ServerConfig{Verifier: v})
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(ctx, token)
		if err != nil {
			var r *RefusalError
			if !errors.As(err, &r) {
				t.Fatalf("Verify returned a non-refusal error: %v", err)
			}
			if id != nil {
				t.Fatal("Verify returned an identity with an error")
			}
		} else {
			genuine := false
			for _, key := range []struct {
				alg jwa.SignatureAlgorithm
				pub any
			}{{jwa.RS256, &k.a.PublicKey}, {jwa.RS256, &k.b.PublicKey}, {jwa.ES256, &k.ec.PublicKey}} {
				if _, verr := jws.Verify([]byte(token), jws.WithKey(key.alg, key.pub)); verr == nil {
					genuine = true
				}
			}
			if !genuine {
				t.Fatal("Verify accepted a token no issuer key verifies")
			}
			if id.ClientID == "" {
				t.Fatal("accepted token has no client id")
			}
		}

		req := httptest.NewRequest(http.MethodGet, "/verify", nil)
		req.Header["Authorization"] = []string{"Bearer " + token}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch {
		case err == nil && rec.Code != http.StatusOK:
			t.Fatalf("/verify = %d for a token Verify accepted", rec.Code)
		case err != nil && rec.Code != http.StatusUnauthorized:
			t.Fatalf("/verify = %d for a refused token, want 401", rec.Code)
		}
	})
}
