package metricsauth

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// fakeAPI answers TokenReviews and SubjectAccessReviews as an API server would: tokens map
// to users, and allow says which users may get which path. fail makes both answer 500.
type fakeAPI struct {
	mu            sync.Mutex
	tokens        map[string]string
	allow         map[string]string // user → path allowed for get
	fail          bool
	reviews, sars int
	lastSAR       authzv1.SubjectAccessReviewSpec
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f.fail {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcd is on fire","code":500}`)
		return
	}
	switch r.URL.Path {
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		f.reviews++
		var tr authnv1.TokenReview
		decode(r, &tr)
		if u, ok := f.tokens[tr.Spec.Token]; ok {
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{
				Username: u, UID: "uid-" + u, Groups: []string{"system:authenticated"},
				Extra: map[string]authnv1.ExtraValue{"scope": {"x"}},
			}}
		}
		_ = json.NewEncoder(w).Encode(tr)
	case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		f.sars++
		var sar authzv1.SubjectAccessReview
		decode(r, &sar)
		f.lastSAR = sar.Spec
		na := sar.Spec.NonResourceAttributes
		sar.Status.Allowed = na != nil && na.Verb == "get" && f.allow[sar.Spec.User] == na.Path
		_ = json.NewEncoder(w).Encode(sar)
	default:
		http.NotFound(w, r)
	}
}

// decode reads a request body in whichever encoding client-go chose (protobuf or JSON).
func decode(r *http.Request, into runtime.Object) {
	body, _ := io.ReadAll(r.Body)
	_, _, _ = scheme.Codecs.UniversalDeserializer().Decode(body, nil, into)
}

func (f *fakeAPI) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reviews + f.sars
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// setup returns the filtered handler, the fake API, the clock and the log lines.
func setup(t *testing.T) (http.Handler, *fakeAPI, *clock, *strings.Builder) {
	t.Helper()
	api := &fakeAPI{
		tokens: map[string]string{"reader-token": "prometheus", "other-token": "someone"},
		allow:  map[string]string{"prometheus": "/metrics"},
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	a, err := New(&rest.Config{Host: srv.URL}, srv.Client(), Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var logMu sync.Mutex
	log := funcr.New(func(prefix, args string) {
		logMu.Lock()
		defer logMu.Unlock()
		logs.WriteString(prefix + args + "\n")
	}, funcr.Options{Verbosity: 10})
	h, err := a.Filter(log, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "metrics here")
	}))
	if err != nil {
		t.Fatal(err)
	}
	return h, api, clk, &logs
}

func do(h http.Handler, method, path, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestFilter(t *testing.T) {
	cases := map[string]struct {
		method, path, auth string
		fail               bool
		wantCode           int
		wantCalls          int
	}{
		"allowed":              {"GET", "/metrics", "Bearer reader-token", false, http.StatusOK, 2},
		"lower-case scheme":    {"GET", "/metrics", "bearer reader-token", false, http.StatusOK, 2},
		"forbidden user":       {"GET", "/metrics", "Bearer other-token", false, http.StatusForbidden, 2},
		"forbidden verb":       {"POST", "/metrics", "Bearer reader-token", false, http.StatusForbidden, 2},
		"forbidden path":       {"GET", "/debug", "Bearer reader-token", false, http.StatusForbidden, 2},
		"bad token":            {"GET", "/metrics", "Bearer not-a-token", false, http.StatusUnauthorized, 1},
		"no token":             {"GET", "/metrics", "", false, http.StatusUnauthorized, 0},
		"empty bearer":         {"GET", "/metrics", "Bearer   ", false, http.StatusUnauthorized, 0},
		"basic auth":           {"GET", "/metrics", "Basic cmVhZGVyLXRva2VuOg==", false, http.StatusUnauthorized, 0},
		"API error":            {"GET", "/metrics", "Bearer reader-token", true, http.StatusInternalServerError, 0},
		"API error, bad token": {"GET", "/metrics", "Bearer not-a-token", true, http.StatusInternalServerError, 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h, api, _, logs := setup(t)
			api.fail = tc.fail
			w := do(h, tc.method, tc.path, tc.auth)
			if w.Code != tc.wantCode {
				t.Fatalf("answered %d, want %d (body %q)", w.Code, tc.wantCode, w.Body.String())
			}
			if got := api.calls(); got != tc.wantCalls {
				t.Errorf("%d API calls, want %d", got, tc.wantCalls)
			}
			if tc.wantCode == http.StatusOK && w.Body.String() != "metrics here" {
				t.Errorf("body %q: the wrapped handler did not answer", w.Body.String())
			}
			if tc.wantCode != http.StatusOK && strings.Contains(w.Body.String(), "metrics here") {
				t.Error("a refused caller got the metrics")
			}
			for _, secret := range []string{"reader-token", "not-a-token", "etcd is on fire"} {
				if strings.Contains(w.Body.String(), secret) {
					t.Errorf("the answer's body holds %q: %q", secret, w.Body.String())
				}
			}
			for _, token := range []string{"reader-token", "not-a-token"} {
				if strings.Contains(logs.String(), token) {
					t.Errorf("the log holds the token %q:\n%s", token, logs.String())
				}
			}
			if tc.fail && !strings.Contains(logs.String(), "Metrics caller check failed") {
				t.Errorf("an API error was not logged:\n%s", logs.String())
			}
		})
	}
}

