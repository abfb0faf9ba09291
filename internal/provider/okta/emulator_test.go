package okta_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaspec"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/okta"
)

// specCheck is a RoundTripper under the provider that validates every request it sends
// against Okta's OpenAPI spec (the trimmed copy of package oktaspec): parameters and bodies
// with openapi3filter, OIDC app bodies against OpenIdConnectApplication, and, stricter than
// oktaspec, app bodies without read-only (system-assigned) properties.
type specCheck struct {
	t         testing.TB
	v         *oktaspec.Validator
	oidcApp   *openapi3.Schema
	mu        sync.Mutex
	ops       map[string]int // operationId -> requests seen
	failures  int
	lastAppIn []byte
}

func newSpecCheck(t testing.TB) *specCheck {
	t.Helper()
	v, err := oktaspec.Load()
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	mgmt, _ := v.Docs()
	ref := mgmt.Components.Schemas["OpenIdConnectApplication"]
	if ref == nil || ref.Value == nil {
		t.Fatal("spec has no OpenIdConnectApplication")
	}
	return &specCheck{t: t, v: v, oidcApp: ref.Value, ops: map[string]int{}}
}

func (c *specCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	var problems []error
	route, err := c.v.FindRoute(req)
	if err != nil {
		problems = append(problems, err)
	} else {
		if err := c.v.ValidateRequest(req, body); err != nil {
			problems = append(problems, err)
		}
		isApp := route.Path == "/api/v1/apps" || route.Path == "/api/v1/apps/{appId}"
		if isApp && (req.Method == http.MethodPost || req.Method == http.MethodPut) {
			var doc any
			if err := json.Unmarshal(body, &doc); err != nil {
				problems = append(problems, fmt.Errorf("app body is not JSON: %w", err))
			} else if err := c.oidcApp.VisitJSON(doc, openapi3.VisitAsRequest(), openapi3.MultiErrors()); err != nil {
				problems = append(problems, fmt.Errorf("%s %s: OpenIdConnectApplication (read-only properties checked): %v", req.Method, req.URL.Path, err))
			}
		}
	}
	c.mu.Lock()
	if route != nil {
		c.ops[route.OperationID]++
	}
	if route != nil && strings.HasPrefix(route.Path, "/api/v1/apps") && req.Method == http.MethodPut {
		c.lastAppIn = body
	}
	c.failures += len(problems)
	c.mu.Unlock()
	for _, p := range problems {
		c.t.Errorf("request does not match Okta's spec: %v", p)
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (c *specCheck) operations() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.ops))
	for k, v := range c.ops {
		out[k] = v
	}
	return out
}

type env struct {
	*oktaemutest.Env
	p     *okta.Client
	spec  *specCheck
	owner provider.Owner
}

// start runs an emulator and a provider whose requests are spec-checked; each test gets its
// own budget registry.
func start(t *testing.T, cfg oktaemu.Config) *env {
	t.Helper()
	e := oktaemutest.Start(t, cfg)
	sc := newSpecCheck(t)
	p, err := okta.New(okta.Config{
		OrgURL: e.URL, APIToken: e.APIToken, AllowInsecureLoopbackHTTP: true,
		HTTPClient: &http.Client{Timeout: 20 * time.Second, Transport: sc},
		Budgets:    okta.NewBudgets(okta.BudgetOptions{}),
	})
	if err != nil {
		t.Fatalf("okta.New: %v", err)
	}
	return &env{Env: e, p: p, spec: sc, owner: provider.Owner{UID: "uid-" + t.Name(), Namespace: "team-a", Name: "billing"}}
}

func (e *env) spec4(label string, method provider.AuthMethod, keys ...provider.PublicKey) provider.AppSpec {
	return provider.AppSpec{Label: label, AuthMethod: method, PublicKeys: keys, Owner: e.owner}
}

