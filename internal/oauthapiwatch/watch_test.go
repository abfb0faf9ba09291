package oauthapiwatch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/verifier"
)

// metricValue reads one sample of the follower's registry (0 when absent).
func metricValue(t *testing.T, rl *verifier.Reloader, name, label, value string) float64 {
	t.Helper()
	mfs, err := rl.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				match = match || l.GetName() == label && l.GetValue() == value
			}
			if !match {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

func TestWatchFailsClosedUntilStatus(t *testing.T) {
	a, _ := testKeys(t)
	is := newIssuer(t, a, "key-a")
	read := is.token(t, testAudience, time.Hour, "hello:read")
	ns := newNamespace(t)
	// Through a kubeconfig file, as --kubeconfig does.
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(file, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := RESTConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UserAgent != "clientcreds-verifier" {
		t.Errorf("user agent %q", cfg.UserAgent)
	}
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := followWith(t, c, ns, "hello", nil)

	// No OAuthAPI: every request, public ones included, is 503, and the
	// server is not ready.
	eventually(t, "503 naming the missing OAuthAPI", func() (bool, string) {
		code, why := f.unconfigured(t)
		return code == http.StatusServiceUnavailable && strings.Contains(why, "oauthapi "+ns+"/hello not found"), fmt.Sprint(code, why)
	})
	if got := ask(f.handler, "GET", "/healthz", ""); got.status != http.StatusServiceUnavailable || got.challenged {
		t.Errorf("without the OAuthAPI: %+v, want 503 without a challenge", got)
	}
	if got := metricValue(t, f.rl, verifier.MetricConfigured, "", ""); got != 0 {
		t.Errorf("%s = %v, want 0", verifier.MetricConfigured, got)
	}

	// The OAuthAPI exists but the operator has not written its status yet.
	rules := []verifier.Rule{{PathPrefix: "/healthz", Public: true}}
	api := newOAuthAPI(t, ns, "hello", rules, "", "")
	eventually(t, "503 naming the missing status", func() (bool, string) {
		code, why := f.unconfigured(t)
		return code == http.StatusServiceUnavailable && strings.Contains(why, "no status.issuer and status.audience yet"), fmt.Sprint(code, why)
	})
	if got := ask(f.handler, "GET", "/", read); got.status != http.StatusServiceUnavailable {
		t.Errorf("before the status: %+v, want 503", got)
	}

	// Status written: tokens are checked.
	setStatus(t, api, is.url, testAudience)
	f.waitFor(t, "200 once the status is written", "GET", "/", read, http.StatusOK)
	if got := ask(f.handler, "GET", "/healthz", ""); got.status != http.StatusOK {
		t.Errorf("public path: %+v", got)
	}
	if code, body := readyz(f.handler); code != http.StatusOK {
		t.Errorf("/readyz once configured and keys fetched: %d %q", code, body)
	}
	if got := metricValue(t, f.rl, verifier.MetricConfigured, "", ""); got != 1 {
		t.Errorf("%s = %v, want 1", verifier.MetricConfigured, got)
	}
}

func TestWatchFollowsChanges(t *testing.T) {
	a, b := testKeys(t)
	is := newIssuer(t, a, "key-a")
	read := is.token(t, testAudience, time.Hour, "hello:read")
	ns := newNamespace(t)
	api := newOAuthAPI(t, ns, "hello", nil, is.url, testAudience)
	f := follow(t, ns, "hello", nil)
	f.waitFor(t, "configured", "GET", "/admin", read, http.StatusOK)

	// A rule appears: new decision without a restart.
	update(t, api, func(api *oauthv1.OAuthAPI) {
		api.Spec.Rules = []oauthv1.APIRule{{PathPrefix: "/admin", Scopes: []string{"hello:admin"}}}
	})
	f.waitFor(t, "/admin needs hello:admin", "GET", "/admin", read, http.StatusForbidden)
	if got := ask(f.handler, "GET", "/admin", read); got.scope != "hello:admin" || got.errCode != "insufficient_scope" {
		t.Errorf("challenge: %+v", got)
	}

	// Rules that pass admission but not the verifier (the same prefix and
	// method twice, for every method or for one named twice; admission now
	// refuses prefixes with dot segments itself): refused, the last good
	// rules stay, and the error is counted.
	for i, bad := range [][]oauthv1.APIRule{
		{{PathPrefix: "/admin", Scopes: []string{"hello:admin"}}, {PathPrefix: "/admin", Scopes: []string{"hello:read"}}},
		{{PathPrefix: "/admin", Methods: []string{"GET"}, Public: true}, {PathPrefix: "/admin", Methods: []string{"POST", "GET"}}},
	} {
		update(t, api, func(api *oauthv1.OAuthAPI) { api.Spec.Rules = bad })
		eventually(t, "the invalid rules counted", func() (bool, string) {
			n := metricValue(t, f.rl, verifier.MetricConfigReloads, "result", "error")
			return n == float64(i+1), fmt.Sprint(n)
		})
		if got := ask(f.handler, "GET", "/admin", read); got.status != http.StatusForbidden {
			t.Errorf("invalid rules %d: /admin %+v, want 403 from the last good rules", i, got)
		}
	}

	// While the rules are refused nothing else changes either: the last
	// good settings stay whole.
	setStatus(t, api, is.url, "api://other")
	eventually(t, "the audience change refused with the rules", func() (bool, string) {
		n := metricValue(t, f.rl, verifier.MetricConfigReloads, "result", "error")
		return n == 3, fmt.Sprint(n)
	})
	if got := ask(f.handler, "GET", "/", read); got.status != http.StatusOK {
		t.Errorf("old audience while the rules are refused: %+v, want 200 (last good settings)", got)
	}

	// Rules fixed: the new audience applies; tokens for the old one are
	// refused.
	other := is.token(t, "api://other", time.Hour, "hello:read")
	update(t, api, func(api *oauthv1.OAuthAPI) { api.Spec.Rules = nil })
	f.waitFor(t, "old audience refused", "GET", "/", read, http.StatusUnauthorized)
	if got := ask(f.handler, "GET", "/", other); got.status != http.StatusOK {
		t.Errorf("new audience: %+v", got)
	}

	// Issuer changes: the keys follow the new issuer.
	is2 := newIssuer(t, b, "key-b")
	setStatus(t, api, is2.url, "api://other")
	fromNew := is2.token(t, "api://other", time.Hour, "hello:read")
	f.waitFor(t, "token of the new issuer", "GET", "/", fromNew, http.StatusOK)
	if got := ask(f.handler, "GET", "/", other); got.status != http.StatusUnauthorized {
		t.Errorf("token of the old issuer: %+v, want 401", got)
	}

	// Deleted: fail closed.
	if err := k8s.Delete(context.Background(), api); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "503 once deleted", "GET", "/", fromNew, http.StatusServiceUnavailable)
	if code, why := f.unconfigured(t); code != http.StatusServiceUnavailable || !strings.Contains(why, "not found") {
		t.Errorf("/readyz once deleted: %d %q", code, why)
	}

	// Created again: back.
	newOAuthAPI(t, ns, "hello", nil, is2.url, "api://other")
	f.waitFor(t, "200 once created again", "GET", "/", fromNew, http.StatusOK)
}

// TestWatchInFlightRequestFinishes: a proxied request allowed before the
// OAuthAPI changed (and then went away) completes with the upstream's
// answer; new requests follow the object.
func TestWatchInFlightRequestFinishes(t *testing.T) {
	a, _ := testKeys(t)
	is := newIssuer(t, a, "key-a")
	read := is.token(t, testAudience, time.Hour, "hello:read")
	ns := newNamespace(t)
	api := newOAuthAPI(t, ns, "hello", nil, is.url, testAudience)

	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "hello from "+r.URL.Path+"\n")
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	upURL, _ := url.Parse(up.URL)
	f := follow(t, ns, "hello", func(c *verifier.ReloaderConfig) { c.Server.Upstream = upURL })
	front := httptest.NewServer(f.handler)
	t.Cleanup(front.Close)
	get := func(path string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, front.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+read)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	eventually(t, "proxying", func() (bool, string) {
		code, body, err := get("/fast")
		return code == http.StatusOK, fmt.Sprint(code, body, err)
	})

	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, body, err := get("/slow")
		done <- result{code, body, err}
	}()
	select {
	case <-entered:
	case res := <-done:
		t.Fatalf("the slow request never reached the upstream: %+v", res)
	}

	update(t, api, func(api *oauthv1.OAuthAPI) {
		api.Spec.Rules = []oauthv1.APIRule{{PathPrefix: "/", Scopes: []string{"hello:admin"}}}
	})
	eventually(t, "new requests need hello:admin", func() (bool, string) {
		code, body, err := get("/fast")
		return code == http.StatusForbidden, fmt.Sprint(code, body, err)
	})
	if err := k8s.Delete(context.Background(), api); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new requests refused once deleted", func() (bool, string) {
		code, body, err := get("/fast")
		return code == http.StatusServiceUnavailable, fmt.Sprint(code, body, err)
	})

	close(release)
	res := <-done
	if res.err != nil || res.code != http.StatusOK || res.body != "hello from /slow\n" {
		t.Errorf("the request in flight: %+v, want 200 from the upstream", res)
	}
}

// TestWatchBeingDeleted: an OAuthAPI held by a finalizer while the
// operator cleans up is already gone for the verifier.
func TestWatchBeingDeleted(t *testing.T) {
	a, _ := testKeys(t)
	is := newIssuer(t, a, "key-a")
	read := is.token(t, testAudience, time.Hour, "hello:read")
	ns := newNamespace(t)
	api := newOAuthAPI(t, ns, "hello", nil, is.url, testAudience)
	update(t, api, func(api *oauthv1.OAuthAPI) { api.Finalizers = []string{"test.clientcreds.dev/hold"} })
	f := follow(t, ns, "hello", nil)
	f.waitFor(t, "configured", "GET", "/", read, http.StatusOK)
	if err := k8s.Delete(context.Background(), api); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "503 while being deleted", "GET", "/", read, http.StatusServiceUnavailable)
	if code, why := f.unconfigured(t); !strings.Contains(why, "is being deleted") {
		t.Errorf("/readyz: %d %q", code, why)
	}
	update(t, api, func(api *oauthv1.OAuthAPI) { api.Finalizers = nil })
	eventually(t, "gone", func() (bool, string) {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(api), &oauthv1.OAuthAPI{})
		return err != nil, fmt.Sprint(err)
	})
}
