package profile

import "testing"

func TestCategory(t *testing.T) {
	tests := map[string]string{
		"crypto/internal/fips140/bigmod.addMulVVW2048.abi0":                      "RSA/SHA-256 (crypto)",
		"[kernel] _raw_spin_unlock_irqrestore":                                   "kernel (loopback TCP, syscalls)",
		"github.com/clientcreds/clientcreds/internal/verifier.(*tokenCache).put": "token cache (verifier)",
		"github.com/clientcreds/clientcreds/internal/verifier.compactParts":      "token parsing and checks (verifier)",
		"github.com/lestrrat-go/jwx/v2/jws.Verify":                               "JWS/JWT libraries",
		"github.com/go-jose/go-jose/v4.ParseSigned":                              "JWS/JWT libraries",
		"encoding/json.(*decodeState).unmarshal":                                 "JSON and base64 decoding",
		"net/textproto.readMIMEHeader":                                           "HTTP server (net/http)",
		"runtime.mallocgc":                                                       "Go runtime (GC, scheduler, allocation)",
		"github.com/prometheus/client_golang/prometheus.(*counter).Inc":          "metrics",
		"regexp.(*Regexp).doOnePass":                                             "other",
	}
	for sym, want := range tests {
		t.Run(sym, func(t *testing.T) {
			if got := Category(sym); got != want {
				t.Fatalf("Category(%q) = %q, want %q", sym, got, want)
			}
		})
	}
}
