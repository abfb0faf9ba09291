package cryptofloor

import (
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
)

func TestRun(t *testing.T) {
	org := oktaemutest.Start(t, oktaemu.Config{})
	var tokens []string
	for i := range 3 {
		tok, err := org.Server.MintAccessToken("client"+string(rune('a'+i)), []string{oktaemu.DefaultScope})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	keys, err := jwk.Fetch(t.Context(), org.JWKSURL)
	if err != nil {
		t.Fatal(err)
	}
	forged := tokens[0][:len(tokens[0])-4] + "AAAA"
	if forged == tokens[0] {
		forged = tokens[0][:len(tokens[0])-4] + "BBBB"
	}
	tests := map[string]struct {
		mode, audience string
		tokens         []string
		wantErr        string
	}{
		"jws":            {mode: ModeJWS, tokens: tokens},
		"jwt":            {mode: ModeJWT, audience: "api://default", tokens: tokens},
		"jwt, wrong aud": {mode: ModeJWT, audience: "api://other", tokens: tokens, wantErr: "does not verify"},
		"forged":         {mode: ModeJWS, tokens: []string{forged}, wantErr: "does not verify"},
		"no tokens":      {mode: ModeJWS, wantErr: "no tokens"},
		"unknown mode":   {mode: "x", tokens: tokens, wantErr: "unknown mode"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Run(Config{Mode: tc.mode, Tokens: tc.tokens, Keys: keys, Issuer: org.Issuer,
				Audience: tc.audience, Duration: 50 * time.Millisecond})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Ops == 0 || r.OpsPerSec <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
				t.Fatalf("result %+v", r)
			}
		})
	}
}
