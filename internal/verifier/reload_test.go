package verifier

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// newTestReloader returns a reloader whose verifiers use clock.
func newTestReloader(t *testing.T, clock *fakeClock, mutate func(*ReloaderConfig)) *Reloader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := ReloaderConfig{
		Verifier:      Config{Now: clock.Now, UnknownKidCooldown: time.Minute},
		DefaultScopes: []string{"hello:read"},
		Waiting:       "oauthapi default/hello not read yet",
	}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := NewReloader(ctx, cfg)
	if err != nil {
		t.Fatalf("NewReloader: %v", err)
	}
	return r
}

// ask sends a forward-auth request for method and path with token (none
// when empty) and returns the answer.
func ask(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/verify", nil)
	req.Header.Set("X-Original-Uri", path)
	req.Header.Set("X-Original-Method", method)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestReloaderFailsClosedUntilConfigured(t *testing.T) {
	env := newServerEnv(t)
	r := newTestReloader(t, newFakeClock(), nil)
	srv := r.Server()
	for _, path := range []string{"/hello", "/public"} {
		rec := ask(srv, "GET", path, env.good)
		if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != NotConfiguredBody+"\n" {
			t.Errorf("%s before any settings: %d %q, want 503 %q", path, rec.Code, rec.Body, NotConfiguredBody)
		}
		if rec.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("%s: a 503 carries a challenge: %q", path, rec.Header().Get("WWW-Authenticate"))
		}
	}
	if rec := get(srv, "/readyz"); rec.Code != http.StatusServiceUnavailable || rec.Body.String() != NotConfiguredBody+"\n" {
		t.Errorf("/readyz before any settings: %d %q", rec.Code, rec.Body)
	}
	if _, why, ok := r.Current(); ok || why != "oauthapi default/hello not read yet" {
		t.Errorf("Current before any settings: %q %v, want the waiting reason", why, ok)
	}
	if rec := get(srv, "/healthz"); rec.Code != http.StatusOK {
		t.Errorf("/healthz: %d, want 200 (alive, only not ready)", rec.Code)
	}
	if got := counterValue(t, r.Metrics().configured); got != 0 {
		t.Errorf("%s = %v before any settings, want 0", MetricConfigured, got)
	}

	changed, err := r.Apply(Settings{Issuer: env.ti.issuer, Audience: testAudience, Rules: []Rule{{PathPrefix: "/public", Public: true}}})
	if err != nil || !changed {
		t.Fatalf("Apply = %v, %v", changed, err)
	}
	if rec := ask(srv, "GET", "/hello", env.good); rec.Code != http.StatusOK {
		t.Errorf("after Apply: %d %q, want 200", rec.Code, rec.Body)
	}
	if rec := ask(srv, "GET", "/public", ""); rec.Code != http.StatusOK {
		t.Errorf("public after Apply: %d, want 200", rec.Code)
	}
	if rec := get(srv, "/readyz"); rec.Code != http.StatusOK {
		t.Errorf("/readyz after Apply (keys fetched on the first token): %d %q", rec.Code, rec.Body)
	}
	if got := counterValue(t, r.Metrics().configured); got != 1 {
		t.Errorf("%s = %v after Apply, want 1", MetricConfigured, got)
	}
	if changed, err := r.Apply(Settings{Issuer: env.ti.issuer, Audience: testAudience, Rules: []Rule{{PathPrefix: "/public", Public: true}}}); err != nil || changed {
		t.Errorf("Apply of the same settings = %v, %v; want no change", changed, err)
	}
	if got := counterValue(t, r.Metrics().reloadOK); got != 1 {
		t.Errorf("successful reloads = %v, want 1 (equal settings are not a reload)", got)
	}

	r.Suspend("oauthapi default/hello not found")
	rec := ask(srv, "GET", "/public", "")
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != NotConfiguredBody+"\n" {
		t.Errorf("after Suspend: %d %q", rec.Code, rec.Body)
	}
	if _, why, ok := r.Current(); ok || why != "oauthapi default/hello not found" {
		t.Errorf("Current after Suspend: %q %v, want the reason", why, ok)
	}
	if rec := get(srv, "/readyz"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after Suspend: %d", rec.Code)
	}
	if got := counterValue(t, r.Metrics().configured); got != 0 {
		t.Errorf("%s = %v after Suspend, want 0", MetricConfigured, got)
	}
}

