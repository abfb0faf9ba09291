package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// maxAnswerBytes caps the answers the provider reads itself (metadata, tokens).
const maxAnswerBytes = 1 << 20

// CheckHealth proves the credentials with a management call an app-admin token (or an OAuth
// client holding only okta.apps.read/manage) may make — listing one app: 401 E0000011 →
// provider.ErrUnauthorized — then, only when the provider manages access policies, that it
// may manage the authorization server's policies (403 → provider.ErrForbidden naming the role;
// 401 E0000015 → ErrFeatureNotEnabled), and reads the authorization server's public metadata
// for its issuer, token endpoint and JWKS URL. Two calls; three with ManageAccessPolicies.
// Reading the authorization server object itself is not needed, so an app-admin token with
// External policies is healthy. In OAuth mode, getting the access token first proves the
// client, its key and its scopes; the call proves the token, the DPoP proofs and the app's
// admin role.
func (p *Client) CheckHealth(ctx context.Context) (provider.Endpoints, error) {
	if _, err := p.call(ctx, "check credentials", http.MethodGet, "/api/v1/apps?limit=1", nil, nil, nil); err != nil {
		return provider.Endpoints{}, err
	}
	if p.manageAccessPolicies {
		if _, err := p.call(ctx, "check access policy rights", http.MethodGet, p.policiesPath(), nil, nil, nil); err != nil {
			return provider.Endpoints{}, err
		}
	}
	const op = "read authorization server metadata"
	mdURL := p.orgURL + "/oauth2/" + p.authServerID + "/.well-known/oauth-authorization-server"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mdURL, nil)
	if err != nil {
		return provider.Endpoints{}, provider.Errorf(provider.ErrPermanent, op, "build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return provider.Endpoints{}, classifyNoAnswer(ctx, op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		if ge := guardError(op, err); ge != nil {
			return provider.Endpoints{}, ge
		}
		return provider.Endpoints{}, provider.Errorf(provider.ErrTransient, op, "read answer: %w", err)
	}
	if len(body) > maxAnswerBytes {
		return provider.Endpoints{}, guardError(op, &provider.ResponseTooLargeError{Endpoint: endpointOf(req), Limit: maxAnswerBytes})
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code    string `json:"errorCode"`
			Summary string `json:"errorSummary"`
		}
		_ = json.Unmarshal(body, &e)
		msg := e.Summary
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return provider.Endpoints{}, &provider.Error{Class: classifyStatus(resp.StatusCode, e.Code), Op: op,
			Code: e.Code, Status: resp.StatusCode, Err: fmt.Errorf("okta answered %d: %s", resp.StatusCode, msg)}
	}
	var md struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return provider.Endpoints{}, provider.Errorf(provider.ErrPermanent, op, "metadata is not JSON: %w", err)
	}
	for name, v := range map[string]string{"issuer": md.Issuer, "token_endpoint": md.TokenEndpoint, "jwks_uri": md.JWKSURI} {
		if err := checkEndpointURL(v, p.allowHTTP); err != nil {
			return provider.Endpoints{}, provider.Errorf(provider.ErrPermanent, op, "metadata %s: %w", name, err)
		}
	}
	return provider.Endpoints{Issuer: md.Issuer, TokenURL: md.TokenEndpoint, JWKSURL: md.JWKSURI}, nil
}

// checkEndpointURL accepts absolute https URLs, and http URLs of loopback hosts when
// allowHTTP.
func checkEndpointURL(s string, allowHTTP bool) error {
	if s == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) || !allowHTTP {
			return fmt.Errorf("%q: http is allowed only for loopback hosts with --allow-insecure-loopback-http; use https", s)
		}
	default:
		return fmt.Errorf("%q must use https", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not carry credentials", u.Redacted())
	}
	return nil
}

// classifyNoAnswer classifies a failed http.Client.Do of the provider's own requests.
func classifyNoAnswer(ctx context.Context, op string, err error) error {
	var rl *rateLimitError
	if errors.As(err, &rl) {
		return &provider.Error{Class: provider.ErrRateLimited, Op: op, Code: rl.code, Status: rl.status, RetryAt: rl.retryAt, Err: rl}
	}
	if ge := guardError(op, err); ge != nil {
		return ge
	}
	if ae := asAuthError(op, err); ae != nil {
		return ae
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &provider.Error{Class: provider.ErrTransient, Op: op, Err: ctxErr}
	}
	return &provider.Error{Class: provider.ErrTransient, Op: op, Err: err}
}
