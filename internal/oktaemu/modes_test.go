package oktaemu_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okta/okta-sdk-golang/v2/okta"
	"github.com/okta/okta-sdk-golang/v2/okta/query"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
)

// plainSDK is an Okta SDK client without the spec-validating transport,
// for answers the trimmed spec does not declare (401 E0000015, grants).
func plainSDK(t *testing.T, env *oktaemutest.Env) (context.Context, *okta.Client) {
	t.Helper()
	ctx, c, err := okta.NewClient(context.Background(),
		okta.WithOrgUrl(env.URL), okta.WithToken(env.APIToken),
		okta.WithCache(false), okta.WithTestingDisableHttpsCheck(true),
		okta.WithRateLimitMaxRetries(0), okta.WithRequestTimeout(30))
	if err != nil {
		t.Fatalf("okta.NewClient: %v", err)
	}
	return ctx, c
}

func i64(v int64) *int64 { return &v }

// sdkPolicyFor is the policy an operator creates per client in a narrowed
// org: name, conditions.clients.include [clientId], priority.
func sdkPolicyFor(clientID string, priority int64) okta.AuthorizationServerPolicy {
	return okta.AuthorizationServerPolicy{
		Type: "OAUTH_AUTHORIZATION_POLICY", Name: "clientcreds " + clientID, Description: "one client",
		Status: "ACTIVE", PriorityPtr: i64(priority),
		Conditions: &okta.PolicyRuleConditions{Clients: &okta.ClientPolicyCondition{Include: []string{clientID}}},
	}
}

// sdkRule grants scopes with the given grant types, as the operator's
// rule: grantTypes, scopes include, accessTokenLifetimeMinutes.
func sdkRule(grants, scopes []string, minutes int64) okta.AuthorizationServerPolicyRule {
	return okta.AuthorizationServerPolicyRule{
		Type: "RESOURCE_ACCESS", Name: "client credentials", Status: "ACTIVE", PriorityPtr: i64(1),
		Conditions: &okta.AuthorizationServerPolicyRuleConditions{
			GrantTypes: &okta.GrantTypePolicyRuleCondition{Include: grants},
			People:     &okta.PolicyPeopleCondition{Groups: &okta.GroupCondition{Include: []string{"EVERYONE"}}},
			Scopes:     &okta.OAuth2ScopesMediationPolicyRuleCondition{Include: scopes},
		},
		Actions: &okta.AuthorizationServerPolicyRuleActions{Token: &okta.TokenAuthorizationServerPolicyRuleAction{
			AccessTokenLifetimeMinutesPtr: i64(minutes), RefreshTokenLifetimeMinutesPtr: i64(0), RefreshTokenWindowMinutesPtr: i64(10080),
		}},
	}
}