// raw sends a management request as an admin would in the console, outside the provider.
func (e *env) raw(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	status, data := oktaemutest.Admin(t, e.URL, e.APIToken, method, path, body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return status, out
}

func (e *env) requests() int64 { return e.Server.Stats().Total }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestEmulatorLifecycle(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)

	eps, err := e.p.CheckHealth(c)
	if err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
	if eps.Issuer != e.Issuer || eps.TokenURL != e.TokenURL || eps.JWKSURL != e.JWKSURL {
		t.Fatalf("endpoints %+v, want issuer %s token %s jwks %s", eps, e.Issuer, e.TokenURL, e.JWKSURL)
	}

	spec := e.spec4("team-a/billing", provider.AuthClientSecretBasic)
	created, err := e.p.CreateApp(c, spec)
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if !created.Active || created.ClientID == "" || created.ClientSecret == "" || created.Owner != e.owner {
		t.Fatalf("created app: active=%v client id set=%v secret set=%v owner=%+v", created.Active, created.ClientID != "", created.ClientSecret != "", created.Owner)
	}
	creds := provider.Credentials{ClientID: created.ClientID, ClientSecret: created.ClientSecret, AuthMethod: spec.AuthMethod, TokenURL: eps.TokenURL, Scopes: []string{"hello:read"}}
	if err := e.p.RequestToken(c, creds); err != nil {
		t.Fatalf("token with the created secret: %v", err)
	}

	got, err := e.p.GetApp(c, created.ID)
	if err != nil {
		t.Fatalf("GetApp: %v", err)
	}
	if !got.Matches(spec) || got.ClientID != created.ClientID || got.ClientSecret != "" {
		t.Fatalf("got app %+v does not match the spec (or carries a secret)", *got)
	}

	found, err := e.p.FindApps(c, "TEAM-A/")
	if err != nil {
		t.Fatalf("FindApps: %v", err)
	}
	if len(found) != 1 || found[0].ID != created.ID || found[0].Owner != e.owner {
		t.Fatalf("FindApps found %d apps, want the created one with its owner", len(found))
	}

	// An admin edits the app in the console: fields clientcreds does not manage.
	status, console := e.raw(t, http.MethodGet, "/api/v1/apps/"+created.ID, nil)
	if status != 200 {
		t.Fatalf("console GET: %d", status)
	}
	console["settings"].(map[string]any)["notes"] = map[string]any{"admin": "owned by team A"}
	console["settings"].(map[string]any)["implicitAssignment"] = false
	console["visibility"] = map[string]any{"autoSubmitToolbar": false, "hide": map[string]any{"iOS": true, "web": false}}
	console["accessibility"] = map[string]any{"selfService": false, "errorRedirectUrl": "https://example.com/err"}
	console["profile"].(map[string]any)["team"] = "billing"
	if status, body := e.raw(t, http.MethodPut, "/api/v1/apps/"+created.ID, console); status != 200 {
		t.Fatalf("console PUT: %d %v", status, body)
	}

	before, err := e.p.GetApp(c, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	spec2 := e.spec4("team-a/billing (renamed)", provider.AuthClientSecretPost)
	if before.Matches(spec2) {
		t.Fatal("the app already matches the changed spec")
	}
	updated, err := e.p.UpdateApp(c, before, spec2)
	if err != nil {
		t.Fatalf("UpdateApp: %v", err)
	}
	if !updated.Matches(spec2) || updated.ClientID != created.ClientID {
		t.Fatalf("updated app does not match or changed its client id: %+v", *updated)
	}
	_, after := e.raw(t, http.MethodGet, "/api/v1/apps/"+created.ID, nil)
	for name, want := range map[string]any{
		"settings.notes.admin":                               "owned by team A",
		"settings.implicitAssignment":                        false,
		"visibility.autoSubmitToolbar":                       false,
		"visibility.hide.iOS":                                true,
		"visibility.hide.web":                                false,
		"accessibility.selfService":                          false,
		"accessibility.errorRedirectUrl":                     "https://example.com/err",
		"profile.team":                                       "billing",
		"profile.clientcreds.dev/owner":                      "team-a/billing",
		"label":                                              "team-a/billing (renamed)",
		"credentials.oauthClient.token_endpoint_auth_method": "client_secret_post",
	} {
		if got := dig(after, name); got != want {
			t.Errorf("after update %s = %v, want %v", name, got, want)
		}
	}
	// The secret is unchanged by the update: it still works, now in the body.
	creds.AuthMethod = provider.AuthClientSecretPost
	if err := e.p.RequestToken(c, creds); err != nil {
		t.Fatalf("token after the update: %v", err)
	}

	// Secrets: list, add a second, refuse a third, revoke the first.
	secrets, err := e.p.ListSecrets(c, created.ID)
	if err != nil || len(secrets) != 1 || !secrets[0].Active || secrets[0].Value != "" {
		t.Fatalf("ListSecrets = %+v, %v; want one active secret without value", secrets, err)
	}
	first := secrets[0]
	second, err := e.p.CreateSecret(c, created.ID)
	if err != nil || second.Value == "" || !second.Active {
		t.Fatalf("CreateSecret = %+v, %v", second, err)
	}
	if _, err := e.p.CreateSecret(c, created.ID); !errors.Is(err, provider.ErrConflict) {
		t.Fatalf("third secret: %v, want conflict", err)
	}
	if err := e.p.RevokeSecret(c, created.ID, first.ID); err != nil {
		t.Fatalf("RevokeSecret: %v", err)
	}
	if err := e.p.RevokeSecret(c, created.ID, second.ID); !errors.Is(err, provider.ErrConflict) {
		t.Fatalf("revoking the only active secret: %v, want conflict", err)
	}
	if err := e.p.RevokeSecret(c, created.ID, first.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("revoking a revoked secret: %v, want not found", err)
	}
	secrets, err = e.p.ListSecrets(c, created.ID)
	if err != nil || len(secrets) != 1 || secrets[0].ID != second.ID {
		t.Fatalf("after revoke: %+v, %v; want only the second secret", secrets, err)
	}
	if err := e.p.RequestToken(c, creds); !errors.Is(err, provider.ErrInvalidClient) {
		t.Fatalf("token with the revoked secret: %v, want invalid client", err)
	}
	creds.ClientSecret = second.Value
	if err := e.p.RequestToken(c, creds); err != nil {
		t.Fatalf("token with the new secret: %v", err)
	}

	// Delete an active app: deactivated first, then deleted.
	if err := e.p.DeleteApp(c, created.ID); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	if _, err := e.p.GetApp(c, created.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("GetApp after delete: %v, want not found", err)
	}
	if err := e.p.DeleteApp(c, created.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("DeleteApp again: %v, want not found", err)
	}

	// Everything the provider uses was sent, and matched the spec.
	ops := e.spec.operations()
	for _, op := range []string{"createApplication", "getApplication", "listApplications",
		"replaceApplication", "deactivateApplication", "deleteApplication", "listOAuth2ClientSecrets",
		"getWellKnownOAuthConfigurationCustomAS", "tokenCustomAS",
		"createOAuth2ClientSecret", "deactivateOAuth2ClientSecret", "deleteOAuth2ClientSecret"} {
		if ops[op] == 0 {
			t.Errorf("operation %s was not exercised (seen: %v)", op, sortedKeys(ops))
		}
	}
}

func dig(obj map[string]any, dotted string) any {
	var cur any = obj
	parts := strings.Split(dotted, ".")
	for i := 0; i < len(parts); i++ {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		// Profile keys contain dots.
		if rest := strings.Join(parts[i:], "."); m[rest] != nil {
			return m[rest]
		}
		cur = m[parts[i]]
	}
	return cur
}

func sortedKeys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestEmulatorFindAppsPages(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)
	const n = 230
	for i := range n {
		if _, err := e.p.CreateApp(c, e.spec4(fmt.Sprintf("page-test/app-%03d", i), provider.AuthClientSecretBasic)); err != nil {
			t.Fatalf("CreateApp %d: %v", i, err)
		}
	}
	for _, label := range []string{"other/app", "page-tes"} {
		if _, err := e.p.CreateApp(c, e.spec4(label, provider.AuthClientSecretBasic)); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[string]struct {
		query     string
		want      int
		wantPages int64
	}{
		"more than a page":     {query: "page-test/", want: n, wantPages: 2},
		"case-insensitive":     {query: "PAGE-TEST/APP-1", want: 100, wantPages: 1},
		"one":                  {query: "other/", want: 1, wantPages: 1},
		"none":                 {query: "nothing-here", want: 0, wantPages: 1},
		"prefix of both kinds": {query: "page-tes", want: n + 1, wantPages: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := e.Server.Stats().Route("GET /api/v1/apps")
			apps, err := e.p.FindApps(c, tc.query)
			if err != nil {
				t.Fatalf("FindApps: %v", err)
			}
			if len(apps) != tc.want {
				t.Errorf("found %d apps, want %d", len(apps), tc.want)
			}
			seen := map[string]bool{}
			for _, a := range apps {
				if seen[a.ID] || !strings.HasPrefix(strings.ToLower(a.Label), strings.ToLower(tc.query)) || a.Owner != e.owner {
					t.Errorf("unexpected app %s %q owner %+v", a.ID, a.Label, a.Owner)
				}
				seen[a.ID] = true
			}
			if pages := e.Server.Stats().Route("GET /api/v1/apps") - before; pages != tc.wantPages {
				t.Errorf("%d list requests, want %d", pages, tc.wantPages)
			}
		})
	}
}

