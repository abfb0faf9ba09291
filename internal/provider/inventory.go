package provider

import "context"

// AllClients in ScopeGrant.Clients: the grant applies to every client of the authorization
// server.
const AllClients = "*"

// AnyScope in ScopeGrant.Scopes: the grant allows every scope the server has.
const AnyScope = "*"

// ScopeGrant is one rule of the authorization server's access policies that grants the
// client-credentials grant (Okta: an active rule of an active policy), as far as an import
// needs it: which clients it applies to and which scopes it allows.
type ScopeGrant struct {
	// Policy and Rule name the grant for humans (the policy's and the rule's names).
	Policy, Rule string
	// Clients are the client ids the grant applies to, or AllClients.
	Clients []string
	// Scopes the rule allows, or AnyScope.
	Scopes []string
}

// Inventory is implemented by backends that can list everything the backend holds, for
// `kubectl clientcreds import`: the controllers never list a whole backend.
type Inventory interface {
	// ListApps lists every OAuth 2.0 app of the backend (Okta: every app whose sign-on
	// mode is OpenID Connect, whatever its type; Hydra: every client), without secret values.
	ListApps(ctx context.Context) ([]App, error)
	// ScopeGrants lists the client-credentials grants of the authorization server's
	// policies. Backends whose apps list their own scopes (Capabilities.AppScopes) return
	// none: App.Scopes says it.
	ScopeGrants(ctx context.Context) ([]ScopeGrant, error)
}

// InventoryOf returns p's Inventory, looking through the wrapper Instrument puts around a
// backend (an import's calls are not the controllers' and are not counted as theirs).
func InventoryOf(p Client) (Inventory, bool) {
	for {
		if inv, ok := p.(Inventory); ok {
			return inv, true
		}
		w, ok := p.(interface{ Unwrap() Client })
		if !ok {
			return nil, false
		}
		p = w.Unwrap()
	}
}
