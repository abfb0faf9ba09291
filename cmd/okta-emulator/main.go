// Command okta-emulator runs an emulated Okta org: the management API
// subset clientcreds uses and the default custom authorization server.
// See internal/oktaemu. Every flag has an OKTA_EMULATOR_* environment
// twin; a flag given on the command line wins over its variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/clientcreds/clientcreds/internal/flagenv"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

const envPrefix = "OKTA_EMULATOR"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// faultList collects repeated --fault flags.
type faultList []oktaemu.Fault

func (f *faultList) String() string {
	parts := make([]string, 0, len(*f))
	for _, x := range *f {
		parts = append(parts, x.PathPrefix)
	}
	return strings.Join(parts, ";")
}

// Set accepts one fault, or several separated by ";" (the env form).
func (f *faultList) Set(v string) error {
	for _, s := range strings.Split(v, ";") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		fault, err := oktaemu.ParseFault(s)
		if err != nil {
			return err
		}
		*f = append(*f, fault)
	}
	return nil
}

// featureList collects --disable-feature values.
type featureList []string

func (f *featureList) String() string { return strings.Join(*f, ",") }

// Set accepts one feature or several separated by commas (the env form).
func (f *featureList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*f = append(*f, s)
		}
	}
	return nil
}

func envName(flagName string) string { return flagenv.Name(envPrefix, flagName) }

// run parses flags, starts the emulator and serves until ctx is done.
// It returns the process exit code: 0 clean, 1 runtime failure, 2 usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("okta-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8180", "listen address, host:port (port 0 picks a free port)")
	apiToken := fs.String("api-token", "", "SSWS API token the management API accepts (required)")
	scopes := fs.String("scopes", oktaemu.DefaultScope, "scopes of the default authorization server, comma-separated")
	stateFile := fs.String("state-file", "", "JSON file keeping apps, secrets and signing keys across restarts (written atomically)")
	orgURL := fs.String("org-url", "", "externally visible org URL (default http://<addr>)")
	lifetime := fs.Duration("token-lifetime", oktaemu.DefaultTokenLifetime, "access-token lifetime of the default policy rule (5m to 24h, as Okta allows; below 5m, whole seconds from 5s: an emulator-only cap on every access token, for tests of token renewal)")
	rlApps := fs.Int("rate-limit-apps", 0, fmt.Sprintf("requests per minute for /api/v1/apps and its sub-paths (0 = %d, negative = unlimited)", oktaemu.DefaultAppsRateLimit))
	rlApp := fs.Int("rate-limit-app", 0, fmt.Sprintf("requests per minute for GET/PUT/DELETE /api/v1/apps/{id} (0 = %d, negative = unlimited)", oktaemu.DefaultAppRateLimit))
	rlToken := fs.Int("rate-limit-token", 0, fmt.Sprintf("requests per minute for the token endpoint (0 = %d, negative = unlimited)", oktaemu.DefaultTokenRateLimit))
	rlWindow := fs.Duration("rate-limit-window", 0, "length of the rate-limit window, whole seconds (0 = 1m, as Okta); the limits above apply per window")
	rlOther := fs.Int("rate-limit-other", 0, fmt.Sprintf("requests per minute for every other endpoint (0 = %d, negative = unlimited)", oktaemu.DefaultOtherRateLimit))
	var faults faultList
	fs.Var(&faults, "fault", "inject faults, repeatable; syntax below (env: several separated by ';')")
	accessPolicy := fs.String("access-policy", oktaemu.AccessPolicyAllClients, "default policy of the default authorization server: all-clients (every client gets every scope) or none (names no client: each client needs its own policy, as in narrowed real orgs)")
	rlShare := fs.Float64("rate-limit-share", oktaemu.DefaultRateLimitShare, "part (0 < F <= 1) of each rate-limit bucket one API token or OAuth 2.0 app may use, as Okta (default 50%); the token sees floor(bucket x F), at least 1; the token endpoint counts org-wide only")
	concurrency := fs.Int("concurrency-limit", 0, fmt.Sprintf("simultaneous requests allowed; over it 429 E0000047 with the concurrency figures in X-Rate-Limit-* (Okta: %d on free orgs, %d otherwise; 0 = off)", oktaemu.ConcurrencyLimitOktaFree, oktaemu.ConcurrencyLimitOktaPaid))
	preset := fs.String("rate-limit-preset", "", "okta-free or okta-paid: Okta's documented per-minute buckets (apps 20/100, app 100/600, token 300/1200, other 100/600); a --rate-limit-* flag given overrides its bucket")
	role := fs.String("api-token-role", oktaemu.RoleSuperAdmin, "admin role of the API token: super-admin, or app-admin (apps and secrets only; /api/v1/authorizationServers answers 403 E0000006)")
	dpopNonce := fs.Bool("dpop-resource-nonce", false, "management calls with DPoP-bound tokens need a nonce from the emulator (401 use_dpop_nonce + DPoP-Nonce header otherwise; every answer carries a fresh DPoP-Nonce), as resource servers that rotate nonces")
	var disabled featureList
	fs.Var(&disabled, "disable-feature", "turn an org feature off, repeatable or comma-separated: api-access-management (/api/v1/authorizationServers answers 401 E0000015, as orgs without the product)")
	fs.Usage = func() { usage(fs, stderr) }

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "okta-emulator: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	if err := flagenv.Apply(fs, envPrefix); err != nil {
		fmt.Fprintf(stderr, "okta-emulator: %v\n", err)
		return 2
	}
	if *apiToken == "" {
		fmt.Fprintf(stderr, "okta-emulator: --api-token (or %s) is required\n", envName("api-token"))
		return 2
	}

	limits := oktaemu.RateLimits{}
	if *preset != "" {
		var err error
		if limits, err = oktaemu.PresetRateLimits(*preset); err != nil {
			fmt.Fprintf(stderr, "okta-emulator: %v\n", err)
			return 2
		}
	}
	for _, o := range []struct {
		dst *int
		v   int
	}{{&limits.Apps, *rlApps}, {&limits.App, *rlApp}, {&limits.Token, *rlToken}, {&limits.Other, *rlOther}} {
		if o.v != 0 {
			*o.dst = o.v
		}
	}
	limits.Window = *rlWindow

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "okta-emulator: cannot listen on %s: %v\n", *addr, err)
		return 1
	}
	defer ln.Close()
	org := *orgURL
	if org == "" {
		org = "http://" + visibleAddr(ln.Addr())
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	emu, err := oktaemu.New(oktaemu.Config{
		APIToken: *apiToken, Scopes: oktaemu.ParseScopes(*scopes), StateFile: *stateFile, OrgURL: org,
		TokenLifetime: *lifetime, Faults: faults, Logger: logger, RateLimits: limits,
		AccessPolicy: *accessPolicy, RateLimitShare: *rlShare, ConcurrencyLimit: *concurrency,
		APITokenRole: *role, DisabledFeatures: disabled, DPoPResourceNonce: *dpopNonce,
	})
	if err != nil {
		fmt.Fprintf(stderr, "okta-emulator: %v\n", err)
		if errors.Is(err, oktaemu.ErrInvalidConfig) || errors.Is(err, oktaemu.ErrAPITokenRequired) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stdout, "Okta org URL: %s\n", emu.OrgURL())
	fmt.Fprintf(stdout, "Issuer: %s\n", emu.Issuer())

	hs := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	code := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "okta-emulator: serve: %v\n", err)
		code = 1
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "okta-emulator: shutdown: %v\n", err)
	}
	if err := emu.Close(); err != nil {
		fmt.Fprintf(stderr, "okta-emulator: saving state: %v\n", err)
		code = 1
	}
	return code
}