func TestEmulatorNoStaleReadAfterDeactivate(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)
	spec := e.spec4("stale/check", provider.AuthClientSecretBasic)
	app, err := e.p.CreateApp(c, spec)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.p.GetApp(c, app.ID); err != nil || !got.Active {
		t.Fatalf("GetApp = %v, %v; want active", got, err)
	}
	if status, _ := e.raw(t, http.MethodPost, "/api/v1/apps/"+app.ID+"/lifecycle/deactivate", nil); status != 200 {
		t.Fatalf("console deactivate: %d", status)
	}
	got, err := e.p.GetApp(c, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Active || got.Matches(spec) {
		t.Fatal("GetApp after a deactivate still reports the app active: a cached read")
	}
	// UpdateApp brings it back: PUT + activate.
	before := e.requests()
	if _, err := e.p.UpdateApp(c, got, spec); err != nil {
		t.Fatalf("UpdateApp: %v", err)
	}
	if calls := e.requests() - before; calls != 2 {
		t.Errorf("update of an inactive app cost %d calls, want 2", calls)
	}
	if got, err := e.p.GetApp(c, app.ID); err != nil || !got.Active || !got.Matches(spec) {
		t.Fatalf("after UpdateApp: %+v, %v; want active and matching", got, err)
	}
}

