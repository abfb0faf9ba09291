package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Identity headers set on allowed requests.
const (
	HeaderClientID = "X-Auth-Client-Id"
	HeaderSubject  = "X-Auth-Subject"
	HeaderScopes   = "X-Auth-Scopes"
)

// Forward-auth request headers, by proxy.
const (
	headerOriginalURI       = "X-Original-Uri"    // nginx auth_request (by convention)
	headerOriginalURL       = "X-Original-Url"    // ingress-nginx auth-url
	headerOriginalMethod    = "X-Original-Method" // nginx, ingress-nginx
	headerForwardedURI      = "X-Forwarded-Uri"   // Traefik ForwardAuth
	headerForwardedMethod   = "X-Forwarded-Method"
	verifyPath              = "/verify"
	tokenReviewPath         = "/tokenreview"
	maxTokenReviewBodyBytes = 64 << 10
)

// GroupPrefix prefixes the Kubernetes group made from each granted scope in
// a TokenReview answer: scope "hello:read" becomes group
// "oauth:scope:hello:read". UsernamePrefix prefixes the client id.
const (
	GroupPrefix    = "oauth:scope:"
	UsernamePrefix = "oauth:"
)

// ServerConfig configures the HTTP front of a Verifier.
type ServerConfig struct {
	Verifier *Verifier
	Policy   *Policy
	// Upstream, when set, turns on reverse-proxy mode: every path that is
	// not one of the verifier's own is verified and then forwarded here.
	Upstream *url.URL
	// Realm goes in the WWW-Authenticate challenge sent when no token came.
	Realm string
	// ServeMetrics exposes /metrics on this handler (turn it off when the
	// metrics are served on a separate listener).
	ServeMetrics bool
	Logger       *slog.Logger
}

// Server is the verifier's HTTP handler.
type Server struct {
	v        *Verifier
	policy   *Policy
	proxy    *httputil.ReverseProxy
	realm    string
	metricsH http.Handler
	log      *slog.Logger
}

// NewServer builds the handler.
func NewServer(cfg ServerConfig) *Server {
	s := &Server{
		v:      cfg.Verifier,
		policy: cfg.Policy,
		realm:  cfg.Realm,
		log:    cfg.Logger,
	}
	if s.policy == nil {
		s.policy, _ = NewPolicy(nil, nil)
	}
	if s.realm == "" {
		s.realm = "clientcreds"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ServeMetrics {
		s.metricsH = MetricsHandler(s.v.metrics)
	}
	if cfg.Upstream != nil {
		s.proxy = newReverseProxy(cfg.Upstream, s.log)
	}
	return s
}

// MetricsHandler serves m's registry in the Prometheus text format.
func MetricsHandler(m *Metrics) http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/healthz":
		writeText(w, http.StatusOK, "ok\n")
	case p == "/readyz":
		if s.v.Ready() {
			writeText(w, http.StatusOK, "ok\n")
		} else {
			writeText(w, http.StatusServiceUnavailable, "jwks not fetched yet\n")
		}
	case p == "/metrics" && s.metricsH != nil:
		s.metricsH.ServeHTTP(w, r)
	case p == tokenReviewPath:
		s.serveTokenReview(w, r)
	case p == verifyPath || strings.HasPrefix(p, verifyPath+"/"):
		s.serveVerify(w, r)
	case s.proxy != nil:
		s.serveProxy(w, r)
	default:
		http.NotFound(w, r)
	}
}

// decision is the outcome of authorizing one request.
type decision struct {
	status    int
	reason    string
	challenge string
	id        *Identity
}

func (d *decision) allowed() bool { return d.status == http.StatusOK }

