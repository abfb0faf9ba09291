package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
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

// Defaults for the proxy transport.
const (
	DefaultProxyDialTimeout           = 5 * time.Second
	DefaultProxyResponseHeaderTimeout = 30 * time.Second
)

// ServerConfig configures the HTTP front of a Verifier.
type ServerConfig struct {
	Verifier *Verifier
	Policy   *Policy
	// Upstream, when set, turns on reverse-proxy mode: the handler verifies
	// and forwards every request, whatever its path, and serves none of the
	// verifier's own endpoints (serve Admin on another listener for those).
	Upstream *url.URL
	// Realm goes in the WWW-Authenticate challenge sent when no token came.
	Realm string
	// ServeMetrics exposes /metrics among the verifier's own endpoints (turn
	// it off when the metrics are served on a separate listener).
	ServeMetrics bool
	// Target holds the allow-listed exceptions to the request-target
	// checks.
	Target TargetOptions
	// AllowUpgrade lets proxied requests switch protocols (WebSocket and
	// the like); without it requests carrying Upgrade are refused.
	AllowUpgrade bool
	// ProxyDialTimeout and ProxyResponseHeaderTimeout bound connecting to
	// the upstream and waiting for its response headers; the defaults above
	// when zero.
	ProxyDialTimeout           time.Duration
	ProxyResponseHeaderTimeout time.Duration
	// TokenReviewAudiences turns on /tokenreview: a token authenticates
	// only if its aud holds one of these (the Kubernetes API's audiences),
	// never the verifier's own --audience.
	TokenReviewAudiences []string
	// TokenReviewRequireClientCert refuses /tokenreview callers that did
	// not present a TLS client certificate verified by the server's
	// ClientCAs.
	TokenReviewRequireClientCert bool
	Logger                       *slog.Logger
}

// Server is the verifier's HTTP handler.
type Server struct {
	// st is what decisions are made with. Each request loads it once, so a
	// swap (Reloader) never changes the rules under a request in flight.
	st         atomic.Pointer[serverState]
	reviewOn   bool // /tokenreview is served
	metrics    *Metrics
	proxy      *httputil.ReverseProxy
	realm      string
	metricsH   http.Handler
	target     TargetOptions
	upgrade    bool
	clientCert bool
	log        *slog.Logger
}

// ErrServerConfig marks an invalid server configuration.
var ErrServerConfig = errors.New("invalid server configuration")

// CheckServerConfig reports what NewServer would refuse: a TokenReview
// audience that is also the protected API's audience (then tokens for the
// API would authenticate to Kubernetes), a TokenReview client CA without
// TokenReview audiences, or an upstream that is not an absolute http(s)
// URL.
func CheckServerConfig(cfg ServerConfig) error {
	if cfg.Verifier == nil {
		return fmt.Errorf("%w: a verifier is required", ErrServerConfig)
	}
	for _, a := range cfg.TokenReviewAudiences {
		if a == "" {
			return fmt.Errorf("%w: an empty TokenReview audience", ErrServerConfig)
		}
		if slices.Contains(cfg.Verifier.audiences, a) {
			return fmt.Errorf("%w: TokenReview audience %q is also the audience of the protected API: "+
				"tokens for the API must not authenticate to Kubernetes", ErrServerConfig, a)
		}
	}
	if cfg.TokenReviewRequireClientCert && len(cfg.TokenReviewAudiences) == 0 {
		return fmt.Errorf("%w: a TokenReview client CA without TokenReview audiences", ErrServerConfig)
	}
	if u := cfg.Upstream; u != nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
		return fmt.Errorf("%w: upstream %q must be an absolute http(s) URL", ErrServerConfig, u.Redacted())
	}
	return nil
}