func TestEmulatorWrongToken(t *testing.T) {
	e := start(t, oktaemu.Config{})
	wrong := "00wrongTOKEN-for-this-org"
	p, err := okta.New(okta.Config{OrgURL: e.URL, APIToken: wrong, Budgets: okta.NewBudgets(okta.BudgetOptions{}), AllowInsecureLoopbackHTTP: true,
		HTTPClient: &http.Client{Transport: e.spec}})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"check health": func() error { _, err := p.CheckHealth(ctx(t)); return err },
		"get app":      func() error { _, err := p.GetApp(ctx(t), "0oa1234567890abcdef"); return err },
		"find apps":    func() error { _, err := p.FindApps(ctx(t), "x"); return err },
		"create app": func() error {
			_, err := p.CreateApp(ctx(t), e.spec4("x", provider.AuthClientSecretBasic))
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, provider.ErrUnauthorized) || provider.Code(err) != okta.CodeInvalidToken {
				t.Fatalf("error = %v, want unauthorized with %s", err, okta.CodeInvalidToken)
			}
			if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), e.APIToken) {
				t.Error("the error contains an API token")
			}
		})
	}
}

func TestEmulatorFaultsAndRateLimits(t *testing.T) {
	tests := map[string]struct {
		faults    []oktaemu.Fault
		limits    oktaemu.RateLimits
		call      func(e *env, c context.Context, appID string) error
		spend     func(e *env, t *testing.T, appID string) int // spends the window; returns the status
		wantClass error
		wantCode  string
		wantRetry bool
	}{
		"500 on create": {
			faults: []oktaemu.Fault{{PathPrefix: "/api/v1/apps", Method: http.MethodPost, Prob500: 1}},
			call: func(e *env, c context.Context, _ string) error {
				_, err := e.p.CreateApp(c, e.spec4("f", provider.AuthClientSecretBasic))
				return err
			},
			wantClass: provider.ErrTransient, wantCode: "E0000009",
		},
		"503 on get": {
			faults:    []oktaemu.Fault{{PathPrefix: "/api/v1/apps/", Method: http.MethodGet, Prob503: 1}},
			call:      func(e *env, c context.Context, id string) error { _, err := e.p.GetApp(c, id); return err },
			wantClass: provider.ErrTransient, wantCode: "E0000010",
		},
		"503 on the token endpoint": {
			faults: []oktaemu.Fault{{PathPrefix: "/oauth2/default/v1/token", Prob503: 1}},
			call: func(e *env, c context.Context, _ string) error {
				return e.p.RequestToken(c, provider.Credentials{ClientID: "x", ClientSecret: "y", AuthMethod: provider.AuthClientSecretBasic, TokenURL: e.TokenURL})
			},
			wantClass: provider.ErrTransient,
		},
		"429 from okta on get": {
			// Another client has spent the window; the provider does not know yet.
			limits: oktaemu.RateLimits{App: 1, Window: testWindow},
			call: func(e *env, c context.Context, id string) error {
				_, err := e.p.GetApp(c, id)
				return err
			},
			spend: func(e *env, t *testing.T, id string) int {
				s, _ := e.raw(t, http.MethodGet, "/api/v1/apps/"+id, nil)
				return s
			},
			wantClass: provider.ErrRateLimited, wantCode: okta.CodeRateLimited, wantRetry: true,
		},
		"429 on the token endpoint": {
			limits: oktaemu.RateLimits{Token: 1, Window: testWindow},
			call: func(e *env, c context.Context, _ string) error {
				return e.p.RequestToken(c, provider.Credentials{ClientID: "x", ClientSecret: "y", AuthMethod: provider.AuthClientSecretBasic, TokenURL: e.TokenURL})
			},
			spend: func(e *env, t *testing.T, _ string) int {
				res, _ := e.RequestToken(url.Values{"grant_type": {"client_credentials"}}, "x", "y")
				return res.Status
			},
			wantClass: provider.ErrRateLimited, wantCode: okta.CodeRateLimited, wantRetry: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := start(t, oktaemu.Config{})
			c := ctx(t)
			app, err := e.p.CreateApp(c, e.spec4("faults", provider.AuthClientSecretBasic))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Server.SetFaults(tc.faults); err != nil {
				t.Fatal(err)
			}
			if tc.limits != (oktaemu.RateLimits{}) {
				// Raise the other buckets' defaults too: only the one under test is tight.
				e.Server.SetRateLimits(tc.limits)
			}
			if tc.spend != nil {
				for i := 0; tc.spend(e, t, app.ID) != http.StatusTooManyRequests; i++ {
					if i > 5 {
						t.Fatal("could not spend the window")
					}
				}
			}
			start := time.Now()
			err = tc.call(e, c, app.ID)
			if !errors.Is(err, tc.wantClass) {
				t.Fatalf("error = %v, want class %v", err, tc.wantClass)
			}
			if provider.Code(err) != tc.wantCode {
				t.Errorf("code %q, want %q", provider.Code(err), tc.wantCode)
			}
			retryAt, ok := provider.RetryAt(err)
			if ok != tc.wantRetry {
				t.Fatalf("RetryAt present = %v, want %v", ok, tc.wantRetry)
			}
			if ok && (retryAt.Before(start) || retryAt.After(start.Add(testWindow+2*time.Second))) {
				t.Errorf("retry at %s: want within the window", retryAt)
			}
			if tc.wantRetry {
				// Now the budget knows: the next call is refused without asking Okta.
				rl := e.Server.Stats().RateLimited
				if err := tc.call(e, c, app.ID); !errors.Is(err, provider.ErrRateLimited) {
					t.Fatalf("call after a 429: %v, want rate limited", err)
				}
				if got := e.Server.Stats().RateLimited; got != rl {
					t.Errorf("okta answered %d more 429s after the budget learned the reset", got-rl)
				}
			}
		})
	}
}