// TestSubjectAccessReview: the review names the token's user with its uid, groups and
// extra, and the request's path with its verb lower-cased.
func TestSubjectAccessReview(t *testing.T) {
	h, api, _, _ := setup(t)
	if w := do(h, "GET", "/metrics", "Bearer reader-token"); w.Code != http.StatusOK {
		t.Fatalf("answered %d", w.Code)
	}
	s := api.lastSAR
	if s.User != "prometheus" || s.UID != "uid-prometheus" || len(s.Groups) != 1 || s.Groups[0] != "system:authenticated" ||
		len(s.Extra["scope"]) != 1 || s.ResourceAttributes != nil || s.NonResourceAttributes == nil ||
		*s.NonResourceAttributes != (authzv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}) {
		t.Fatalf("SubjectAccessReview spec %+v", s)
	}
}

// TestCache: answers are reused until their TTL, keyed by token, verb and path; errors are
// not cached; the cache holds no token.
func TestCache(t *testing.T) {
	h, api, clk, _ := setup(t)
	step := func(auth, path string, wantCode, wantCalls int) {
		t.Helper()
		if w := do(h, "GET", path, auth); w.Code != wantCode {
			t.Fatalf("%s %s answered %d, want %d", auth, path, w.Code, wantCode)
		}
		if got := api.calls(); got != wantCalls {
			t.Fatalf("%s %s: %d API calls in all, want %d", auth, path, got, wantCalls)
		}
	}
	step("Bearer reader-token", "/metrics", 200, 2)
	step("Bearer reader-token", "/metrics", 200, 2) // cache hit
	step("Bearer reader-token", "/other", 403, 4)   // another path is another question
	step("Bearer other-token", "/metrics", 403, 6)
	step("Bearer other-token", "/metrics", 403, 6) // a refusal is cached too
	step("Bearer not-a-token", "/metrics", 401, 7)
	step("Bearer not-a-token", "/metrics", 401, 7)

	clk.now = clk.now.Add(DefaultDenyTTL + time.Second) // refusals expire first
	step("Bearer reader-token", "/metrics", 200, 7)
	step("Bearer other-token", "/metrics", 403, 9)
	clk.now = clk.now.Add(DefaultAllowTTL)
	step("Bearer reader-token", "/metrics", 200, 11)

	// An API error is not cached: once the API answers again, so does the filter.
	clk.now = clk.now.Add(DefaultAllowTTL + time.Second)
	api.mu.Lock()
	api.fail = true
	api.mu.Unlock()
	step("Bearer reader-token", "/metrics", 500, 11)
	api.mu.Lock()
	api.fail = false
	api.mu.Unlock()
	step("Bearer reader-token", "/metrics", 200, 13)
}

// TestCacheBounded: a flood of distinct tokens does not grow the cache past MaxEntries.
func TestCacheBounded(t *testing.T) {
	api := &fakeAPI{tokens: map[string]string{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	a, err := New(&rest.Config{Host: srv.URL, QPS: -1}, srv.Client(), Options{MaxEntries: 8})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := a.Filter(logr.Discard(), http.NotFoundHandler())
	for i := range 50 {
		if w := do(h, "GET", "/metrics", "Bearer junk-"+string(rune('a'+i%26))+strings.Repeat("x", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("answered %d", w.Code)
		}
	}
	a.mu.Lock()
	n := len(a.cache)
	a.mu.Unlock()
	if n > 8 {
		t.Fatalf("%d cache entries, want at most 8", n)
	}
	if api.calls() != 50 {
		t.Fatalf("%d API calls for 50 distinct tokens", api.calls())
	}
}
