package verifier

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
)

// The routing model behind FuzzTargetRouting. For a client's request line
// (method, target) each proxy tells the verifier about the request in its
// own way and forwards a path to the upstream; the upstream application
// then routes that path with its own normalisation. The property: whenever
// the verifier allows a request, the rule it chose is the rule for what
// every modelled upstream routes.

// proxyModel is what one proxy does with a client's request line: the
// request the verifier receives and the path forwarded upstream. ok is
// false when the proxy itself would refuse the request.
type proxyModel struct {
	name string
	// viaProxy: the verifier is itself the reverse proxy (proxyTarget
	// decides); otherwise the request goes to /verify (originalRequest).
	viaProxy bool
	apply    func(method, target string) (verifierReq *http.Request, forwarded string, ok bool)
}

func splitTarget(target string) (p, query string) {
	p, q, found := strings.Cut(target, "?")
	if found {
		return p, "?" + q
	}
	return p, ""
}

// cleanKeepSlash is path.Clean keeping a trailing slash (what Traefik's
// sanitizePath and Envoy's normalize_path + merge_slashes leave).
func cleanKeepSlash(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// decodeUnreserved decodes only %XX of RFC 3986 unreserved characters
// (Envoy's normalize_path, RFC 3986 section 6.2.2.2).
func decodeUnreserved(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' {
			if c, ok := pctByte(p, i); ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

var proxyModels = []proxyModel{
	{name: "nginx auth_request ($request_uri, proxy_pass without URI)", apply: func(m, target string) (*http.Request, string, bool) {
		if !strings.HasPrefix(target, "/") {
			return nil, "", false // nginx answers 400 itself
		}
		r := rawRequest(http.MethodGet, "/verify")
		r.Header.Set("X-Original-Uri", target)
		r.Header.Set("X-Original-Method", m)
		p, _ := splitTarget(target)
		return r, p, true
	}},
	{name: "ingress-nginx auth-url ($scheme://$host$request_uri)", apply: func(m, target string) (*http.Request, string, bool) {
		if !strings.HasPrefix(target, "/") {
			return nil, "", false // nginx answers 400 itself
		}
		r := rawRequest(http.MethodGet, "/verify")
		r.Header.Set("X-Original-Url", "https://app.example.com"+target)
		r.Header.Set("X-Original-Method", m)
		p, _ := splitTarget(target)
		return r, p, true
	}},
	{name: "Traefik ForwardAuth (RequestURI(), sanitizePath)", apply: func(m, target string) (*http.Request, string, bool) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return nil, "", false // Traefik answers 400 itself
		}
		r := rawRequest(http.MethodGet, "/verify")
		r.Header.Set("X-Forwarded-Uri", u.RequestURI())
		r.Header.Set("X-Forwarded-Method", m)
		return r, cleanKeepSlash(u.EscapedPath()), true
	}},
	{name: "Envoy ext_authz (normalize_path, merge_slashes)", apply: func(m, target string) (*http.Request, string, bool) {
		p, q := splitTarget(target)
		if !strings.HasPrefix(p, "/") {
			return nil, "", false
		}
		p = cleanKeepSlash(decodeUnreserved(p))
		return rawRequest(m, "/verify"+p+q), p, true
	}},
	{name: "verifier as reverse proxy", viaProxy: true, apply: func(m, target string) (*http.Request, string, bool) {
		p, _ := splitTarget(target)
		return rawRequest(m, target), p, true
	}},
}

// appModel is how an upstream application routes a forwarded path.
type appModel struct {
	name  string
	route func(method, forwarded string) (string, string, bool)
}

var appModels = []appModel{
	{name: "literal router (decode only)", route: func(m, p string) (string, string, bool) {
		d, err := url.PathUnescape(p)
		return m, d, err == nil
	}},
	{name: "servlet container (drop ;params, decode, resolve dots)", route: func(m, p string) (string, string, bool) {
		d, err := url.PathUnescape(stripParams(p))
		return m, cleanKeepSlash(d), err == nil
	}},
	{name: "cleaning router (decode, merge slashes, resolve dots)", route: func(m, p string) (string, string, bool) {
		d, err := url.PathUnescape(p)
		return m, cleanKeepSlash(d), err == nil
	}},
	{name: "case-insensitive methods", route: func(m, p string) (string, string, bool) {
		d, err := url.PathUnescape(p)
		return strings.ToUpper(m), cleanKeepSlash(d), err == nil
	}},
}

