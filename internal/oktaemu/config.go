package oktaemu

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by New.
const (
	DefaultScope         = "hello:read"
	DefaultTokenLifetime = time.Hour
	// MinTokenLifetimeCap is the shortest TokenLifetime the emulator accepts
	// (an emulator-only cap below Okta's 5-minute minimum, for tests).
	MinTokenLifetimeCap = 5 * time.Second
	DefaultMaxBodyBytes = 1 << 20

	// Per-minute request budgets used when a RateLimits field is 0. They
	// are generous enough for the demo; tests set tight ones.
	DefaultAppsRateLimit  = 1200
	DefaultAppRateLimit   = 1200
	DefaultTokenRateLimit = 6000
	DefaultOtherRateLimit = 6000

	// unlimitedBudget is what the headers advertise for a negative limit.
	unlimitedBudget = 1 << 30
)

// Sentinel errors returned by New and the parse helpers.
var (
	ErrAPITokenRequired = errors.New("oktaemu: api token is required")
	ErrInvalidConfig    = errors.New("oktaemu: invalid configuration")
)

// Config configures an emulated Okta org.
type Config struct {
	// APIToken is the only SSWS token the management API accepts. Required.
	APIToken string
	// Scopes are the custom scopes of the default authorization server.
	// Default: ["hello:read"].
	Scopes []string
	// StateFile, when set, is loaded by New (if it exists) and rewritten
	// atomically after every change and by Close, so apps, secrets and
	// signing keys survive a restart.
	StateFile string
	// OrgURL is the externally visible base URL, e.g. "http://127.0.0.1:8180".
	// The issuer is OrgURL + "/oauth2/default". When empty, the URL is
	// derived from each request's Host.
	OrgURL string
	// RateLimits are per-minute request budgets.
	RateLimits RateLimits
	// Faults inject errors and latency by path prefix.
	Faults []Fault
	// TokenLifetime is the access-token lifetime of the default policy
	// rule (whole minutes, 5m to 24h, as Okta allows). Default 1h. Tokens
	// take their lifetime from the rule that grants them. Below 5m (whole
	// seconds, at least MinTokenLifetimeCap) — which Okta does not allow —
	// it is an emulator-only cap for tests of token renewal: the default
	// rule shows Okta's minimum, 5 minutes, and every access token of every
	// authorization server lasts at most TokenLifetime.
	TokenLifetime time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives operational messages (state-file errors); secrets
	// are never logged. Default: discard.
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies; default 1 MiB.
	MaxBodyBytes int64

	// Real-org modes (modes.go). The zero values give today's kind org,
	// except RateLimitShare, which is Okta's 0.5 unless set.

	// AccessPolicy is AccessPolicyAllClients (default) or AccessPolicyNone.
	AccessPolicy string
	// RateLimitShare is the part (0 < F <= 1) of each rate-limit bucket one
	// API token or OAuth 2.0 app may use; 0 means DefaultRateLimitShare.
	RateLimitShare float64
	// ConcurrencyLimit caps simultaneous requests; 0 is off.
	ConcurrencyLimit int
	// APITokenRole is RoleSuperAdmin (default) or RoleAppAdmin.
	APITokenRole string
	// DisabledFeatures lists org features turned off, e.g.
	// FeatureAPIAccessManagement.
	DisabledFeatures []string
	// DPoPResourceNonce makes management calls with DPoP-bound tokens need
	// a server nonce (Server.SetDPoPResourceNonce).
	DPoPResourceNonce bool
}

// RateLimits are per-minute request budgets, like Okta's org-wide limits
// per endpoint family. 0 means the default, a negative value unlimited.
type RateLimits struct {
	// Apps covers /api/v1/apps and its sub-paths, except the ones App covers.
	Apps int `json:"apps"`
	// App covers GET, PUT and DELETE /api/v1/apps/{id}.
	App int `json:"app"`
	// Token covers POST /oauth2/{as}/v1/token.
	Token int `json:"token"`
	// Other covers every other Okta endpoint (authorization servers,
	// keys, metadata).
	Other int `json:"other"`
	// Window is the length of the fixed rate-limit window, a whole number
	// of seconds; 0 means one minute, as Okta. The budgets above apply per
	// window. Shorter windows let tests and benchmarks watch several resets
	// without waiting minutes; real Okta always uses one minute.
	Window time.Duration `json:"window,omitempty"`
}

