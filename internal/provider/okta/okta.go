// Package okta implements provider.Provider for Okta: OAuth 2.0 service apps (client
// credentials grant) managed through Okta's management API with
// github.com/okta/okta-sdk-golang/v2, and token requests at an Okta authorization server.
//
// Every request, the SDK's and the provider's own, passes one http.RoundTripper that
// enforces a rate budget shared by all Providers of the same org (see Budgets), records
// Prometheus metrics, and turns Okta's 429 answers into classified errors so the SDK never
// retries behind the caller's back. Errors are classified once, here, into the classes of
// package provider.
//
// Okta calls per operation: CreateApp 1, GetApp 1, FindApps 1 per 200 matching apps,
// UpdateApp 1 (+1 GET when the App carries no object from GetApp/FindApps/CreateApp, +1
// activate when the app is inactive), DeleteApp 2 (deactivate, delete), ListSecrets 1,
// CreateSecret 1, RevokeSecret 2 (deactivate, delete), CheckHealth 2, RequestToken 1.
package okta

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// DefaultAuthorizationServerID is the authorization server used when Config leaves it empty.
const DefaultAuthorizationServerID = "default"

// DefaultTimeout bounds each request when Config.HTTPClient is nil.
const DefaultTimeout = 30 * time.Second

// Config says how to reach one Okta org and authorization server.
type Config struct {
	// OrgURL is the org's base URL, e.g. https://example.okta.com. http:// is accepted only
	// for loopback hosts (localhost, 127.0.0.0/8, ::1), such as the emulator.
	OrgURL string
	// AuthorizationServerID of the custom authorization server that issues the clients'
	// tokens; default "default".
	AuthorizationServerID string
	// APIToken is the SSWS API token of the management API. It never appears in errors,
	// logs or metrics.
	APIToken string
	// HTTPClient, optional, provides the base transport, timeout (applied as is; 0 means
	// none) and redirect policy; the provider copies it and never modifies it. Without it,
	// http.DefaultTransport and DefaultTimeout are used.
	HTTPClient *http.Client
	// Budgets, optional, is the rate-budget registry; nil means the process-wide one
	// (SharedBudgets), so that every Provider of an org shares one budget.
	Budgets *Budgets
}

// Provider is the Okta backend. It is safe for concurrent use.
type Provider struct {
	orgURL       string // normalized: scheme://host[:port], no trailing slash
	authServerID string
	client       *okta.Client
	http         *http.Client // through the budget, without the API token
	budgets      *Budgets
}

var _ provider.Provider = (*Provider)(nil)

// authServerIDPattern: Okta ids and the word "default"; the id goes into URL paths.
var authServerIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// New validates cfg and builds a Provider. It makes no request.
func New(cfg Config) (*Provider, error) {
	org, err := normalizeOrgURL(cfg.OrgURL)
	if err != nil {
		return nil, err
	}
	asID := cfg.AuthorizationServerID
	if asID == "" {
		asID = DefaultAuthorizationServerID
	}
	if !authServerIDPattern.MatchString(asID) {
		return nil, fmt.Errorf("authorization server id %q is not valid: use letters, digits, '-' and '_'", asID)
	}
	if cfg.APIToken == "" {
		return nil, fmt.Errorf("okta api token is empty")
	}
	if strings.IndexFunc(cfg.APIToken, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("okta api token contains whitespace or control characters")
	}
	budgets := cfg.Budgets
	if budgets == nil {
		budgets = SharedBudgets()
	}

	hc := &http.Client{Timeout: DefaultTimeout}
	base := http.DefaultTransport
	if cfg.HTTPClient != nil {
		hc.Timeout = cfg.HTTPClient.Timeout
		hc.CheckRedirect = cfg.HTTPClient.CheckRedirect
		hc.Jar = cfg.HTTPClient.Jar
		if cfg.HTTPClient.Transport != nil {
			base = cfg.HTTPClient.Transport
		}
	}
	hc.Transport = &transport{base: base, budget: budgets.org(org)}

	_, client, err := okta.NewClient(context.Background(),
		okta.WithOrgUrl(org),
		okta.WithToken(cfg.APIToken),
		okta.WithAuthorizationMode("SSWS"),
		okta.WithHttpClientPtr(hc),
		// The SDK's cache serves stale GETs after changes (e.g. after a deactivate).
		okta.WithCache(false),
		// 429s are the budget's business: the SDK's own retries sleep without regard for the
		// caller's budget and end in an error that has lost the response.
		okta.WithRateLimitMaxRetries(0),
		okta.WithRequestTimeout(0),
		okta.WithTestingDisableHttpsCheck(strings.HasPrefix(org, "http://")),
		okta.WithUserAgentExtra("clientcreds"),
	)
	if err != nil {
		// The SDK's messages name the org URL at most, never the token.
		return nil, fmt.Errorf("configure okta client: %w", err)
	}
	return &Provider{orgURL: org, authServerID: asID, client: client, http: hc, budgets: budgets}, nil
}

// normalizeOrgURL checks an org URL and returns it as scheme://host[:port] in lower case
// without a default port.
func normalizeOrgURL(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("okta org url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("okta org url %q is not an absolute URL", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("okta org url %q must use https", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("okta org url %q must be just scheme and host, like https://example.okta.com", raw)
	}
	host := strings.ToLower(u.Hostname())
	if scheme == "http" && !isLoopback(host) {
		return "", fmt.Errorf("okta org url %q: http is allowed only for loopback hosts (localhost, 127.0.0.0/8, ::1); use https", raw)
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	hostport := host
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	}
	return scheme + "://" + hostport, nil
}

// orgKey is the budget key of an org URL.
func orgKey(raw string) (string, error) { return normalizeOrgURL(raw) }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// idPattern matches Okta object ids; ids go into URL paths.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

func checkID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("%s id is empty", kind)
	}
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%s id %q is not a valid okta id", kind, id)
	}
	return nil
}

// call sends one management API request through the SDK's request executor (API token,
// user agent, our transport) and classifies a failure. body, when not nil, is sent as JSON;
// out, when not nil, receives the decoded answer. reclassify, when not nil, may change the
// class of Okta's error answers for this operation.
func (p *Provider) call(ctx context.Context, op, method, path string, body, out any, reclassify reclassifier) (*okta.Response, error) {
	rq := p.client.CloneRequestExecutor()
	req, err := rq.WithAccept("application/json").WithContentType("application/json").NewRequest(method, path, body)
	if err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "build request: %w", err)
	}
	var resp *okta.Response
	if out == nil {
		var discard any
		resp, err = rq.Do(ctx, req, &discard)
	} else {
		resp, err = rq.Do(ctx, req, out)
	}
	if err != nil {
		return resp, classify(ctx, op, resp, err, reclassify)
	}
	return resp, nil
}