func fuzzPolicy(t testing.TB) *Policy {
	p, err := NewPolicy([]string{"read"}, []Rule{
		{PathPrefix: "/public", Public: true},
		{PathPrefix: "/admin", Scopes: []string{"admin"}},
		{PathPrefix: "/admin/public", Public: true},
		{PathPrefix: "/api/", Scopes: []string{"api"}},
		{PathPrefix: "/docs", Methods: []string{"GET"}, Public: true},
		{PathPrefix: "/docs", Scopes: []string{"docs"}},
		{PathPrefix: "/é", Scopes: []string{"accent"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzTargetRouting checks, for arbitrary request lines, that whenever the
// verifier allows a request (any convention, or proxy mode) the rule it
// chose is the rule every modelled upstream routes the request under.
func FuzzTargetRouting(f *testing.F) {
	for _, tc := range ambiguousTargets {
		f.Add(tc.method, tc.target)
	}
	for _, seed := range []string{
		"/", "/public", "/public/x", "/admin", "/admin/x", "/admin/public/x", "/api/", "/api", "/docs", "/docs/x?y=1",
		"/%61dmin", "/adm%69n/x", "/public%2f../admin", "/public/%2e%2e/admin", "/x/..%2fadmin", "/public/.%2e/admin",
		"/public;x/../admin", "/%C3%A9/x", "/é", "/public/..;/admin", "/public/%2e%2e;/admin", "/admin/public/../x",
		"/public/%252e%252e/admin", "/public\\..\\admin", "//admin", "/public//../admin", "/ad%6din?x=/public",
		"/admin;x/y", "/public;x", "/a/;x/admin", "/;/admin", "/public;a=b/x",
	} {
		f.Add("GET", seed)
		f.Add("POST", seed)
	}
	f.Add("get", "/docs")
	f.Add("Post", "/docs")

	env := newServerEnv(f)
	policy := fuzzPolicy(f)
	token := goodToken(f, env.ti, func(m map[string]any) {
		m["scp"] = []string{"read", "admin", "api", "docs", "accent"}
	})
	fwd := NewServer(ServerConfig{Verifier: env.v, Policy: policy})
	up, _ := url.Parse("http://127.0.0.1:1")
	prx := NewServer(ServerConfig{Verifier: env.v, Policy: policy, Upstream: up})

	f.Fuzz(func(t *testing.T, method, target string) {
		for _, pm := range proxyModels {
			req, forwarded, ok := pm.apply(method, target)
			if !ok {
				continue
			}
			var (
				m, p string
				err  error
			)
			if pm.viaProxy {
				m = req.Method
				p, err = prx.proxyTarget(req)
			} else {
				m, p, err = originalRequest(req, TargetOptions{})
			}
			if !pm.viaProxy {
				// With --allow-path-params the upstream is one that drops
				// parameters (a servlet container): the rule must be the one
				// it routes under.
				if pm2, pp2, err2 := originalRequest(req, TargetOptions{AllowPathParams: true}); err2 == nil {
					if rm, rp, ok := appModels[1].route(method, forwarded); ok && policy.Requirement(rm, rp) != policy.Requirement(pm2, pp2) {
						t.Fatalf("%s, with path parameters allowed: request %q %q: the verifier chose the rule for %s %q, a servlet container routes %s %q",
							pm.name, method, target, pm2, pp2, rm, rp)
					}
				}
			}
			if err != nil {
				continue // refused: nothing to route
			}
			chosen := policy.Requirement(m, p)
			for _, am := range appModels {
				rm, rp, ok := am.route(method, forwarded)
				if !ok {
					continue
				}
				if got := policy.Requirement(rm, rp); got != chosen {
					t.Fatalf("%s, %s: request %q %q: the verifier chose the rule for %s %q, the upstream routes %s %q under another",
						pm.name, am.name, method, target, m, p, rm, rp)
				}
			}
			if !pm.viaProxy {
				// The handler agrees: a token with every scope is let through.
				req.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				fwd.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s: %q %q passed the target checks but /verify answered %d", pm.name, method, target, rec.Code)
				}
			}
		}
	})
}
