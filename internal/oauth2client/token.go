package oauth2client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Token is an access token the token endpoint issued.
type Token struct {
	// Token holds the access token, its type and expiry (zero when the server gave no
	// expires_in).
	*oauth2.Token
	// Scope is the granted scope when the server named it.
	Scope string
	// Header holds the answer's headers (a DPoP-Nonce for the next proof, say).
	Header http.Header
}

// Option changes one token request.
type Option func(*requestOptions)

type requestOptions struct {
	header http.Header
	now    func() time.Time
}

// WithHeader adds a header to the token request, e.g. a DPoP proof ("DPoP"). It cannot
// replace Content-Type or Authorization.
func WithHeader(key, value string) Option {
	return func(o *requestOptions) {
		if o.header == nil {
			o.header = http.Header{}
		}
		o.header.Add(key, value)
	}
}

// WithClock sets the clock the client assertion's iat and exp are taken from.
func WithClock(now func() time.Time) Option { return func(o *requestOptions) { o.now = now } }

// RequestToken makes one client-credentials token request with creds through hc (nil:
// http.DefaultClient; its transport and timeout are used, its redirect policy is not:
// credentials never follow a redirect).
//
// Errors:
//   - ErrInvalidConfig: creds are unusable; nothing was sent.
//   - *Error: the token endpoint refused; errors.Is matches ErrInvalidClient, ErrInvalidScope,
//     ErrUseDPoPNonce and the other code sentinels, and Header carries the answer's headers.
//   - ErrMalformedAnswer: success without an access token.
//   - anything else: no answer (connection refused, timeout, context done); it wraps the
//     transport's error.
func RequestToken(ctx context.Context, hc *http.Client, creds Credentials, opts ...Option) (*Token, error) {
	o := requestOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := creds.Validate(); err != nil {
		return nil, err
	}
	cfg := clientcredentials.Config{ClientID: creds.ClientID, TokenURL: creds.TokenURL, Scopes: creds.Scopes}
	var secrets []string // values to keep out of error messages
	switch creds.AuthMethod {
	case ClientSecretBasic:
		// x/oauth2 form-urlencodes both parts before the Basic encoding (RFC 6749 §2.3.1).
		cfg.ClientSecret, cfg.AuthStyle = creds.ClientSecret, oauth2.AuthStyleInHeader
		secrets = append(secrets, creds.ClientSecret, url.QueryEscape(creds.ClientSecret))
	case ClientSecretPost:
		cfg.ClientSecret, cfg.AuthStyle = creds.ClientSecret, oauth2.AuthStyleInParams
		secrets = append(secrets, creds.ClientSecret, url.QueryEscape(creds.ClientSecret))
	case PrivateKeyJWT:
		assertion, err := NewClientAssertion(creds, o.now())
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, assertion)
		// client_id goes in the body beside the assertion (RFC 7523 §3 allows it; Okta expects it).
		cfg.AuthStyle = oauth2.AuthStyleInParams
		cfg.EndpointParams = url.Values{"client_assertion_type": {ClientAssertionType}, "client_assertion": {assertion}}
	}

	base := http.DefaultClient
	if hc != nil {
		base = hc
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	rec := &recorder{base: rt, header: o.header}
	client := *base
	client.Transport = rec
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, &client))
	status, header, readErr := rec.result()
	if err == nil {
		scope, _ := tok.Extra("scope").(string)
		return &Token{Token: tok, Scope: scope, Header: header}, nil
	}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response != nil:
		return nil, &Error{
			Status:      re.Response.StatusCode,
			Code:        sanitize(re.ErrorCode, secrets),
			Description: sanitize(re.ErrorDescription, secrets),
			Header:      re.Response.Header.Clone(),
		}
	case status == 0:
		return nil, fmt.Errorf("token request: %w", err)
	case readErr != nil:
		return nil, fmt.Errorf("token request: reading the answer: %w", readErr)
	default:
		// x/oauth2's own text is not passed on: it may quote the answer.
		return nil, fmt.Errorf("%w (status %d)", ErrMalformedAnswer, status)
	}
}

// recorder adds the extra request headers and remembers the answer's status and headers and
// whether reading its body failed.
type recorder struct {
	base   http.RoundTripper
	header http.Header

	mu      sync.Mutex
	status  int
	answer  http.Header
	readErr error
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(r.header) > 0 {
		req = req.Clone(req.Context())
		for k, vs := range r.header {
			if ck := http.CanonicalHeaderKey(k); ck == "Content-Type" || ck == "Authorization" {
				continue
			}
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.status, r.answer = resp.StatusCode, resp.Header.Clone()
	r.mu.Unlock()
	resp.Body = &recordingBody{ReadCloser: resp.Body, r: r}
	return resp, nil
}

func (r *recorder) result() (int, http.Header, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, r.answer, r.readErr
}

type recordingBody struct {
	io.ReadCloser
	r *recorder
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.r.mu.Lock()
		b.r.readErr = err
		b.r.mu.Unlock()
	}
	return n, err
}
