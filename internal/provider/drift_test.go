package provider

import (
	"strings"
	"testing"
	"time"
)

// Differences names each field Matches compares (but the owner), and nothing when the app
// matches; Matches and an empty Differences agree whenever the owner is the spec's.
func TestAppDifferences(t *testing.T) {
	base := func() *App {
		return &App{Label: "Billing", AuthMethod: AuthClientSecretBasic, Active: true, ClientCredentialsOnly: true,
			GrantTypes: []string{"client_credentials"}, Owner: Owner{UID: "u1"}, Scopes: []string{"a", "b"}}
	}
	spec := AppSpec{Label: "Billing", AuthMethod: AuthClientSecretBasic, Owner: Owner{UID: "u1"}, Scopes: []string{"b", "a"}}
	tests := map[string]struct {
		mutate func(*App)
		want   []string
	}{
		"matches":     {func(*App) {}, nil},
		"other owner": {func(a *App) { a.Owner = Owner{UID: "u2"} }, nil},
		"label":       {func(a *App) { a.Label = "Billing (old)" }, []string{`displayName (app "Billing (old)", spec "Billing")`}},
		"auth method": {func(a *App) { a.AuthMethod = AuthClientSecretPost }, []string{"tokenEndpointAuthMethod (app client_secret_post, spec client_secret_basic)"}},
		"inactive":    {func(a *App) { a.Active = false }, []string{"status (app inactive, spec active)"}},
		"grants": {func(a *App) {
			a.ClientCredentialsOnly = false
			a.GrantTypes = []string{"client_credentials", "implicit"}
		}, []string{"grant types (its grant types are [client_credentials, implicit], not only client_credentials)"}},
		"dpop":            {func(a *App) { a.DPoPBound = true }, []string{"DPoP-bound access tokens"}},
		"scopes":          {func(a *App) { a.Scopes = []string{"a"} }, []string{"scopes (app [a], spec [a b])"}},
		"label and scope": {func(a *App) { a.Label = "X"; a.Scopes = nil }, []string{"displayName", "scopes (app [], spec [a b])"}},
		"token lifetime set behind our back": {func(a *App) { a.AccessTokenLifetime = 2 * time.Hour },
			[]string{"accessTokenLifetime (app 2h0m0s, spec the server's default)"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := base()
			tc.mutate(a)
			got := a.Differences(spec)
			if len(got) != len(tc.want) {
				t.Fatalf("Differences = %q, want %d entries like %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("entry %d = %q, want it to start with %q", i, got[i], w)
				}
			}
			if a.Owner.UID == spec.Owner.UID && a.Matches(spec) != (len(got) == 0) {
				t.Errorf("Matches = %v but Differences = %q", a.Matches(spec), got)
			}
		})
	}
}

// A spec that sets the token lifetime differs from an app on the server's default, and
// matches an app that has it.
func TestAppDifferencesTokenLifetime(t *testing.T) {
	app := &App{Label: "L", AuthMethod: AuthClientSecretBasic, Active: true, ClientCredentialsOnly: true, Owner: Owner{UID: "u"}}
	spec := AppSpec{Label: "L", AuthMethod: AuthClientSecretBasic, Owner: Owner{UID: "u"}, AccessTokenLifetime: 10 * time.Minute}
	if got := app.Differences(spec); len(got) != 1 || got[0] != "accessTokenLifetime (app the server's default, spec 10m0s)" {
		t.Fatalf("Differences = %q", got)
	}
	if app.Matches(spec) {
		t.Fatal("Matches with a different lifetime")
	}
	app.AccessTokenLifetime = 10 * time.Minute
	if got := app.Differences(spec); len(got) != 0 || !app.Matches(spec) {
		t.Fatalf("same lifetime: Differences = %q, Matches = %v", got, app.Matches(spec))
	}
}
