package verifier

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// RulesFormat documents the --rules file. It is printed by the verifier's
// --help.
const RulesFormat = `Rules file (YAML or JSON): a list of rules, either at the top level or
under "rules:". Each rule has
  pathPrefix  required; starts with "/". Matches the path itself and anything
              below it on a segment boundary ("/api" matches "/api" and
              "/api/x", not "/apix"); a prefix ending in "/" matches anything
              that starts with it. "/" matches every path.
  methods     optional list of HTTP methods (upper case); empty means all.
              A rule listing GET also matches HEAD, unless another rule for
              the same prefix lists HEAD.
  scopes      scopes the token must all carry (may be empty: any valid token)
  public      true: no token needed (cannot be combined with scopes)
For a request, the matching rule with the longest pathPrefix wins; at equal
length a rule naming the method beats one without methods. Paths no rule
matches need a valid token with the --required-scopes. Paths are matched
after percent-decoding, without the query string; targets with dot
segments, "//", ";" parameters (unless --allow-path-params: then matched
without them), backslashes or encoded slashes are refused before any rule
is looked at. On /verify, a request that names no original URI
(X-Original-URI, X-Original-URL, X-Forwarded-Uri or /verify/<path>)
matches no rule. /tokenreview always applies --required-scopes.
Example:
  rules:
  - pathPrefix: /healthz
    public: true
  - pathPrefix: /
    methods: [GET, HEAD]
    scopes: [hello:read]
  - pathPrefix: /admin
    scopes: [hello:admin]
`

// ErrRules marks an invalid rules file.
var ErrRules = errors.New("invalid rules")

// Rule is one entry of the rules file.
type Rule struct {
	PathPrefix string   `json:"pathPrefix"`
	Methods    []string `json:"methods,omitempty"`
	Scopes     []string `json:"scopes,omitempty"`
	Public     bool     `json:"public,omitempty"`
}

type rulesFile struct {
	Rules []Rule `json:"rules"`
}

// ParseRules reads a rules document (YAML or JSON).
func ParseRules(data []byte) ([]Rule, error) {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRules, err)
	}
	j = bytes.TrimSpace(j)
	var rules []Rule
	switch {
	case len(j) == 0 || string(j) == "null":
		return nil, nil
	case j[0] == '[':
		err = yaml.UnmarshalStrict(data, &rules)
	default:
		var f rulesFile
		err = yaml.UnmarshalStrict(data, &f)
		rules = f.Rules
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRules, err)
	}
	return rules, nil
}

// LoadRules reads and parses a rules file.
func LoadRules(file string) ([]Rule, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	return ParseRules(data)
}

// Requirement is what one request needs.
type Requirement struct {
	// Public requests need no token.
	Public bool
	// Scopes must all be granted by the token.
	Scopes []string
	// scopeAttr is Scopes joined by spaces, ready for WWW-Authenticate.
	scopeAttr string
}

type compiledRule struct {
	prefix  string
	methods []string
	req     *Requirement
}

// Policy decides what each request needs.
type Policy struct {
	rules []compiledRule // longest prefix first
	def   *Requirement
}

// NewPolicy checks rules and builds a policy; requests no rule matches need
// defaultScopes.
func NewPolicy(defaultScopes []string, rules []Rule) (*Policy, error) {
	for _, s := range defaultScopes {
		if !validScopeToken(s) {
			return nil, fmt.Errorf("%w: required scope %q is not a valid scope token", ErrRules, s)
		}
	}
	p := &Policy{def: newRequirement(false, defaultScopes)}
	type key struct{ prefix, method string }
	explicit := map[key]bool{}
	for i, r := range rules {
		if err := checkRule(i, r); err != nil {
			return nil, err
		}
		ms := r.Methods
		if len(ms) == 0 {
			ms = []string{"*"}
		}
		for _, m := range ms {
			k := key{r.PathPrefix, m}
			if explicit[k] {
				return nil, fmt.Errorf("%w: rule %d: another rule already covers %s %s", ErrRules, i, m, r.PathPrefix)
			}
			explicit[k] = true
		}
	}
	for _, r := range rules {
		methods := slices.Clone(r.Methods)
		// GET implies HEAD unless another rule for the prefix names HEAD.
		if slices.Contains(methods, "GET") && !slices.Contains(methods, "HEAD") && !explicit[key{r.PathPrefix, "HEAD"}] {
			methods = append(methods, "HEAD")
		}
		p.rules = append(p.rules, compiledRule{prefix: r.PathPrefix, methods: methods, req: newRequirement(r.Public, r.Scopes)})
	}
	sort.SliceStable(p.rules, func(a, b int) bool {
		ra, rb := p.rules[a], p.rules[b]
		if len(ra.prefix) != len(rb.prefix) {
			return len(ra.prefix) > len(rb.prefix)
		}
		return len(ra.methods) > 0 && len(rb.methods) == 0
	})
	return p, nil
}

func checkRule(i int, r Rule) error {
	if !strings.HasPrefix(r.PathPrefix, "/") {
		return fmt.Errorf("%w: rule %d: pathPrefix %q must start with /", ErrRules, i, r.PathPrefix)
	}
	if cleanPrefix(r.PathPrefix) != r.PathPrefix || strings.ContainsAny(r.PathPrefix, "?#%\\") {
		return fmt.Errorf("%w: rule %d: pathPrefix %q must be a clean, decoded path", ErrRules, i, r.PathPrefix)
	}
	if r.Public && len(r.Scopes) > 0 {
		return fmt.Errorf("%w: rule %d (%s): public and scopes cannot be combined", ErrRules, i, r.PathPrefix)
	}
	for _, s := range r.Scopes {
		if !validScopeToken(s) {
			return fmt.Errorf("%w: rule %d (%s): %q is not a valid scope token", ErrRules, i, r.PathPrefix, s)
		}
	}
	for _, m := range r.Methods {
		if m == "" || len(m) > 32 || strings.ContainsFunc(m, func(c rune) bool { return c < 'A' || c > 'Z' }) {
			return fmt.Errorf("%w: rule %d (%s): method %q must be an upper-case HTTP method", ErrRules, i, r.PathPrefix, m)
		}
	}
	return nil
}

func newRequirement(public bool, scopes []string) *Requirement {
	s := slices.Clone(scopes)
	return &Requirement{Public: public, Scopes: s, scopeAttr: strings.Join(s, " ")}
}

// cleanPrefix cleans p like a request path, keeping a trailing slash.
func cleanPrefix(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// Requirement returns what a request with this method and (clean) path
// needs. An empty path matches no rule.
func (p *Policy) Requirement(method, reqPath string) *Requirement {
	for i := range p.rules {
		r := &p.rules[i]
		if !prefixMatches(r.prefix, reqPath) {
			continue
		}
		if len(r.methods) > 0 && !slices.Contains(r.methods, method) {
			continue
		}
		return r.req
	}
	return p.def
}

// Default returns the requirement for requests no rule matches.
func (p *Policy) Default() *Requirement { return p.def }

func prefixMatches(prefix, p string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	if len(p) == len(prefix) || strings.HasSuffix(prefix, "/") {
		return true
	}
	return p[len(prefix)] == '/'
}