func (s *Server) authorize(ctx context.Context, h http.Header, method, reqPath string) decision {
	req := s.policy.Requirement(method, reqPath)
	if req.Public {
		return decision{status: http.StatusOK, reason: "public"}
	}
	token, err := bearerToken(h)
	if err != nil {
		return s.refuse(err)
	}
	id, err := s.v.Verify(ctx, token)
	if err != nil {
		return s.refuse(err)
	}
	if missing := id.MissingScopes(req.Scopes); len(missing) > 0 {
		return decision{
			status: http.StatusForbidden,
			reason: "insufficient_scope",
			challenge: `Bearer error="insufficient_scope", error_description=` +
				quote("the token lacks the required scope "+strings.Join(missing, " ")) +
				", scope=" + quote(req.scopeAttr),
		}
	}
	return decision{status: http.StatusOK, reason: "ok", id: id}
}

// errBadRequestTarget is used when the original request cannot be worked
// out unambiguously.
var errBadRequestTarget = &RefusalError{Reason: "bad_request", Description: "the original request target is ambiguous"}

// errMalformedAuthorization is an Authorization header that cannot carry a
// single bearer token.
var errMalformedAuthorization = &RefusalError{Reason: "malformed", Description: "the authorization header is malformed"}

func (s *Server) refuse(err error) decision {
	if errors.Is(err, ErrMissingToken) {
		return decision{status: http.StatusUnauthorized, reason: ErrMissingToken.Reason, challenge: "Bearer realm=" + quote(s.realm)}
	}
	code := "invalid_token"
	if errors.Is(err, errMalformedAuthorization) {
		code = "invalid_request"
	}
	return decision{
		status:    http.StatusUnauthorized,
		reason:    ReasonOf(err),
		challenge: `Bearer error="` + code + `", error_description=` + quote(DescriptionOf(err)),
	}
}

// bearerToken extracts the token of a single "Authorization: Bearer"
// header. Any other scheme counts as no token.
func bearerToken(h http.Header) (string, error) {
	vals := h.Values("Authorization")
	if len(vals) == 0 {
		return "", ErrMissingToken
	}
	if len(vals) > 1 {
		return "", errMalformedAuthorization
	}
	v := strings.TrimSpace(vals[0])
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrMissingToken
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" || strings.ContainsAny(tok, " \t,") {
		return "", errMalformedAuthorization
	}
	return tok, nil
}

// quote makes an RFC 7230 quoted-string; anything outside printable ASCII
// is replaced so that nothing can break out of the header.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (s *Server) record(mode string, d *decision, start time.Time, method, reqPath string) {
	result := "deny"
	if d.allowed() {
		result = "allow"
	}
	s.v.metrics.decision(mode, result, d.reason, time.Since(start))
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		clientID := ""
		if d.id != nil {
			clientID = d.id.ClientID
		}
		s.log.Debug("Decision", "mode", mode, "method", method, "path", reqPath, "result", result, "reason", d.reason, "clientId", clientID)
	}
}

func setIdentity(h http.Header, id *Identity) {
	h.Set(HeaderClientID, id.ClientID)
	h.Set(HeaderSubject, id.Subject)
	h.Set(HeaderScopes, id.ScopeString)
}