// NewServer builds the handler. It fails closed on a configuration
// CheckServerConfig refuses: /tokenreview is then not served, and a bad
// upstream answers 502.
func NewServer(cfg ServerConfig) *Server {
	err := CheckServerConfig(cfg)
	st := &serverState{v: cfg.Verifier, policy: cfg.Policy}
	if st.policy == nil {
		st.policy, _ = NewPolicy(nil, nil)
	}
	if err == nil && len(cfg.TokenReviewAudiences) > 0 {
		st.review, _ = st.v.ForAudiences(cfg.TokenReviewAudiences)
	}
	var m *Metrics
	if cfg.Verifier != nil {
		m = cfg.Verifier.metrics
	} else {
		st.down = "no verifier"
		cfg.ServeMetrics = false
	}
	s := newServer(cfg, m, st)
	if err != nil {
		s.log.Error("Invalid server configuration; failing closed (TokenReview off, proxying answers 502)", "error", err)
	}
	s.reviewOn = st.review != nil
	return s
}

// newServer builds the handler around a first state; cfg.Verifier and
// cfg.Policy are not looked at.
func newServer(cfg ServerConfig, m *Metrics, st *serverState) *Server {
	s := &Server{
		metrics:    m,
		realm:      cfg.Realm,
		target:     cfg.Target,
		upgrade:    cfg.AllowUpgrade,
		clientCert: cfg.TokenReviewRequireClientCert,
		log:        cfg.Logger,
	}
	s.st.Store(st)
	if s.realm == "" {
		s.realm = "clientcreds"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ServeMetrics {
		s.metricsH = MetricsHandler(m)
	}
	if cfg.Upstream != nil {
		dial, header := cfg.ProxyDialTimeout, cfg.ProxyResponseHeaderTimeout
		if dial <= 0 {
			dial = DefaultProxyDialTimeout
		}
		if header <= 0 {
			header = DefaultProxyResponseHeaderTimeout
		}
		s.proxy = newReverseProxy(cfg.Upstream, newProxyTransport(dial, header), s.log, m)
	}
	return s
}

// MetricsHandler serves m's registry in the Prometheus text format.
func MetricsHandler(m *Metrics) http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// ServeHTTP is the main listener: in proxy mode every request is verified
// and proxied; otherwise it serves the verifier's own endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.proxy != nil {
		s.serveProxy(w, r)
		return
	}
	s.serveOwn(w, r)
}

// Admin serves the verifier's own endpoints (/verify, /tokenreview,
// /healthz, /readyz and, when enabled, /metrics) whatever the mode. In
// proxy mode it is the only way to reach them.
func (s *Server) Admin() http.Handler { return http.HandlerFunc(s.serveOwn) }

func (s *Server) serveOwn(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/healthz":
		writeText(w, http.StatusOK, "ok\n")
	case p == "/readyz":
		st := s.st.Load()
		switch {
		case st.v == nil:
			writeText(w, http.StatusServiceUnavailable, NotConfiguredBody+"\n")
		case st.v.Ready():
			writeText(w, http.StatusOK, "ok\n")
		case st.v.keys.Stale():
			writeText(w, http.StatusServiceUnavailable, "jwks stale\n")
		default:
			writeText(w, http.StatusServiceUnavailable, "jwks not fetched yet\n")
		}
	case p == "/metrics" && s.metricsH != nil:
		s.metricsH.ServeHTTP(w, r)
	case p == tokenReviewPath && s.reviewOn:
		s.serveTokenReview(w, r)
	case p == verifyPath || strings.HasPrefix(p, verifyPath+"/"):
		s.serveVerify(w, r)
	default:
		http.NotFound(w, r)
	}
}

// decision is the outcome of authorizing one request.
type decision struct {
	status    int
	reason    string
	challenge string
	// body replaces the status text in the answer to a refused request.
	body string
	id   *Identity
}

func (d *decision) allowed() bool { return d.status == http.StatusOK }