func TestReloaderRulesChange(t *testing.T) {
	env := newServerEnv(t)
	r := newTestReloader(t, newFakeClock(), nil)
	srv := r.Server()
	base := Settings{Issuer: env.ti.issuer, Audience: testAudience}
	if _, err := r.Apply(base); err != nil {
		t.Fatal(err)
	}
	if rec := ask(srv, "GET", "/admin", env.good); rec.Code != http.StatusOK {
		t.Fatalf("/admin without a rule: %d, want 200", rec.Code)
	}
	v := r.srv.st.Load().v

	withAdmin := base
	withAdmin.Rules = []Rule{{PathPrefix: "/admin", Scopes: []string{"hello:admin"}}}
	if _, err := r.Apply(withAdmin); err != nil {
		t.Fatal(err)
	}
	rec := ask(srv, "GET", "/admin", env.good)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `scope="hello:admin"`) {
		t.Errorf("/admin after the rule came: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if r.srv.st.Load().v != v {
		t.Error("a change of rules alone replaced the verifier (and its keys and token cache)")
	}

	// Invalid rules: refused, the last good ones stay.
	bad := base
	bad.Rules = []Rule{{PathPrefix: "/admin/../x", Scopes: []string{"hello:admin"}}}
	if _, err := r.Apply(bad); !errors.Is(err, ErrRules) {
		t.Fatalf("Apply(bad rules) = %v, want ErrRules", err)
	}
	if rec := ask(srv, "GET", "/admin", env.good); rec.Code != http.StatusForbidden {
		t.Errorf("after refused rules: /admin %d, want 403 (last good rules)", rec.Code)
	}
	if got := counterValue(t, r.Metrics().reloadErr); got != 1 {
		t.Errorf("refused reloads = %v, want 1", got)
	}
}

func TestReloaderBadFirstSettingsStayClosed(t *testing.T) {
	env := newServerEnv(t)
	r := newTestReloader(t, newFakeClock(), func(c *ReloaderConfig) {
		c.Server.TokenReviewAudiences = []string{testKubeAudience}
	})
	cases := map[string]struct {
		s    Settings
		want string
	}{
		"no audience":             {Settings{Issuer: env.ti.issuer}, "an issuer and an audience are required"},
		"http issuer":             {Settings{Issuer: "http://issuer.example/oauth2/default", Audience: testAudience}, "non-loopback"},
		"tokenreview audience":    {Settings{Issuer: env.ti.issuer, Audience: testKubeAudience}, "also a TokenReview audience"},
		"duplicate rule":          {Settings{Issuer: env.ti.issuer, Audience: testAudience, Rules: []Rule{{PathPrefix: "/a"}, {PathPrefix: "/a"}}}, "another rule already covers"},
		"public rule with scopes": {Settings{Issuer: env.ti.issuer, Audience: testAudience, Rules: []Rule{{PathPrefix: "/a", Public: true, Scopes: []string{"x"}}}}, "public and scopes"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := r.Apply(c.s); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Apply = %v, want an error containing %q", err, c.want)
			}
			rec := ask(r.Server(), "GET", "/hello", env.good)
			if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != NotConfiguredBody+"\n" {
				t.Errorf("after refused first settings: %d %q, want 503 %q without the error", rec.Code, rec.Body, NotConfiguredBody)
			}
			if _, why, ok := r.Current(); ok || !strings.Contains(why, c.want) {
				t.Errorf("Current after refused first settings: %q %v, want the error", why, ok)
			}
		})
	}
}

