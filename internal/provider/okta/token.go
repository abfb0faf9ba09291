package okta

import (
	"context"
	"errors"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// RequestToken performs a client-credentials token request at creds.TokenURL and reports
// whether a token was issued. The request itself is package oauth2client's, sent through the
// provider's transport (rate budget, metrics); this classifies its outcome. It never returns
// the token, and no secret appears in its errors.
func (p *Client) RequestToken(ctx context.Context, creds provider.Credentials) error {
	_, err := oauth2client.RequestToken(ctx, p.http, creds)
	if err == nil {
		return nil
	}
	return classifyTokenError(ctx, "request token", err)
}

// classifyTokenError maps an oauth2client error to the provider's classes.
func classifyTokenError(ctx context.Context, op string, err error) error {
	var oe *oauth2client.Error
	if ge := guardError(op, err); ge != nil {
		return ge
	}
	switch {
	case errors.Is(err, oauth2client.ErrInvalidConfig), errors.Is(err, oauth2client.ErrMalformedAnswer):
		return &provider.Error{Class: provider.ErrPermanent, Op: op, Err: err}
	case errors.As(err, &oe):
		class := provider.ErrPermanent
		switch {
		case errors.Is(oe, oauth2client.ErrInvalidClient):
			class = provider.ErrInvalidClient
		case errors.Is(oe, oauth2client.ErrInvalidScope):
			class = provider.ErrInvalidScope
		case errors.Is(oe, oauth2client.ErrAccessDenied):
			class = provider.ErrAccessDenied
		case oe.Status == 429:
			class = provider.ErrRateLimited
		case oe.Retryable():
			class = provider.ErrTransient
		}
		return &provider.Error{Class: class, Op: op, Code: oe.Code, Status: oe.Status, Err: oe}
	default:
		return classifyNoAnswer(ctx, op, err)
	}
}
