package kubectlplugin

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// ManagementPolicyObserve is the value of spec.managementPolicy that --observe writes: the
// operator reads the app and never writes to it.
const ManagementPolicyObserve = "Observe"

// ImportInput is what an import plan is made from: what the backend holds and what the
// cluster already has.
type ImportInput struct {
	// Namespace the OAuthClients are for.
	Namespace string
	// ProviderRef of every OAuthClient.
	ProviderRef oauthv1.ProviderReference
	// Backend names the provider's backend ("okta", "hydra") in comments.
	Backend string
	// Observe writes spec.managementPolicy: Observe.
	Observe bool
	// Capabilities of the backend: AppScopes (scopes come from the app) and Audiences.
	Capabilities provider.Capabilities
	// Apps as the backend lists them (provider.Inventory.ListApps).
	Apps []provider.App
	// Grants of the authorization server's policies (provider.Inventory.ScopeGrants).
	Grants []provider.ScopeGrant
	// Claimed maps app ids and client ids to the OAuthClient ("namespace/name") that already
	// manages or adopts that app in the cluster (status.appID, status.clientID, spec.adopt).
	Claimed map[string]string
	// Taken are the names of the OAuthClients already in Namespace.
	Taken map[string]bool
}

// Imported is one OAuthClient an import writes, with the comments that go above it.
type Imported struct {
	Object *oauthv1.OAuthClient
	// Observe: write spec.managementPolicy: Observe.
	Observe bool
	Notes   []string
}

// Skipped is an app an import does not write a manifest for, and why.
type Skipped struct {
	AppID, ClientID, Label string
	Why                    string
}

// ImportPlan is what an import writes: one OAuthClient per adoptable app, the apps it
// skipped, and notes about the whole org.
type ImportPlan struct {
	Source  string
	Clients []Imported
	Skipped []Skipped
	Notes   []string
}

// oidcOnlyScopes cannot be requested with the client-credentials grant; the CRD refuses
// them in spec.scopes.
var oidcOnlyScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access"}

// scopeToken is RFC 6749's scope-token, as the CRD checks spec.scopes and spec.audiences.
var scopeToken = regexp.MustCompile(`^[!#-\[\]-~]+$`)

// maxTokenLength is the CRD's limit on one scope or audience.
const maxTokenLength = 1024

// maxScopes and maxAudiences are the CRD's limits.
const (
	maxScopes    = 64
	maxAudiences = 32
)

// PlanImport decides, for every app of in.Apps, the OAuthClient that adopts it or why it is
// skipped. It is deterministic: clients are sorted by name, skipped apps by label and id.
func PlanImport(in ImportInput) ImportPlan {
	plan := ImportPlan{Source: fmt.Sprintf("%s/%s (%s)", in.ProviderRef.Kind, in.ProviderRef.Name, in.Backend)}
	var adoptable []provider.App
	for _, app := range in.Apps {
		if why := skipReason(app, in.Claimed); why != "" {
			plan.Skipped = append(plan.Skipped, Skipped{AppID: app.ID, ClientID: app.ClientID, Label: app.Label, Why: why})
			continue
		}
		adoptable = append(adoptable, app)
	}
	named := make([]nameApp, 0, len(adoptable))
	for _, app := range adoptable {
		named = append(named, nameApp{ID: app.ID, Label: app.Label})
	}
	names := deriveNames(named, in.Taken)
	for _, app := range adoptable {
		plan.Clients = append(plan.Clients, importApp(in, app, names[app.ID]))
	}
	slices.SortFunc(plan.Clients, func(a, b Imported) int { return strings.Compare(a.Object.Name, b.Object.Name) })
	slices.SortFunc(plan.Skipped, func(a, b Skipped) int {
		return cmpFirst(strings.Compare(a.Label, b.Label), strings.Compare(a.AppID, b.AppID))
	})
	plan.Notes = orgNotes(in.Grants)
	return plan
}

