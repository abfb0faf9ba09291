// Package hydra is the Ory Hydra backend: OAuth 2.0 clients managed through Hydra's admin
// API (/admin/clients), tokens from the token endpoint its issuer's discovery document
// names.
//
// It speaks the admin API with net/http and encoding/json rather than
// github.com/ory/hydra-client-go: six calls on one resource, and owning the http.Client
// keeps the answers bounded (maxAnswerBytes), redirects refused, and every admin request
// pinned to the configured adminURL without wrapping a generated client.
//
// Hydra keeps one client secret per client. The backend numbers the secrets it sets in the
// client's metadata ("secretGeneration"), so a secret has an id the controllers can record;
// a new secret replaces the old one at once, which is why the backend does not declare
// OverlappingSecrets. It declares RotationByNewClient instead: a scheduled rotation
// creates a new client whose marker carries the next "generation", and the previous client
// is deleted after the grace period (see README).
package hydra

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// maxAnswerBytes caps every answer the provider reads (admin API, discovery, tokens).
const maxAnswerBytes = 1 << 20

// requestTimeout bounds one call to Hydra.
const requestTimeout = 30 * time.Second

// Config says how to reach one Hydra.
type Config struct {
	// AdminURL is the base URL of the admin API.
	AdminURL string
	// Issuer is the public issuer URL; its discovery document names the token endpoint.
	Issuer string
	// BearerToken, when set, is sent to the admin API as "Authorization: Bearer".
	BearerToken string
	// ClientCertPEM and ClientKeyPEM, when set, are the TLS client certificate presented to
	// the admin API (mutual TLS).
	ClientCertPEM, ClientKeyPEM []byte
	// CAPEM, when set, verifies the admin API's server certificate instead of the system
	// roots.
	CAPEM []byte
	// Transport, when set, is the base transport (tests); TLS settings above then do not
	// apply to it.
	Transport http.RoundTripper
}

// Client is a provider.Client for one Hydra.
type Client struct {
	admin  *url.URL
	issuer string
	bearer string
	// adminHTTP talks to the admin API only; publicHTTP to the issuer and token endpoint,
	// and never carries the admin credentials.
	adminHTTP, publicHTTP *http.Client
	now                   func() time.Time
}

var _ provider.Client = (*Client)(nil)

// New checks cfg and builds a Provider; no call is made.
func New(cfg Config) (*Client, error) {
	admin, err := url.Parse(strings.TrimRight(cfg.AdminURL, "/"))
	if err != nil || admin.Host == "" || (admin.Scheme != "http" && admin.Scheme != "https") {
		return nil, fmt.Errorf("adminURL %q must be an absolute http or https URL", cfg.AdminURL)
	}
	if admin.User != nil || admin.RawQuery != "" || admin.Fragment != "" {
		return nil, fmt.Errorf("adminURL %q must not carry credentials, a query or a fragment", admin.Redacted())
	}
	// Consumers send their credentials to the issuer's token endpoint: https, or http on a
	// loopback host, as for every token URL.
	if err := oauth2client.CheckEndpointURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if cfg.BearerToken != "" && admin.Scheme != "https" && !oauth2client.IsLoopback(admin.Hostname()) {
		return nil, errors.New("a bearer token for the admin API needs an https adminURL (http only for loopback hosts)")
	}
	hasCert := len(cfg.ClientCertPEM) > 0 || len(cfg.ClientKeyPEM) > 0
	if hasCert && admin.Scheme != "https" {
		return nil, errors.New("a client certificate for the admin API needs an https adminURL")
	}
	base := cfg.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if hasCert {
			// The parse errors of crypto/tls never quote the key.
			cert, err := tls.X509KeyPair(cfg.ClientCertPEM, cfg.ClientKeyPEM)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		if len(cfg.CAPEM) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(cfg.CAPEM) {
				return nil, errors.New("ca.crt holds no PEM certificate")
			}
			tc.RootCAs = pool
		}
		t.TLSClientConfig = tc
		base = t
	}
	// The shared guard bounds every answer and refuses redirects in the transport, so no
	// call path can forget it; the clients refuse to follow redirects as a second lock.
	base = provider.GuardTransport(base, maxAnswerBytes, nil)
	noRedirect := provider.NoRedirects
	return &Client{
		admin:      admin,
		issuer:     cfg.Issuer,
		bearer:     cfg.BearerToken,
		adminHTTP:  &http.Client{Transport: base, Timeout: requestTimeout, CheckRedirect: noRedirect},
		publicHTTP: &http.Client{Transport: base, Timeout: requestTimeout, CheckRedirect: noRedirect},
		now:        time.Now,
	}, nil
}

