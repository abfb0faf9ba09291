// Package fake is an in-memory provider.Client for unit tests: each method calls the
// function field of the same name, so a test sets only the behaviour it needs. A method
// whose field is nil fails with a permanent error naming it, so an unexpected call shows.
package fake

import (
	"context"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// OktaLike are the capabilities the fake declares when Caps is nil: those of the Okta
// backend with External access policies (two secrets at once, scopes and audiences decided
// by the authorization server), which the controllers' unit tests were written for.
var OktaLike = provider.Capabilities{OverlappingSecrets: true}

// HydraLike are the capabilities of the Hydra backend: one secret per client, so rotation
// by a new client; scopes, audiences and the access-token lifetime on the client.
var HydraLike = provider.Capabilities{AppScopes: true, Audiences: true, AppTokenLifetime: true, RotationByNewClient: true}

// Client is a provider.Client made of function fields.
type Client struct {
	// Caps is what Capabilities declares; OktaLike when nil.
	Caps *provider.Capabilities

	CheckHealthFn  func(ctx context.Context) (provider.Endpoints, error)
	CreateAppFn    func(ctx context.Context, spec provider.AppSpec) (*provider.App, error)
	GetAppFn       func(ctx context.Context, id string) (*provider.App, error)
	FindAppsFn     func(ctx context.Context, label string) ([]provider.App, error)
	UpdateAppFn    func(ctx context.Context, app *provider.App, spec provider.AppSpec) (*provider.App, error)
	DeleteAppFn    func(ctx context.Context, id string) error
	ListSecretsFn  func(ctx context.Context, appID string) ([]provider.ClientSecret, error)
	CreateSecretFn func(ctx context.Context, appID string) (*provider.ClientSecret, error)
	RevokeSecretFn func(ctx context.Context, appID, secretID string) error
	ReadSecretsFn  func(ctx context.Context, appID string) ([]provider.ClientSecret, error)
	ImportSecretFn func(ctx context.Context, appID, value string) (*provider.ClientSecret, error)
	RequestTokenFn func(ctx context.Context, creds provider.Credentials) error
}

var _ provider.Client = (*Client)(nil)

func unset(op string) error {
	return provider.Errorf(provider.ErrPermanent, op, "fake provider: no behaviour set for this call")
}

// Capabilities returns *Caps, or OktaLike when Caps is nil.
func (p *Client) Capabilities() provider.Capabilities {
	if p.Caps == nil {
		return OktaLike
	}
	return *p.Caps
}

// CheckHealth calls CheckHealthFn.
func (p *Client) CheckHealth(ctx context.Context) (provider.Endpoints, error) {
	if p.CheckHealthFn == nil {
		return provider.Endpoints{}, unset("check health")
	}
	return p.CheckHealthFn(ctx)
}

// CreateApp calls CreateAppFn.
func (p *Client) CreateApp(ctx context.Context, spec provider.AppSpec) (*provider.App, error) {
	if p.CreateAppFn == nil {
		return nil, unset("create app")
	}
	return p.CreateAppFn(ctx, spec)
}

// GetApp calls GetAppFn.
func (p *Client) GetApp(ctx context.Context, id string) (*provider.App, error) {
	if p.GetAppFn == nil {
		return nil, unset("get app")
	}
	return p.GetAppFn(ctx, id)
}

// FindApps calls FindAppsFn.
func (p *Client) FindApps(ctx context.Context, label string) ([]provider.App, error) {
	if p.FindAppsFn == nil {
		return nil, unset("find apps")
	}
	return p.FindAppsFn(ctx, label)
}

// UpdateApp calls UpdateAppFn.
func (p *Client) UpdateApp(ctx context.Context, app *provider.App, spec provider.AppSpec) (*provider.App, error) {
	if p.UpdateAppFn == nil {
		return nil, unset("update app")
	}
	return p.UpdateAppFn(ctx, app, spec)
}

// DeleteApp calls DeleteAppFn.
func (p *Client) DeleteApp(ctx context.Context, id string) error {
	if p.DeleteAppFn == nil {
		return unset("delete app")
	}
	return p.DeleteAppFn(ctx, id)
}

// ListSecrets calls ListSecretsFn.
func (p *Client) ListSecrets(ctx context.Context, appID string) ([]provider.ClientSecret, error) {
	if p.ListSecretsFn == nil {
		return nil, unset("list client secrets")
	}
	return p.ListSecretsFn(ctx, appID)
}

// CreateSecret calls CreateSecretFn.
func (p *Client) CreateSecret(ctx context.Context, appID string) (*provider.ClientSecret, error) {
	if p.CreateSecretFn == nil {
		return nil, unset("create client secret")
	}
	return p.CreateSecretFn(ctx, appID)
}

// RevokeSecret calls RevokeSecretFn.
func (p *Client) RevokeSecret(ctx context.Context, appID, secretID string) error {
	if p.RevokeSecretFn == nil {
		return unset("revoke client secret")
	}
	return p.RevokeSecretFn(ctx, appID, secretID)
}

// RequestToken calls RequestTokenFn.
func (p *Client) RequestToken(ctx context.Context, creds provider.Credentials) error {
	if p.RequestTokenFn == nil {
		return unset("request token")
	}
	return p.RequestTokenFn(ctx, creds)
}

// ReadSecrets calls ReadSecretsFn.
func (p *Client) ReadSecrets(ctx context.Context, appID string) ([]provider.ClientSecret, error) {
	if p.ReadSecretsFn == nil {
		return nil, unset("read client secrets")
	}
	return p.ReadSecretsFn(ctx, appID)
}

// ImportSecret calls ImportSecretFn.
func (p *Client) ImportSecret(ctx context.Context, appID, value string) (*provider.ClientSecret, error) {
	if p.ImportSecretFn == nil {
		return nil, unset("import client secret")
	}
	return p.ImportSecretFn(ctx, appID, value)
}