func writeDecision(w http.ResponseWriter, d *decision) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if d.allowed() {
		if d.id != nil {
			setIdentity(h, d.id)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if d.challenge != "" {
		h.Set("WWW-Authenticate", d.challenge)
	}
	writeText(w, d.status, http.StatusText(d.status)+"\n")
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// serveVerify answers a forward-auth subrequest about the original request.
func (s *Server) serveVerify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	method, reqPath, err := originalRequest(r)
	var d decision
	if err != nil {
		// 403 rather than 400: forward-auth proxies only pass 401 and 403
		// through, and turn anything else into a server error.
		d = decision{status: http.StatusForbidden, reason: ReasonOf(err)}
	} else {
		d = s.authorize(r.Context(), r.Header, method, reqPath)
	}
	s.record("verify", &d, start, method, reqPath)
	writeDecision(w, &d)
}

// originalRequest works out the method and clean path of the request a
// forward-auth proxy asks about. Every source present must agree: a client
// that adds a header its proxy does not overwrite cannot steer the decision,
// it only gets refused.
func originalRequest(r *http.Request) (method, reqPath string, err error) {
	var buf [4]string
	paths := buf[:0]
	add := func(p string, perr error) error {
		if perr != nil {
			return perr
		}
		paths = append(paths, p)
		return nil
	}
	envoy := false
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), verifyPath); ok && rest != "" {
		// Envoy ext_authz HTTP service with path_prefix "/verify": the
		// original path follows the prefix and the method is the original.
		envoy = true
		if err := add(cleanRequestPath(rest)); err != nil {
			return "", "", err
		}
	}
	for _, h := range [...]struct {
		name   string
		absURL bool
	}{{headerOriginalURI, false}, {headerOriginalURL, true}, {headerForwardedURI, false}} {
		vals := r.Header.Values(h.name)
		if len(vals) == 0 {
			continue
		}
		p, perr := uriPath(vals)
		if h.absURL {
			p, perr = urlPath(vals)
		}
		if err := add(p, perr); err != nil {
			return "", "", err
		}
	}
	for _, p := range paths {
		if p != paths[0] {
			return "", "", errBadRequestTarget
		}
	}
	if len(paths) > 0 {
		reqPath = paths[0]
	}

	var mbuf [3]string
	methods := mbuf[:0]
	if envoy {
		methods = append(methods, r.Method)
	}
	for _, name := range [...]string{headerOriginalMethod, headerForwardedMethod} {
		vals := r.Header.Values(name)
		if len(vals) > 1 {
			return "", "", errBadRequestTarget
		}
		if len(vals) == 1 {
			methods = append(methods, strings.TrimSpace(vals[0]))
		}
	}
	if len(methods) == 0 {
		methods = append(methods, r.Method)
	}
	for _, m := range methods {
		if m != methods[0] || !validMethod(m) {
			return "", "", errBadRequestTarget
		}
	}
	return methods[0], reqPath, nil
}

func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// uriPath takes the path of a request-target header value (origin form,
// possibly with a query; absolute form is accepted too).
func uriPath(vals []string) (string, error) {
	if len(vals) != 1 {
		return "", errBadRequestTarget
	}
	v := strings.TrimSpace(vals[0])
	if !strings.HasPrefix(v, "/") {
		return urlPath(vals)
	}
	p, _, _ := strings.Cut(v, "?")
	p, _, _ = strings.Cut(p, "#")
	return cleanRequestPath(p)
}

// urlPath takes the path of an absolute URL header value.
func urlPath(vals []string) (string, error) {
	if len(vals) != 1 {
		return "", errBadRequestTarget
	}
	u, err := url.Parse(strings.TrimSpace(vals[0]))
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return "", errBadRequestTarget
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	return cleanRequestPath(p)
}