// Capabilities implements provider.Client: one secret per client, so rotation by a new
// client; the client lists its scopes and audiences and carries its access-token lifespan.
func (p *Client) Capabilities() provider.Capabilities {
	return provider.Capabilities{AppScopes: true, Audiences: true, AppTokenLifetime: true, RotationByNewClient: true}
}

// adminError is the error body of Hydra's admin API.
type adminError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	// Hydra (herodot) also answers {"error": {"code":..., "message":..., "reason":...}}.
}

// call sends one admin API request to path (below adminURL) and decodes a 2xx answer into
// out (when not nil). Every failure is classified.
func (p *Client) call(ctx context.Context, op, method, path string, query url.Values, in, out any) (http.Header, error) {
	u := *p.admin
	u.Path = strings.TrimRight(p.admin.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, provider.Errorf(provider.ErrPermanent, op, "encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+p.bearer)
	}
	resp, err := p.adminHTTP.Do(req)
	if err != nil {
		return nil, noAnswer(ctx, op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := readBounded(resp.Body)
	if err != nil {
		return nil, readError(op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(op, resp, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, provider.Errorf(provider.ErrPermanent, op, "answer is not the expected JSON: %w", err)
		}
	}
	return resp.Header, nil
}

// guardError keeps the class of what the transport guard refused (an answer over the
// limit, a redirect), so that it is not mistaken for an unreachable server; nil otherwise.
func guardError(op string, err error) error {
	for _, class := range []error{provider.ErrResponseTooLarge, provider.ErrRedirectRefused} {
		if errors.Is(err, class) {
			return &provider.Error{Class: class, Op: op, Err: err}
		}
	}
	return nil
}

// readError classifies a failed read of an answer's body.
func readError(op string, err error) error {
	if guarded := guardError(op, err); guarded != nil {
		return guarded
	}
	return provider.Errorf(provider.ErrTransient, op, "read answer: %w", err)
}

// readBounded reads at most maxAnswerBytes; a longer answer is an error, not a truncation.
func readBounded(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxAnswerBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAnswerBytes {
		return nil, &provider.ResponseTooLargeError{Endpoint: "the answer", Limit: maxAnswerBytes}
	}
	return data, nil
}

// concurrentUpdate is in the reason of Hydra's answer to a request its database refused
// for a concurrent update in another session (a serialization failure).
const concurrentUpdate = "concurrent update"

// statusError classifies a non-2xx answer of the admin API. Hydra's error bodies never
// carry a client secret (it echoes secrets only in 2xx answers).
func statusError(op string, resp *http.Response, data []byte) error {
	msg := http.StatusText(resp.StatusCode)
	var e adminError
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		msg = e.Error
		if e.Description != "" {
			msg += ": " + e.Description
		}
	} else {
		var h struct {
			Error struct {
				Message string `json:"message"`
				Reason  string `json:"reason"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &h) == nil && h.Error.Message != "" {
			msg = h.Error.Message
			if h.Error.Reason != "" {
				msg += ": " + h.Error.Reason
			}
		}
	}
	msg = truncate(msg, 300)
	class := provider.ErrPermanent
	switch s := resp.StatusCode; {
	case s >= 300 && s < 400:
		return &provider.Error{Class: provider.ErrPermanent, Op: op, Status: s,
			Err: fmt.Errorf("hydra answered %d (a redirect, which the operator does not follow): check adminURL", s)}
	case s == http.StatusUnauthorized:
		class = provider.ErrUnauthorized
		msg = "the admin API refused the operator's credentials (" + msg + ")"
	case s == http.StatusForbidden:
		class = provider.ErrForbidden
		msg = "the admin API does not allow this call with the operator's credentials (" + msg + ")"
	case s == http.StatusNotFound:
		class = provider.ErrNotFound
	case s == http.StatusConflict:
		class = provider.ErrConflict
	case s == http.StatusTooManyRequests:
		class = provider.ErrRateLimited
	case s >= 500:
		class = provider.ErrTransient
	case s == http.StatusBadRequest && strings.Contains(msg, concurrentUpdate):
		// Hydra answers a serialization failure of its database (two writes at once) with
		// 400; the same call succeeds when sent again.
		class = provider.ErrTransient
	}
	return &provider.Error{Class: class, Op: op, Status: resp.StatusCode, Err: fmt.Errorf("hydra answered %d: %s", resp.StatusCode, msg)}
}

// noAnswer classifies a request that got no answer.
func noAnswer(ctx context.Context, op string, err error) error {
	if guarded := guardError(op, err); guarded != nil {
		return guarded
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &provider.Error{Class: provider.ErrTransient, Op: op, Err: ctxErr}
	}
	return &provider.Error{Class: provider.ErrTransient, Op: op, Err: fmt.Errorf("hydra unreachable: %w", err)}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