func TestReloaderAudienceAndIssuerChange(t *testing.T) {
	env := newServerEnv(t)
	k := testKeys(t)
	other := newTestIssuer(t, rsaJWK(t, k.b, kidB))
	clock := newFakeClock()
	r := newTestReloader(t, clock, nil)
	srv := r.Server()
	if _, err := r.Apply(Settings{Issuer: env.ti.issuer, Audience: testAudience}); err != nil {
		t.Fatal(err)
	}
	if rec := ask(srv, "GET", "/hello", env.good); rec.Code != http.StatusOK {
		t.Fatalf("first issuer: %d", rec.Code)
	}
	keys := r.srv.st.Load().v.keys

	// Audience change: same keys, tokens for the old audience refused.
	if _, err := r.Apply(Settings{Issuer: env.ti.issuer, Audience: "api://other"}); err != nil {
		t.Fatal(err)
	}
	if rec := ask(srv, "GET", "/hello", env.good); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "audience") {
		t.Errorf("old audience after the change: %d %q, want 401 bad audience", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	forOther := goodToken(t, env.ti, func(m map[string]any) { m["aud"] = "api://other" })
	if rec := ask(srv, "GET", "/hello", forOther); rec.Code != http.StatusOK {
		t.Errorf("new audience: %d", rec.Code)
	}
	if r.srv.st.Load().v.keys != keys {
		t.Error("a change of audience alone replaced the key set")
	}

	// Issuer change: the keys follow the new issuer's metadata and JWKS.
	hitsBefore := other.jwksHits.Load()
	if _, err := r.Apply(Settings{Issuer: other.issuer, Audience: testAudience}); err != nil {
		t.Fatal(err)
	}
	fromOther := sign(t, mustJSON(t, header(kidB)), mustJSON(t, claimsFor(other)), "RS256", k.b)
	if rec := ask(srv, "GET", "/hello", fromOther); rec.Code != http.StatusOK {
		t.Errorf("token of the new issuer: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if other.jwksHits.Load() == hitsBefore {
		t.Error("the new issuer's JWKS was never fetched")
	}
	if rec := ask(srv, "GET", "/hello", env.good); rec.Code != http.StatusUnauthorized {
		t.Errorf("token of the old issuer after the change: %d, want 401", rec.Code)
	}
}

// TestReloaderInFlightRequestsFinish: a proxied request that was allowed
// before the rules changed completes with the upstream's answer, while new
// requests are decided by the new rules.
func TestReloaderInFlightRequestsFinish(t *testing.T) {
	env := newServerEnv(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "slow hello\n")
	}))
	t.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL)
	r := newTestReloader(t, newFakeClock(), func(c *ReloaderConfig) { c.Server.Upstream = upURL })
	front := httptest.NewServer(r.Server())
	t.Cleanup(front.Close)
	s := Settings{Issuer: env.ti.issuer, Audience: testAudience}
	if _, err := r.Apply(s); err != nil {
		t.Fatal(err)
	}

	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, front.URL+"/slow", nil)
		req.Header.Set("Authorization", "Bearer "+env.good)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		done <- result{code: resp.StatusCode, body: string(b)}
	}()
	select {
	case <-entered:
	case res := <-done:
		t.Fatalf("the first request never reached the upstream: %d %q %v", res.code, res.body, res.err)
	}

	s.Rules = []Rule{{PathPrefix: "/slow", Scopes: []string{"hello:admin"}}}
	if _, err := r.Apply(s); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, front.URL+"/slow", nil)
	req.Header.Set("Authorization", "Bearer "+env.good)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a new request after the change: %d, want 403", resp.StatusCode)
	}
	r.Suspend("oauthapi default/hello was deleted")

	close(release)
	res := <-done
	if res.err != nil || res.code != http.StatusOK || res.body != "slow hello\n" {
		t.Errorf("the request in flight: %d %q %v, want 200 from the upstream", res.code, res.body, res.err)
	}
}

