package provider

import (
	"errors"
	"fmt"
	"time"
)

// Error classes. Backends classify every failure once, at their boundary, into one of these;
// controllers decide what to do from the class alone (errors.Is).
var (
	// ErrNotFound: the object does not exist in the backend.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request conflicts with the object's current state (e.g. deleting an
	// active app, a third client secret).
	ErrConflict = errors.New("conflict")
	// ErrRateLimited: the backend's rate limit is exhausted; see RetryAt.
	ErrRateLimited = errors.New("rate limited")
	// ErrTransient: a failure that retrying later may fix (5xx, timeouts, connection errors).
	ErrTransient = errors.New("transient backend error")
	// ErrUnauthorized: the backend does not know the API token (Okta: 401 E0000011 only).
	ErrUnauthorized = errors.New("api token refused")
	// ErrForbidden: the API token is valid but not allowed to make the call (Okta: 403
	// E0000006); the error's message names the call and the admin role it needs.
	ErrForbidden = errors.New("api token lacks the permission")
	// ErrFeatureNotEnabled: the backend lacks a feature the call needs (Okta: 401 E0000015,
	// e.g. API Access Management for custom authorization servers).
	ErrFeatureNotEnabled = errors.New("feature not enabled")

	// ErrInvalidClient: the token endpoint refused the client's credentials.
	ErrInvalidClient = errors.New("client credentials refused")
	// ErrInvalidScope: the token endpoint refused the requested scopes.
	ErrInvalidScope = errors.New("scope refused")
	// ErrPermanent: the backend refused the request and retrying the same request cannot
	// help (validation errors, unsupported configuration).
	ErrPermanent = errors.New("request refused by backend")
	// ErrAccessDenied: the token endpoint's access policies grant the client no token for
	// the requested scopes (OAuth error access_denied). It also matches ErrPermanent, and
	// every Error whose Code is OAuthAccessDenied matches it, whatever its class.
	ErrAccessDenied error = &subclass{msg: "access denied by the authorization server's policies", parent: ErrPermanent}
	// ErrSecretValueRefused: the backend refused a caller-chosen client secret value
	// (ImportSecret), e.g. too short. It also matches ErrPermanent.
	ErrSecretValueRefused error = &subclass{msg: "client secret value refused", parent: ErrPermanent}
	// ErrSecretNotReadable: the backend does not return client secret values on a read
	// (ReadSecrets).
	ErrSecretNotReadable = errors.New("client secret values not readable")
	// ErrCredentialsSecretNotFound: the Secret (or key) an OAuthClient's spec.credentialsFrom
	// names is missing or empty. It also matches ErrSecretNotFound.
	ErrCredentialsSecretNotFound error = &subclass{msg: "client secret source missing", parent: ErrSecretNotFound}

	// The refusals of the operator's own OAuth 2.0 credentials (a backend reached with an
	// OAuth client instead of an API token). Each also matches ErrUnauthorized, so code that
	// only knows "the backend refused our credentials" handles them as such.

	// ErrOAuthClientRejected: the authorization server refused the operator's OAuth client
	// (invalid_client: unknown client, wrong key, key id not registered).
	ErrOAuthClientRejected error = &subclass{msg: "operator's oauth client refused", parent: ErrUnauthorized}
	// ErrOAuthScopeNotGranted: the operator's OAuth client asked for scopes it was not
	// granted (invalid_scope).
	ErrOAuthScopeNotGranted error = &subclass{msg: "scope not granted to the operator's oauth client", parent: ErrUnauthorized}
	// ErrDPoPRejected: the backend refused the operator's DPoP proof (invalid_dpop_proof).
	ErrDPoPRejected error = &subclass{msg: "dpop proof refused", parent: ErrUnauthorized}
)

// subclass is an error class that also matches a broader one.
type subclass struct {
	msg    string
	parent error
}

func (s *subclass) Error() string        { return s.msg }
func (s *subclass) Is(target error) bool { return target == s.parent }

// Error is a classified backend error.
type Error struct {
	// Class is one of the Err* sentinels above.
	Class error
	// Op names the operation, e.g. "create app".
	Op string
	// Code is the backend's own error code (Okta's errorCode or OAuth's error), if any.
	Code string
	// Status is the HTTP status, if any.
	Status int
	// RetryAt is when a rate-limited request may be retried (zero if unknown).
	RetryAt time.Time
	// Err is the underlying error; it never holds a secret value.
	Err error
}

func (e *Error) Error() string {
	msg := e.Op + ": " + e.Class.Error()
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrX) match the error's class (and ErrAccessDenied match the
// OAuth code access_denied).
func (e *Error) Is(target error) bool {
	return target == e.Class || (e.Class != nil && errors.Is(e.Class, target)) ||
		(target == ErrAccessDenied && e.Code == OAuthAccessDenied)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a classified error.
func Errorf(class error, op, format string, args ...any) *Error {
	return &Error{Class: class, Op: op, Err: fmt.Errorf(format, args...)}
}

// RetryAt returns when a rate-limited operation may be retried, if err says.
func RetryAt(err error) (time.Time, bool) {
	var e *Error
	if errors.As(err, &e) && errors.Is(e.Class, ErrRateLimited) && !e.RetryAt.IsZero() {
		return e.RetryAt, true
	}
	return time.Time{}, false
}

// OAuthAccessDenied is the OAuth 2.0 error code (Error.Code of a token request) of a token
// endpoint whose access policies grant the client no token for the requested scopes.
const OAuthAccessDenied = "access_denied"

// Code returns the backend's error code carried by err, if any.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
