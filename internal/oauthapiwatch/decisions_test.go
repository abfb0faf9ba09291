package oauthapiwatch

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/verifier"
)

// rulesFile is the API's rules as an operator writes them for --rules.
const rulesFile = `rules:
- pathPrefix: /healthz
  public: true
- pathPrefix: /
  methods: [GET, HEAD]
  scopes: [hello:read]
- pathPrefix: /admin
  scopes: [hello:admin]
- pathPrefix: /reports/
  methods: [POST]
  scopes: [hello:read, hello:write]
- pathPrefix: /docs
  methods: [GET]
  public: true
- pathPrefix: /any
`

// decisionCase is one request and the answer both configurations must give.
type decisionCase struct {
	name         string
	method, path string
	// token picks the token: "" none, else a key of the tokens map.
	token string
	want  answer
}

// decisionCases drive the rules-file verifier and the OAuthAPI-following
// verifier alike (--required-scopes hello:read for paths no rule matches).
var decisionCases = []decisionCase{
	{"public path, no token", "GET", "/healthz", "", answer{status: 200}},
	{"public path below it", "POST", "/healthz/live", "", answer{status: 200}},
	{"no token", "GET", "/", "", answer{status: 401, challenged: true}},
	{"read on /", "GET", "/", "read", answer{status: 200}},
	{"HEAD follows GET", "HEAD", "/hello", "read", answer{status: 200}},
	{"POST / falls to the default scopes", "POST", "/", "read", answer{status: 200}},
	{"POST / without scopes", "POST", "/", "none", answer{status: 403, errCode: "insufficient_scope", scope: "hello:read", challenged: true}},
	{"GET / without scopes", "GET", "/", "none", answer{status: 403, errCode: "insufficient_scope", scope: "hello:read", challenged: true}},
	{"admin with read", "GET", "/admin", "read", answer{status: 403, errCode: "insufficient_scope", scope: "hello:admin", challenged: true}},
	{"admin below with admin", "DELETE", "/admin/users/1", "admin", answer{status: 200}},
	{"adminx is not below /admin", "GET", "/adminx", "read", answer{status: 200}},
	{"reports POST needs two scopes", "POST", "/reports/2026", "read", answer{status: 403, errCode: "insufficient_scope", scope: "hello:read hello:write", challenged: true}},
	{"reports POST with both", "POST", "/reports/2026", "readwrite", answer{status: 200}},
	{"reports GET is the / rule", "GET", "/reports/2026", "read", answer{status: 200}},
	{"docs GET public", "GET", "/docs/intro", "", answer{status: 200}},
	{"docs DELETE not public", "DELETE", "/docs", "", answer{status: 401, challenged: true}},
	{"rule with no scopes: any valid token", "PUT", "/any/thing", "none", answer{status: 200}},
	{"rule with no scopes: no token", "PUT", "/any/thing", "", answer{status: 401, challenged: true}},
	{"expired token", "GET", "/", "expired", answer{status: 401, errCode: "invalid_token", challenged: true}},
	{"other audience", "GET", "/", "otheraud", answer{status: 401, errCode: "invalid_token", challenged: true}},
	{"other issuer's key", "GET", "/", "otherkey", answer{status: 401, errCode: "invalid_token", challenged: true}},
	{"garbage", "GET", "/", "garbage", answer{status: 401, errCode: "invalid_token", challenged: true}},
	{"dot segments refused", "GET", "/healthz/../admin", "", answer{status: 403}},
}