func TestNewReloaderRefuses(t *testing.T) {
	ctx := context.Background()
	cases := map[string]ReloaderConfig{
		"issuer in the template":    {Verifier: Config{Issuer: "https://issuer.example"}},
		"jwks url in the template":  {Verifier: Config{JWKSURL: "https://issuer.example/keys"}},
		"a verifier in the server":  {Server: ServerConfig{Verifier: &Verifier{}}},
		"a bad algorithm":           {Verifier: Config{AllowedAlgs: []string{"HS256"}}},
		"a bad required scope":      {DefaultScopes: []string{"a\"b"}},
		"client CA without reviews": {Server: ServerConfig{TokenReviewRequireClientCert: true}},
	}
	for name, cfg := range cases {
		if _, err := NewReloader(ctx, cfg); err == nil {
			t.Errorf("%s: NewReloader accepted it", name)
		}
	}
}

// TestNoKubernetesClient: the verifier package runs without the operator.
// It uses the TokenReview types (k8s.io/api/authentication/v1 and the
// apimachinery they need) and nothing that talks to an API server, nor the
// operator's CRD types, nor the OAuthAPI watch.
func TestNoKubernetesClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps gave %d packages: %q", len(deps), out)
	}
	allowed := []string{"k8s.io/api/authentication/", "k8s.io/apimachinery/", "k8s.io/klog/", "k8s.io/utils/", "k8s.io/kube-openapi/pkg/util", "sigs.k8s.io/json", "sigs.k8s.io/yaml", "sigs.k8s.io/structured-merge-diff/", "sigs.k8s.io/randfill"}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/clientcreds/clientcreds/") && d != "github.com/clientcreds/clientcreds/internal/verifier" {
			t.Errorf("internal/verifier depends on %s", d)
		}
		if !strings.HasPrefix(d, "k8s.io/") && !strings.HasPrefix(d, "sigs.k8s.io/") {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(d, a)
		}
		if !ok {
			t.Errorf("internal/verifier depends on %s (client-go, controller-runtime and other Kubernetes packages belong in internal/oauthapiwatch)", d)
		}
	}
}