func (s *Server) authorize(ctx context.Context, h http.Header, method, reqPath string) decision {
	st := s.st.Load()
	if st.v == nil {
		return notConfigured(st)
	}
	req := st.policy.Requirement(method, reqPath)
	if req.Public {
		return decision{status: http.StatusOK, reason: "public"}
	}
	token, err := bearerToken(h)
	if err != nil {
		return s.refuse(err)
	}
	id, err := st.v.Verify(ctx, token)
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
	if errors.Is(err, ErrKeysStale) {
		return decision{status: http.StatusServiceUnavailable, reason: ErrKeysStale.Reason}
	}
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
	s.metrics.decision(mode, result, d.reason, d.status, time.Since(start))
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
	body := d.body
	if body == "" {
		body = http.StatusText(d.status)
	}
	writeText(w, d.status, body+"\n")
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
	method, reqPath, err := originalRequest(r, s.target)
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

// rawPath returns the escaped path of r's request target exactly as
// received (Go's parsed URL may re-encode it), and whether the target was
// in origin form.
func rawPath(r *http.Request) (string, bool) {
	t := r.RequestURI
	if t == "" {
		return r.URL.EscapedPath(), true
	}
	if t[0] != '/' {
		return t, false
	}
	p, _, _ := strings.Cut(t, "?")
	return p, true
}

// originalRequest works out the method and path of the request a
// forward-auth proxy asks about, refusing any target whose meaning the
// upstream could read differently (see checkPath). Every source present
// must agree: a client that adds a header its proxy does not overwrite
// cannot steer the decision, it only gets refused.
func originalRequest(r *http.Request, opts TargetOptions) (method, reqPath string, err error) {
	var buf [4]string
	paths := buf[:0]
	envoy := false
	raw, origin := rawPath(r)
	rest, ok := strings.CutPrefix(raw, verifyPath)
	if !origin || !ok || rest != "" && rest[0] != '/' {
		// The request reached /verify only after decoding ("/%76erify").
		return "", "", errBadRequestTarget
	}
	if rest != "" {
		// Envoy ext_authz HTTP service with path_prefix "/verify": the
		// original path follows the prefix and the method is the original.
		envoy = true
		p, err := checkPath(rest, opts)
		if err != nil {
			return "", "", err
		}
		paths = append(paths, p)
	}
	for _, h := range [...]struct {
		name   string
		absURL bool
	}{{headerOriginalURI, false}, {headerOriginalURL, true}, {headerForwardedURI, false}} {
		vals := r.Header.Values(h.name)
		if len(vals) == 0 {
			continue
		}
		if len(vals) != 1 {
			return "", "", errBadRequestTarget
		}
		var p string
		var err error
		if h.absURL || !strings.HasPrefix(vals[0], "/") {
			p, err = absoluteURLPath(vals[0], opts)
		} else {
			p, err = originURIPath(vals[0], opts)
		}
		if err != nil {
			return "", "", err
		}
		paths = append(paths, p)
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
			methods = append(methods, vals[0])
		}
	}
	if len(methods) == 0 {
		methods = append(methods, r.Method)
	}
	for _, m := range methods {
		if m != methods[0] || !canonicalMethod(m) {
			return "", "", errBadRequestTarget
		}
	}
	return methods[0], reqPath, nil
}

// Reverse-proxy mode.

type ctxKey int

const identityKey ctxKey = iota

// errUpgrade refuses a protocol switch the verifier was not told to allow.
var errUpgrade = &RefusalError{Reason: "upgrade_refused", Description: "protocol upgrades are not allowed"}

// proxyTarget checks a proxied request's method and target and returns the
// path rules are matched on.
func (s *Server) proxyTarget(r *http.Request) (string, error) {
	if !canonicalMethod(r.Method) {
		return "", errBadRequestTarget
	}
	if !s.upgrade && (r.Header.Get("Upgrade") != "" || headerHasToken(r.Header, "Connection", "upgrade")) {
		return "", errUpgrade
	}
	raw, origin := rawPath(r)
	if !origin {
		// Absolute form ("GET http://host/path"): the same checks as
		// X-Original-URL; "*" and authority form are refused.
		return absoluteURLPath(raw, s.target)
	}
	return checkPath(raw, s.target)
}