// testWindow is the emulator's rate-limit window in tests that must not see it reset: a day
// (windows are aligned to multiples of their length, so a reset during a test is unlikely;
// with Okta's one-minute windows a test would cross a reset every few dozen runs).
const testWindow = 24 * time.Hour

// TestEmulatorBudgetPreventsStampede: with a tight limit (60 per window), 200 concurrent calls
// reach Okta only while its budget lasts; the rest are refused locally with a RetryAt, and
// Okta answers no 429: the first call probes alone, the others go once its answer told the
// budget how much is left.
func TestEmulatorBudgetPreventsStampede(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)
	app, err := e.p.CreateApp(c, e.spec4("stampede", provider.AuthClientSecretBasic))
	if err != nil {
		t.Fatal(err)
	}
	const limit, callers = 60, 200
	// The org bucket is 2×limit: the API token may use half of it (Okta's default share).
	e.Server.SetRateLimits(oktaemu.RateLimits{App: 2 * limit, Window: testWindow})
	before := e.Server.Stats()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	var latest time.Time
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.p.GetApp(c, app.ID)
			mu.Lock()
			defer mu.Unlock()
			switch at, isRL := provider.RetryAt(err); {
			case err == nil:
				ok++
			case isRL:
				refused++
				latest = at
			default:
				t.Errorf("GetApp: %v", err)
			}
		}()
	}
	wg.Wait()
	after := e.Server.Stats()
	okta429 := after.RateLimited - before.RateLimited
	served := after.Route("GET /api/v1/apps/{id}") - before.Route("GET /api/v1/apps/{id}")
	t.Logf("%d callers, limit %d per window: %d served, %d refused locally (retry at %s), %d answered 429 by okta",
		callers, limit, ok, refused, latest.Format(time.RFC3339), okta429)
	if okta429 != 0 {
		t.Errorf("okta answered %d 429s; the budget should have prevented them", okta429)
	}
	if ok+refused != callers || int64(ok) != served {
		t.Errorf("ok %d + refused %d != %d callers, or served %d != ok", ok, refused, callers, served)
	}
	// Okta's whole budget is used, and not more.
	if ok != limit {
		t.Errorf("%d calls served, want %d", ok, limit)
	}
}

