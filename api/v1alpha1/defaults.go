package v1alpha1

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultGracePeriod is the rotation grace period when none is given.
const DefaultGracePeriod = time.Hour

// SecretName is the name of the Secret the credentials are written to.
func (c *OAuthClient) SecretName() string {
	if c.Spec.SecretTemplate != nil && c.Spec.SecretTemplate.Name != "" {
		return c.Spec.SecretTemplate.Name
	}
	return c.Name + "-oauth-client"
}

// Label is the app's display name in the backend.
func (c *OAuthClient) Label() string {
	if c.Spec.DisplayName != "" {
		return c.Spec.DisplayName
	}
	return c.Namespace + "/" + c.Name
}

// AuthMethod is the token endpoint auth method, defaulted.
func (c *OAuthClient) AuthMethod() TokenEndpointAuthMethod {
	if c.Spec.TokenEndpointAuthMethod == "" {
		return AuthClientSecretBasic
	}
	return c.Spec.TokenEndpointAuthMethod
}

// Orphans reports whether deleting the OAuthClient leaves the backend app in place.
func (c *OAuthClient) Orphans() bool {
	return c.Spec.DeletionPolicy == DeletionPolicyOrphan
}

// GracePeriodOrDefault is the rotation grace period, defaulted (the API server defaults it
// too; this covers objects built in Go).
func (r *Rotation) GracePeriodOrDefault() time.Duration {
	if r.GracePeriod != nil && r.GracePeriod.Duration > 0 {
		return r.GracePeriod.Duration
	}
	return DefaultGracePeriod
}

// AuthorizationServer is the authorization server id, defaulted.
func (o *OktaProvider) AuthorizationServer() string {
	if o.AuthorizationServerID == "" {
		return "default"
	}
	return o.AuthorizationServerID
}

// TokenKey is the key of the API-token Secret, defaulted.
func (r *SecretKeyReference) TokenKey() string {
	if r.Key == "" {
		return "token"
	}
	return r.Key
}

// ProviderObject is what ClusterOAuthProvider and OAuthProvider have in common, so one
// reconciler and one resolver serve both kinds.
// +kubebuilder:object:generate=false
type ProviderObject interface {
	client.Object
	ProviderSpec() *OAuthProviderSpec
	ProviderStatus() *OAuthProviderStatus
}

// ProviderSpec returns the provider's spec.
func (p *ClusterOAuthProvider) ProviderSpec() *OAuthProviderSpec { return &p.Spec }

// ProviderStatus returns the provider's status.
func (p *ClusterOAuthProvider) ProviderStatus() *OAuthProviderStatus { return &p.Status }

// ProviderSpec returns the provider's spec.
func (p *OAuthProvider) ProviderSpec() *OAuthProviderSpec { return &p.Spec }

// ProviderStatus returns the provider's status.
func (p *OAuthProvider) ProviderStatus() *OAuthProviderStatus { return &p.Status }

// PrivateKeyKey is the key of the private-key Secret, defaulted.
func (r *PrivateKeySecretReference) PrivateKeyKey() string {
	if r.Key == "" {
		return "private.pem"
	}
	return r.Key
}

// ScopesOrDefault are the management scopes to request, defaulted.
func (o *OktaOAuth) ScopesOrDefault() []string {
	if len(o.Scopes) == 0 {
		return []string{DefaultOktaOAuthScope}
	}
	return o.Scopes
}
