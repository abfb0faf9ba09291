package oktaemu_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/okta/okta-sdk-golang/v2/okta/query"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// fakeClock is a settable clock for rate-limit windows.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestRateLimits(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	// The API token may use half of each org bucket (Config.RateLimitShare
	// defaults to Okta's 0.5), so these buckets give it apps 3, app 2; the
	// token endpoint is anonymous and counts org-wide.
	h := newHarness(t, oktaemu.Config{Now: clock.Now, RateLimits: oktaemu.RateLimits{Apps: 6, App: 4, Token: 1}})
	app := h.CreateServiceApp(t, "limited", "") // uses 1 of the 3 "apps" requests

	t.Run("headers on every response", func(t *testing.T) {
		for _, p := range []string{"/api/v1/authorizationServers/default", "/oauth2/default/v1/keys", "/api/v1/nope"} {
			r := h.call(http.MethodGet, p, nil, "")
			for _, hd := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset", "Date"} {
				if r.header.Get(hd) == "" {
					t.Errorf("%s: no %s header", p, hd)
				}
			}
		}
	})

	t.Run("app bucket", func(t *testing.T) {
		wantReset := strconv.FormatInt(clock.Now().Truncate(time.Minute).Add(time.Minute).Unix(), 10)
		for i, want := range []int{200, 200, 429} {
			r := h.call(http.MethodGet, "/api/v1/apps/"+app.ID, nil, "")
			if r.status != want {
				t.Fatalf("request %d: %d, want %d", i+1, r.status, want)
			}
			if r.header.Get("X-Rate-Limit-Limit") != "2" || r.header.Get("X-Rate-Limit-Reset") != wantReset {
				t.Errorf("headers: limit %s reset %s (want %s)", r.header.Get("X-Rate-Limit-Limit"), r.header.Get("X-Rate-Limit-Reset"), wantReset)
			}
			if want == 429 {
				if r.errorCode(t) != "E0000047" || r.header.Get("X-Rate-Limit-Remaining") != "0" {
					t.Errorf("429: %s remaining %s", r.body, r.header.Get("X-Rate-Limit-Remaining"))
				}
				if r.header.Get("Date") != clock.Now().Format(http.TimeFormat) {
					t.Errorf("Date %q does not follow the emulator clock", r.header.Get("Date"))
				}
			}
		}
		// PUT and DELETE share the bucket; list and sub-paths do not.
		if r := h.call(http.MethodDelete, "/api/v1/apps/"+app.ID, nil, ""); r.status != 429 {
			t.Errorf("DELETE: %d, want 429", r.status)
		}
		if r := h.call(http.MethodGet, "/api/v1/apps", nil, ""); r.status != 200 {
			t.Errorf("list: %d, want 200", r.status)
		}
	})

	t.Run("refused create changes nothing", func(t *testing.T) {
		// apps bucket: create + list used 2 of 3.
		if r := h.call(http.MethodGet, "/api/v1/apps/"+app.ID+"/credentials/secrets", nil, ""); r.status != 200 {
			t.Fatalf("third apps request: %d", r.status)
		}
		before := h.Server.Stats().RouteStatus("POST /api/v1/apps", 200)
		r := h.call(http.MethodPost, "/api/v1/apps", serviceApp("refused", "client_secret_basic"), "")
		if r.status != 429 {
			t.Fatalf("create: %d", r.status)
		}
		clock.Add(time.Minute) // next window
		list := h.call(http.MethodGet, "/api/v1/apps?q=refused", nil, "")
		if n := len(list.list(t)); n != 0 {
			t.Errorf("refused create left %d apps", n)
		}
		if got := h.Server.Stats().RouteStatus("POST /api/v1/apps", 200); got != before {
			t.Errorf("successful creates went from %d to %d", before, got)
		}
	})

	t.Run("token bucket", func(t *testing.T) {
		clock.Add(time.Minute)
		if r, _ := h.RequestToken(tokenForm("hello:read"), app.ClientID, app.ClientSecret); r.Status != 200 {
			t.Fatalf("first token: %d", r.Status)
		}
		r := h.form("/oauth2/default/v1/token", "grant_type=client_credentials&scope=hello:read", nil)
		if r.status != 429 || r.errorCode(t) != "E0000047" {
			t.Errorf("second token: %d %s", r.status, r.body)
		}
	})

	t.Run("SetRateLimits at runtime", func(t *testing.T) {
		h.Server.SetRateLimits(oktaemu.RateLimits{Token: -1})
		for range 5 {
			if r, _ := h.RequestToken(tokenForm("hello:read"), app.ClientID, app.ClientSecret); r.Status != 200 {
				t.Fatalf("unlimited token: %d", r.Status)
			}
		}
		h.Server.SetRateLimits(oktaemu.RateLimits{Token: 1})
		if r, _ := h.RequestToken(tokenForm("hello:read"), app.ClientID, app.ClientSecret); r.Status != 429 {
			t.Errorf("after tightening: %d", r.Status)
		}
	})

	t.Run("SDK sees the 429", func(t *testing.T) {
		clock.Add(time.Minute)
		h.Server.SetRateLimits(oktaemu.RateLimits{Apps: 1})
		ctx, c := h.sdk()
		if _, _, err := c.Application.ListApplications(ctx, query.NewQueryParams(query.WithLimit(1))); err != nil {
			t.Fatalf("first list: %v", err)
		}
		// MaxRetries 0: the SDK gives up on the first 429.
		if _, _, err := c.Application.ListApplications(context.Background(), nil); err == nil {
			t.Error("second list succeeded over the limit")
		}
	})

	st := h.Server.Stats()
	if st.RateLimited < 5 || st.RateLimited != st.Status(429) {
		t.Errorf("stats: rateLimited %d, 429s %d", st.RateLimited, st.Status(429))
	}
}

