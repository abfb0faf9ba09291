package okta

import (
	"context"
	"fmt"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// SpecField is the name of the Okta section in a provider's spec.
const SpecField = "okta"

func init() { provider.Register(SpecField, backend{}) }

// backend builds Providers from provider objects that set spec.okta.
type backend struct{}

// Load reads spec.okta and its API token.
func (backend) Load(ctx context.Context, obj oauthv1.ProviderObject, secrets provider.SecretReader) (func() (provider.Provider, error), error) {
	spec := obj.ProviderSpec().Okta
	if spec == nil {
		return nil, fmt.Errorf("%w: the spec has no okta section", provider.ErrInvalidProvider)
	}
	ref := spec.APITokenSecretRef
	token, err := secrets.ReadSecretKey(ctx, provider.SecretRef{Namespace: ref.Namespace, Name: ref.Name, Key: ref.TokenKey()})
	if err != nil {
		return nil, err
	}
	cfg := Config{OrgURL: spec.OrgURL, AuthorizationServerID: spec.AuthorizationServer(), APIToken: string(token),
		ManageAccessPolicies: spec.ManagesAccessPolicies()}
	return func() (provider.Provider, error) { return New(cfg) }, nil
}
