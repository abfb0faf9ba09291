package okta

import (
	"context"

	"github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/clientcreds/clientcreds/internal/provider"
)

func toClientSecret(s *okta.ClientSecret) provider.ClientSecret {
	out := provider.ClientSecret{ID: s.Id, Active: s.Status == statusActive, Value: s.ClientSecret}
	if s.Created != nil {
		out.Created = *s.Created
	}
	return out
}

// ListSecrets lists an app's client secrets without their values: one call.
func (p *Client) ListSecrets(ctx context.Context, appID string) ([]provider.ClientSecret, error) {
	const op = "list client secrets"
	if err := checkID("app", appID); err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	list, resp, err := p.client.Application.ListClientSecretsForApplication(ctx, appID)
	if err != nil {
		return nil, classify(ctx, op, resp, err, nil)
	}
	out := make([]provider.ClientSecret, 0, len(list))
	for _, s := range list {
		if s == nil {
			continue
		}
		cs := toClientSecret(s)
		cs.Value = ""
		out = append(out, cs)
	}
	return out, nil
}

// CreateSecret adds a system-generated, active client secret and returns it with its value:
// one call. Okta keeps at most two secrets per app; a third is refused as
// provider.ErrConflict.
func (p *Client) CreateSecret(ctx context.Context, appID string) (*provider.ClientSecret, error) {
	const op = "create client secret"
	if err := checkID("app", appID); err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	s, resp, err := p.client.Application.CreateNewClientSecretForApplication(ctx, appID, okta.ClientSecretMetadata{})
	if err != nil {
		return nil, classify(ctx, op, resp, err, secretConflict)
	}
	if s == nil || s.Id == "" || s.ClientSecret == "" {
		return nil, provider.Errorf(provider.ErrTransient, op, "okta answered without the new secret")
	}
	cs := toClientSecret(s)
	return &cs, nil
}

// RevokeSecret deactivates and deletes a client secret: two calls. Okta refuses to deactivate
// an app's only active secret; that is reported as provider.ErrConflict.
func (p *Client) RevokeSecret(ctx context.Context, appID, secretID string) error {
	const op = "revoke client secret"
	if err := checkID("app", appID); err != nil {
		return provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	if err := checkID("client secret", secretID); err != nil {
		return provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	_, resp, err := p.client.Application.DeactivateClientSecretForApplication(ctx, appID, secretID)
	if err != nil {
		return classify(ctx, "deactivate client secret", resp, err, secretConflict)
	}
	resp, err = p.client.Application.DeleteClientSecretForApplication(ctx, appID, secretID)
	if err != nil {
		return classify(ctx, "delete client secret", resp, err, secretConflict)
	}
	return nil
}

// ReadSecrets lists an app's client secrets with their values: one call. Real orgs answer
// the list with each secret's full client_secret (TestAccDataSourceOktaAppOauth_read in the
// recorded transcripts), which is what lets an observed app's secret be published.
func (p *Client) ReadSecrets(ctx context.Context, appID string) ([]provider.ClientSecret, error) {
	const op = "list client secrets"
	if err := checkID("app", appID); err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	list, resp, err := p.client.Application.ListClientSecretsForApplication(ctx, appID)
	if err != nil {
		return nil, classify(ctx, op, resp, err, nil)
	}
	out := make([]provider.ClientSecret, 0, len(list))
	for _, s := range list {
		if s != nil {
			out = append(out, toClientSecret(s))
		}
	}
	return out, nil
}

// ImportSecret adds an active client secret with the caller's value: one call, POST
// /api/v1/apps/{id}/credentials/secrets with client_secret in the body ("This API lets you
// bring your own secret", createOAuth2ClientSecret in the OpenAPI spec). A value Okta's
// validation refuses (14 to 100 printable ASCII characters) is provider.ErrSecretValueRefused;
// a third secret is provider.ErrConflict as for CreateSecret.
func (p *Client) ImportSecret(ctx context.Context, appID, value string) (*provider.ClientSecret, error) {
	const op = "create client secret"
	if err := checkID("app", appID); err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	s, resp, err := p.client.Application.CreateNewClientSecretForApplication(ctx, appID, okta.ClientSecretMetadata{ClientSecret: value})
	if err != nil {
		return nil, classify(ctx, op, resp, err, secretValueRefused)
	}
	if s == nil || s.Id == "" {
		return nil, provider.Errorf(provider.ErrTransient, op, "okta answered without the new secret")
	}
	cs := toClientSecret(s)
	cs.Value = value
	return &cs, nil
}