// visibleAddr turns a listener address into one a local client can use:
// an unspecified host (0.0.0.0, ::) becomes 127.0.0.1.
func visibleAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func usage(fs *flag.FlagSet, w io.Writer) {
	flagenv.Usage(fs, envPrefix, "Usage: okta-emulator --api-token TOKEN [flags]\n\n"+
		"Runs an emulated Okta org: the management API subset clientcreds uses\n"+
		"and the default custom authorization server.")()
	fmt.Fprintf(w, "\nFault syntax (--fault):\n%s\n", indent(oktaemu.FaultSyntax))
	fmt.Fprintf(w, "At run time, GET or PUT /_emulator/faults (SSWS API token) reads or\n")
	fmt.Fprintf(w, "replaces the faults: {\"faults\": [\"/api/v1/apps:503=0.5\"]}.\n")
	fmt.Fprintf(w, "\nRate limits are per minute in fixed windows; over the limit the\n")
	fmt.Fprintf(w, "emulator answers 429 E0000047 with X-Rate-Limit-* headers.\n")
	fmt.Fprint(w, strictOrgHelp)
}

// strictOrgHelp documents the real-org modes and OAuth 2.0 access to the
// management API.
const strictOrgHelp = `
The --rate-limit-apps/app/token/other figures (or a preset) are org-wide
buckets. One API token (and each OAuth 2.0 service app) may use only
--rate-limit-share of each: it sees floor(bucket x share), at least 1, in
X-Rate-Limit-Limit. Token, keys and metadata requests count org-wide only.

A strict org, as real orgs are:
  okta-emulator --api-token T --access-policy=none \
    --rate-limit-preset=okta-paid --api-token-role=app-admin
With --access-policy=none a client gets tokens only from a policy naming it:
  POST /api/v1/authorizationServers/default/policies
    {"type":"OAUTH_AUTHORIZATION_POLICY","name":"...","description":"...",
     "priority":1,"conditions":{"clients":{"include":["<client_id>"]}}}
  POST .../policies/{policyId}/rules
    {"type":"RESOURCE_ACCESS","name":"...","priority":1,
     "conditions":{"grantTypes":{"include":["client_credentials"]},
       "people":{"groups":{"include":["EVERYONE"]}},
       "scopes":{"include":["hello:read"]}},
     "actions":{"token":{"accessTokenLifetimeMinutes":60}}}
Otherwise the token endpoint answers 400 access_denied.

OAuth 2.0 for the management API (instead of the SSWS token):
  1. With the SSWS token, create a service app with
     token_endpoint_auth_method private_key_jwt and its public JWKS
     (settings.oauthClient.jwks.keys). The org authorization server
     requires DPoP of every app (Okta's default for API service apps).
  2. Grant it okta.* scopes: POST /api/v1/apps/{appId}/grants
     {"issuer":"<org URL>","scopeId":"okta.apps.manage"}
     (okta.apps.read|manage, okta.authorizationServers.read|manage,
     okta.appGrants.read|manage).
  3. POST <org>/oauth2/v1/token with grant_type=client_credentials,
     scope=okta.apps.manage, client_assertion (RS256 or ES256,
     aud = <org>/oauth2/v1/token) and a DPoP proof header (RFC 9449): the
     first answer is 400 use_dpop_nonce with a DPoP-Nonce header; retry
     with that nonce in the proof. The token is token_type DPoP.
  4. Call /api/v1/... with "Authorization: DPoP <token>" and a fresh
     DPoP proof (htm, htu, iat, jti, ath). A scope not granted: 403
     E0000006 with a WWW-Authenticate challenge. With
     --dpop-resource-nonce the proof also needs the latest DPoP-Nonce
     (401 use_dpop_nonce otherwise).
`

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