// TestAccessPolicyNone: with --access-policy=none the default policy names
// no client, and the token endpoint answers what Okta answers a client no
// policy admits (token.go: 400 access_denied, "Policy evaluation failed
// for this request, please check the policy configurations."). Policies
// and rules created through the management API (spec: createAuthorizationServerPolicy,
// createAuthorizationServerPolicyRule) admit exactly their client; a new policy takes the
// priority it asks for and the others move down, as in the transcripts
// TestAccResourceOktaAuthServerPolicy_crud and
// TestAccResourceOktaAuthServerPolicyRule_priority_concurrency_bug (POST with
// priority 1 answers priority 1).
func TestAccessPolicyNone(t *testing.T) {
	h := newHarness(t, oktaemu.Config{AccessPolicy: oktaemu.AccessPolicyNone, Scopes: []string{"hello:read", "hello:write"}})
	ctx, c := h.sdk()

	mk := func(label string) (id, clientID, secret string) {
		t.Helper()
		app, _, err := c.Application.CreateApplication(ctx, sdkServiceApp(label, "client_secret_basic", nil), query.NewQueryParams(query.WithActivate(true)))
		if err != nil {
			t.Fatalf("create %s: %v", label, err)
		}
		oa := app.(*okta.OpenIdConnectApplication)
		return oa.Id, oa.Credentials.OauthClient.ClientId, oa.Credentials.OauthClient.ClientSecret
	}
	_, billing, billingSecret := mk("billing")
	_, other, otherSecret := mk("other")

	const denied = "Policy evaluation failed for this request, please check the policy configurations."
	token := func(clientID, secret, scope string) oktaemutest.TokenResult {
		t.Helper()
		res, err := h.RequestToken(tokenForm(scope), clientID, secret)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	wantDenied := func(what string, res oktaemutest.TokenResult) {
		t.Helper()
		if res.Status != http.StatusBadRequest || res.Error != "access_denied" || res.Description != denied {
			t.Errorf("%s: %d %s %q, want 400 access_denied %q", what, res.Status, res.Error, res.Description, denied)
		}
	}

	pols, _, err := c.AuthorizationServer.ListAuthorizationServerPolicies(ctx, "default")
	if err != nil || len(pols) != 1 {
		t.Fatalf("policies: %v %v", pols, err)
	}
	if inc := pols[0].Conditions.Clients.Include; len(inc) != 0 {
		t.Errorf("default policy names clients %v, want none", inc)
	}
	wantDenied("no policy", token(billing, billingSecret, "hello:read"))

	pol, _, err := c.AuthorizationServer.CreateAuthorizationServerPolicy(ctx, "default", sdkPolicyFor(billing, 1))
	if err != nil {
		t.Fatalf("create policy: %v", err)
	}
	if pol.Priority != 1 {
		t.Errorf("new policy priority %d, want 1 as asked", pol.Priority)
	}
	// A policy without a rule admits nobody yet.
	wantDenied("policy without rule", token(billing, billingSecret, "hello:read"))

	if _, _, err := c.AuthorizationServer.CreateAuthorizationServerPolicyRule(ctx, "default", pol.Id, sdkRule([]string{"client_credentials"}, []string{"hello:read"}, 30)); err != nil {
		t.Fatalf("create rule: %v", err)
	}

	tests := map[string]struct {
		clientID, secret, scope string
		wantOK                  bool
	}{
		"the client of the policy, a scope of its rule": {billing, billingSecret, "hello:read", true},
		"a scope the rule lacks":                        {billing, billingSecret, "hello:write", false},
		"one scope of two lacking":                      {billing, billingSecret, "hello:read hello:write", false},
		"a client no policy names":                      {other, otherSecret, "hello:read", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := token(tc.clientID, tc.secret, tc.scope)
			if !tc.wantOK {
				wantDenied(name, res)
				return
			}
			if res.Status != http.StatusOK || res.ExpiresIn != 1800 || res.Scope != tc.scope {
				t.Errorf("%d %s %s: expires_in %d scope %q, want 200, 1800 (the rule's 30 minutes)", res.Status, res.Error, res.Description, res.ExpiresIn, res.Scope)
			}
		})
	}

	t.Run("rule without client_credentials", func(t *testing.T) {
		p2, _, err := c.AuthorizationServer.CreateAuthorizationServerPolicy(ctx, "default", sdkPolicyFor(other, 1))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.AuthorizationServer.CreateAuthorizationServerPolicyRule(ctx, "default", p2.Id, sdkRule([]string{"implicit"}, []string{"hello:read"}, 30)); err != nil {
			t.Fatal(err)
		}
		wantDenied("implicit-only rule", token(other, otherSecret, "hello:read"))
	})

	t.Run("priorities", func(t *testing.T) {
		// The last policy created asked for priority 1: it is first, the
		// others moved down and keep their order; the default policy is last.
		pols, _, err := c.AuthorizationServer.ListAuthorizationServerPolicies(ctx, "default")
		if err != nil || len(pols) != 3 {
			t.Fatalf("policies: %d %v", len(pols), err)
		}
		var got []string
		for _, p := range pols {
			got = append(got, strconv.FormatInt(p.Priority, 10)+":"+strings.Join(p.Conditions.Clients.Include, ","))
		}
		if want := "1:" + other + " 2:" + billing + " 3:"; strings.Join(got, " ") != want {
			t.Errorf("policies %v, want %s", got, want)
		}
	})
}

// TestAccessPolicyDefaultIsKind: without the mode every client gets every
// scope, as before (the default policy names ALL_CLIENTS).
func TestAccessPolicyDefaultIsKind(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	app := h.CreateServiceApp(t, "kind", "")
	h.FetchToken(t, app.ClientID, app.ClientSecret, "hello:read")
	_, c := h.sdk()
	pols, _, err := c.AuthorizationServer.ListAuthorizationServerPolicies(context.Background(), "default")
	if err != nil || len(pols) != 1 || strings.Join(pols[0].Conditions.Clients.Include, ",") != "ALL_CLIENTS" {
		t.Fatalf("default policy: %v %v", pols, err)
	}
}

