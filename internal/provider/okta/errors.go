package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// Okta error codes the provider classifies.
const (
	CodeValidation      = "E0000001" // Api validation failed
	CodeForbidden       = "E0000006" // You do not have permission to perform the requested action
	CodeNotFound        = "E0000007" // Not found: Resource not found
	CodePathNotFound    = "E0000008" // The requested path was not found
	CodeInvalidToken    = "E0000011" // Invalid token provided
	CodeRateLimited     = "E0000047" // API call exceeded rate limit
	CodeDeleteActiveApp = "E0000056" // Delete application forbidden (the app is active)
)

// classifyStatus maps an Okta answer (HTTP status and errorCode) to an error class.
func classifyStatus(status int, code string) error {
	switch {
	case code == CodeDeleteActiveApp:
		return provider.ErrConflict
	case status == http.StatusTooManyRequests || code == CodeRateLimited:
		return provider.ErrRateLimited
	case status == http.StatusNotFound && (code == CodeNotFound || code == ""):
		return provider.ErrNotFound
	case status == http.StatusUnauthorized || status == http.StatusForbidden ||
		code == CodeInvalidToken || code == CodeForbidden:
		return provider.ErrUnauthorized
	case status == http.StatusConflict:
		return provider.ErrConflict
	case status == http.StatusRequestTimeout || status >= 500:
		return provider.ErrTransient
	}
	// Other 4xx, including 404 E0000008 (a path Okta does not know: a wrong org URL or an
	// unsupported endpoint, not a missing object).
	return provider.ErrPermanent
}

// reclassifier may change the class of an Okta error answer for one operation; it returns
// nil to keep the default class.
type reclassifier func(status int, oe *okta.Error) error

// secretConflict: for the client-secret calls, Okta's validation error about
// "OAuth2ClientSecretMediated" (a third secret, deactivating the only active secret,
// deleting an active one) is a conflict with the app's current secrets. Other validation
// errors (e.g. a secret for a private_key_jwt app) stay permanent.
func secretConflict(status int, oe *okta.Error) error {
	if status == http.StatusBadRequest && oe.ErrorCode == CodeValidation && strings.Contains(oe.ErrorSummary, "OAuth2ClientSecretMediated") {
		return provider.ErrConflict
	}
	return nil
}

// classify turns the outcome of an SDK call into a *provider.Error.
func classify(ctx context.Context, op string, resp *okta.Response, err error, reclassify reclassifier) error {
	if err == nil {
		return nil
	}
	var rl *rateLimitError
	if errors.As(err, &rl) {
		return &provider.Error{Class: provider.ErrRateLimited, Op: op, Code: rl.code, Status: rl.status, RetryAt: rl.retryAt, Err: rl}
	}
	if ae := asAuthError(op, err); ae != nil {
		return ae
	}
	var oe *okta.Error
	if errors.As(err, &oe) && resp != nil && resp.Response != nil {
		status := resp.StatusCode
		class := classifyStatus(status, oe.ErrorCode)
		if reclassify != nil {
			if c := reclassify(status, oe); c != nil {
				class = c
			}
		}
		return &provider.Error{Class: class, Op: op, Code: oe.ErrorCode, Status: status, Err: apiError(status, oe)}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &provider.Error{Class: provider.ErrTransient, Op: op, Err: ctxErr}
	}
	// No answer (connection refused, reset, timeout) or an answer that could not be read.
	return &provider.Error{Class: provider.ErrTransient, Op: op, Err: err}
}

// apiError describes an Okta error answer: status, summary and causes. Okta's summaries name
// fields and ids, never the API token.
func apiError(status int, oe *okta.Error) error {
	msg := oe.ErrorSummary
	if msg == "" {
		msg = oe.ErrorDescription
	}
	var causes []string
	for _, c := range oe.ErrorCauses {
		if s, ok := c["errorSummary"].(string); ok && s != "" {
			causes = append(causes, s)
		}
	}
	if len(causes) > 0 {
		msg += " (" + strings.Join(causes, "; ") + ")"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return fmt.Errorf("okta answered %d: %s", status, msg)
}
