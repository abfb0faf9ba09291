package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultGracePeriod is the rotation grace period when none is given.
const DefaultGracePeriod = time.Hour

// SecretName is the name of the Secret the credentials are written to: the template's, or
// "<name>-oauth-client" — for a name too long for that, its prefix and a short hash of it.
func (c *OAuthClient) SecretName() string {
	if c.Spec.SecretTemplate != nil && c.Spec.SecretTemplate.Name != "" {
		return c.Spec.SecretTemplate.Name
	}
	const suffix = "-oauth-client"
	return ShortenName(c.Name, 253-len(suffix)) + suffix
}

// ShortenName returns name (a DNS subdomain or label) when it has at most limit characters;
// otherwise its prefix, "-" and 8 hex digits of the SHA-256 of name, within limit and still
// a valid DNS subdomain (and label value, when name is one).
func ShortenName(name string, limit int) string {
	if len(name) <= limit {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	hash := hex.EncodeToString(sum[:4])
	prefix := strings.TrimRight(name[:max(limit-len(hash)-1, 0)], ".-_")
	if prefix == "" {
		return hash
	}
	return prefix + "-" + hash
}

// MaxLabelLength is the longest app label Okta accepts.
const MaxLabelLength = 255

// Label is the app's display name in the backend: spec.displayName, or
// "<namespace>/<name>" cut to MaxLabelLength with a short hash of the whole.
func (c *OAuthClient) Label() string {
	if c.Spec.DisplayName != "" {
		return c.Spec.DisplayName
	}
	return TruncateWithHash(c.Namespace+"/"+c.Name, MaxLabelLength)
}

// TruncateWithHash returns s when it has at most limit bytes; otherwise its longest prefix
// that leaves room for "~" and 8 hex digits of the SHA-256 of s, so that two long names
// that share a prefix still differ. s is expected to be ASCII (Kubernetes names are).
func TruncateWithHash(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	suffix := "~" + hex.EncodeToString(sum[:4])
	return s[:max(limit-len(suffix), 0)] + suffix
}

// DefaultAccessTokenLifetime is the token lifetime of a managed access policy rule when
// spec.accessTokenLifetime is not set.
const DefaultAccessTokenLifetime = time.Hour

// TokenLifetime is spec.accessTokenLifetime, defaulted.
func (c *OAuthClient) TokenLifetime() time.Duration {
	if c.Spec.AccessTokenLifetime != nil && c.Spec.AccessTokenLifetime.Duration > 0 {
		return c.Spec.AccessTokenLifetime.Duration
	}
	return DefaultAccessTokenLifetime
}

// AuthMethod is the token endpoint auth method, defaulted.
func (c *OAuthClient) AuthMethod() TokenEndpointAuthMethod {
	if c.Spec.TokenEndpointAuthMethod == "" {
		return AuthClientSecretBasic
	}
	return c.Spec.TokenEndpointAuthMethod
}

// EffectiveDeletionPolicy is what deleting the OAuthClient does to the backend app, and the
// only place spec.deletionPolicy is read: Orphan for an observed app (managementPolicy
// Observe), which the operator never writes to, whatever the field says; else the field's
// value when set; else Orphan for an adopted app (spec.adopt: it existed before this object,
// and adopt can be neither added nor removed after creation) and Delete for an app the
// operator created.
func (c *OAuthClient) EffectiveDeletionPolicy() DeletionPolicy {
	switch {
	case c.Observes():
		return DeletionPolicyOrphan
	case c.Spec.DeletionPolicy != "":
		return c.Spec.DeletionPolicy
	case c.Spec.Adopt != nil:
		return DeletionPolicyOrphan
	default:
		return DeletionPolicyDelete
	}
}

// NextRotation returns when the next scheduled rotation is due: status.lastRotationTime plus
// spec.rotation.interval, when rotation is on (never for private_key_jwt, which has no
// secret) and a secret has been published.
func (c *OAuthClient) NextRotation() (time.Time, bool) {
	rot := c.Spec.Rotation
	if rot == nil || c.AuthMethod() == AuthPrivateKeyJWT || c.Status.LastRotationTime == nil {
		return time.Time{}, false
	}
	return c.Status.LastRotationTime.Add(rot.Interval.Duration), true
}

// GracePeriodOrDefault is the rotation grace period, defaulted (the API server defaults it
// too; this covers objects built in Go).
func (r *Rotation) GracePeriodOrDefault() time.Duration {
	if r.GracePeriod != nil && r.GracePeriod.Duration > 0 {
		return r.GracePeriod.Duration
	}
	return DefaultGracePeriod
}

// MaxGracePeriodOrDefault bounds the wait for the consumers after new credentials are
// published: maxGracePeriod, or gracePeriod plus 1h capped by the interval.
func (r *Rotation) MaxGracePeriodOrDefault() time.Duration {
	grace := r.GracePeriodOrDefault()
	if r.MaxGracePeriod != nil && r.MaxGracePeriod.Duration > 0 {
		return max(r.MaxGracePeriod.Duration, grace)
	}
	d := grace + time.Hour
	if r.Interval.Duration > 0 {
		d = min(d, r.Interval.Duration)
	}
	return max(d, grace)
}

// AuthorizationServer is the authorization server id, defaulted.
func (o *OktaProvider) AuthorizationServer() string {
	if o.AuthorizationServerID == "" {
		return "default"
	}
	return o.AuthorizationServerID
}

// ManagesAccessPolicies reports whether the operator manages one access policy per client.
func (o *OktaProvider) ManagesAccessPolicies() bool {
	return o.AccessPolicy == AccessPolicyManaged
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

// Observes reports whether the operator only reads the backend app (managementPolicy
// Observe).
func (c *OAuthClient) Observes() bool {
	return c.Spec.ManagementPolicy == ManagementPolicyObserve
}

// CredentialsKey is the key of spec.credentialsFrom's Secret that holds the client secret.
func (r CredentialsSecretRef) CredentialsKey() string {
	if r.Key == "" {
		return "CLIENT_SECRET"
	}
	return r.Key
}
