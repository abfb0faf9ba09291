package hydra

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// CheckHealth proves the admin API accepts the operator (listing one client), then reads
// the issuer's discovery document for the token endpoint and JWKS URL. Two calls.
func (p *Client) CheckHealth(ctx context.Context) (provider.Endpoints, error) {
	if _, err := p.call(ctx, "check admin api", http.MethodGet, "/admin/clients", url.Values{"page_size": {"1"}}, nil, nil); err != nil {
		return provider.Endpoints{}, err
	}
	const op = "read issuer discovery document"
	mdURL := strings.TrimRight(p.issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mdURL, nil)
	if err != nil {
		return provider.Endpoints{}, provider.Errorf(provider.ErrPermanent, op, "build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.publicHTTP.Do(req)
	if err != nil {
		return provider.Endpoints{}, noAnswer(ctx, op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := readBounded(resp.Body)
	if err != nil {
		return provider.Endpoints{}, readError(op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return provider.Endpoints{}, statusError(op, resp, body)
	}
	var md struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return provider.Endpoints{}, provider.Errorf(provider.ErrPermanent, op, "discovery document is not JSON: %w", err)
	}
	if strings.TrimRight(md.Issuer, "/") != strings.TrimRight(p.issuer, "/") {
		return provider.Endpoints{}, provider.Errorf(provider.ErrPermanent, op,
			"the discovery document names issuer %q, not the configured %q (set spec.hydra.issuer to Hydra's urls.self.issuer)", md.Issuer, p.issuer)
	}
	for name, v := range map[string]string{"token_endpoint": md.TokenEndpoint, "jwks_uri": md.JWKSURI} {
		if err := oauth2client.CheckEndpointURL(v); err != nil {
			return provider.Endpoints{}, provider.Errorf(provider.ErrPermanent, op, "discovery %s: %w", name, err)
		}
	}
	return provider.Endpoints{Issuer: md.Issuer, TokenURL: md.TokenEndpoint, JWKSURL: md.JWKSURI}, nil
}

// RequestToken performs a client-credentials token request (package oauth2client's) and
// classifies the outcome. It never returns the token; no secret appears in its errors.
func (p *Client) RequestToken(ctx context.Context, creds provider.Credentials) error {
	const op = "request token"
	_, err := oauth2client.RequestToken(ctx, p.publicHTTP, creds)
	if err == nil {
		return nil
	}
	var oe *oauth2client.Error
	switch {
	case errors.Is(err, oauth2client.ErrInvalidConfig), errors.Is(err, oauth2client.ErrMalformedAnswer):
		return &provider.Error{Class: provider.ErrPermanent, Op: op, Err: err}
	case errors.As(err, &oe):
		class := provider.ErrPermanent
		switch {
		case errors.Is(oe, oauth2client.ErrInvalidClient), unknownAssertionKey(creds, oe):
			class = provider.ErrInvalidClient
		case errors.Is(oe, oauth2client.ErrInvalidScope):
			class = provider.ErrInvalidScope
		case oe.Status == http.StatusTooManyRequests:
			class = provider.ErrRateLimited
		case oe.Retryable():
			class = provider.ErrTransient
		}
		return &provider.Error{Class: class, Op: op, Code: oe.Code, Status: oe.Status, Err: oe}
	default:
		return noAnswer(ctx, op, err)
	}
}

// unknownAssertionKey: Hydra answers a client assertion signed by a key the client does not
// have (removed in Hydra, say) with invalid_request naming the kid, where RFC 7523 expects
// invalid_client. The controllers treat it as refused credentials, so a new key is issued.
func unknownAssertionKey(creds provider.Credentials, oe *oauth2client.Error) bool {
	return creds.AuthMethod == provider.AuthPrivateKeyJWT && oe.Code == "invalid_request" &&
		strings.Contains(oe.Description, "kid") && strings.Contains(oe.Description, "could not be found")
}