func (rl RateLimits) validate() error {
	if rl.Window < 0 || rl.Window%time.Second != 0 {
		return fmt.Errorf("%w: rate-limit window %s must be a whole number of seconds", ErrInvalidConfig, rl.Window)
	}
	return nil
}

// window returns the effective rate-limit window.
func (rl RateLimits) window() time.Duration {
	if rl.Window <= 0 {
		return time.Minute
	}
	return rl.Window
}

// Fault injects failures into requests whose path starts with PathPrefix.
// When several faults match, the one with the longest prefix wins.
type Fault struct {
	// PathPrefix selects requests by URL path, e.g. "/api/v1/apps".
	PathPrefix string `json:"pathPrefix"`
	// Method, when set, restricts the fault to one HTTP method.
	Method string `json:"method,omitempty"`
	// Prob500 is the probability (0..1) of answering 500 E0000009.
	Prob500 float64 `json:"prob500,omitempty"`
	// Prob503 is the probability (0..1) of answering 503 E0000010.
	Prob503 float64 `json:"prob503,omitempty"`
	// Latency is added before the request is handled.
	Latency time.Duration `json:"latency,omitempty"`
	// AfterCommit makes an injected 500/503 happen after the request took
	// effect (the change is applied, the answer is lost), which is how a
	// timeout or a dropped connection looks to a client. Otherwise the
	// injected error changes nothing.
	AfterCommit bool `json:"afterCommit,omitempty"`
}

func (f Fault) validate() error {
	if !strings.HasPrefix(f.PathPrefix, "/") {
		return fmt.Errorf("%w: fault path prefix %q must start with /", ErrInvalidConfig, f.PathPrefix)
	}
	if f.Prob500 < 0 || f.Prob500 > 1 || f.Prob503 < 0 || f.Prob503 > 1 || f.Prob500+f.Prob503 > 1 {
		return fmt.Errorf("%w: fault %q: probabilities must be within 0..1 and sum to at most 1", ErrInvalidConfig, f.PathPrefix)
	}
	if f.Latency < 0 {
		return fmt.Errorf("%w: fault %q: latency must not be negative", ErrInvalidConfig, f.PathPrefix)
	}
	if f.Method != "" && f.Method != strings.ToUpper(f.Method) {
		return fmt.Errorf("%w: fault %q: method %q must be upper case", ErrInvalidConfig, f.PathPrefix, f.Method)
	}
	return nil
}

// FaultSyntax documents the textual form ParseFault accepts.
const FaultSyntax = `PREFIX:KEY=VALUE[,KEY=VALUE...]
  PREFIX      URL path prefix, e.g. /api/v1/apps or /oauth2/default/v1/token
  500=P       probability (0..1) of a 500 E0000009 answer
  503=P       probability (0..1) of a 503 E0000010 answer
  latency=D   added latency, a Go duration such as 250ms
  method=M    only requests with this HTTP method
  after=true  inject the 500/503 after the change was applied
example: /api/v1/apps:500=0.1,503=0.05,latency=200ms,method=POST`