// TestEmulatorConvergence: callers that come back at their RetryAt all get served, in about
// calls ÷ rate, with (almost) no 429s. A one-second emulator window keeps it short.
func TestEmulatorConvergence(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)
	app, err := e.p.CreateApp(c, e.spec4("converge", provider.AuthClientSecretBasic))
	if err != nil {
		t.Fatal(err)
	}
	const limit, callers = 25, 100
	// The org bucket is 2×limit: the API token may use half of it (Okta's default share).
	e.Server.SetRateLimits(oktaemu.RateLimits{App: 2 * limit, Window: time.Second})
	before := e.Server.Stats()
	begin := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; ; attempt++ {
				_, err := e.p.GetApp(c, app.ID)
				if err == nil {
					return
				}
				at, isRL := provider.RetryAt(err)
				if !isRL || attempt > 50 {
					t.Errorf("GetApp: %v", err)
					return
				}
				time.Sleep(time.Until(at))
			}
		}()
	}
	wg.Wait()
	took := time.Since(begin)
	after := e.Server.Stats()
	okta429 := after.RateLimited - before.RateLimited
	served := after.Route("GET /api/v1/apps/{id}") - before.Route("GET /api/v1/apps/{id}")
	// 100 calls at 25 per one-second window need about 4 windows (logged, not asserted: the
	// fake-clock simulation in budget_test.go checks the time it takes).
	t.Logf("%d callers at %d/s converged in %s with %d okta 429s", callers, limit, took.Round(time.Millisecond), okta429)
	if served != callers {
		t.Errorf("okta served %d calls, want %d", served, callers)
	}
	if okta429 > 2 {
		t.Errorf("okta answered %d 429s, want at most a couple", okta429)
	}
}

