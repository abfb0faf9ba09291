package oktaemu

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Real-org modes: the emulator's org can be as strict as the orgs users
// really have. Each mode is a Config field and a flag of cmd/okta-emulator.
const (
	// AccessPolicyAllClients keeps the default server's default policy
	// open to every client (ALL_CLIENTS), as a new developer org has it.
	AccessPolicyAllClients = "all-clients"
	// AccessPolicyNone makes the default policy name no client, as in orgs
	// whose admins narrowed it: only policies created for a client admit it.
	AccessPolicyNone = "none"

	// RoleSuperAdmin lets the API token call every endpoint.
	RoleSuperAdmin = "super-admin"
	// RoleAppAdmin lets the API token manage apps and their secrets only:
	// /api/v1/authorizationServers answers 403 E0000006.
	RoleAppAdmin = "app-admin"

	// FeatureAPIAccessManagement is Okta's API Access Management product;
	// without it /api/v1/authorizationServers answers 401 E0000015.
	FeatureAPIAccessManagement = "api-access-management"

	// PresetOktaFree and PresetOktaPaid name Okta's documented per-minute
	// figures (PresetRateLimits).
	PresetOktaFree = "okta-free"
	PresetOktaPaid = "okta-paid"

	// DefaultRateLimitShare is the part of each bucket one API token or
	// OAuth 2.0 app may use: Okta's default is 50% ("Token and OAuth 2.0
	// app rate limits", developer.okta.com/docs/reference/rl2-token-oauth).
	DefaultRateLimitShare = 0.5

	// Okta's concurrency limits: 35 simultaneous requests on the
	// Integrator Free plan, 75 on other orgs ("Concurrency limits",
	// developer.okta.com/docs/reference/rl2-concurrency).
	ConcurrencyLimitOktaFree = 35
	ConcurrencyLimitOktaPaid = 75
)

// Features lists the org features DisabledFeatures may name.
var Features = []string{FeatureAPIAccessManagement}

// PresetRateLimits returns Okta's documented per-minute figures for the
// buckets the emulator has:
//
//   - Apps, /api/v1/apps and its sub-paths: 20 (Developer free / Integrator
//     Free plan), 100 (paid: One App, Enterprise, Workforce);
//   - App, /api/v1/apps/{id}: 100 free, 600 paid (One App, Enterprise);
//   - Other, "most other API actions" under /api/v1 (authorization
//     servers included): 100 free, 600 paid (Enterprise);
//     these three from "Management rate limits",
//     developer.okta.com/docs/reference/rl-global-mgmt;
//   - Token, /oauth2/{authorizationServerId}/v1/token: 300 free, 1,200 paid,
//     from "Authentication/End-user rate limits" (custom authorization
//     servers), developer.okta.com/docs/reference/rl-global-enduser.
//
// These are org-wide buckets; one API token sees its share of them
// (Config.RateLimitShare). The window is Okta's minute.
func PresetRateLimits(name string) (RateLimits, error) {
	switch name {
	case PresetOktaFree:
		return RateLimits{Apps: 20, App: 100, Token: 300, Other: 100}, nil
	case PresetOktaPaid:
		return RateLimits{Apps: 100, App: 600, Token: 1200, Other: 600}, nil
	}
	return RateLimits{}, fmt.Errorf("%w: rate-limit preset %q: want %s or %s", ErrInvalidConfig, name, PresetOktaFree, PresetOktaPaid)
}

// normalizeModes applies the defaults of the real-org modes and validates
// them.
func (cfg Config) normalizeModes() (Config, error) {
	switch cfg.AccessPolicy {
	case "":
		cfg.AccessPolicy = AccessPolicyAllClients
	case AccessPolicyAllClients, AccessPolicyNone:
	default:
		return cfg, fmt.Errorf("%w: access policy %q: want %s or %s", ErrInvalidConfig, cfg.AccessPolicy, AccessPolicyAllClients, AccessPolicyNone)
	}
	switch cfg.APITokenRole {
	case "":
		cfg.APITokenRole = RoleSuperAdmin
	case RoleSuperAdmin, RoleAppAdmin:
	default:
		return cfg, fmt.Errorf("%w: api token role %q: want %s or %s", ErrInvalidConfig, cfg.APITokenRole, RoleSuperAdmin, RoleAppAdmin)
	}
	if cfg.RateLimitShare == 0 {
		cfg.RateLimitShare = DefaultRateLimitShare
	}
	if math.IsNaN(cfg.RateLimitShare) || cfg.RateLimitShare <= 0 || cfg.RateLimitShare > 1 {
		return cfg, fmt.Errorf("%w: rate-limit share %v must be within (0, 1]", ErrInvalidConfig, cfg.RateLimitShare)
	}
	if cfg.ConcurrencyLimit < 0 {
		return cfg, fmt.Errorf("%w: concurrency limit %d must not be negative (0 is off)", ErrInvalidConfig, cfg.ConcurrencyLimit)
	}
	var feats []string
	for _, f := range cfg.DisabledFeatures {
		if !slices.Contains(Features, f) {
			return cfg, fmt.Errorf("%w: unknown feature %q: want one of %s", ErrInvalidConfig, f, strings.Join(Features, ", "))
		}
		if !slices.Contains(feats, f) {
			feats = append(feats, f)
		}
	}
	cfg.DisabledFeatures = feats
	return cfg, nil
}

func (s *Server) featureDisabled(f string) bool { return slices.Contains(s.cfg.DisabledFeatures, f) }

// ---- who is calling ----

