package provider

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Differences lists, for people, what keeps app from matching spec — the fields Matches
// compares except the owner, which an observer does not claim — in the words of the
// OAuthClient's spec (displayName, tokenEndpointAuthMethod, scopes, audiences, accessTokenLifetime) and the
// app's state (active, grant types, DPoP). Empty when the app matches. The values named are
// labels, methods, scopes and audiences, never secrets.
func (a *App) Differences(spec AppSpec) []string {
	var out []string
	if a.Label != spec.Label {
		out = append(out, fmt.Sprintf("displayName (app %q, spec %q)", a.Label, spec.Label))
	}
	if a.AuthMethod != spec.AuthMethod {
		out = append(out, fmt.Sprintf("tokenEndpointAuthMethod (app %s, spec %s)", a.AuthMethod, spec.AuthMethod))
	}
	if !a.Active {
		out = append(out, "status (app inactive, spec active)")
	}
	if !a.ClientCredentialsOnly {
		why := a.NotAdoptable()
		out = append(out, "grant types ("+why+")")
	}
	if a.DPoPBound {
		out = append(out, "DPoP-bound access tokens (app requires them, the published credentials send no proof)")
	}
	if !sameSet(a.Scopes, spec.Scopes) {
		out = append(out, fmt.Sprintf("scopes (app [%s], spec [%s])", sortedJoin(a.Scopes), sortedJoin(spec.Scopes)))
	}
	if !sameSet(a.Audiences, spec.Audiences) {
		out = append(out, fmt.Sprintf("audiences (app [%s], spec [%s])", sortedJoin(a.Audiences), sortedJoin(spec.Audiences)))
	}
	if a.AccessTokenLifetime != spec.AccessTokenLifetime {
		out = append(out, fmt.Sprintf("accessTokenLifetime (app %s, spec %s)", lifetimeText(a.AccessTokenLifetime), lifetimeText(spec.AccessTokenLifetime)))
	}
	want := make([]string, 0, len(spec.PublicKeys))
	for _, k := range spec.PublicKeys {
		want = append(want, k.KeyID)
	}
	if !sameSet(a.PublicKeyIDs, want) {
		out = append(out, fmt.Sprintf("public keys (app [%s], spec [%s])", sortedJoin(a.PublicKeyIDs), sortedJoin(want)))
	}
	return out
}

// lifetimeText names a token lifetime for people; zero is the authorization server's default.
func lifetimeText(d time.Duration) string {
	if d == 0 {
		return "the server's default"
	}
	return d.String()
}

func sortedJoin(s []string) string {
	c := slices.Clone(s)
	slices.Sort(c)
	return strings.Join(c, " ")
}
