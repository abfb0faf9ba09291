package hydra_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/hydra/hydratest"
	"github.com/clientcreds/clientcreds/internal/verifier"
)

// A Hydra left at its default access-token strategy (opaque) issues tokens the verifier
// cannot validate locally: it answers 401 naming the cause and the Hydra setting, and JWT
// tokens of a correctly configured Hydra pass the token-shape checks and are verified
// against Hydra's JWKS (refused here only for their audience).
func TestVerifierOnHydraTokens(t *testing.T) {
	tests := map[string]struct {
		opaque     bool
		wantErr    error
		wantReason string
	}{
		"opaque tokens are refused with a reason": {opaque: true, wantErr: verifier.ErrOpaqueToken, wantReason: "strategies.access_token: jwt"},
		"jwt tokens are verified":                 {wantErr: verifier.ErrBadAudience, wantReason: "audience"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := hydratest.Start(t, hydratest.Options{OpaqueTokens: tc.opaque})
			p, ep := newProvider(t, s)
			ctx := context.Background()
			app, err := p.CreateApp(ctx, provider.AppSpec{Label: "team-a/o", AuthMethod: provider.AuthClientSecretBasic, Owner: owner, Scopes: []string{"hello:read"}})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := oauth2client.RequestToken(ctx, http.DefaultClient, provider.Credentials{ClientID: app.ClientID,
				AuthMethod: provider.AuthClientSecretBasic, ClientSecret: app.ClientSecret, TokenURL: ep.TokenURL, Scopes: []string{"hello:read"}})
			if err != nil {
				t.Fatal(err)
			}
			v, err := verifier.New(verifier.Config{Issuer: s.Issuer, Audience: "https://hello.example"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, tok.AccessToken); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
			srv := verifier.NewServer(verifier.ServerConfig{Verifier: v})
			req := httptest.NewRequest(http.MethodGet, "/verify", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			req.Header.Set("X-Original-URI", "/")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			challenge := rec.Header().Get("WWW-Authenticate")
			if rec.Code != http.StatusUnauthorized || !strings.Contains(challenge, tc.wantReason) {
				t.Fatalf("verifier answered %d, WWW-Authenticate %q; want 401 naming %q", rec.Code, challenge, tc.wantReason)
			}
			if strings.Contains(challenge, tok.AccessToken) {
				t.Fatal("the challenge echoes the token")
			}
		})
	}
}