const (
	principalSSWS  = "ssws"
	principalOAuth = "oauth"
)

// principal is who made a management request: the API token, or a service
// app with an access token of the org authorization server.
type principal struct {
	kind     string
	clientID string   // oauth only
	scopes   []string // oauth only: the okta.* scopes the token carries
	// fail, when set, writes why an OAuth access token was refused (401
	// with a WWW-Authenticate challenge).
	fail func(w http.ResponseWriter)
}

// rateKey names the principal's share of the rate-limit buckets; "" for
// anonymous and unauthenticated requests, which only count org-wide.
func (p principal) rateKey() string {
	switch p.kind {
	case principalSSWS:
		return "token"
	case principalOAuth:
		return "app:" + p.clientID
	}
	return ""
}

// identify authenticates a management request; a zero principal means
// no valid credentials.
func (s *Server) identify(r *http.Request) principal {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case strings.EqualFold(scheme, "SSWS"):
		if s.validSSWS(r) {
			return principal{kind: principalSSWS}
		}
	case strings.EqualFold(scheme, "DPoP") || strings.EqualFold(scheme, "Bearer"):
		return s.identifyOAuth(r)
	}
	return principal{}
}

// authorize applies the org's features, the API token's role and an
// access token's scopes to a management request; on refusal it writes
// Okta's answer and returns false.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, who principal) bool {
	path := r.URL.Path
	if strings.HasPrefix(path, "/api/v1/authorizationServers") {
		if s.featureDisabled(FeatureAPIAccessManagement) {
			writeAPIError(w, featureNotEnabled())
			return false
		}
		if who.kind == principalSSWS && s.cfg.APITokenRole == RoleAppAdmin {
			writeAPIError(w, accessDenied())
			return false
		}
	}
	if who.kind != principalOAuth {
		return true
	}
	if s.dpop.resourceNonceRequired() {
		// RFC 9449 section 9: the next proof must carry this nonce.
		w.Header().Set("DPoP-Nonce", s.dpop.newNonce(s.now()))
	}
	need := requiredScopes(r.Method, path)
	for _, sc := range need {
		if slices.Contains(who.scopes, sc) {
			return true
		}
	}
	// Okta: 403 E0000006 and a challenge naming the scope needed
	// (support.okta.com "insufficient_scope error when making a request
	// to an OAuth or management endpoint").
	want := "okta.*"
	if len(need) > 0 {
		want = need[0] // the least scope that would do
	}
	base := s.baseURL(r)
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(
		`DPoP authorization_uri="%s/oauth2/v1/authorize", realm="%s", scope="%s", error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", resource="%s"`,
		base, base, want, path))
	writeAPIError(w, accessDenied())
	return false
}

// requiredScopes lists the okta.* scopes that allow method on path, as
// the security requirements of Okta's management spec: read or manage
// for reads, manage for changes. Nothing else is open to OAuth tokens.
func requiredScopes(method, path string) []string {
	var family string
	switch {
	case strings.HasPrefix(path, "/api/v1/apps/") && strings.Contains(path[len("/api/v1/apps/"):], "/grants"):
		family = "okta.appGrants" // listScopeConsentGrants, grantConsentToScope, ...
	case path == "/api/v1/apps" || strings.HasPrefix(path, "/api/v1/apps/"):
		family = "okta.apps"
	case strings.HasPrefix(path, "/api/v1/authorizationServers"):
		family = "okta.authorizationServers"
	default:
		return nil
	}
	if method == http.MethodGet || method == http.MethodHead {
		return []string{family + ".read", family + ".manage"}
	}
	return []string{family + ".manage"}
}

// ---- concurrency ----

// enterConcurrency counts a request in flight; over the limit it writes
// the concurrency figures into the rate-limit headers (Okta: "when a
// request exceeds the limit for concurrent requests, X-Rate-Limit-Limit,
// X-Rate-Limit-Remaining, and X-Rate-Limit-Reset report the concurrent
// values", developer.okta.com/docs/reference/rl-best-practices) and
// returns false. release must be called when the request is done.
func (s *Server) enterConcurrency(now time.Time, h http.Header) (release func(), ok bool) {
	n := int64(s.cfg.ConcurrencyLimit)
	if n <= 0 {
		return func() {}, true
	}
	if s.inFlight.Add(1) > n {
		s.inFlight.Add(-1)
		h.Set("X-Rate-Limit-Limit", strconv.FormatInt(n, 10))
		h.Set("X-Rate-Limit-Remaining", "0")
		// Only an estimate, as Okta's: the next second.
		h.Set("X-Rate-Limit-Reset", strconv.FormatInt(now.Add(time.Second).Unix(), 10))
		return nil, false
	}
	return func() { s.inFlight.Add(-1) }, true
}

// InFlight returns the number of requests being served now (counted only
// while a concurrency limit is configured).
func (s *Server) InFlight() int { return int(s.inFlight.Load()) }

// tokenShare is the budget one principal sees of a bucket of limit.
func tokenShare(limit int, share float64) int {
	return max(1, int(math.Floor(float64(limit)*share)))
}

// applyAccessPolicy narrows the default server's default policy of a
// fresh org for AccessPolicyNone: it names no client, so only policies
// created for a client admit it. A state file keeps the policies it has.
func (st *state) applyAccessPolicy(mode string) {
	if mode != AccessPolicyNone {
		return
	}
	if as := st.authServer(defaultAuthServerID); as != nil {
		for _, pol := range as.Policies {
			if slices.Equal(pol.Clients, []string{allClients}) {
				pol.Clients = []string{}
			}
		}
	}
}