// ParseFault parses the FaultSyntax form, e.g.
// "/api/v1/apps:500=0.1,503=0.05,latency=200ms".
func ParseFault(s string) (Fault, error) {
	prefix, spec, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || spec == "" {
		return Fault{}, fmt.Errorf("%w: fault %q: want %s", ErrInvalidConfig, s, "PREFIX:KEY=VALUE[,...]")
	}
	f := Fault{PathPrefix: prefix}
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return Fault{}, fmt.Errorf("%w: fault %q: %q is not KEY=VALUE", ErrInvalidConfig, s, kv)
		}
		var err error
		switch k {
		case "500":
			f.Prob500, err = strconv.ParseFloat(v, 64)
		case "503":
			f.Prob503, err = strconv.ParseFloat(v, 64)
		case "latency":
			f.Latency, err = time.ParseDuration(v)
		case "method":
			f.Method = strings.ToUpper(v)
		case "after":
			f.AfterCommit, err = strconv.ParseBool(v)
		default:
			return Fault{}, fmt.Errorf("%w: fault %q: unknown key %q", ErrInvalidConfig, s, k)
		}
		if err != nil {
			return Fault{}, fmt.Errorf("%w: fault %q: bad value for %s: %v", ErrInvalidConfig, s, k, err)
		}
	}
	if err := f.validate(); err != nil {
		return Fault{}, err
	}
	return f, nil
}

// ParseScopes splits a comma- or space-separated scope list.
func ParseScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func validScopeName(s string) bool {
	if s == "" || len(s) > 300 {
		return false
	}
	for _, r := range s {
		// RFC 6749 scope-token: %x21 / %x23-5B / %x5D-7E
		if r < 0x21 || r == 0x22 || r == 0x5c || r > 0x7e {
			return false
		}
	}
	return true
}

// normalize applies defaults and validates cfg.
func (cfg Config) normalize() (Config, error) {
	if cfg.APIToken == "" {
		return cfg, ErrAPITokenRequired
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{DefaultScope}
	}
	seen := map[string]bool{}
	scopes := make([]string, 0, len(cfg.Scopes))
	for _, s := range cfg.Scopes {
		if !validScopeName(s) {
			return cfg, fmt.Errorf("%w: invalid scope name %q", ErrInvalidConfig, s)
		}
		if !seen[s] {
			seen[s] = true
			scopes = append(scopes, s)
		}
	}
	cfg.Scopes = scopes
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	switch {
	case cfg.TokenLifetime < 5*time.Minute:
		// Shorter than Okta allows: an emulator-only cap for tests of token renewal.
		if cfg.TokenLifetime < MinTokenLifetimeCap || cfg.TokenLifetime%time.Second != 0 {
			return cfg, fmt.Errorf("%w: token lifetime %s: below 5m (Okta's minimum) it must be whole seconds, at least %s", ErrInvalidConfig, cfg.TokenLifetime, MinTokenLifetimeCap)
		}
	case cfg.TokenLifetime > 24*time.Hour || cfg.TokenLifetime%time.Minute != 0:
		return cfg, fmt.Errorf("%w: token lifetime %s must be whole minutes between 5m and 24h (or whole seconds from %s to under 5m, emulator only)", ErrInvalidConfig, cfg.TokenLifetime, MinTokenLifetimeCap)
	}
	for _, f := range cfg.Faults {
		if err := f.validate(); err != nil {
			return cfg, err
		}
	}
	if err := cfg.RateLimits.validate(); err != nil {
		return cfg, err
	}
	if cfg.OrgURL != "" {
		u, err := normalizeOrgURL(cfg.OrgURL)
		if err != nil {
			return cfg, err
		}
		cfg.OrgURL = u
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return cfg.normalizeModes()
}

func normalizeOrgURL(s string) (string, error) {
	s = strings.TrimRight(s, "/")
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return "", fmt.Errorf("%w: org URL %q must start with http:// or https://", ErrInvalidConfig, s)
	}
	if strings.ContainsAny(s[strings.Index(s, "//")+2:], "/?#") {
		return "", fmt.Errorf("%w: org URL %q must not have a path, query or fragment", ErrInvalidConfig, s)
	}
	return s, nil
}

func (rl RateLimits) budget(bucket string) int {
	var v, def int
	switch bucket {
	case bucketApps:
		v, def = rl.Apps, DefaultAppsRateLimit
	case bucketApp:
		v, def = rl.App, DefaultAppRateLimit
	case bucketToken:
		v, def = rl.Token, DefaultTokenRateLimit
	default:
		v, def = rl.Other, DefaultOtherRateLimit
	}
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}
