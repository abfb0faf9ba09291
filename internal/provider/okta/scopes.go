package okta

import (
	"context"
	"net/http"
	"strings"

	"github.com/okta/okta-sdk-golang/v2/okta"
	"github.com/okta/okta-sdk-golang/v2/okta/query"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// Scopes of the custom authorization server (provider.ScopeManager), through the SDK's
// AuthorizationServer resource.
//
// Calls: AuthorizationServer 1, ListScopes 1 per page of 200, CreateScope 1, UpdateScope 1,
// DeleteScope 1.

var _ provider.ScopeManager = (*Client)(nil)

// scopesPageSize is how many scopes one list call asks for.
const scopesPageSize = 200

// AuthorizationServer reads the custom authorization server for its audiences.
func (p *Client) AuthorizationServer(ctx context.Context) (provider.ServerInfo, error) {
	as, resp, err := p.client.AuthorizationServer.GetAuthorizationServer(ctx, p.authServerID)
	if err != nil {
		return provider.ServerInfo{}, classify(ctx, "read authorization server", resp, err, nil)
	}
	return provider.ServerInfo{Audiences: append([]string{}, as.Audiences...)}, nil
}

// ListScopes lists the authorization server's scopes, all pages.
func (p *Client) ListScopes(ctx context.Context) ([]provider.Scope, error) {
	const op = "list scopes"
	page, resp, err := p.client.AuthorizationServer.ListOAuth2Scopes(ctx, p.authServerID, query.NewQueryParams(query.WithLimit(scopesPageSize)))
	if err != nil {
		return nil, classify(ctx, op, resp, err, nil)
	}
	var out []provider.Scope
	for {
		for _, s := range page {
			if s != nil {
				out = append(out, scopeOf(s))
			}
		}
		if resp == nil || !resp.HasNextPage() {
			return out, nil
		}
		var next []*okta.OAuth2Scope
		if resp, err = resp.Next(ctx, &next); err != nil {
			return nil, classify(ctx, op, resp, err, nil)
		}
		page = next
	}
}

// CreateScope creates a scope; a scope of the same name is a conflict.
func (p *Client) CreateScope(ctx context.Context, s provider.Scope) (provider.Scope, error) {
	body := okta.OAuth2Scope{Name: s.Name, Description: s.Description, DisplayName: s.DisplayName}
	created, resp, err := p.client.AuthorizationServer.CreateOAuth2Scope(ctx, p.authServerID, body)
	if err != nil {
		return provider.Scope{}, classify(ctx, "create scope", resp, err, scopeExists)
	}
	return scopeOf(created), nil
}

// UpdateScope replaces the scope's name, description and display name, keeping the other
// fields it had when listed (consent, metadataPublish, default).
func (p *Client) UpdateScope(ctx context.Context, s provider.Scope) (provider.Scope, error) {
	body := okta.OAuth2Scope{}
	if had, ok := s.Backend.(*okta.OAuth2Scope); ok && had != nil {
		body = *had
	}
	body.Id, body.System = "", nil
	body.Name, body.Description, body.DisplayName = s.Name, s.Description, s.DisplayName
	updated, resp, err := p.client.AuthorizationServer.UpdateOAuth2Scope(ctx, p.authServerID, s.ID, body)
	if err != nil {
		return provider.Scope{}, classify(ctx, "update scope", resp, err, scopeExists)
	}
	return scopeOf(updated), nil
}

// DeleteScope deletes a scope; 404 is provider.ErrNotFound.
func (p *Client) DeleteScope(ctx context.Context, id string) error {
	resp, err := p.client.AuthorizationServer.DeleteOAuth2Scope(ctx, p.authServerID, id)
	return classify(ctx, "delete scope", resp, err, nil)
}

func scopeOf(s *okta.OAuth2Scope) provider.Scope {
	return provider.Scope{ID: s.Id, Name: s.Name, Description: s.Description, DisplayName: s.DisplayName,
		System: s.System != nil && *s.System, Backend: s}
}

// scopeExists: Okta answers a second scope of the same name with a validation error whose
// cause says "An object with this field already exists"
// (okta-transcripts; emulator: authServer.applyScope); it is a conflict.
func scopeExists(status int, oe *okta.Error) error {
	if status != http.StatusBadRequest || oe.ErrorCode != CodeValidation {
		return nil
	}
	for _, c := range oe.ErrorCauses {
		if s, ok := c["errorSummary"].(string); ok && strings.Contains(s, "already exists") {
			return provider.ErrConflict
		}
	}
	return nil
}