func TestFaults(t *testing.T) {
	h := newHarness(t, oktaemu.Config{Faults: []oktaemu.Fault{{PathPrefix: "/api/v1/apps", Method: http.MethodPost, Prob500: 1}}})

	t.Run("500 before the change", func(t *testing.T) {
		r := h.call(http.MethodPost, "/api/v1/apps", serviceApp("faulty", "client_secret_basic"), "")
		if r.status != 500 || r.errorCode(t) != "E0000009" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if n := len(h.call(http.MethodGet, "/api/v1/apps", nil, "").list(t)); n != 0 {
			t.Errorf("an injected 500 left %d apps", n)
		}
	})

	t.Run("503 after the change", func(t *testing.T) {
		if err := h.Server.SetFaults([]oktaemu.Fault{{PathPrefix: "/api/v1/apps", Method: http.MethodPost, Prob503: 1, AfterCommit: true}}); err != nil {
			t.Fatal(err)
		}
		r := h.call(http.MethodPost, "/api/v1/apps", serviceApp("committed", "client_secret_basic"), "")
		if r.status != 503 || r.errorCode(t) != "E0000010" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if n := len(h.call(http.MethodGet, "/api/v1/apps?q=committed", nil, "").list(t)); n != 1 {
			t.Errorf("after-commit fault: %d apps, want 1", n)
		}
	})

	t.Run("longest prefix wins", func(t *testing.T) {
		if err := h.Server.SetFaults([]oktaemu.Fault{
			{PathPrefix: "/", Prob500: 1},
			{PathPrefix: "/oauth2/default/v1/keys"},
		}); err != nil {
			t.Fatal(err)
		}
		if r := h.call(http.MethodGet, "/oauth2/default/v1/keys", nil, "-"); r.status != 200 {
			t.Errorf("keys: %d", r.status)
		}
		if r := h.call(http.MethodGet, "/api/v1/authorizationServers", nil, ""); r.status != 500 {
			t.Errorf("servers: %d", r.status)
		}
	})

	t.Run("latency", func(t *testing.T) {
		if err := h.Server.SetFaults([]oktaemu.Fault{{PathPrefix: "/oauth2/", Latency: 150 * time.Millisecond}}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if r := h.call(http.MethodGet, "/oauth2/default/v1/keys", nil, "-"); r.status != 200 {
			t.Errorf("keys: %d", r.status)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("answered after %s, before the injected latency", d)
		}
	})

	t.Run("invalid faults are refused", func(t *testing.T) {
		for _, f := range []oktaemu.Fault{{PathPrefix: "api"}, {PathPrefix: "/", Prob500: 0.7, Prob503: 0.7}, {PathPrefix: "/", Latency: -1}} {
			if err := h.Server.SetFaults([]oktaemu.Fault{f}); err == nil {
				t.Errorf("fault %+v accepted", f)
			}
		}
	})

	if st := h.Server.Stats(); st.FaultsInjected != 3 {
		t.Errorf("faults injected = %d, want 3", st.FaultsInjected)
	}
}

func TestEmulatorEndpoints(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	h.CreateServiceApp(t, "x", "")
	if r := h.call(http.MethodGet, "/_emulator/healthz", nil, "-"); r.status != 200 {
		t.Errorf("healthz: %d", r.status)
	}
	if r := h.call(http.MethodGet, "/_emulator/stats", nil, "-"); r.status != 401 || r.errorCode(t) != "E0000011" {
		t.Errorf("stats without token: %d", r.status)
	}
	r := h.call(http.MethodGet, "/_emulator/stats", nil, "")
	if r.status != 200 {
		t.Fatalf("stats: %d", r.status)
	}
	m := r.json(t)
	byRoute, _ := m["byRoute"].(map[string]any)
	if byRoute["POST /api/v1/apps"] != 1.0 {
		t.Errorf("byRoute = %v", byRoute)
	}
	if _, counted := byRoute["GET /_emulator/stats"]; counted {
		t.Error("emulator endpoints must not be counted")
	}
}

func TestRateLimitWindow(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 7, 0, time.UTC)}
	h := newHarness(t, oktaemu.Config{Now: clock.Now, RateLimits: oktaemu.RateLimits{Other: 1, Window: 10 * time.Second}})
	const path = "/api/v1/authorizationServers/default"
	if r := h.call(http.MethodGet, path, nil, ""); r.status != 200 {
		t.Fatalf("first request: %d", r.status)
	}
	r := h.call(http.MethodGet, path, nil, "")
	if r.status != 429 {
		t.Fatalf("second request in the window: %d, want 429", r.status)
	}
	// The window is 03:04:00–03:04:10; it resets at 03:04:10.
	if want := strconv.FormatInt(time.Date(2030, 1, 2, 3, 4, 10, 0, time.UTC).Unix(), 10); r.header.Get("X-Rate-Limit-Reset") != want {
		t.Errorf("reset %s, want %s", r.header.Get("X-Rate-Limit-Reset"), want)
	}
	clock.Add(3 * time.Second)
	if r := h.call(http.MethodGet, path, nil, ""); r.status != 200 {
		t.Fatalf("first request of the next window: %d", r.status)
	}

	for _, bad := range []time.Duration{-time.Second, 1500 * time.Millisecond} {
		if _, err := oktaemu.New(oktaemu.Config{APIToken: "t", RateLimits: oktaemu.RateLimits{Window: bad}}); err == nil {
			t.Errorf("window %v accepted", bad)
		}
	}
}
