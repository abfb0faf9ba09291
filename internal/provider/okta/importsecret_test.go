package okta_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// ImportSecret sends a caller-chosen client secret (a request the spec check validates
// against createOAuth2ClientSecret); a value Okta refuses is ErrSecretValueRefused (and
// ErrPermanent), with Okta's rule and never the value; ReadSecrets returns the values, as
// the recorded list answers do, and ListSecrets still does not.
func TestEmulatorImportAndReadSecrets(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)
	app, err := e.p.CreateApp(c, e.spec4("byo", provider.AuthClientSecretBasic))
	if err != nil {
		t.Fatal(err)
	}
	// In order: the refusals while the app holds one secret (a third would be a conflict).
	tests := []struct {
		name    string
		value   string
		refused bool
	}{
		{name: "too short", value: "short-1234", refused: true},
		{name: "not printable", value: "schlüssel-geheim-1", refused: true},
		{name: "accepted", value: "brought-by-the-user-123"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := e.p.ImportSecret(c, app.ID, tc.value)
			if tc.refused {
				if !errors.Is(err, provider.ErrSecretValueRefused) || !errors.Is(err, provider.ErrPermanent) {
					t.Fatalf("err = %v, want ErrSecretValueRefused", err)
				}
				if strings.Contains(err.Error(), tc.value) || !strings.Contains(err.Error(), "client_secret") {
					t.Fatalf("error %q: want Okta's rule about client_secret and never the value", err)
				}
				return
			}
			if err != nil || s.ID == "" || s.Value != tc.value || !s.Active {
				t.Fatalf("ImportSecret = %+v, %v", s != nil, err)
			}
			if err := e.p.RequestToken(c, provider.Credentials{ClientID: app.ClientID, ClientSecret: tc.value,
				AuthMethod: provider.AuthClientSecretBasic, TokenURL: e.URL + "/oauth2/default/v1/token", Scopes: []string{"hello:read"}}); err != nil {
				t.Fatalf("token with the imported secret: %v", err)
			}
			read, err := e.p.ReadSecrets(c, app.ID)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range read {
				found = found || (r.ID == s.ID && r.Value == tc.value)
			}
			if !found || len(read) != 2 {
				t.Fatalf("ReadSecrets: %d secrets, imported one with its value: %v", len(read), found)
			}
			listed, err := e.p.ListSecrets(c, app.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range listed {
				if l.Value != "" {
					t.Fatal("ListSecrets returned a value")
				}
			}
			// A third secret is a conflict, as for CreateSecret.
			if _, err := e.p.ImportSecret(c, app.ID, "a-third-secret-value"); !errors.Is(err, provider.ErrConflict) {
				t.Fatalf("third secret: %v, want ErrConflict", err)
			}
		})
	}
}