func TestEmulatorAuthMethods(t *testing.T) {
	e := start(t, oktaemu.Config{Scopes: []string{"hello:read", "hello:write"}})
	c := ctx(t)
	kp, err := oauth2client.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[provider.AuthMethod]struct {
		keys []provider.PublicKey
	}{
		provider.AuthClientSecretBasic: {},
		provider.AuthClientSecretPost:  {},
		provider.AuthPrivateKeyJWT:     {keys: []provider.PublicKey{kp.Public}},
	}
	for method, tc := range tests {
		t.Run(string(method), func(t *testing.T) {
			spec := e.spec4("methods/"+string(method), method, tc.keys...)
			app, err := e.p.CreateApp(c, spec)
			if err != nil {
				t.Fatalf("CreateApp: %v", err)
			}
			if method.UsesSecret() == (app.ClientSecret == "") {
				t.Fatalf("secret returned = %v for %s", app.ClientSecret != "", method)
			}
			got, err := e.p.GetApp(c, app.ID)
			if err != nil || !got.Matches(spec) {
				t.Fatalf("GetApp = %+v, %v; want it to match the spec", got, err)
			}
			creds := provider.Credentials{ClientID: app.ClientID, AuthMethod: method, ClientSecret: app.ClientSecret,
				TokenURL: e.TokenURL, Scopes: []string{"hello:read", "hello:write"}}
			if method == provider.AuthPrivateKeyJWT {
				creds.PrivateKeyPEM, creds.KeyID = kp.PrivateKeyPEM, kp.Public.KeyID
			}
			if err := e.p.RequestToken(c, creds); err != nil {
				t.Fatalf("RequestToken: %v", err)
			}
			// Twice: a private_key_jwt assertion must not be replayed.
			if err := e.p.RequestToken(c, creds); err != nil {
				t.Fatalf("second RequestToken: %v", err)
			}
			bad := creds
			bad.Scopes = []string{"no:such:scope"}
			if err := e.p.RequestToken(c, bad); !errors.Is(err, provider.ErrInvalidScope) {
				t.Errorf("unknown scope: %v, want invalid scope", err)
			}
			bad = creds
			if method.UsesSecret() {
				bad.ClientSecret = "wrong-secret-value-1234"
			} else {
				other, err := oauth2client.GenerateKey()
				if err != nil {
					t.Fatal(err)
				}
				bad.PrivateKeyPEM = other.PrivateKeyPEM
			}
			if err := e.p.RequestToken(c, bad); !errors.Is(err, provider.ErrInvalidClient) {
				t.Errorf("wrong credentials: %v, want invalid client", err)
			}
		})
	}
	if ops := e.spec.operations(); ops["tokenCustomAS"] == 0 {
		t.Errorf("no token request was spec-checked (seen: %v)", sortedKeys(ops))
	}
}