// TestAPITokenRoleAndFeatures drives an app-admin token and an org without
// API Access Management with the SDK: apps and secrets stay manageable;
// every /api/v1/authorizationServers call answers 403 E0000006 (spec:
// ErrorAccessDenied403, "You do not have permission to perform the
// requested action") or, without the feature, 401 E0000015 (Okta error
// codes: "You do not have permission to access the feature you are
// requesting"). Metadata and the token endpoint keep working.
func TestAPITokenRoleAndFeatures(t *testing.T) {
	tests := map[string]struct {
		cfg         oktaemu.Config
		wantStatus  int
		wantCode    string
		wantSummary string
	}{
		"app-admin token": {oktaemu.Config{APITokenRole: oktaemu.RoleAppAdmin}, 403, "E0000006", "You do not have permission to perform the requested action"},
		"no api access management": {oktaemu.Config{DisabledFeatures: []string{oktaemu.FeatureAPIAccessManagement}}, 401, "E0000015",
			"You do not have permission to access the feature you are requesting"},
		"both: the missing feature wins": {oktaemu.Config{APITokenRole: oktaemu.RoleAppAdmin, DisabledFeatures: []string{oktaemu.FeatureAPIAccessManagement}}, 401, "E0000015",
			"You do not have permission to access the feature you are requesting"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := oktaemutest.Start(t, tc.cfg)
			ctx, c := plainSDK(t, env)

			// Apps and their secrets: allowed.
			app, _, err := c.Application.CreateApplication(ctx, sdkServiceApp("role", "client_secret_basic", nil), query.NewQueryParams(query.WithActivate(true)))
			if err != nil {
				t.Fatalf("create app: %v", err)
			}
			oa := app.(*okta.OpenIdConnectApplication)
			if _, _, err := c.Application.ListApplications(ctx, nil); err != nil {
				t.Errorf("list apps: %v", err)
			}
			if _, _, err := c.Application.CreateNewClientSecretForApplication(ctx, oa.Id, okta.ClientSecretMetadata{}); err != nil {
				t.Errorf("new client secret: %v", err)
			}

			// Authorization servers: refused, whatever the call.
			calls := map[string]func() (*okta.Response, error){
				"list servers": func() (*okta.Response, error) {
					_, r, err := c.AuthorizationServer.ListAuthorizationServers(ctx, nil)
					return r, err
				},
				"get default": func() (*okta.Response, error) {
					_, r, err := c.AuthorizationServer.GetAuthorizationServer(ctx, "default")
					return r, err
				},
				"list policies": func() (*okta.Response, error) {
					_, r, err := c.AuthorizationServer.ListAuthorizationServerPolicies(ctx, "default")
					return r, err
				},
				"create policy": func() (*okta.Response, error) {
					_, r, err := c.AuthorizationServer.CreateAuthorizationServerPolicy(ctx, "default", sdkPolicyFor(oa.Credentials.OauthClient.ClientId, 1))
					return r, err
				},
				"list scopes": func() (*okta.Response, error) {
					_, r, err := c.AuthorizationServer.ListOAuth2Scopes(ctx, "default", nil)
					return r, err
				},
			}
			for what, call := range calls {
				r, err := call()
				var oe *okta.Error
				if !errors.As(err, &oe) || r == nil || r.StatusCode != tc.wantStatus || oe.ErrorCode != tc.wantCode || oe.ErrorSummary != tc.wantSummary {
					t.Errorf("%s: %v (response %v), want %d %s", what, err, r, tc.wantStatus, tc.wantCode)
				}
			}
			status, body := oktaemutest.Admin(t, env.URL, env.APIToken, http.MethodGet, "/oauth2/default/.well-known/oauth-authorization-server", nil)
			if status != http.StatusOK || !strings.Contains(string(body), `"issuer"`) {
				t.Errorf("metadata: %d %s", status, body)
			}
			if status, _ := oktaemutest.Admin(t, env.URL, env.APIToken, http.MethodGet, "/oauth2/default/v1/keys", nil); status != http.StatusOK {
				t.Errorf("keys: %d", status)
			}
			env.FetchToken(t, oa.Credentials.OauthClient.ClientId, oa.Credentials.OauthClient.ClientSecret, "hello:read")
		})
	}
}