func cmpFirst(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

// skipReason says why app gets no manifest, or "" when it gets one.
func skipReason(app provider.App, claimed map[string]string) string {
	if why := app.NotAdoptable(); why != "" {
		return "not a client-credentials app: " + why
	}
	if owner := app.Owner; owner.UID != "" {
		who := owner.Name
		if owner.Namespace != "" {
			who = owner.Namespace + "/" + owner.Name
		}
		return fmt.Sprintf("already owned by OAuthClient %s (uid %s)", who, owner.UID)
	}
	for _, key := range []string{app.ID, app.ClientID} {
		if who, ok := claimed[key]; ok && key != "" {
			return "already managed or adopted by OAuthClient " + who + " in the cluster"
		}
	}
	if !app.Active {
		return "inactive: adopting it would activate it; activate it in the backend first if it is in use"
	}
	switch app.AuthMethod {
	case provider.AuthClientSecretBasic, provider.AuthClientSecretPost, provider.AuthPrivateKeyJWT:
	default:
		return fmt.Sprintf("token endpoint auth method %q is not one clientcreds manages (client_secret_basic, client_secret_post, private_key_jwt)", app.AuthMethod)
	}
	return ""
}

// importApp is the OAuthClient that adopts app.
func importApp(in ImportInput, app provider.App, name string) Imported {
	obj := &oauthv1.OAuthClient{
		TypeMeta:   metav1.TypeMeta{APIVersion: oauthv1.GroupVersion.String(), Kind: "OAuthClient"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: in.Namespace},
		Spec: oauthv1.OAuthClientSpec{
			ProviderRef:             in.ProviderRef,
			DisplayName:             app.Label,
			TokenEndpointAuthMethod: oauthv1.TokenEndpointAuthMethod(app.AuthMethod),
			// The app existed before this object: deleting the object leaves it.
			DeletionPolicy: oauthv1.DeletionPolicyOrphan,
			Adopt:          &oauthv1.Adopt{ClientID: app.ClientID},
		},
	}
	notes := []string{fmt.Sprintf("%s app %s %q, client id %s.", in.Backend, app.ID, app.Label, app.ClientID)}
	if app.ClientID != app.ID {
		// Adoption by client id reads the app whose id is the client id (provider.LookupApp):
		// an app whose client id was chosen by its creator is adopted by its app id.
		obj.Spec.Adopt = &oauthv1.Adopt{AppID: app.ID}
		notes = append(notes, "adopted by appID: the app's client id differs from its id.")
	}
	scopes, scopeNotes := inferScopes(app, in.Grants, in.Capabilities.AppScopes)
	obj.Spec.Scopes = scopes
	notes = append(notes, scopeNotes...)
	if in.Capabilities.Audiences && len(app.Audiences) > 0 {
		auds, dropped := validTokens(app.Audiences, maxAudiences)
		obj.Spec.Audiences = auds
		if len(dropped) > 0 {
			notes = append(notes, "audiences not mapped (not valid in spec.audiences): "+strings.Join(dropped, ", "))
		}
	}
	if obj.Spec.DisplayName == "" || len(obj.Spec.DisplayName) > oauthv1.MaxLabelLength {
		notes = append(notes, fmt.Sprintf("the app's label %q cannot be spec.displayName; the default (<namespace>/<name>) renames the app", app.Label))
		obj.Spec.DisplayName = ""
	}
	if app.AuthMethod == provider.AuthPrivateKeyJWT {
		notes = append(notes, "private_key_jwt: adopting registers a key pair the operator makes in place of the app's keys; consumers holding the app's current private key must switch to the Secret's PRIVATE_KEY.")
	}
	if app.DPoPBound {
		notes = append(notes, "the app requires DPoP-bound tokens; adopting turns that off (the Secret's consumers send no DPoP proof).")
	}
	if in.Observe {
		notes = append(notes, "Observe: the operator reads the app and never changes it.")
	}
	return Imported{Object: obj, Observe: in.Observe, Notes: notes}
}

// inferScopes returns the scopes the client can be said to use: the app's own (backends
// with AppScopes), or those of the rules that name its client id in the authorization
// server's access policies; when no rule names it, those of the rules for all clients that
// list their scopes (a token request for them succeeds). A rule allowing every scope says
// nothing about what the client requests. Scopes the CRD refuses are left out, with a note.
func inferScopes(app provider.App, grants []provider.ScopeGrant, appScopes bool) ([]string, []string) {
	var found []string
	var notes []string
	if appScopes {
		found = slices.Clone(app.Scopes)
		if len(found) > 0 {
			notes = append(notes, "scopes: the app's own.")
		}
	} else if app.ClientID != "" {
		found, notes = scopesFromGrants(app.ClientID, grants, false)
		if len(found) == 0 && len(notes) == 0 {
			found, notes = scopesFromGrants(provider.AllClients, grants, true)
		}
	}
	slices.Sort(found)
	found = slices.Compact(found)
	var dropped []string
	kept := found[:0]
	for _, s := range found {
		if slices.Contains(oidcOnlyScopes, s) {
			dropped = append(dropped, s)
			continue
		}
		kept = append(kept, s)
	}
	scopes, invalid := validTokens(kept, maxScopes)
	dropped = append(dropped, invalid...)
	if len(dropped) > 0 {
		notes = append(notes, "scopes not mapped (not valid in spec.scopes for the client-credentials grant): "+strings.Join(dropped, ", "))
	}
	if len(scopes) == 0 {
		notes = append(notes, "WARNING: no scopes inferred. Set spec.scopes to what the client requests: an authorization server",
			"without default scopes (Okta's, as created) refuses a token request without scope, and the client stays",
			"Ready=False (InvalidScope) until it names one.")
		return nil, notes
	}
	return scopes, notes
}

// scopesFromGrants collects the scopes of the grants for client (a client id, or
// provider.AllClients), with a note saying where they come from.
func scopesFromGrants(client string, grants []provider.ScopeGrant, allClients bool) ([]string, []string) {
	var found, from, notes []string
	for _, g := range grants {
		if !slices.Contains(g.Clients, client) {
			continue
		}
		if slices.Contains(g.Scopes, provider.AnyScope) {
			if !allClients {
				notes = append(notes, fmt.Sprintf("policy %q rule %q grants this client every scope: list the scopes it requests in spec.scopes.", g.Policy, g.Rule))
			}
			continue
		}
		found = append(found, g.Scopes...)
		from = append(from, fmt.Sprintf("policy %q rule %q", g.Policy, g.Rule))
	}
	if len(from) > 0 {
		what := "from "
		if allClients {
			what = "from the rules for all clients: "
		}
		notes = append(notes, "scopes: "+what+strings.Join(from, ", ")+".")
	}
	return found, notes
}

// validTokens keeps the values that are RFC 6749 scope-tokens, at most limit of them, and
// returns the others.
func validTokens(values []string, limit int) (kept, dropped []string) {
	for _, v := range values {
		if !scopeToken.MatchString(v) || len(v) > maxTokenLength || len(kept) == limit {
			dropped = append(dropped, v)
			continue
		}
		kept = append(kept, v)
	}
	return kept, dropped
}

// orgNotes describes the grants that apply to every client: they are not any one client's.
func orgNotes(grants []provider.ScopeGrant) []string {
	var notes []string
	for _, g := range grants {
		if !slices.Contains(g.Clients, provider.AllClients) {
			continue
		}
		what := "scopes " + strings.Join(g.Scopes, ", ")
		if slices.Contains(g.Scopes, provider.AnyScope) {
			what = "every scope"
		}
		notes = append(notes, fmt.Sprintf("policy %q rule %q grants %s to all clients; it is not mapped to any one client.", g.Policy, g.Rule, what))
	}
	return notes
}