// headerHasToken reports whether any comma-separated element of header
// name equals token, ignoring case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqPath, err := s.proxyTarget(r)
	if err != nil {
		d := decision{status: http.StatusBadRequest, reason: ReasonOf(err)}
		s.record("proxy", &d, start, r.Method, r.URL.Path)
		writeText(w, http.StatusBadRequest, DescriptionOf(err)+"\n")
		return
	}
	d := s.authorize(r.Context(), r.Header, r.Method, reqPath)
	s.record("proxy", &d, start, r.Method, reqPath)
	if !d.allowed() {
		writeDecision(w, &d)
		return
	}
	ctx := r.Context()
	if d.id != nil {
		ctx = context.WithValue(ctx, identityKey, d.id)
	}
	s.proxy.ServeHTTP(w, r.WithContext(ctx))
}

func newProxyTransport(dial, responseHeader time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   dial,
		ResponseHeaderTimeout: responseHeader,
		ExpectContinueTimeout: time.Second,
	}
}

func newReverseProxy(upstream *url.URL, transport http.RoundTripper, log *slog.Logger, m *Metrics) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The target was checked (no dot segments, no "//", no encoded
			// separators), so the path is forwarded as the client wrote it:
			// what was authorized is what the upstream routes.
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			stripIdentityHeaders(pr.Out.Header)
			if id, _ := pr.In.Context().Value(identityKey).(*Identity); id != nil {
				setIdentity(pr.Out.Header, id)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("Upstream request failed", "error", err)
			m.upstreamError()
			writeText(w, http.StatusBadGateway, "upstream unavailable\n")
		},
	}
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
	if s.clientCert && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		d := decision{status: http.StatusUnauthorized, reason: "no_client_certificate"}
		s.record("tokenreview", &d, start, r.Method, tokenReviewPath)
		writeText(w, http.StatusUnauthorized, "a verified TLS client certificate is required\n")
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
	st := s.st.Load()
	var d decision
	if st.review == nil {
		d = notConfigured(st)
	} else {
		d = s.reviewToken(r.Context(), st, in.Spec, &out.Status)
	}
	s.record("tokenreview", &d, start, r.Method, tokenReviewPath)
	if d.reason == ReasonNotConfigured {
		writeText(w, http.StatusServiceUnavailable, d.body+"\n")
		return
	}
	if d.status == http.StatusServiceUnavailable {
		// Not a verdict on the token: kube-apiserver treats an error as
		// "not authenticated" without caching it.
		writeText(w, http.StatusServiceUnavailable, "signing keys unavailable\n")
		return
	}

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(&out)
}

// reviewToken authenticates a token for kube-apiserver. The token's aud
// must hold one of the TokenReview audiences (never the protected API's
// audience) and, when the review names audiences, one of those too; the
// answer's audiences are that intersection.
func (s *Server) reviewToken(ctx context.Context, cur *serverState, spec authv1.TokenReviewSpec, st *authv1.TokenReviewStatus) decision {
	id, err := cur.review.Verify(ctx, spec.Token)
	if err != nil {
		if errors.Is(err, ErrKeysStale) {
			return decision{status: http.StatusServiceUnavailable, reason: ErrKeysStale.Reason}
		}
		st.Error = DescriptionOf(err)
		return decision{status: http.StatusUnauthorized, reason: ReasonOf(err)}
	}
	var auds []string
	for _, a := range id.Audiences {
		if slices.Contains(cur.review.audiences, a) && (len(spec.Audiences) == 0 || slices.Contains(spec.Audiences, a)) && !slices.Contains(auds, a) {
			auds = append(auds, a)
		}
	}
	if len(auds) == 0 {
		st.Error = "the token is not for any audience the API server accepts"
		return decision{status: http.StatusUnauthorized, reason: ErrBadAudience.Reason}
	}
	if missing := id.MissingScopes(cur.policy.Default().Scopes); len(missing) > 0 {
		st.Error = "the token lacks the required scope " + strings.Join(missing, " ")
		return decision{status: http.StatusForbidden, reason: "insufficient_scope"}
	}
	st.Authenticated = true
	st.Audiences = auds
	st.User = authv1.UserInfo{Username: UsernamePrefix + id.ClientID, UID: id.ClientID}
	for _, sc := range id.Scopes {
		st.User.Groups = append(st.User.Groups, GroupPrefix+sc)
	}
	return decision{status: http.StatusOK, reason: "ok", id: id}
}
