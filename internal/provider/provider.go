// Package provider defines the narrow interface the controllers use to manage OAuth 2.0
// client apps in a backend, the error classes every backend maps its failures to, and the
// Clients through which controllers get a backend's client for a provider object without
// naming the backend. Controllers never import a backend SDK.
package provider

import (
	"context"
	"time"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
)

// AuthMethod is the token endpoint auth method of a client (package oauth2client's).
type AuthMethod = oauth2client.AuthMethod

// Auth methods, as OAuth 2.0 names them.
const (
	AuthClientSecretBasic = oauth2client.ClientSecretBasic
	AuthClientSecretPost  = oauth2client.ClientSecretPost
	AuthPrivateKeyJWT     = oauth2client.PrivateKeyJWT
)

// Owner identifies the Kubernetes object an app belongs to. Backends store it on the app
// (Okta: in the app's profile) so an app created by a call whose answer was lost can be
// found again and adopted by exact match instead of being created twice.
type Owner struct {
	// UID of the OAuthClient; the exact identity.
	UID string
	// Namespace and Name of the OAuthClient, for humans reading the backend console.
	Namespace string
	Name      string
}

// PublicKey is a public JWK registered on an app for private_key_jwt (KeyID is its kid,
// JWK the JSON Web Key object); package oauth2client makes and reads them.
type PublicKey = oauth2client.PublicKey

// AppSpec is what the controller wants an app to look like.
type AppSpec struct {
	Label      string
	AuthMethod AuthMethod
	// PublicKeys for private_key_jwt; empty otherwise.
	PublicKeys []PublicKey
	Owner      Owner
	// Scopes the app may request; set only for backends with Capabilities.AppScopes.
	Scopes []string
	// Audiences the app's tokens may be issued for; set only for backends with
	// Capabilities.Audiences.
	Audiences []string
	// AccessTokenLifetime of the tokens the app's client-credentials grant issues; zero for
	// the authorization server's default. Set only for backends with
	// Capabilities.AppTokenLifetime.
	AccessTokenLifetime time.Duration
	// TakeOver lets UpdateApp mark as Owner's an app that carries no owner yet (an adopted
	// app made outside clientcreds). An app that names another owner is never taken over.
	TakeOver bool
	// Generation numbers the app among Owner's apps, for backends with
	// Capabilities.RotationByNewClient: 0 for the first, one more per rotation. Such a
	// backend stores it with the owner, so that an app of a rotation whose create answer was
	// lost is found again (App.Generation). Others ignore it.
	Generation int64
}

// App is an app as the backend reports it.
type App struct {
	ID       string
	ClientID string
	Label    string
	Active   bool
	// AuthMethod as configured on the app.
	AuthMethod AuthMethod
	// ClientCredentialsOnly: the app is a machine-to-machine client whose only grant is
	// client_credentials, as the backend defines such a client (Okta: a "service" app).
	ClientCredentialsOnly bool
	// OtherType is the backend's kind of app when it is not its machine-to-machine kind
	// (Okta: an application_type other than "service"); "" otherwise. GrantTypes and
	// ResponseTypes as registered. They say what differs when ClientCredentialsOnly is false.
	OtherType     string
	GrantTypes    []string
	ResponseTypes []string
	// PublicKeyIDs are the kids of the JWKs registered on the app.
	PublicKeyIDs []string
	// DPoPBound: the app requires DPoP-bound access tokens (RFC 9449). The Secret's
	// consumers send no DPoP proofs, so the operator keeps it off.
	DPoPBound bool
	// Owner as stored on the app; empty when the app was not created by clientcreds.
	Owner Owner
	// Generation as stored on the app (AppSpec.Generation); 0 on backends without
	// Capabilities.RotationByNewClient.
	Generation int64
	// Scopes and Audiences as registered on the app, for backends that keep them there
	// (Capabilities.AppScopes, Capabilities.Audiences); empty otherwise.
	Scopes    []string
	Audiences []string
	// AccessTokenLifetime as registered on the app, for backends that keep it there
	// (Capabilities.AppTokenLifetime); zero when the authorization server's default applies.
	AccessTokenLifetime time.Duration
	// ClientSecret is set only by CreateApp for secret-based auth methods: backends reveal
	// a secret only when it is created.
	ClientSecret string
	// Backend holds backend state UpdateApp needs (e.g. the full object to PUT back);
	// opaque to callers.
	Backend any
}

