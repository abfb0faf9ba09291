package provider

import (
	"context"
	"time"
)

// AccessPolicySpec is the access policy a backend keeps for one client on its authorization
// server: it names exactly that client and has one rule granting the client-credentials
// grant for exactly Scopes, with tokens living TokenLifetime.
type AccessPolicySpec struct {
	// Name of the policy. A backend with a shorter limit keeps a prefix and a short hash of
	// the whole name, so that two long names stay distinct.
	Name string
	// Description for humans reading the console; shortened like Name.
	Description string
	// ClientID is the only client the policy applies to.
	ClientID string
	// Scopes the rule grants; at least one.
	Scopes []string
	// TokenLifetime of the access tokens the rule issues.
	TokenLifetime time.Duration
}

// AccessPolicyResult says what EnsureAccessPolicy found and did.
type AccessPolicyResult struct {
	// ID of the policy.
	ID string
	// Created: the policy did not exist (or was gone) and was created or adopted.
	Created bool
	// Repaired: the policy or its rule differed from the spec and was changed back.
	Repaired bool
}

// AccessPolicyManager is implemented by backends that can keep one access policy per client
// on the authorization server (Okta: API Access Management).
type AccessPolicyManager interface {
	// ManagesAccessPolicies reports whether the provider object asked the backend to keep
	// one access policy per client (Okta: spec.okta.accessPolicy: Managed). When false the
	// org's own policies decide and the controller creates none.
	ManagesAccessPolicies() bool
	// EnsureAccessPolicy makes the policy id (empty: not created yet) exist and match spec:
	// created last in priority order when missing (never reordering the policies the
	// server already has), adopted when a policy of the same name for the same client
	// exists, repaired when edited. Idempotent.
	EnsureAccessPolicy(ctx context.Context, id string, spec AccessPolicySpec) (AccessPolicyResult, error)
	// DeleteAccessPolicy deletes the policy; ErrNotFound when it does not exist.
	DeleteAccessPolicy(ctx context.Context, id string) error
}
