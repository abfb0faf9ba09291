package oktaemu

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Okta error codes the emulator answers with. The summaries follow Okta's
// published error-code reference and the examples in its OpenAPI spec.
const (
	codeAPIValidation     = "E0000001" // 400 Api validation failed: {0}
	codeBodyNotWellFormed = "E0000003" // 400 The request body was not well-formed.
	codeNotFound          = "E0000007" // 404 Not found: {0}
	codePathNotFound      = "E0000008" // 404 The requested path was not found
	codeInternal          = "E0000009" // 500 Internal Server Error
	codeUnavailable       = "E0000010" // 503 Service is in read only mode
	codeInvalidToken      = "E0000011" // 401 Invalid token provided
	codeMethodNotAllowed  = "E0000022" // 405 The endpoint does not support the provided HTTP method
	codeInvalidSearch     = "E0000031" // 400 Invalid search criteria.
	codeRateLimited       = "E0000047" // 429 API call exceeded rate limit due to too many requests.
	codeDeleteAppActive   = "E0000056" // 403 Delete application forbidden.
)

// apiError is an Okta management API error (the spec's Error schema).
type apiError struct {
	status  int
	Code    string       `json:"errorCode"`
	Summary string       `json:"errorSummary"`
	Link    string       `json:"errorLink"`
	ID      string       `json:"errorId"`
	Causes  []errorCause `json:"errorCauses"`
}

type errorCause struct {
	Summary string `json:"errorSummary"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Summary }

func newAPIError(status int, code, summary string, causes ...string) *apiError {
	e := &apiError{status: status, Code: code, Summary: summary, Link: code, Causes: []errorCause{}}
	for _, c := range causes {
		e.Causes = append(e.Causes, errorCause{Summary: c})
	}
	return e
}

// validationError is the usual 400 E0000001 for one offending field.
func validationError(field, cause string) *apiError {
	if cause == "" {
		return newAPIError(http.StatusBadRequest, codeAPIValidation, "Api validation failed: "+field)
	}
	return newAPIError(http.StatusBadRequest, codeAPIValidation, "Api validation failed: "+field, cause)
}

func blankField(field string) *apiError {
	return validationError(field, field+": The field cannot be left blank")
}

func malformedBody(causes ...string) *apiError {
	return newAPIError(http.StatusBadRequest, codeBodyNotWellFormed, "The request body was not well-formed.", causes...)
}

func notFound(id, kind string) *apiError {
	return newAPIError(http.StatusNotFound, codeNotFound, fmt.Sprintf("Not found: Resource not found: %s (%s)", id, kind))
}

func pathNotFound() *apiError {
	return newAPIError(http.StatusNotFound, codePathNotFound, "The requested path was not found")
}

func invalidToken() *apiError {
	return newAPIError(http.StatusUnauthorized, codeInvalidToken, "Invalid token provided")
}

func methodNotAllowed() *apiError {
	return newAPIError(http.StatusMethodNotAllowed, codeMethodNotAllowed, "The endpoint does not support the provided HTTP method")
}

func rateLimited() *apiError {
	return newAPIError(http.StatusTooManyRequests, codeRateLimited, "API call exceeded rate limit due to too many requests.")
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	e.ID = newID("oae", 22)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(e)
}

// oauthError is an OAuth 2.0 error from the authorization server (the
// spec's OAuthError schema).
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func newOAuthError(status int, code, description string) *oauthError {
	return &oauthError{status: status, Code: code, Description: description}
}

// writeOAuthError writes e. basicAuth tells whether the client tried the
// Authorization header, in which case RFC 6749 section 5.2 asks for a
// WWW-Authenticate challenge on 401.
func writeOAuthError(w http.ResponseWriter, e *oauthError, basicAuth bool) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if e.status == http.StatusUnauthorized && basicAuth {
		h.Set("WWW-Authenticate", `Basic realm="okta"`)
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(e)
}

// Okta's answers for refused permissions (error-code reference).
const (
	codeAccessDenied      = "E0000006" // 403 You do not have permission to perform the requested action
	codeFeatureNotEnabled = "E0000015" // 401 You do not have permission to access the feature you are requesting
)

func accessDenied() *apiError {
	return newAPIError(http.StatusForbidden, codeAccessDenied, "You do not have permission to perform the requested action")
}

func featureNotEnabled() *apiError {
	return newAPIError(http.StatusUnauthorized, codeFeatureNotEnabled, "You do not have permission to access the feature you are requesting")
}
