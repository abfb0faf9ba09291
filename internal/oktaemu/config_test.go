package oktaemu_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaspec"
)

func TestParseFault(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    oktaemu.Fault
		wantErr bool
	}{
		"all keys": {in: "/api/v1/apps:500=0.1,503=0.05,latency=200ms,method=post,after=true",
			want: oktaemu.Fault{PathPrefix: "/api/v1/apps", Method: "POST", Prob500: 0.1, Prob503: 0.05, Latency: 200 * time.Millisecond, AfterCommit: true}},
		"latency only":      {in: "/oauth2/:latency=1s", want: oktaemu.Fault{PathPrefix: "/oauth2/", Latency: time.Second}},
		"no spec":           {in: "/api", wantErr: true},
		"relative prefix":   {in: "api:500=1", wantErr: true},
		"unknown key":       {in: "/api:404=1", wantErr: true},
		"bad probability":   {in: "/api:500=x", wantErr: true},
		"probability > 1":   {in: "/api:500=1.5", wantErr: true},
		"sum over 1":        {in: "/api:500=0.6,503=0.6", wantErr: true},
		"negative latency":  {in: "/api:latency=-1s", wantErr: true},
		"missing value":     {in: "/api:500", wantErr: true},
		"bad after boolean": {in: "/api:after=maybe", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := oktaemu.ParseFault(tc.in)
			if tc.wantErr {
				if !errors.Is(err, oktaemu.ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	if got := oktaemu.ParseScopes("hello:read, hello:write  orders"); !reflect.DeepEqual(got, []string{"hello:read", "hello:write", "orders"}) {
		t.Errorf("got %q", got)
	}
}

func TestNewConfigErrors(t *testing.T) {
	tests := map[string]oktaemu.Config{
		"bad scope":           {APIToken: "x", Scopes: []string{"a b"}},
		"short lifetime":      {APIToken: "x", TokenLifetime: 3 * time.Second},
		"sub-second cap":      {APIToken: "x", TokenLifetime: 20500 * time.Millisecond},
		"fractional lifetime": {APIToken: "x", TokenLifetime: 390 * time.Second},
		"long lifetime":       {APIToken: "x", TokenLifetime: 25 * time.Hour},
		"org URL scheme":      {APIToken: "x", OrgURL: "127.0.0.1:8180"},
		"org URL path":        {APIToken: "x", OrgURL: "http://127.0.0.1:8180/okta"},
		"bad fault":           {APIToken: "x", Faults: []oktaemu.Fault{{PathPrefix: "/", Prob500: 2}}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := oktaemu.New(cfg); !errors.Is(err, oktaemu.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
	srv, err := oktaemu.New(oktaemu.Config{APIToken: "x", OrgURL: "http://127.0.0.1:8180/"})
	if err != nil {
		t.Fatal(err)
	}
	if srv.OrgURL() != "http://127.0.0.1:8180" || srv.Issuer() != "http://127.0.0.1:8180/oauth2/default" {
		t.Errorf("org %q issuer %q", srv.OrgURL(), srv.Issuer())
	}
}

// notInSpec lists routes Okta serves that its published spec leaves out.
var notInSpec = map[string]bool{
	// RFC 8414 metadata of the org authorization server: Okta answers it
	// (the issue asks for it); the spec documents only its OIDC twin,
	// /.well-known/openid-configuration, which is served as well.
	"GET /.well-known/oauth-authorization-server": true,
}

// TestRoutesMatchSpec: every route the emulator serves is an operation of
// the trimmed spec, and every operation of the trimmed spec is served.
func TestRoutesMatchSpec(t *testing.T) {
	v, err := oktaspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, key := range oktaemu.Routes() {
		method, pattern, _ := strings.Cut(key, " ")
		path := pattern
		for _, p := range []string{"{id}", "{secretId}", "{as}", "{scopeId}", "{policyId}", "{ruleId}", "{grantId}"} {
			path = strings.ReplaceAll(path, p, "x1")
		}
		if notInSpec[key] {
			continue
		}
		req, _ := http.NewRequest(method, "http://127.0.0.1"+path, nil)
		r, err := v.FindRoute(req)
		if err != nil {
			t.Errorf("%s is not in the spec: %v", key, err)
			continue
		}
		served[r.Method+" "+r.Path] = true
	}
	mgmt, oauth := v.Docs()
	for _, paths := range []map[string]map[string]bool{opsOf(mgmt.Paths.Map()), opsOf(oauth.Paths.Map())} {
		for p, methods := range paths {
			for m := range methods {
				if !served[m+" "+p] {
					t.Errorf("spec operation %s %s is not served", m, p)
				}
			}
		}
	}
}

// TestConcurrentUse exercises the emulator from many goroutines (run it
// with -race): creates, lists, secret rotation, tokens, key rotation and
// runtime reconfiguration at once.
func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	var requests atomic.Int64
	var wg sync.WaitGroup
	ids := make(chan string, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				r := h.call(http.MethodPost, "/api/v1/apps", serviceApp("c-"+string(rune('a'+w))+string(rune('a'+i)), "client_secret_basic"), "")
				requests.Add(1)
				if r.status != 200 {
					t.Errorf("create: %d", r.status)
					return
				}
				m := r.json(t)
				id := m["id"].(string)
				secret := m["credentials"].(map[string]any)["oauthClient"].(map[string]any)["client_secret"].(string)
				ids <- id
				if res, _ := h.RequestToken(tokenForm("hello:read"), id, secret); res.Status != 200 {
					t.Errorf("token: %d", res.Status)
				}
				requests.Add(1)
				if r := h.call(http.MethodPost, "/api/v1/apps/"+id+"/credentials/secrets", map[string]any{}, ""); r.status != 201 {
					t.Errorf("new secret: %d", r.status)
				}
				requests.Add(1)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 10 {
			h.call(http.MethodGet, "/api/v1/apps?limit=5", nil, "")
			requests.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for range 3 {
			h.call(http.MethodPost, "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate", map[string]any{"use": "sig"}, "")
			requests.Add(1)
			h.Server.SetRateLimits(oktaemu.RateLimits{})
			_ = h.Server.SetFaults(nil)
			_ = h.Server.Stats()
			if _, err := h.Server.MintAccessToken("0oaconc", []string{"hello:read"}); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	list := h.call(http.MethodGet, "/api/v1/apps?limit=200", nil, "")
	requests.Add(1)
	if got := len(list.list(t)); got != 24 || len(seen) != 24 {
		t.Errorf("listed %d apps, created %d distinct, want 24", got, len(seen))
	}
	if st := h.Server.Stats(); st.Total != requests.Load() {
		t.Errorf("stats total %d, requests sent %d", st.Total, requests.Load())
	}
}

func opsOf(paths map[string]*openapi3.PathItem) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for p, item := range paths {
		out[p] = map[string]bool{}
		for m := range item.Operations() {
			out[p][m] = true
		}
	}
	return out
}
