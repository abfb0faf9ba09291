package okta

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
	"github.com/clientcreds/clientcreds/internal/provider"
)

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// startWith runs an emulator and a provider with the given budget options.
func startWith(t *testing.T, cfg oktaemu.Config, opts BudgetOptions) (*oktaemutest.Env, *Client, *Budgets) {
	t.Helper()
	e := oktaemutest.Start(t, cfg)
	b := NewBudgets(opts)
	p, err := New(Config{OrgURL: e.URL, APIToken: e.APIToken, Budgets: b, AllowInsecureLoopbackHTTP: true,
		HTTPClient: &http.Client{Timeout: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return e, p, b
}

// The emulator's --concurrency-limit answers 429 with the concurrency figures in the
// X-Rate-Limit-* headers; the provider reports those as concurrency refusals and keeps
// what it knows of the per-minute window.
func TestEmulatorConcurrencyLimit(t *testing.T) {
	e, p, b := startWith(t, oktaemu.Config{ConcurrencyLimit: 2,
		Faults: []oktaemu.Fault{{PathPrefix: "/api/v1/apps/", Method: http.MethodGet, Latency: 300 * time.Millisecond}}},
		BudgetOptions{MaxJitter: -1})
	c := testCtx(t)
	app, err := p.CreateApp(c, provider.AppSpec{Label: "conc", AuthMethod: provider.AuthClientSecretBasic, Owner: provider.Owner{UID: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetApp(c, app.ID); err != nil {
		t.Fatal(err)
	}
	window := b.state(e.URL, BucketApp)
	if !window.Known || window.Limit == 0 {
		t.Fatalf("window not learned: %+v", window)
	}
	var mu sync.Mutex
	var refused []error
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.GetApp(c, app.ID); err != nil {
				mu.Lock()
				refused = append(refused, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(refused) == 0 {
		t.Fatal("8 parallel requests with a concurrency limit of 2: none was refused")
	}
	for _, err := range refused {
		at, ok := provider.RetryAt(err)
		if !errors.Is(err, provider.ErrRateLimited) || !strings.Contains(err.Error(), "concurrency limit") || !ok || time.Until(at) > 3*time.Second {
			t.Fatalf("refusal %v (retry at %s): want a concurrency rate limit retried within seconds", err, at)
		}
	}
	after := b.state(e.URL, BucketApp)
	if after.Limit != window.Limit || !after.Reset.Equal(window.Reset) {
		t.Fatalf("the window changed after concurrency 429s: %+v, was %+v", after, window)
	}
	time.Sleep(time.Until(after.BlockedUntil) + 10*time.Millisecond)
	if _, err := p.GetApp(c, app.ID); err != nil {
		t.Fatalf("after the concurrency block: %v", err)
	}
}

// The token endpoint's bucket counts the whole org (every workload requesting tokens): the
// provider keeps to its share of it — without a single 429 from the emulator.
func TestEmulatorTokenBucketShare(t *testing.T) {
	e, p, _ := startWith(t, oktaemu.Config{RateLimits: oktaemu.RateLimits{Token: 20}},
		BudgetOptions{MaxJitter: -1, MaxWait: -1, Share: 0.5})
	c := testCtx(t)
	eps, err := p.CheckHealth(c)
	if err != nil {
		t.Fatal(err)
	}
	app, err := p.CreateApp(c, provider.AppSpec{Label: "share", AuthMethod: provider.AuthClientSecretBasic, Owner: provider.Owner{UID: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	creds := provider.Credentials{ClientID: app.ClientID, ClientSecret: app.ClientSecret, AuthMethod: provider.AuthClientSecretBasic,
		TokenURL: eps.TokenURL, Scopes: []string{"hello:read"}}
	ok, local := 0, 0
	for range 15 {
		err := p.RequestToken(c, creds)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, provider.ErrRateLimited):
			local++
		default:
			t.Fatal(err)
		}
	}
	st := e.Server.Stats()
	if ok != 10 || local != 5 || st.RateLimited != 0 || st.Route("POST /oauth2/{as}/v1/token") != 10 {
		t.Fatalf("%d tokens, %d refused locally, %d 429s, %d token requests sent; want 10, 5, 0, 10 (half of the org's 20)",
			ok, local, st.RateLimited, st.Route("POST /oauth2/{as}/v1/token"))
	}
}