// Matches reports whether the app already has everything spec asks for, so that no update
// call is needed.
func (a *App) Matches(spec AppSpec) bool {
	if a.Label != spec.Label || a.AuthMethod != spec.AuthMethod || !a.Active {
		return false
	}
	if !a.ClientCredentialsOnly || a.Owner.UID != spec.Owner.UID || a.Generation != spec.Generation || a.DPoPBound {
		return false
	}
	if !sameSet(a.Scopes, spec.Scopes) || !sameSet(a.Audiences, spec.Audiences) || a.AccessTokenLifetime != spec.AccessTokenLifetime {
		return false
	}
	if len(a.PublicKeyIDs) != len(spec.PublicKeys) {
		return false
	}
	have := make(map[string]bool, len(a.PublicKeyIDs))
	for _, kid := range a.PublicKeyIDs {
		have[kid] = true
	}
	for _, k := range spec.PublicKeys {
		if !have[k.KeyID] {
			return false
		}
	}
	return true
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	have := make(map[string]int, len(a))
	for _, s := range a {
		have[s]++
	}
	for _, s := range b {
		if have[s] == 0 {
			return false
		}
		have[s]--
	}
	return true
}

// ClientSecret is one of an app's client secrets.
type ClientSecret struct {
	ID      string
	Active  bool
	Created time.Time
	// Value is set only when the secret was just created.
	Value string
}

// Endpoints of the authorization server that issues the client's tokens.
type Endpoints struct {
	Issuer   string
	TokenURL string
	JWKSURL  string
}

// Credentials are what a client presents at the token endpoint (package oauth2client's).
type Credentials = oauth2client.Credentials

// Client manages OAuth 2.0 client apps in one backend (one Okta org and authorization
// server, one Hydra). Implementations are safe for concurrent use, classify every error
// with the classes in errors.go, and never put secret values in errors. What only some
// backends can do is declared by Capabilities (and AccessPolicyManager).
type Client interface {
	// Capabilities declares what the backend can do beyond this contract.
	Capabilities() Capabilities

	// CheckHealth verifies that the backend accepts the API token and discovers the
	// authorization server's endpoints from its metadata.
	CheckHealth(ctx context.Context) (Endpoints, error)

	// CreateApp creates an active service app (client-credentials grant). For secret-based
	// auth methods the returned App carries the new client secret.
	CreateApp(ctx context.Context, spec AppSpec) (*App, error)
	// GetApp reads an app; ErrNotFound when it does not exist.
	GetApp(ctx context.Context, id string) (*App, error)
	// FindApps lists the apps that may carry label (Okta: label prefix, case-insensitive;
	// Hydra: exact client name), so the caller can adopt one by its Owner.
	FindApps(ctx context.Context, label string) ([]App, error)
	// UpdateApp makes app (as returned by GetApp) match spec, keeping every field of the app
	// that spec does not cover, and activates it if it is inactive.
	UpdateApp(ctx context.Context, app *App, spec AppSpec) (*App, error)
	// DeleteApp deactivates and deletes an app; ErrNotFound when it does not exist.
	DeleteApp(ctx context.Context, id string) error

	// ListSecrets lists an app's client secrets (without values).
	ListSecrets(ctx context.Context, appID string) ([]ClientSecret, error)
	// CreateSecret adds an active client secret and returns it with its value. How many
	// secrets an app holds at once is the backend's (Capabilities.OverlappingSecrets: two;
	// otherwise the new secret replaces the old one at once); a backend that has no room
	// answers ErrConflict.
	CreateSecret(ctx context.Context, appID string) (*ClientSecret, error)
	// RevokeSecret deactivates and deletes one client secret; ErrNotFound when it does not
	// exist.
	RevokeSecret(ctx context.Context, appID, secretID string) error
	// ReadSecrets lists an app's client secrets with their values, for backends that return
	// them on a read (Okta's list does); a backend that keeps only hashes (Hydra) answers
	// ErrSecretNotReadable. It never writes. Callers must not log or keep the values.
	ReadSecrets(ctx context.Context, appID string) ([]ClientSecret, error)
	// ImportSecret adds an active client secret whose value the caller chose (a secret the
	// user manages), like CreateSecret otherwise. A value the backend refuses is
	// ErrSecretValueRefused, with the backend's reason and never the value.
	ImportSecret(ctx context.Context, appID, value string) (*ClientSecret, error)

	// RequestToken performs a client-credentials token request with creds and reports
	// whether the authorization server issued a token.
	RequestToken(ctx context.Context, creds Credentials) error
}