// cleanRequestPath decodes an escaped path and removes dot segments and
// repeated slashes. Encoded slashes and backslashes, and control
// characters, are refused: servers disagree on what they mean, so a rule
// decision made on them could differ from what the upstream serves.
func cleanRequestPath(escaped string) (string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return "", errBadRequestTarget
	}
	lower := strings.ToLower(escaped)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(escaped, `\`) {
		return "", errBadRequestTarget
	}
	decoded, err := url.PathUnescape(escaped)
	if err != nil {
		return "", errBadRequestTarget
	}
	for i := 0; i < len(decoded); i++ {
		if decoded[i] < 0x20 || decoded[i] == 0x7f {
			return "", errBadRequestTarget
		}
	}
	return cleanPrefix(decoded), nil
}

// Reverse-proxy mode.

type ctxKey int

const identityKey ctxKey = iota

type proxyInfo struct {
	id   *Identity
	path string
}

func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqPath, err := cleanRequestPath(r.URL.EscapedPath())
	if err != nil {
		d := decision{status: http.StatusBadRequest, reason: ReasonOf(err)}
		s.record("proxy", &d, start, r.Method, r.URL.Path)
		writeText(w, http.StatusBadRequest, "bad request target\n")
		return
	}
	d := s.authorize(r.Context(), r.Header, r.Method, reqPath)
	s.record("proxy", &d, start, r.Method, reqPath)
	if !d.allowed() {
		writeDecision(w, &d)
		return
	}
	ctx := context.WithValue(r.Context(), identityKey, &proxyInfo{id: d.id, path: reqPath})
	s.proxy.ServeHTTP(w, r.WithContext(ctx))
}

func newReverseProxy(upstream *url.URL, log *slog.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			info, _ := pr.In.Context().Value(identityKey).(*proxyInfo)
			out := pr.Out
			out.URL.Scheme = upstream.Scheme
			out.URL.Host = upstream.Host
			if info != nil {
				// Forward exactly the path that was authorized.
				out.URL.Path = joinURLPath(upstream.Path, info.path)
				out.URL.RawPath = ""
			}
			out.Host = pr.In.Host
			pr.SetXForwarded()
			stripIdentityHeaders(out.Header)
			if info != nil && info.id != nil {
				setIdentity(out.Header, info.id)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("Upstream request failed", "error", err)
			writeText(w, http.StatusBadGateway, "upstream unavailable\n")
		},
	}
}

func joinURLPath(base, p string) string {
	if base == "" || base == "/" {
		return p
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(p, "/")
}

// stripIdentityHeaders removes identity headers a client may have sent,
// including spellings with underscores that some servers fold into the
// same name.
func stripIdentityHeaders(h http.Header) {
	for name := range h {
		n := strings.ReplaceAll(name, "_", "-")
		if strings.EqualFold(n, HeaderClientID) || strings.EqualFold(n, HeaderSubject) || strings.EqualFold(n, HeaderScopes) {
			delete(h, name)
		}
	}
}

// TokenReview webhook.

func (s *Server) serveTokenReview(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeText(w, http.StatusMethodNotAllowed, "method not allowed\n")
		return
	}
	var in authv1.TokenReview
	body := http.MaxBytesReader(w, r.Body, maxTokenReviewBodyBytes)
	if err := json.NewDecoder(body).Decode(&in); err != nil {
		writeText(w, http.StatusBadRequest, "the body is not a TokenReview\n")
		return
	}
	// v1beta1 has the same shape; the answer carries the caller's version.
	if (in.APIVersion != "authentication.k8s.io/v1" && in.APIVersion != "authentication.k8s.io/v1beta1") || in.Kind != "TokenReview" {
		writeText(w, http.StatusBadRequest, "expected apiVersion authentication.k8s.io/v1, kind TokenReview\n")
		return
	}

	out := authv1.TokenReview{TypeMeta: metav1.TypeMeta{APIVersion: in.APIVersion, Kind: in.Kind}}
	d := s.reviewToken(r.Context(), in.Spec, &out.Status)
	s.record("tokenreview", &d, start, r.Method, tokenReviewPath)

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(&out)
}

func (s *Server) reviewToken(ctx context.Context, spec authv1.TokenReviewSpec, st *authv1.TokenReviewStatus) decision {
	id, err := s.v.Verify(ctx, spec.Token)
	if err != nil {
		st.Error = DescriptionOf(err)
		return decision{status: http.StatusUnauthorized, reason: ReasonOf(err)}
	}
	if missing := id.MissingScopes(s.policy.Default().Scopes); len(missing) > 0 {
		st.Error = "the token lacks the required scope " + strings.Join(missing, " ")
		return decision{status: http.StatusForbidden, reason: "insufficient_scope"}
	}
	// The token's audience was already checked against --audience. When the
	// caller names audiences (kube-apiserver sends its own), report those the
	// token also holds; when none match, leave the list empty, which tells
	// kube-apiserver the token is good for the audiences this webhook was
	// configured to serve.
	for _, a := range spec.Audiences {
		if slices.Contains(id.Audiences, a) {
			st.Audiences = append(st.Audiences, a)
		}
	}
	st.Authenticated = true
	st.User = authv1.UserInfo{Username: UsernamePrefix + id.ClientID, UID: id.ClientID}
	for _, sc := range id.Scopes {
		st.User.Groups = append(st.User.Groups, GroupPrefix+sc)
	}
	return decision{status: http.StatusOK, reason: "ok", id: id}
}
