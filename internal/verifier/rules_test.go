package verifier

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseRules(t *testing.T) {
	cases := map[string]struct {
		doc  string
		want []Rule
	}{
		"YAML under rules": {
			doc:  "rules:\n- pathPrefix: /healthz\n  public: true\n- pathPrefix: /api\n  methods: [GET]\n  scopes: [hello:read]\n",
			want: []Rule{{PathPrefix: "/healthz", Public: true}, {PathPrefix: "/api", Methods: []string{"GET"}, Scopes: []string{"hello:read"}}},
		},
		"YAML list at the top": {
			doc:  "- pathPrefix: /\n  scopes: [a, b]\n",
			want: []Rule{{PathPrefix: "/", Scopes: []string{"a", "b"}}},
		},
		"JSON object": {
			doc:  `{"rules":[{"pathPrefix":"/x","public":true}]}`,
			want: []Rule{{PathPrefix: "/x", Public: true}},
		},
		"JSON list": {
			doc:  `[{"pathPrefix":"/x","scopes":["s"]}]`,
			want: []Rule{{PathPrefix: "/x", Scopes: []string{"s"}}},
		},
		"empty file": {doc: "", want: nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseRules([]byte(tc.doc))
			if err != nil {
				t.Fatalf("ParseRules: %v", err)
			}
			if !slices.EqualFunc(got, tc.want, func(a, b Rule) bool {
				return a.PathPrefix == b.PathPrefix && a.Public == b.Public && slices.Equal(a.Methods, b.Methods) && slices.Equal(a.Scopes, b.Scopes)
			}) {
				t.Fatalf("ParseRules = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRulesRejected(t *testing.T) {
	parseErrors := map[string]string{
		"unknown field":     "rules:\n- pathPrefix: /\n  scope: [a]\n",
		"not YAML":          "rules: [\n",
		"wrong type":        "rules:\n- pathPrefix: /\n  public: maybe\n",
		"list of strings":   "- /a\n- /b\n",
		"top-level unknown": "rule:\n- pathPrefix: /\n",
	}
	for name, doc := range parseErrors {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseRules([]byte(doc)); !errors.Is(err, ErrRules) {
				t.Fatalf("ParseRules error = %v, want ErrRules", err)
			}
		})
	}
	policyErrors := map[string][]Rule{
		"relative prefix":       {{PathPrefix: "api"}},
		"dot segments":          {{PathPrefix: "/a/../b"}},
		"encoded prefix":        {{PathPrefix: "/a%2Fb"}},
		"public with scopes":    {{PathPrefix: "/", Public: true, Scopes: []string{"a"}}},
		"bad scope":             {{PathPrefix: "/", Scopes: []string{"a b"}}},
		"lower-case method":     {{PathPrefix: "/", Methods: []string{"get"}}},
		"duplicate rule":        {{PathPrefix: "/a"}, {PathPrefix: "/a", Public: true}},
		"duplicate method rule": {{PathPrefix: "/a", Methods: []string{"GET"}}, {PathPrefix: "/a", Methods: []string{"POST", "GET"}}},
	}
	for name, rules := range policyErrors {
		t.Run(name, func(t *testing.T) {
			if _, err := NewPolicy(nil, rules); !errors.Is(err, ErrRules) {
				t.Fatalf("NewPolicy error = %v, want ErrRules", err)
			}
		})
	}
	if _, err := NewPolicy([]string{"bad\"scope"}, nil); !errors.Is(err, ErrRules) {
		t.Fatalf("NewPolicy with a bad default scope = %v, want ErrRules", err)
	}
}

func TestPolicyMatching(t *testing.T) {
	p, err := NewPolicy([]string{"default:scope"}, []Rule{
		{PathPrefix: "/", Methods: []string{"GET"}, Scopes: []string{"hello:read"}},
		{PathPrefix: "/healthz", Public: true},
		{PathPrefix: "/api", Scopes: []string{"api:any"}},
		{PathPrefix: "/api", Methods: []string{"POST"}, Scopes: []string{"api:write"}},
		{PathPrefix: "/api/admin", Scopes: []string{"api:admin"}},
		{PathPrefix: "/static/", Public: true},
		{PathPrefix: "/docs", Methods: []string{"GET"}, Scopes: []string{"docs:read"}},
		{PathPrefix: "/docs", Methods: []string{"HEAD"}, Scopes: []string{"docs:head"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path string
		public       bool
		scopes       []string
	}{
		{"GET", "/", false, []string{"hello:read"}},
		{"HEAD", "/", false, []string{"hello:read"}},
		{"POST", "/", false, []string{"default:scope"}},
		{"GET", "/healthz", true, nil},
		{"GET", "/healthz/deep", true, nil},
		{"GET", "/healthzx", false, []string{"hello:read"}},
		{"GET", "/api", false, []string{"api:any"}},
		{"GET", "/api/items", false, []string{"api:any"}},
		{"POST", "/api/items", false, []string{"api:write"}},
		{"POST", "/api/admin/x", false, []string{"api:admin"}},
		{"GET", "/apix", false, []string{"hello:read"}},
		{"GET", "/static/app.js", true, nil},
		{"GET", "/static", false, []string{"hello:read"}},
		{"DELETE", "/static/x", true, nil},
		{"HEAD", "/docs", false, []string{"docs:head"}},
		{"GET", "/docs", false, []string{"docs:read"}},
		{"GET", "", false, []string{"default:scope"}},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			got := p.Requirement(tc.method, tc.path)
			if got.Public != tc.public || !slices.Equal(got.Scopes, tc.scopes) {
				t.Fatalf("Requirement = public %v scopes %v, want public %v scopes %v", got.Public, got.Scopes, tc.public, tc.scopes)
			}
		})
	}
}

func TestLoadRules(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(file, []byte("rules:\n- pathPrefix: /x\n  public: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := LoadRules(file)
	if err != nil || len(rules) != 1 || !rules[0].Public {
		t.Fatalf("LoadRules = %+v, %v", rules, err)
	}
	if _, err := LoadRules(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadRules of a missing file = %v, want os.ErrNotExist", err)
	}
}
