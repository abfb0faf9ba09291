package oktaemu_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
)

// BenchmarkMintAccessToken measures pre-minting tokens (RS256 signing).
func BenchmarkMintAccessToken(b *testing.B) {
	env := oktaemutest.Start(b, oktaemu.Config{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := env.Server.MintAccessToken("0oabench", []string{"hello:read"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkTokenEndpoint measures the client-credentials token endpoint
// in-process (no network), client_secret_basic.
func BenchmarkTokenEndpoint(b *testing.B) {
	env := oktaemutest.Start(b, oktaemu.Config{RateLimits: oktaemu.RateLimits{Token: -1}})
	app := env.CreateServiceApp(b, "bench", "")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/oauth2/default/v1/token", strings.NewReader("grant_type=client_credentials&scope=hello:read"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(app.ClientID, app.ClientSecret)
			rec := httptest.NewRecorder()
			env.Server.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("status %d", rec.Code)
				return
			}
		}
	})
}

// BenchmarkListApps measures a 200-app page out of 1000 apps.
func BenchmarkListApps(b *testing.B) {
	env := oktaemutest.Start(b, oktaemu.Config{RateLimits: oktaemu.RateLimits{Apps: -1}})
	for i := range 1000 {
		env.CreateServiceApp(b, fmt.Sprintf("bench-%04d", i), "")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/apps?limit=200&after=400", nil)
		req.Header.Set("Authorization", "SSWS "+env.APIToken)
		rec := httptest.NewRecorder()
		env.Server.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