// TestReloaderTokenReview: /tokenreview is 503 while not configured, then
// authenticates with the settings' issuer, and follows an issuer change.
func TestReloaderTokenReview(t *testing.T) {
	env := newServerEnv(t)
	k := testKeys(t)
	other := newTestIssuer(t, rsaJWK(t, k.b, kidB))
	r := newTestReloader(t, newFakeClock(), func(c *ReloaderConfig) {
		c.Server.TokenReviewAudiences = []string{testKubeAudience}
	})
	review := func(token string) (int, string) {
		body := mustJSON(t, map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": map[string]any{"token": token}})
		req := httptest.NewRequest(http.MethodPost, "/tokenreview", strings.NewReader(body))
		rec := httptest.NewRecorder()
		r.Server().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	kube := goodToken(t, env.ti, func(m map[string]any) { m["aud"] = testKubeAudience })
	if code, body := review(kube); code != http.StatusServiceUnavailable || body != NotConfiguredBody+"\n" {
		t.Errorf("before settings: %d %q, want 503 %q", code, body, NotConfiguredBody)
	}
	if _, err := r.Apply(Settings{Issuer: env.ti.issuer, Audience: testAudience}); err != nil {
		t.Fatal(err)
	}
	if code, body := review(kube); code != http.StatusOK || !strings.Contains(body, `"authenticated":true`) {
		t.Errorf("after Apply: %d %q, want authenticated", code, body)
	}
	api := goodToken(t, env.ti, nil)
	if code, body := review(api); code != http.StatusOK || strings.Contains(body, `"authenticated":true`) {
		t.Errorf("a token for the API's audience: %d %q, want not authenticated", code, body)
	}
	if _, err := r.Apply(Settings{Issuer: other.issuer, Audience: testAudience}); err != nil {
		t.Fatal(err)
	}
	c := claimsFor(other)
	c["aud"] = testKubeAudience
	fromOther := sign(t, mustJSON(t, header(kidB)), mustJSON(t, c), "RS256", k.b)
	if code, body := review(fromOther); code != http.StatusOK || !strings.Contains(body, `"authenticated":true`) {
		t.Errorf("new issuer's token: %d %q, want authenticated", code, body)
	}
	if code, body := review(kube); code != http.StatusOK || strings.Contains(body, `"authenticated":true`) {
		t.Errorf("old issuer's token: %d %q, want not authenticated", code, body)
	}
}

// TestNotConfiguredAnswersHoldNoDetail: whatever keeps the server
// unconfigured — still waiting, an API server error handed to Suspend, a
// refused first Apply — every answer, on every endpoint and in both modes,
// is 503 with exactly NotConfiguredBody: no object name, no API server
// message, no Go error text. The reason is still there for Current (and the
// watch's log).
func TestNotConfiguredAnswersHoldNoDetail(t *testing.T) {
	env := newServerEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("an unconfigured proxy reached the upstream: %s", r.URL.Path)
	}))
	t.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL)
	apiErr := `oauthapi team-a/hello cannot be read: oauthapis.oauth.clientcreds.dev "hello" is forbidden: ` +
		`User "system:serviceaccount:team-a:verifier" cannot list resource "oauthapis" in API group "oauth.clientcreds.dev" in the namespace "team-a"`
	states := map[string]struct {
		enter  func(t *testing.T, r *Reloader)
		detail []string // what Current says and no answer may
	}{
		"waiting": {enter: func(*testing.T, *Reloader) {}, detail: []string{"default/hello", "not read yet"}},
		"api server error": {enter: func(_ *testing.T, r *Reloader) { r.Suspend(apiErr) },
			detail: []string{"team-a", "forbidden", "system:serviceaccount", "oauthapis"}},
		"refused first settings": {enter: func(t *testing.T, r *Reloader) {
			if _, err := r.Apply(Settings{Issuer: "http://issuer.example/oauth2/default", Audience: testAudience}); err == nil {
				t.Fatal("Apply of a non-loopback http issuer succeeded")
			}
		}, detail: []string{"issuer.example", "non-loopback"}},
	}
	for name, st := range states {
		t.Run(name, func(t *testing.T) {
			verify := newTestReloader(t, newFakeClock(), func(c *ReloaderConfig) {
				c.Server.TokenReviewAudiences = []string{testKubeAudience}
			})
			proxy := newTestReloader(t, newFakeClock(), func(c *ReloaderConfig) { c.Server.Upstream = upURL })
			st.enter(t, verify)
			st.enter(t, proxy)
			for _, r := range []*Reloader{verify, proxy} {
				if _, why, ok := r.Current(); ok || !strings.Contains(why, st.detail[0]) {
					t.Fatalf("Current = %q %v, want the reason naming %q", why, ok, st.detail[0])
				}
			}
			review := httptest.NewRequest(http.MethodPost, "/tokenreview", strings.NewReader(mustJSON(t, map[string]any{
				"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": map[string]any{"token": env.good}})))
			proxied := httptest.NewRequest(http.MethodGet, "/hello", nil)
			proxied.Header.Set("Authorization", "Bearer "+env.good)
			answers := map[string]*httptest.ResponseRecorder{
				"/verify":        ask(verify.Server(), "GET", "/hello", env.good),
				"/verify public": ask(verify.Server(), "GET", "/public", ""),
				"/readyz":        get(verify.Server(), "/readyz"),
				"proxy /readyz":  get(proxy.Server().Admin(), "/readyz"),
				"proxy /verify":  ask(proxy.Server().Admin(), "GET", "/hello", env.good),
				"/tokenreview":   httptest.NewRecorder(),
				"proxied":        httptest.NewRecorder(),
			}
			verify.Server().ServeHTTP(answers["/tokenreview"], review)
			proxy.Server().ServeHTTP(answers["proxied"], proxied)
			for what, rec := range answers {
				body := rec.Body.String()
				if rec.Code != http.StatusServiceUnavailable || body != NotConfiguredBody+"\n" {
					t.Errorf("%s: %d %q, want 503 %q", what, rec.Code, body, NotConfiguredBody)
				}
				for _, d := range st.detail {
					if strings.Contains(body, d) {
						t.Errorf("%s: the body %q carries %q", what, body, d)
					}
				}
			}
		})
	}
}