// TestRateLimitShare: one API token may use only its share of each bucket
// (Okta: "each API token or OAuth 2.0 app can use up to 50% of a bucket's
// total rate limit", developer.okta.com/docs/reference/rl2-token-oauth),
// and X-Rate-Limit-Limit reports the ceiling that applies to the request
// (developer.okta.com/docs/reference/rl-best-practices).
func TestRateLimitShare(t *testing.T) {
	tests := map[string]struct {
		bucket    int
		share     float64
		wantLimit int
	}{
		"default half":           {bucket: 10, share: 0, wantLimit: 5},
		"odd bucket rounds down": {bucket: 7, share: 0.5, wantLimit: 3},
		"at least one":           {bucket: 1, share: 0.5, wantLimit: 1},
		"whole bucket":           {bucket: 10, share: 1, wantLimit: 10},
		"Okta's minimum 5%":      {bucket: 100, share: 0.05, wantLimit: 5},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			env := oktaemutest.Start(t, oktaemu.Config{Now: clock.Now, RateLimitShare: tc.share, RateLimits: oktaemu.RateLimits{Apps: tc.bucket}})
			ctx, c := plainSDK(t, env)
			for i := range tc.wantLimit {
				_, r, err := c.Application.ListApplications(ctx, nil)
				if err != nil {
					t.Fatalf("list %d of %d: %v", i+1, tc.wantLimit, err)
				}
				if got := r.Header.Get("X-Rate-Limit-Limit"); got != strconv.Itoa(tc.wantLimit) {
					t.Errorf("X-Rate-Limit-Limit %s, want %d", got, tc.wantLimit)
				}
				if got, want := r.Header.Get("X-Rate-Limit-Remaining"), strconv.Itoa(tc.wantLimit-i-1); got != want {
					t.Errorf("X-Rate-Limit-Remaining %s, want %s", got, want)
				}
			}
			// With no retries the SDK gives up on the 429 ("too many requests").
			if _, _, err := c.Application.ListApplications(ctx, nil); err == nil || !strings.Contains(err.Error(), "too many requests") {
				t.Errorf("over the share: %v", err)
			}
			if status, hdr, body := rawGet(t, env, "/api/v1/apps"); status != http.StatusTooManyRequests || !strings.Contains(string(body), `"errorCode":"E0000047"`) ||
				hdr.Get("X-Rate-Limit-Limit") != strconv.Itoa(tc.wantLimit) || hdr.Get("X-Rate-Limit-Remaining") != "0" {
				t.Errorf("raw call over the share: %d %v %s", status, hdr, body)
			}
			// The token endpoint is not the API token's: it counts org-wide.
			if tc.bucket == 10 {
				env.Server.SetRateLimits(oktaemu.RateLimits{Apps: tc.bucket, Token: 2})
				for i := range 2 {
					if res, _ := env.RequestToken(tokenForm("hello:read"), "nobody", "x"); res.Status == http.StatusTooManyRequests {
						t.Errorf("token request %d refused by the share", i+1)
					}
				}
			}
		})
	}
}

// TestRateLimitPreset: Okta's documented per-minute figures (cited in
// PresetRateLimits), and the share a token sees of them.
func TestRateLimitPreset(t *testing.T) {
	tests := map[string]struct {
		want    oktaemu.RateLimits
		wantErr bool
	}{
		oktaemu.PresetOktaFree: {want: oktaemu.RateLimits{Apps: 20, App: 100, Token: 300, Other: 100}},
		oktaemu.PresetOktaPaid: {want: oktaemu.RateLimits{Apps: 100, App: 600, Token: 1200, Other: 600}},
		"okta-enterprise":      {wantErr: true},
		"":                     {wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := oktaemu.PresetRateLimits(name)
			if tc.wantErr {
				if !errors.Is(err, oktaemu.ErrInvalidConfig) {
					t.Errorf("err %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%+v %v, want %+v", got, err, tc.want)
			}
			env := oktaemutest.Start(t, oktaemu.Config{RateLimits: got})
			ctx, c := plainSDK(t, env)
			_, r, err := c.Application.ListApplications(ctx, nil)
			if err != nil || r.Header.Get("X-Rate-Limit-Limit") != strconv.Itoa(tc.want.Apps/2) {
				t.Errorf("apps limit %q %v, want %d (half of %d)", r.Header.Get("X-Rate-Limit-Limit"), err, tc.want.Apps/2, tc.want.Apps)
			}
		})
	}
}

