package okta

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// transport sits under the Okta SDK (and under the provider's own metadata and token
// requests): it makes every request pass the org's shared rate budget, records metrics, and
// turns a 429 into an error the budget has learned from, so the SDK never retries it. It
// refuses answers whose Link header the SDK could not parse (the SDK would panic).
type transport struct {
	base http.RoundTripper
	// budget holds the org-wide buckets (token endpoints, metadata) every Provider of the org
	// shares; cred the management API's buckets of this Provider's credential.
	budget *orgBudget
	cred   *orgBudget
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	route := routeOf(req.URL.Path)
	bucket := bucketOf(req.Method, route)
	// Requests without the API token (token endpoint, metadata) count against the org-wide
	// bucket every workload shares: the budget keeps to its share of it.
	shared := !strings.HasPrefix(req.Header.Get("Authorization"), "SSWS ")
	budget := t.budget
	if strings.HasPrefix(route, "/api/") && t.cred != nil {
		budget = t.cred
	}
	tk, err := budget.acquire(req.Context(), bucket, shared)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	requestDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	if err != nil {
		tk.done(nil)
		requestsTotal.WithLabelValues(route, req.Method, "error").Inc()
		var tl *provider.ResponseTooLargeError
		var re *provider.RedirectError
		if errors.As(err, &tl) || errors.As(err, &re) {
			// The guard's refusals carry no io.EOF; their type tells the caller what happened.
			return nil, err
		}
		return nil, &transportError{msg: err.Error(), timeout: isTimeout(err)}
	}
	requestsTotal.WithLabelValues(route, req.Method, strconv.Itoa(resp.StatusCode)).Inc()
	retryAt, concurrency := tk.done(resp)
	if err := checkLinks(resp.Header); err != nil {
		_ = resp.Body.Close()
		return nil, &linkError{endpoint: req.Method + " " + route, err: err}
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		return resp, nil
	}
	var body struct {
		Code string `json:"errorCode"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	_ = resp.Body.Close()
	source := SourceOkta
	if concurrency {
		source = SourceOktaConcurrency
	}
	rateLimited.WithLabelValues(bucket, source).Inc()
	return nil, &rateLimitError{bucket: bucket, retryAt: retryAt, status: resp.StatusCode, code: body.Code, concurrency: concurrency}
}

// checkLinks refuses Link headers whose first target does not parse as a URL: the SDK
// parses every answer's Link headers and dereferences the result without checking it.
func checkLinks(h http.Header) error {
	for _, v := range h.Values("Link") {
		parts := strings.Split(v, ";")
		if len(parts) < 2 {
			continue
		}
		if _, err := url.Parse(strings.TrimRight(strings.TrimLeft(parts[0], "<"), ">")); err != nil {
			return errors.New("a Link header that is not a URL")
		}
	}
	return nil
}

// linkError is an answer refused for its Link header.
type linkError struct {
	endpoint string
	err      error
}

func (e *linkError) Error() string { return e.endpoint + ": okta answered with " + e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

// transportError is a request that got no answer. It deliberately hides the cause from
// errors.Is: the SDK retries io.EOF forever, without backoff, when its rate-limit retries are
// off; the message keeps the cause for humans.
type transportError struct {
	msg     string
	timeout bool
}

func (e *transportError) Error() string { return e.msg }

// Timeout reports whether the request timed out.
func (e *transportError) Timeout() bool { return e.timeout }

func isTimeout(err error) bool {
	for e := err; e != nil; {
		if te, ok := e.(interface{ Timeout() bool }); ok && te.Timeout() {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return false
}

// Placeholders of route templates, named by the collection the id belongs to.
var routeParams = map[string]string{
	"apps":                 "{id}",
	"secrets":              "{secretId}",
	"authorizationServers": "{authServerId}",
	"oauth2":               "{authServerId}",
	"jwks":                 "{keyId}",
	"keys":                 "{keyId}",
	"csrs":                 "{csrId}",
	"policies":             "{policyId}",
	"rules":                "{ruleId}",
	"scopes":               "{scopeId}",
	"claims":               "{claimId}",
	"users":                "{userId}",
	"groups":               "{groupId}",
}

// routeWords are the literal path segments a route template keeps.
var routeWords = map[string]bool{
	"api": true, "v1": true, "apps": true, "lifecycle": true, "activate": true,
	"deactivate": true, "credentials": true, "secrets": true, "authorizationServers": true,
	"oauth2": true, "token": true, "keys": true, "jwks": true, ".well-known": true,
	"oauth-authorization-server": true, "openid-configuration": true, "csrs": true,
	"policies": true, "rules": true, "scopes": true, "claims": true, "users": true,
	"groups": true, "introspect": true, "revoke": true, "userinfo": true,
}

// routeOf returns the route template of an Okta URL path, e.g. /api/v1/apps/{id}; ids never
// appear in it, so it is safe as a metric label.
func routeOf(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		return "/"
	}
	var b strings.Builder
	for i, s := range segs {
		b.WriteByte('/')
		switch {
		case i > 0 && segs[i-1] == "oauth2" && s == "v1":
			// the org authorization server: /oauth2/v1/token
			b.WriteString(s)
		case i > 0 && routeParams[segs[i-1]] != "":
			b.WriteString(routeParams[segs[i-1]])
		case routeWords[s]:
			b.WriteString(s)
		default:
			b.WriteString("{other}")
		}
	}
	return b.String()
}

// bucketOf returns the rate-limit bucket of a request.
func bucketOf(method, route string) string {
	switch {
	case route == "/api/v1/apps/{id}" && (method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete):
		return BucketApp
	case route == "/api/v1/apps" || strings.HasPrefix(route, "/api/v1/apps/"):
		return BucketApps
	case route == "/oauth2/v1/token":
		return BucketOrgToken
	case strings.HasPrefix(route, "/oauth2/") && strings.HasSuffix(route, "/v1/token"):
		return BucketToken
	}
	return BucketOther
}