// TestSameDecisions runs every case through a verifier configured from a
// rules file (--issuer, --audience, --rules) and one following an OAuthAPI
// with the same rules in a real API server (--oauthapi), and requires the
// same status code and WWW-Authenticate error and scope from both, and the
// expected ones.
func TestSameDecisions(t *testing.T) {
	a, b := testKeys(t)
	is := newIssuer(t, a, "key-a")
	stranger := newIssuer(t, b, "key-a") // same kid, another key
	tokens := map[string]string{
		"read":      is.token(t, testAudience, time.Hour, "hello:read"),
		"none":      is.token(t, testAudience, time.Hour),
		"admin":     is.token(t, testAudience, time.Hour, "hello:admin"),
		"readwrite": is.token(t, testAudience, time.Hour, "hello:write", "hello:read"),
		"expired":   is.token(t, testAudience, -time.Hour, "hello:read"),
		"otheraud":  is.token(t, "api://other", time.Hour, "hello:read"),
		"otherkey":  stranger.token(t, testAudience, time.Hour, "hello:read"),
		"garbage":   "eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
	}

	// The rules-file path, as cmd/verifier builds it.
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(rulesFile), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := verifier.LoadRules(file)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := verifier.NewPolicy([]string{"hello:read"}, rules)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Issuer: is.url, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	static := verifier.NewServer(verifier.ServerConfig{Verifier: v, Policy: policy})

	// The OAuthAPI path: the same rules in an OAuthAPI, read back by the watch.
	ns := newNamespace(t)
	newOAuthAPI(t, ns, "hello", rules, is.url, testAudience)
	f := follow(t, ns, "hello", nil)
	f.waitFor(t, "the verifier following the OAuthAPI", "GET", "/", tokens["read"], http.StatusOK)

	for _, c := range decisionCases {
		t.Run(c.name, func(t *testing.T) {
			tok := tokens[c.token]
			if c.token != "" && tok == "" {
				t.Fatalf("no token %q", c.token)
			}
			fromFile := ask(static, c.method, c.path, tok)
			fromAPI := ask(f.handler, c.method, c.path, tok)
			if fromFile != c.want {
				t.Errorf("rules file: %+v, want %+v", fromFile, c.want)
			}
			if fromAPI != fromFile {
				t.Errorf("OAuthAPI: %+v, rules file: %+v", fromAPI, fromFile)
			}
		})
	}
}

// TestSettingsOf reads the settings from an OAuthAPI as the API server
// returns it (unstructured JSON) and checks the group and version.
func TestSettingsOf(t *testing.T) {
	if Group != oauthv1.GroupVersion.Group || Version != oauthv1.GroupVersion.Version {
		t.Errorf("GroupVersion %s/%s, api/v1alpha1 says %s", Group, Version, oauthv1.GroupVersion)
	}
	rules, err := verifier.ParseRules([]byte(rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	api := &oauthv1.OAuthAPI{Spec: oauthv1.OAuthAPISpec{Rules: apiRules(rules)}}
	toU := func() *unstructured.Unstructured {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(api)
		if err != nil {
			t.Fatal(err)
		}
		return &unstructured.Unstructured{Object: m}
	}
	if _, err := SettingsOf(toU()); err != ErrNoStatus {
		t.Errorf("without status: %v, want ErrNoStatus", err)
	}
	api.Status.Issuer = "https://issuer.example/oauth2/api"
	if _, err := SettingsOf(toU()); err != ErrNoStatus {
		t.Errorf("without status.audience: %v, want ErrNoStatus", err)
	}
	api.Status.Audience = testAudience
	s, err := SettingsOf(toU())
	if err != nil {
		t.Fatal(err)
	}
	if s.Issuer != api.Status.Issuer || s.Audience != testAudience || len(s.Rules) != len(rules) {
		t.Fatalf("settings = %+v", s)
	}
	for i := range rules {
		got, want := s.Rules[i], rules[i]
		if got.PathPrefix != want.PathPrefix || got.Public != want.Public ||
			len(got.Methods) != len(want.Methods) || len(got.Scopes) != len(want.Scopes) {
			t.Errorf("rule %d = %+v, want %+v", i, got, want)
		}
	}
	bad := toU()
	bad.Object["spec"].(map[string]any)["rules"] = "not a list"
	if _, err := SettingsOf(bad); err == nil || err == ErrNoStatus {
		t.Errorf("rules of the wrong type: %v, want a read error", err)
	}
}

func TestRESTConfigRefuses(t *testing.T) {
	if _, err := RESTConfig(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Errorf("a missing kubeconfig: %v, want an error naming --kubeconfig", err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := RESTConfig(""); err == nil || !strings.Contains(err.Error(), "no in-cluster configuration") {
		t.Errorf("outside a pod: %v, want an error saying there is no in-cluster configuration", err)
	}
}

func TestParseRef(t *testing.T) {
	good := map[string]Ref{"default/hello": {"default", "hello"}, "team-a/api.v2": {"team-a", "api.v2"}}
	for in, want := range good {
		if got, err := ParseRef(in); err != nil || got != want {
			t.Errorf("ParseRef(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "hello", "/hello", "default/", "a/b/c", "Default/hello", "default/Hello", "default/hel_lo"} {
		if _, err := ParseRef(in); err == nil {
			t.Errorf("ParseRef(%q) accepted it", in)
		}
	}
}
