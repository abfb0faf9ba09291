package provider

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// MaxResponseBytes bounds every answer a backend client reads (management API, metadata,
// token endpoint). A backend's legitimate answers are far smaller (Okta's largest, a page
// of 200 apps, is about 1 MiB); the bound keeps a hostile or broken server from growing the
// shared manager's heap.
const MaxResponseBytes = 4 << 20

// Classes of backend answers the guard refuses. Both also match ErrPermanent: retrying the
// same request does not help until the backend is fixed.
var (
	// ErrResponseTooLarge: the backend's answer exceeded MaxResponseBytes.
	ErrResponseTooLarge error = &subclass{msg: "backend answer too large", parent: ErrPermanent}
	// ErrRedirectRefused: the backend answered with a redirect; backend clients never follow
	// one, so a backend cannot bounce the manager's requests elsewhere.
	ErrRedirectRefused error = &subclass{msg: "backend redirect refused", parent: ErrPermanent}
	// ErrInsecureURL: a backend URL uses http:// where only https is allowed. It also
	// matches ErrInvalidProvider.
	ErrInsecureURL error = &subclass{msg: "insecure backend url", parent: ErrInvalidProvider}
)

// ResponseTooLargeError is an answer that exceeded the limit. It names the endpoint (method
// and URL without query) and the limit, never the body.
type ResponseTooLargeError struct {
	Endpoint string
	Limit    int64
}

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("the answer of %s exceeds the limit of %d bytes", e.Endpoint, e.Limit)
}

// Is makes errors.Is(err, ErrResponseTooLarge) (and ErrPermanent) match.
func (e *ResponseTooLargeError) Is(target error) bool {
	return target == ErrResponseTooLarge || errors.Is(ErrResponseTooLarge, target)
}

// RedirectError is a redirect answer the guard refused. The Location is not kept: it is
// the backend's to choose, and following or echoing it is what the guard prevents.
type RedirectError struct {
	Endpoint string
	Status   int
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("%s answered %d, a redirect; backend redirects are not followed", e.Endpoint, e.Status)
}

// Is makes errors.Is(err, ErrRedirectRefused) (and ErrPermanent) match.
func (e *RedirectError) Is(target error) bool {
	return target == ErrRedirectRefused || errors.Is(ErrRedirectRefused, target)
}

// GuardTransport wraps base so that every answer is bounded and no redirect is passed on:
// an answer whose Content-Length exceeds limit is refused before its body is read, any
// other body fails with a *ResponseTooLargeError once more than limit bytes were read, and
// a 3xx answer (but 304) is closed and refused with a *RedirectError. endpoint names a
// request in errors (nil: method and URL without query). Backends put it under every
// http.Client they use, so no code path can read an unbounded answer.
func GuardTransport(base http.RoundTripper, limit int64, endpoint func(*http.Request) string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if limit <= 0 {
		limit = MaxResponseBytes
	}
	if endpoint == nil {
		endpoint = defaultEndpoint
	}
	return &guard{base: base, limit: limit, endpoint: endpoint}
}

// NoRedirects is an http.Client CheckRedirect that refuses every redirect.
func NoRedirects(req *http.Request, _ []*http.Request) error {
	return &RedirectError{Endpoint: defaultEndpoint(req), Status: req.Response.StatusCode}
}

type guard struct {
	base     http.RoundTripper
	limit    int64
	endpoint func(*http.Request) string
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified:
		_ = resp.Body.Close()
		return nil, &RedirectError{Endpoint: g.endpoint(req), Status: resp.StatusCode}
	case resp.ContentLength > g.limit:
		_ = resp.Body.Close()
		return nil, &ResponseTooLargeError{Endpoint: g.endpoint(req), Limit: g.limit}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: g.limit, tooLarge: &ResponseTooLargeError{Endpoint: g.endpoint(req), Limit: g.limit}}
	return resp, nil
}

// limitedBody passes at most left bytes on and then fails with tooLarge if more follow.
type limitedBody struct {
	rc       io.ReadCloser
	left     int64
	tooLarge error
	err      error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = 0
		b.err = b.tooLarge
		// Close now: a caller that returns the error without closing the body (the Okta
		// SDK does) would otherwise keep the connection, and the sender, going.
		_ = b.rc.Close()
		return n, b.err
	}
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// defaultEndpoint is the method and URL of req without user info, query or fragment.
func defaultEndpoint(req *http.Request) string {
	u := url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Path: req.URL.Path, RawPath: req.URL.RawPath}
	return req.Method + " " + u.String()
}