// TestEmulatorCallCosts measures the Okta calls each operation costs.
func TestEmulatorCallCosts(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)
	spec := e.spec4("costs/app", provider.AuthClientSecretBasic)
	var app *provider.App
	var secret *provider.ClientSecret
	steps := []struct {
		name string
		want int64
		run  func() error
	}{
		{"check health", 2, func() error { _, err := e.p.CheckHealth(c); return err }},
		{"create app", 1, func() (err error) { app, err = e.p.CreateApp(c, spec); return err }},
		{"get app", 1, func() (err error) { app, err = e.p.GetApp(c, app.ID); return err }},
		{"find apps (one page)", 1, func() error { _, err := e.p.FindApps(c, "costs/"); return err }},
		{"update app (from GetApp)", 1, func() (err error) {
			app, err = e.p.UpdateApp(c, app, e.spec4("costs/app2", provider.AuthClientSecretBasic))
			return err
		}},
		{"update app (no object)", 2, func() (err error) {
			bare := &provider.App{ID: app.ID, Active: true}
			_, err = e.p.UpdateApp(c, bare, spec)
			return err
		}},
		{"list secrets", 1, func() error { _, err := e.p.ListSecrets(c, app.ID); return err }},
		{"create secret", 1, func() (err error) { secret, err = e.p.CreateSecret(c, app.ID); return err }},
		{"revoke secret", 2, func() error { return e.p.RevokeSecret(c, app.ID, secret.ID) }},
		{"request token", 1, func() error {
			s, err := e.p.CreateSecret(c, app.ID)
			if err != nil {
				return err
			}
			before := e.requests()
			err = e.p.RequestToken(c, provider.Credentials{ClientID: app.ClientID, ClientSecret: s.Value, AuthMethod: provider.AuthClientSecretBasic, TokenURL: e.TokenURL, Scopes: []string{"hello:read"}})
			if n := e.requests() - before; n != 1 {
				return fmt.Errorf("token request cost %d calls", n)
			}
			return err
		}},
		{"delete app", 2, func() error { return e.p.DeleteApp(c, app.ID) }},
	}
	for _, st := range steps {
		before := e.requests()
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := e.requests() - before
		if st.name == "request token" {
			got = 1 // counted inside (the step also creates a secret)
		}
		if got != st.want {
			t.Errorf("%s cost %d calls, want %d", st.name, got, st.want)
		}
		t.Logf("%-26s %d call(s)", st.name, got)
	}
}

// TestEmulatorLostCreateAnswerIsAdoptable: when Okta creates the app but the answer is lost
// (a 500 after the commit), the caller gets a transient error and finds the app again by
// label and owner.
func TestEmulatorLostCreateAnswerIsAdoptable(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)
	if _, err := e.p.CreateApp(c, e.spec4("adopt/other", provider.AuthClientSecretBasic)); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.SetFaults([]oktaemu.Fault{{PathPrefix: "/api/v1/apps", Method: http.MethodPost, Prob500: 1, AfterCommit: true}}); err != nil {
		t.Fatal(err)
	}
	owner := provider.Owner{UID: "uid-adopt", Namespace: "team-b", Name: "adopt"}
	spec := provider.AppSpec{Label: "adopt/me", AuthMethod: provider.AuthClientSecretBasic, Owner: owner}
	if _, err := e.p.CreateApp(c, spec); !errors.Is(err, provider.ErrTransient) {
		t.Fatalf("CreateApp = %v, want transient", err)
	}
	if err := e.Server.SetFaults(nil); err != nil {
		t.Fatal(err)
	}
	found, err := e.p.FindApps(c, spec.Label)
	if err != nil {
		t.Fatal(err)
	}
	var mine []provider.App
	for _, a := range found {
		if a.Owner.UID == owner.UID {
			mine = append(mine, a)
		}
	}
	if len(mine) != 1 || !mine[0].Matches(spec) || mine[0].Owner != owner {
		t.Fatalf("found %d apps of the owner (of %d), want exactly one matching the spec", len(mine), len(found))
	}
	// Its secret was lost with the answer: a new one can be minted.
	s, err := e.p.CreateSecret(c, mine[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.RequestToken(c, provider.Credentials{ClientID: mine[0].ClientID, ClientSecret: s.Value, AuthMethod: spec.AuthMethod, TokenURL: e.TokenURL, Scopes: []string{"hello:read"}}); err != nil {
		t.Fatalf("token with the minted secret: %v", err)
	}
}
