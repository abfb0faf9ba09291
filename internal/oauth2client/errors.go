package oauth2client

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// OAuth 2.0 error codes of a token endpoint answer, as sentinels: errors.Is(err,
// ErrInvalidClient) is true when the token endpoint answered with that code. RFC 6749 §5.2
// names the first six; access_denied is what some servers (Okta among them, for an access
// policy that does not match) answer to a client-credentials request; the DPoP codes are
// RFC 9449's.
var (
	ErrInvalidRequest       = errors.New("invalid_request")
	ErrInvalidClient        = errors.New("invalid_client")
	ErrInvalidGrant         = errors.New("invalid_grant")
	ErrUnauthorizedClient   = errors.New("unauthorized_client")
	ErrUnsupportedGrantType = errors.New("unsupported_grant_type")
	ErrInvalidScope         = errors.New("invalid_scope")
	ErrAccessDenied         = errors.New("access_denied")
	ErrUseDPoPNonce         = errors.New("use_dpop_nonce")
	ErrInvalidDPoPProof     = errors.New("invalid_dpop_proof")
)

// ErrMalformedAnswer: the token endpoint answered success without a usable token.
var ErrMalformedAnswer = errors.New("token endpoint answer without an access token")

var codeErrors = map[string]error{}

func init() {
	for _, e := range []error{ErrInvalidRequest, ErrInvalidClient, ErrInvalidGrant, ErrUnauthorizedClient,
		ErrUnsupportedGrantType, ErrInvalidScope, ErrAccessDenied, ErrUseDPoPNonce, ErrInvalidDPoPProof} {
		codeErrors[e.Error()] = e
	}
}

// Error is a token endpoint's refusal: any answer that is not a success with a token.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the OAuth error code ("invalid_client"), empty when the answer had none.
	Code string
	// Description is the error_description, made printable, cut short, with any secret of the
	// request masked.
	Description string
	// Header holds the answer's headers (DPoP-Nonce, Retry-After, WWW-Authenticate,
	// X-Rate-Limit-*).
	Header http.Header
}

func (e *Error) Error() string {
	msg := "token endpoint answered " + strconv.Itoa(e.Status)
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// Is matches the sentinel of the error's code. A 401 without a code counts as
// invalid_client (RFC 6749 §5.2: the server may answer 401 to a failed client
// authentication).
func (e *Error) Is(target error) bool {
	if s, ok := codeErrors[e.Code]; ok {
		return target == s
	}
	return e.Code == "" && e.Status == http.StatusUnauthorized && target == ErrInvalidClient
}

// DPoPNonce returns the nonce the server asks the next DPoP proof to carry (RFC 9449 §8).
func (e *Error) DPoPNonce() string { return e.Header.Get("DPoP-Nonce") }

// Retryable reports whether the same request may succeed later: 408, 429, 5xx, or the codes
// temporarily_unavailable and server_error.
func (e *Error) Retryable() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500 ||
		e.Code == "temporarily_unavailable" || e.Code == "server_error"
}

// RetryAfter returns when the server said the request may be retried (Retry-After, in
// seconds or as an HTTP date), if it did.
func (e *Error) RetryAfter(now time.Time) (time.Time, bool) {
	v := strings.TrimSpace(e.Header.Get("Retry-After"))
	if v == "" {
		return time.Time{}, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return now.Add(time.Duration(secs) * time.Second), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// Code returns the OAuth error code err carries, if any.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// maxTextLen bounds server text copied into errors.
const maxTextLen = 300

// sanitize keeps server text printable and short, and masks any of secrets it echoes.
func sanitize(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	if len(s) > maxTextLen {
		cut := maxTextLen
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
