package oktaemu_test

import (
	"net/http"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// TestFaultsEndpoint turns faults on and off at run time through
// /_emulator/faults (the emulator's own endpoint, used by make chaos): PUT
// replaces the list, GET shows it, a bad list changes nothing, and the
// endpoint needs the API token.
func TestFaultsEndpoint(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	if r := h.call(http.MethodGet, "/api/v1/apps", nil, ""); r.status != http.StatusOK {
		t.Fatalf("list before faults: %d", r.status)
	}

	on := map[string]any{"faults": []string{"/api/v1/apps:503=1,method=GET", "/oauth2/default/v1/token:latency=10ms"}}
	r := h.call(http.MethodPut, "/_emulator/faults", on, "")
	if r.status != http.StatusOK {
		t.Fatalf("PUT faults: %d %s", r.status, r.body)
	}
	got := h.call(http.MethodGet, "/_emulator/faults", nil, "").json(t)["faults"].([]any)
	if len(got) != 2 || got[0] != "/api/v1/apps:503=1,method=GET" || got[1] != "/oauth2/default/v1/token:latency=10ms" {
		t.Fatalf("GET faults = %v", got)
	}
	if r := h.call(http.MethodGet, "/api/v1/apps", nil, ""); r.status != http.StatusServiceUnavailable || r.errorCode(t) != "E0000010" {
		t.Fatalf("list with a 503 fault: %d %s", r.status, r.body)
	}
	if r := h.call(http.MethodPost, "/api/v1/apps", serviceApp("unaffected", ""), ""); r.status != http.StatusOK {
		t.Fatalf("POST is not under the GET-only fault, got %d", r.status)
	}

	bad := map[string]string{
		"probability over 1":  `{"faults": ["/api/v1/apps:500=2"]}`,
		"no leading slash":    `{"faults": ["api/v1/apps:500=1"]}`,
		"unknown key":         `{"faults": ["/api/v1/apps:boom=1"]}`,
		"not an object":       `["/api/v1/apps:500=1"]`,
		"faults not strings":  `{"faults": [1]}`,
		"trailing junk":       `{"faults": []} {}`,
		"negative latency":    `{"faults": ["/api:latency=-1s"]}`,
		"probabilities sum>1": `{"faults": ["/api:500=0.6,503=0.6"]}`,
	}
	for name, body := range bad {
		t.Run(name, func(t *testing.T) {
			if r := h.call(http.MethodPut, "/_emulator/faults", body, ""); r.status != http.StatusBadRequest {
				t.Fatalf("PUT %s: %d, want 400", body, r.status)
			}
			if got := h.call(http.MethodGet, "/_emulator/faults", nil, "").json(t)["faults"].([]any); len(got) != 2 {
				t.Fatalf("a refused PUT changed the faults: %v", got)
			}
		})
	}
	for name, c := range map[string]struct {
		method, auth string
		want         int
	}{
		"GET without token": {http.MethodGet, "-", http.StatusUnauthorized},
		"PUT wrong token":   {http.MethodPut, "SSWS wrong", http.StatusUnauthorized},
		"DELETE":            {http.MethodDelete, "", http.StatusMethodNotAllowed},
	} {
		t.Run(name, func(t *testing.T) {
			var body any
			if c.method == http.MethodPut {
				body = map[string]any{"faults": []string{}}
			}
			if r := h.call(c.method, "/_emulator/faults", body, c.auth); r.status != c.want {
				t.Fatalf("%s: %d, want %d", name, r.status, c.want)
			}
		})
	}

	if r := h.call(http.MethodPut, "/_emulator/faults", map[string]any{"faults": []string{}}, ""); r.status != http.StatusOK {
		t.Fatalf("clearing faults: %d", r.status)
	}
	if r := h.call(http.MethodGet, "/api/v1/apps", nil, ""); r.status != http.StatusOK {
		t.Fatalf("list after clearing faults: %d", r.status)
	}
}

// TestFaultStringRoundTrip: String renders what ParseFault reads back.
func TestFaultStringRoundTrip(t *testing.T) {
	for _, s := range []string{
		"/api/v1/apps:500=0.25,503=0.5,latency=1.5s,method=POST,after=true",
		"/oauth2:latency=2s",
		"/:503=1",
	} {
		f, err := oktaemu.ParseFault(s)
		if err != nil {
			t.Fatal(err)
		}
		g, err := oktaemu.ParseFault(f.String())
		if err != nil || g != f {
			t.Errorf("%q → %q → %+v (%v), want %+v", s, f.String(), g, err, f)
		}
	}
}
