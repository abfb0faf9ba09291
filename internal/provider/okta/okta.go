// Package okta implements provider.Client for Okta: OAuth 2.0 service apps (client
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
// CreateSecret 1, RevokeSecret 2 (deactivate, delete), CheckHealth 2 (3 with
// ManageAccessPolicies), RequestToken 1; access policies: see policies.go.
package okta

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	// for loopback hosts (localhost, 127.0.0.0/8, ::1), such as the emulator, and only with
	// AllowInsecureLoopbackHTTP.
	OrgURL string
	// AllowInsecureLoopbackHTTP accepts http:// org URLs (and metadata endpoints) of
	// loopback hosts; without it every URL must be https. The manager's
	// --allow-insecure-loopback-http.
	AllowInsecureLoopbackHTTP bool
	// AuthorizationServerID of the custom authorization server that issues the clients'
	// tokens; default "default".
	AuthorizationServerID string
	// APIToken is the SSWS API token of the management API. It never appears in errors,
	// logs or metrics. Exactly one of APIToken and OAuth.
	APIToken string
	// OAuth makes the provider reach the management API as an API service app with
	// private_key_jwt and DPoP instead of with an API token. Exactly one of APIToken and OAuth.
	OAuth *OAuthConfig
	// HTTPClient, optional, provides the base transport and timeout (applied as is; 0 means
	// none); the provider copies it and never modifies it. Without it, http.DefaultTransport
	// and DefaultTimeout are used. Its redirect policy is not used: the provider never
	// follows a redirect, and reads at most provider.MaxResponseBytes of any answer.
	HTTPClient *http.Client
	// Budgets, optional, is the rate-budget registry; nil means the process-wide one
	// (SharedBudgets): every Provider of an org shares the org-wide buckets (token endpoint,
	// metadata), and every Provider of an org with the same credential shares the
	// management API's buckets.
	Budgets *Budgets
	// ManageAccessPolicies: the provider keeps one access policy per client on the
	// authorization server; the health check then also proves the token may manage them.
	ManageAccessPolicies bool
}

// Client is the Okta backend. It is safe for concurrent use.
type Client struct {
	orgURL       string // normalized: scheme://host[:port], no trailing slash
	allowHTTP    bool   // Config.AllowInsecureLoopbackHTTP
	authServerID string
	client       *okta.Client
	http         *http.Client // through the budget, without the API token
	budgets      *Budgets
	// oauth is the provider's own token source in OAuth mode; nil with an API token.
	oauth *tokenSource
	// manageAccessPolicies: see Config.ManageAccessPolicies.
	manageAccessPolicies bool
}

var (
	_ provider.Client              = (*Client)(nil)
	_ provider.AccessPolicyManager = (*Client)(nil)
)

// authServerIDPattern: Okta ids and the word "default"; the id goes into URL paths.
var authServerIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// New validates cfg and builds a Provider. It makes no request.
func New(cfg Config) (*Client, error) {
	org, err := normalizeOrgURL(cfg.OrgURL, cfg.AllowInsecureLoopbackHTTP)
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
	var kid string
	var scopes []string
	switch {
	case cfg.OAuth != nil && cfg.APIToken != "":
		return nil, fmt.Errorf("set either an okta api token or oauth credentials, not both")
	case cfg.OAuth != nil:
		if kid, scopes, err = checkOAuthConfig(cfg.OAuth); err != nil {
			return nil, err
		}
	case cfg.APIToken == "":
		return nil, fmt.Errorf("okta api token is empty")
	case strings.IndexFunc(cfg.APIToken, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return nil, fmt.Errorf("okta api token contains whitespace or control characters")
	}
	budgets := cfg.Budgets
	if budgets == nil {
		budgets = SharedBudgets()
	}

	// Redirects are never followed (the guard refuses them before the client could; the
	// CheckRedirect is a second lock), and every answer is bounded, for the SDK's reads too.
	hc := &http.Client{Timeout: DefaultTimeout, CheckRedirect: provider.NoRedirects}
	base := http.DefaultTransport
	if cfg.HTTPClient != nil {
		hc.Timeout = cfg.HTTPClient.Timeout
		hc.Jar = cfg.HTTPClient.Jar
		if cfg.HTTPClient.Transport != nil {
			base = cfg.HTTPClient.Transport
		}
	}
	hc.Transport = &transport{base: provider.GuardTransport(base, provider.MaxResponseBytes, endpointOf),
		budget: budgets.org(org), cred: budgets.org(credentialKey(org, cfg))}

	// The SDK's client: the same as hc with an API token; in OAuth mode hc under the DPoP
	// transport, which replaces the SDK's Authorization header. The SDK's own OAuth modes
	// ("PrivateKey", "JWT") cannot do DPoP, so the SDK runs in SSWS mode with a placeholder.
	sdkHTTP, token := hc, cfg.APIToken
	var src *tokenSource
	if cfg.OAuth != nil {
		tokenHTTP := *hc
		if src, err = newTokenSource(org, cfg.OAuth, kid, scopes, &tokenHTTP); err != nil {
			return nil, err
		}
		c := *hc
		c.Transport = &dpopTransport{base: hc.Transport, src: src}
		sdkHTTP, token = &c, apiTokenPlaceholder
	}

	_, client, err := okta.NewClient(context.Background(),
		okta.WithOrgUrl(org),
		okta.WithToken(token),
		okta.WithAuthorizationMode("SSWS"),
		okta.WithHttpClientPtr(sdkHTTP),
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
	return &Client{orgURL: org, allowHTTP: cfg.AllowInsecureLoopbackHTTP, authServerID: asID, client: client, http: hc, budgets: budgets, oauth: src,
		manageAccessPolicies: cfg.ManageAccessPolicies}, nil
}

// normalizeOrgURL checks an org URL and returns it as scheme://host[:port] in lower case
// without a default port. http:// is accepted for loopback hosts when allowHTTP.
func normalizeOrgURL(raw string, allowHTTP bool) (string, error) {
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
		return "", fmt.Errorf("%w: okta org url %q: http is allowed only for loopback hosts (localhost, 127.0.0.0/8, ::1); use https", provider.ErrInsecureURL, raw)
	}
	if scheme == "http" && !allowHTTP {
		return "", fmt.Errorf("%w: okta org url %q: http is allowed only when the manager runs with --allow-insecure-loopback-http (for an emulator on the same machine); use https", provider.ErrInsecureURL, raw)
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

// orgKey is the budget key of an org URL: of its org-wide buckets (token endpoint,
// metadata), which every workload of the org shares.
func orgKey(raw string) (string, error) { return normalizeOrgURL(raw, true) }

// credentialKey is the budget key of the management API's buckets of one credential of an
// org: Okta meters management calls per API token (or API service app), so one credential's
// refusals and remaining counts say nothing about another's. The key holds a digest of the
// credential's identity, never the credential.
func credentialKey(org string, cfg Config) string {
	id := "token\x00" + cfg.APIToken
	if cfg.OAuth != nil {
		id = "oauth\x00" + cfg.OAuth.ClientID
	}
	sum := sha256.Sum256([]byte(id))
	return org + "#" + hex.EncodeToString(sum[:16])
}

// endpointOf names a request in errors: its method and route template (no ids, no query).
func endpointOf(req *http.Request) string { return req.Method + " " + routeOf(req.URL.Path) }

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
func (p *Client) call(ctx context.Context, op, method, path string, body, out any, reclassify reclassifier) (*okta.Response, error) {
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
