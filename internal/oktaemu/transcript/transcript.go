// Package transcript holds the compact form of real-Okta recordings that
// the emulator's replay test sends: Okta's Terraform provider records its
// acceptance tests against real orgs as go-vcr v2 cassettes
// (../shared/okta-transcripts), and hack/okta-transcripts derives one
// Cassette per recording from them into internal/oktaemu/testdata.
//
// The package also decides which recorded requests the emulator serves at
// all (OutOfScope), so the generator and the replay test agree.
package transcript

import (
	"encoding/json"
	"net/url"
	"strings"
)

// Cassette is one recording: the interactions in recording order.
type Cassette struct {
	Name         string        `json:"name"`
	Interactions []Interaction `json:"interactions"`
}

// Interaction is one request and the answer the real org gave. Bodies are
// JSON with secrets redacted (Redact) and, in responses, without _links and
// _embedded; they are left out for requests OutOfScope.
type Interaction struct {
	Method string          `json:"method"`
	Path   string          `json:"path"` // path and query, no host
	Req    json.RawMessage `json:"req,omitempty"`
	Code   int             `json:"code"`
	Resp   json.RawMessage `json:"resp,omitempty"`
}

// RedactedSecret replaces every secret value in the fixtures. It is a
// valid client secret for Okta's rules (14 to 100 printable characters),
// so a replayed request that carried one is still well-formed.
const RedactedSecret = "REDACTED-from-recording-0000"

// secretKeys are the members whose values are secrets or tokens.
var secretKeys = map[string]bool{
	"client_secret": true, "access_token": true, "refresh_token": true, "id_token": true,
	"password": true, "secret": true, "d": true, "p": true, "q": true, "dp": true, "dq": true, "qi": true,
}

// Redact replaces secret values (non-empty strings under secretKeys) with
// RedactedSecret, recursively.
func Redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && secretKeys[k] && s != "" {
				x[k] = RedactedSecret
				continue
			}
			x[k] = Redact(e)
		}
	case []any:
		for i, e := range x {
			x[i] = Redact(e)
		}
	}
	return v
}

// StripLinks removes _links and _embedded, recursively (the replay ignores
// them; they only repeat URLs).
func StripLinks(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "_links")
		delete(x, "_embedded")
		for k, e := range x {
			x[k] = StripLinks(e)
		}
	case []any:
		for i, e := range x {
			x[i] = StripLinks(e)
		}
	}
	return v
}

// outOfScope lists the path prefixes the emulator does not serve, with the
// reason. The recordings' README names the first four; the others are
// Okta products the operator never calls.
var outOfScope = []struct{ prefix, reason string }{
	{"/api/v1/internal/", "Okta-internal endpoint the Terraform provider calls (not a public API)"},
	{"/api/v1/groups", "groups are not emulated"},
	{"/api/v1/users", "users are not emulated"},
	{"/api/v1/policies", "org (sign-on/access) policies are not emulated"},
	{"/api/v1/inlineHooks", "inline hooks are not emulated"},
	{"/api/v1/authenticators", "authenticators are not emulated"},
	{"/.well-known/okta-organization", "org discovery document is not emulated"},
	{"/oauth2/v1/clients/", "admin role assignments to clients are not emulated"},
}

// OutOfScope returns why the emulator does not serve method path, or "".
func OutOfScope(method, path string) string {
	p := path
	if u, err := url.Parse(path); err == nil {
		p = u.Path
	}
	for _, o := range outOfScope {
		if strings.HasPrefix(p, o.prefix) {
			return o.reason
		}
	}
	if strings.HasPrefix(p, "/api/v1/authorizationServers/") && strings.Contains(p, "/clients/") {
		return "tokens issued to users are not emulated (no users, no refresh tokens)"
	}
	// App sign-on policy assignment: PUT /api/v1/apps/{id}/policies/{policyId}.
	if segs := strings.Split(strings.Trim(p, "/"), "/"); len(segs) >= 5 && segs[0] == "api" && segs[2] == "apps" && segs[4] == "policies" {
		return "app sign-on policies are not emulated"
	}
	return ""
}
