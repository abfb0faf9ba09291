package hydra

import (
	"context"
	"errors"
	"fmt"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// SpecField is the name of the Hydra section in a provider's spec.
const SpecField = "hydra"

func init() { provider.Register(SpecField, backend{}) }

// backend builds Providers from provider objects that set spec.hydra.
type backend struct{}

// Load reads spec.hydra and, through secrets, the admin API credentials it names: a bearer
// token, or a client certificate (tls.crt, tls.key, optional ca.crt).
func (backend) Load(ctx context.Context, obj oauthv1.ProviderObject, secrets provider.SecretReader) (func() (provider.Client, error), error) {
	spec := obj.ProviderSpec().Hydra
	if spec == nil {
		return nil, fmt.Errorf("%w: the spec has no hydra section", provider.ErrInvalidProvider)
	}
	cfg := Config{AdminURL: spec.AdminURL, Issuer: spec.Issuer}
	if a := spec.Auth; a != nil {
		switch {
		case a.BearerTokenSecretRef != nil && a.ClientCertificateSecretRef != nil:
			return nil, fmt.Errorf("%w: set at most one of hydra.auth.bearerTokenSecretRef and hydra.auth.clientCertificateSecretRef", provider.ErrInvalidProvider)
		case a.BearerTokenSecretRef != nil:
			ref := a.BearerTokenSecretRef
			token, err := secrets.ReadSecretKey(ctx, provider.SecretRef{Namespace: ref.Namespace, Name: ref.Name, Key: ref.TokenKey()})
			if err != nil {
				return nil, err
			}
			cfg.BearerToken = string(token)
		case a.ClientCertificateSecretRef != nil:
			ref := a.ClientCertificateSecretRef
			read := func(key string) ([]byte, error) {
				return secrets.ReadSecretKey(ctx, provider.SecretRef{Namespace: ref.Namespace, Name: ref.Name, Key: key})
			}
			var err error
			if cfg.ClientCertPEM, err = read("tls.crt"); err != nil {
				return nil, err
			}
			if cfg.ClientKeyPEM, err = read("tls.key"); err != nil {
				return nil, err
			}
			if cfg.CAPEM, err = read("ca.crt"); err != nil && !errors.Is(err, provider.ErrSecretNotFound) {
				return nil, err
			}
		}
	}
	return func() (provider.Client, error) { return New(cfg) }, nil
}
