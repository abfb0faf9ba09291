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
	CodeFeatureDisabled = "E0000015" // You do not have permission to access the feature you are requesting
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
	case code == CodeInvalidToken:
		// Only this answer means Okta does not know the token.
		return provider.ErrUnauthorized
	case code == CodeFeatureDisabled:
		// The org lacks the feature (e.g. API Access Management): no token or role helps.
		return provider.ErrFeatureNotEnabled
	case status == http.StatusForbidden || code == CodeForbidden:
		// A valid token whose admin role may not make this call.
		return provider.ErrForbidden
	case status == http.StatusUnauthorized:
		// A 401 with another code (or none): Okta refused the call, but not for an unknown
		// token; a new token would not help, so it is not reported as one.
		return provider.ErrPermanent
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

// secretValueRefused: a validation error about client_secret on a create with a caller's
// value (too short, too long, not printable ASCII: the ErrorClientSecret* examples of the
// OpenAPI spec) is a refusal of the value; the rest is as secretConflict says. Okta's causes
// name the rule, never the value.
func secretValueRefused(status int, oe *okta.Error) error {
	if c := secretConflict(status, oe); c != nil {
		return c
	}
	if status == http.StatusBadRequest && oe.ErrorCode == CodeValidation && strings.Contains(oe.ErrorSummary, "client_secret") {
		return provider.ErrSecretValueRefused
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
	if ge := guardError(op, err); ge != nil {
		return ge
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
		return &provider.Error{Class: class, Op: op, Code: oe.ErrorCode, Status: status, Err: explain(class, op, apiError(status, oe))}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &provider.Error{Class: provider.ErrTransient, Op: op, Err: ctxErr}
	}
	// No answer (connection refused, reset, timeout) or an answer that could not be read.
	return &provider.Error{Class: provider.ErrTransient, Op: op, Err: err}
}

// guardError classifies what the transport's guard refused: an answer over the size limit,
// or a redirect. nil for any other error.
func guardError(op string, err error) *provider.Error {
	var tl *provider.ResponseTooLargeError
	if errors.As(err, &tl) {
		return &provider.Error{Class: provider.ErrResponseTooLarge, Op: op, Err: tl}
	}
	var re *provider.RedirectError
	if errors.As(err, &re) {
		return &provider.Error{Class: provider.ErrRedirectRefused, Op: op, Status: re.Status, Err: re}
	}
	var le *linkError
	if errors.As(err, &le) {
		return &provider.Error{Class: provider.ErrPermanent, Op: op, Err: le}
	}
	return nil
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

// Okta admin roles, as the admin console names them.
const (
	roleAppAdmin   = "Application Administrator (APP_ADMIN) or Super Administrator"
	roleAuthzAdmin = "Super Administrator (SUPER_ADMIN), or a custom admin role with the permission okta.authzServers.manage"
	roleAuthzRead  = "Super Administrator, or a custom admin role with okta.authzServers.read"
)

// opCalls names, for each operation, the Okta call it makes and the admin role that call
// needs, so that a 403 tells the admin what to grant.
var opCalls = map[string]struct{ call, role string }{
	"create app":                         {"POST /api/v1/apps", roleAppAdmin},
	"get app":                            {"GET /api/v1/apps/{id}", roleAppAdmin},
	"find apps":                          {"GET /api/v1/apps", roleAppAdmin},
	"update app":                         {"PUT /api/v1/apps/{id}", roleAppAdmin},
	"activate app":                       {"POST /api/v1/apps/{id}/lifecycle/activate", roleAppAdmin},
	"deactivate app":                     {"POST /api/v1/apps/{id}/lifecycle/deactivate", roleAppAdmin},
	"delete app":                         {"DELETE /api/v1/apps/{id}", roleAppAdmin},
	"list client secrets":                {"GET /api/v1/apps/{id}/credentials/secrets", roleAppAdmin},
	"create client secret":               {"POST /api/v1/apps/{id}/credentials/secrets", roleAppAdmin},
	"deactivate client secret":           {"POST /api/v1/apps/{id}/credentials/secrets/{secretId}/lifecycle/deactivate", roleAppAdmin},
	"delete client secret":               {"DELETE /api/v1/apps/{id}/credentials/secrets/{secretId}", roleAppAdmin},
	"check api token":                    {"GET /api/v1/apps", roleAppAdmin},
	"read authorization server":          {"GET /api/v1/authorizationServers/{authServerId}", roleAuthzRead},
	"list access policies":               {"GET /api/v1/authorizationServers/{authServerId}/policies", roleAuthzAdmin},
	"get access policy":                  {"GET /api/v1/authorizationServers/{authServerId}/policies/{policyId}", roleAuthzAdmin},
	"create access policy":               {"POST /api/v1/authorizationServers/{authServerId}/policies", roleAuthzAdmin},
	"update access policy":               {"PUT /api/v1/authorizationServers/{authServerId}/policies/{policyId}", roleAuthzAdmin},
	"delete access policy":               {"DELETE /api/v1/authorizationServers/{authServerId}/policies/{policyId}", roleAuthzAdmin},
	"list access policy rules":           {"GET /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules", roleAuthzAdmin},
	"create access policy rule":          {"POST /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules", roleAuthzAdmin},
	"update access policy rule":          {"PUT /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}", roleAuthzAdmin},
	"delete access policy rule":          {"DELETE /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}", roleAuthzAdmin},
	"check access policy rights":         {"GET /api/v1/authorizationServers/{authServerId}/policies", roleAuthzAdmin},
	"read authorization server metadata": {"GET /oauth2/{authServerId}/.well-known/oauth-authorization-server", "no role (public)"},
}

// explain adds, to a 403, the call that was refused and the admin role it needs; to a
// missing feature, which feature.
func explain(class error, op string, err error) error {
	switch class {
	case provider.ErrForbidden:
		if c, ok := opCalls[op]; ok {
			return fmt.Errorf("the API token's admin role may not call %s; it needs the Okta admin role %s: %w", c.call, c.role, err)
		}
		return fmt.Errorf("the API token's admin role may not make this call: %w", err)
	case provider.ErrFeatureNotEnabled:
		if c, ok := opCalls[op]; ok && strings.Contains(c.call, "authorizationServers") {
			return fmt.Errorf("the org does not have the feature %s needs (API Access Management, for custom authorization servers): %w", c.call, err)
		}
		return fmt.Errorf("the org does not have a feature this call needs: %w", err)
	}
	return err
}
