package okta

import (
	"context"
	"errors"
	"fmt"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// SpecField is the name of the Okta section in a provider's spec.
const SpecField = "okta"

func init() { provider.Register(SpecField, backend{}) }

var _ provider.ConfigurableFactory = backend{}

// backend builds Providers from provider objects that set spec.okta.
type backend struct{ opts provider.Options }

// WithOptions applies the Clients cache's options (AllowInsecureLoopbackHTTP).
func (backend) WithOptions(opts provider.Options) provider.Factory { return backend{opts: opts} }

// Load reads spec.okta and its credentials: the API token, or in OAuth mode
// (spec.okta.oauth) the private key of the operator's API service app. Both are read
// through secrets, so a replaced key is picked up when the Clients cache next calls Load.
func (b backend) Load(ctx context.Context, obj oauthv1.ProviderObject, secrets provider.SecretReader) (func() (provider.Client, error), error) {
	spec := obj.ProviderSpec().Okta
	if spec == nil {
		return nil, fmt.Errorf("%w: the spec has no okta section", provider.ErrInvalidProvider)
	}
	cfg := Config{OrgURL: spec.OrgURL, AuthorizationServerID: spec.AuthorizationServer(),
		AllowInsecureLoopbackHTTP: b.opts.AllowInsecureLoopbackHTTP}
	switch {
	case spec.OAuth != nil && spec.APITokenSecretRef != nil, spec.OAuth == nil && spec.APITokenSecretRef == nil:
		return nil, fmt.Errorf("%w: set exactly one of okta.apiTokenSecretRef and okta.oauth", provider.ErrInvalidProvider)
	case spec.OAuth != nil:
		o := spec.OAuth
		ref := provider.SecretRef{Namespace: o.PrivateKeySecretRef.Namespace, Name: o.PrivateKeySecretRef.Name, Key: o.PrivateKeySecretRef.PrivateKeyKey()}
		keyPEM, err := secrets.ReadSecretKey(ctx, ref)
		switch {
		case errors.Is(err, provider.ErrSecretNotFound):
			return nil, fmt.Errorf("%w (spec.okta.oauth.privateKeySecretRef): %w", provider.ErrPrivateKeyNotFound, err)
		case err != nil:
			return nil, err
		}
		if _, err := oauth2client.ParsePrivateKeyPEM(keyPEM); err != nil {
			// The parser's errors never quote the key.
			return nil, fmt.Errorf("%w: key %q of Secret %s: %w", provider.ErrPrivateKeyInvalid, ref.Key, ref, err)
		}
		cfg.OAuth = &OAuthConfig{ClientID: o.ClientID, PrivateKeyPEM: keyPEM, KeyID: o.KeyID, Scopes: o.ScopesOrDefault()}
	default:
		ref := spec.APITokenSecretRef
		token, err := secrets.ReadSecretKey(ctx, provider.SecretRef{Namespace: ref.Namespace, Name: ref.Name, Key: ref.TokenKey()})
		if err != nil {
			return nil, err
		}
		cfg.APIToken = string(token)
	}
	cfg.ManageAccessPolicies = spec.ManagesAccessPolicies()
	return func() (provider.Client, error) { return New(cfg) }, nil
}
