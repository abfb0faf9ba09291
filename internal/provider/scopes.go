package provider

import "context"

// Scope is one scope registered on a backend's authorization server (Okta: a custom
// authorization server's scope).
type Scope struct {
	// ID is the backend's id of the scope; empty for a scope not created yet.
	ID          string
	Name        string
	Description string
	DisplayName string
	// System: the backend made the scope itself (Okta's OpenID Connect scopes); it cannot
	// be changed or deleted.
	System bool
	// Backend holds the backend's object of the scope, so UpdateScope keeps the fields Scope
	// does not cover; opaque to callers.
	Backend any
}

// ServerInfo is what an authorization server says about itself beyond its endpoints.
type ServerInfo struct {
	// Audiences the server puts in its access tokens' aud claim.
	Audiences []string
}

// ScopeManager is implemented by backends whose authorization server registers the scopes
// it issues (Capabilities.ServerScopes; Okta). Backends without it (Hydra) issue any scope a
// client lists, so an API's scopes only bound what its clients are granted.
type ScopeManager interface {
	// AuthorizationServer reads the authorization server the provider issues tokens from.
	AuthorizationServer(ctx context.Context) (ServerInfo, error)
	// ListScopes lists every scope of the authorization server.
	ListScopes(ctx context.Context) ([]Scope, error)
	// CreateScope creates a scope; ErrConflict when one of the same name exists.
	CreateScope(ctx context.Context, s Scope) (Scope, error)
	// UpdateScope replaces the name, description and display name of scope s.ID.
	UpdateScope(ctx context.Context, s Scope) (Scope, error)
	// DeleteScope deletes a scope; ErrNotFound when it does not exist.
	DeleteScope(ctx context.Context, id string) error
}

// ScopesOf returns p as a ScopeManager when its Capabilities declare ServerScopes and it
// implements the interface; nil otherwise.
func ScopesOf(p Client) ScopeManager {
	if p == nil || !p.Capabilities().ServerScopes {
		return nil
	}
	sm, _ := p.(ScopeManager)
	return sm
}