// TestConcurrencyLimit: over --concurrency-limit Okta answers 429 E0000047
// and, instead of the per-minute figures, the X-Rate-Limit-* headers carry
// the concurrent ones ("Rate limit best practices",
// developer.okta.com/docs/reference/rl-best-practices).
func TestConcurrencyLimit(t *testing.T) {
	const limit = 2
	env := oktaemutest.Start(t, oktaemu.Config{ConcurrencyLimit: limit,
		// Slow GETs of one app hold their slots until their callers give up.
		Faults: []oktaemu.Fault{{PathPrefix: "/api/v1/apps/0", Method: http.MethodGet, Latency: time.Hour}}})
	ctx, c := plainSDK(t, env)
	app, _, err := c.Application.CreateApplication(ctx, sdkServiceApp("slow", "client_secret_basic", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	slowCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Registered after Start's cleanup, so it runs first: the slow calls end
	// before the server closes, even when the test fails early.
	t.Cleanup(func() { cancel(); wg.Wait() })
	for range limit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = c.Application.GetApplication(slowCtx, app.(*okta.OpenIdConnectApplication).Id, okta.NewApplication(), nil)
		}()
	}
	waitUntil(t, func() bool { return env.Server.InFlight() == limit })

	before := time.Now().Unix()
	if _, _, err := c.Application.ListApplications(ctx, nil); err == nil || !strings.Contains(err.Error(), "too many requests") {
		t.Fatalf("SDK over the concurrency limit: %v", err)
	}
	status, hdr, body := rawGet(t, env, "/api/v1/apps")
	if status != http.StatusTooManyRequests || !strings.Contains(string(body), `"errorCode":"E0000047"`) {
		t.Errorf("raw call over the concurrency limit: %d %s", status, body)
	}
	if hdr.Get("X-Rate-Limit-Limit") != strconv.Itoa(limit) || hdr.Get("X-Rate-Limit-Remaining") != "0" {
		t.Errorf("headers: limit %q remaining %q, want the concurrency figures %d and 0",
			hdr.Get("X-Rate-Limit-Limit"), hdr.Get("X-Rate-Limit-Remaining"), limit)
	}
	if reset, err := strconv.ParseInt(hdr.Get("X-Rate-Limit-Reset"), 10, 64); err != nil || reset < before {
		t.Errorf("X-Rate-Limit-Reset %q is not an epoch second from now on", hdr.Get("X-Rate-Limit-Reset"))
	}
	// The token endpoint counts too: all traffic shares the limit.
	if res, _ := env.RequestToken(tokenForm("hello:read"), "x", "y"); res.Status != http.StatusTooManyRequests {
		t.Errorf("token endpoint over the limit: %d", res.Status)
	}

	cancel()
	wg.Wait()
	waitUntil(t, func() bool { return env.Server.InFlight() == 0 })
	_, r, err := c.Application.ListApplications(ctx, nil)
	if err != nil {
		t.Fatalf("after the slow calls ended: %v", err)
	}
	if r.Header.Get("X-Rate-Limit-Limit") == strconv.Itoa(limit) {
		t.Error("headers still report the concurrency figures below the limit")
	}
}

// rawGet sends GET path with the SSWS token and returns the answer.
func rawGet(t *testing.T, env *oktaemutest.Env, path string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, env.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "SSWS "+env.APIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// waitUntil polls cond with a generous deadline (the machine may be busy).
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestModeConfig: bad mode values are refused by New with
// ErrInvalidConfig; good ones are accepted.
func TestModeConfig(t *testing.T) {
	tests := map[string]struct {
		cfg     oktaemu.Config
		wantErr bool
	}{
		"defaults":                 {cfg: oktaemu.Config{}},
		"strict":                   {cfg: oktaemu.Config{AccessPolicy: "none", APITokenRole: "app-admin", RateLimitShare: 0.05, ConcurrencyLimit: 35, DisabledFeatures: []string{"api-access-management"}}},
		"unknown access policy":    {cfg: oktaemu.Config{AccessPolicy: "some"}, wantErr: true},
		"unknown role":             {cfg: oktaemu.Config{APITokenRole: "org-admin"}, wantErr: true},
		"share above one":          {cfg: oktaemu.Config{RateLimitShare: 1.5}, wantErr: true},
		"negative share":           {cfg: oktaemu.Config{RateLimitShare: -0.5}, wantErr: true},
		"NaN share":                {cfg: oktaemu.Config{RateLimitShare: math.NaN()}, wantErr: true},
		"negative concurrency":     {cfg: oktaemu.Config{ConcurrencyLimit: -1}, wantErr: true},
		"unknown disabled feature": {cfg: oktaemu.Config{DisabledFeatures: []string{"sso"}}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.cfg.APIToken = "t"
			_, err := oktaemu.New(tc.cfg)
			if tc.wantErr != (err != nil) || (err != nil && !errors.Is(err, oktaemu.ErrInvalidConfig)) {
				t.Errorf("err %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}
