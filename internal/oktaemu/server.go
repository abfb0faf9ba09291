package oktaemu

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is an emulated Okta org: the management API subset used by
// clientcreds and the default custom authorization server. It implements
// http.Handler and is safe for concurrent use.
type Server struct {
	cfg     Config
	orgURL  atomic.Pointer[string]
	faults  atomic.Pointer[[]Fault]
	limiter *rateLimiter
	stats   *statsRecorder
	// inFlight counts requests being served (modes.go: concurrency).
	inFlight atomic.Int64
	// orgKey and dpop serve the org authorization server (orgauth.go, dpop.go).
	orgKey orgKeys
	dpop   dpopState

	mu sync.Mutex // guards st, jtis and version
	st *state
	// jtis remembers client-assertion ids until they expire (replay guard).
	jtis    map[string]time.Time
	version uint64 // bumped by every change; drives persistence

	saveMu       sync.Mutex // serialises state-file writes
	savedVersion uint64
	closed       atomic.Bool
}

// New returns a Server for cfg. If cfg.StateFile exists it is loaded.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		limiter: newRateLimiter(cfg.RateLimits, cfg.RateLimitShare),
		stats:   newStatsRecorder(),
		jtis:    map[string]time.Time{},
	}
	org := cfg.OrgURL
	s.orgURL.Store(&org)
	faults := slices.Clone(cfg.Faults)
	s.faults.Store(&faults)

	st, loaded, err := loadState(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	if st == nil {
		st, err = newState(cfg, cfg.Now())
		if err != nil {
			return nil, err
		}
		st.applyAccessPolicy(cfg.AccessPolicy)
	}
	s.dpop.setRequireResourceNonce(cfg.DPoPResourceNonce)
	if err := st.ensureScopes(cfg.Scopes, cfg.Now()); err != nil {
		return nil, err
	}
	s.st = st
	if cfg.StateFile != "" && !loaded {
		// Write the fresh org (its signing keys above all) right away.
		s.version = 1
		if err := s.save(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetOrgURL changes the externally visible base URL (for httptest servers
// whose address is known only after they start).
func (s *Server) SetOrgURL(u string) {
	if n, err := normalizeOrgURL(u); err == nil {
		u = n
	}
	s.orgURL.Store(&u)
}

// OrgURL returns the configured org URL ("" when derived per request).
func (s *Server) OrgURL() string { return *s.orgURL.Load() }

// Issuer returns the issuer of the default authorization server.
func (s *Server) Issuer() string { return s.OrgURL() + "/oauth2/" + defaultAuthServerID }

// SetRateLimits replaces the per-minute budgets; counts in the current
// window are kept.
func (s *Server) SetRateLimits(l RateLimits) { s.limiter.set(l) }

// RateLimits returns the current budgets.
func (s *Server) RateLimits() RateLimits { return s.limiter.get() }

// SetFaults replaces the injected faults. Invalid faults are rejected.
func (s *Server) SetFaults(faults []Fault) error {
	for _, f := range faults {
		if err := f.validate(); err != nil {
			return err
		}
	}
	c := slices.Clone(faults)
	s.faults.Store(&c)
	return nil
}

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// Close persists the state file, if configured. The Server keeps serving;
// Close only flushes.
func (s *Server) Close() error {
	s.closed.Store(true)
	if s.cfg.StateFile == "" {
		return nil
	}
	return s.save()
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// baseURL is the org URL seen by the client of r.
func (s *Server) baseURL(r *http.Request) string {
	if u := s.OrgURL(); u != "" {
		return u
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// changed records that the state changed and persists it when a state
// file is configured. Call it after releasing s.mu.
func (s *Server) changed() {
	if s.cfg.StateFile == "" {
		return
	}
	if err := s.save(); err != nil {
		s.cfg.Logger.Error("Saving state file failed", "path", s.cfg.StateFile, "error", err)
	}
}

// bump marks a change; the caller holds s.mu.
func (s *Server) bump() { s.version++ }

// save writes the current state if it changed since the last write.
func (s *Server) save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	v := s.version
	if v == s.savedVersion && v != 0 {
		s.mu.Unlock()
		return nil
	}
	data, err := json.MarshalIndent(s.st, "", "  ")
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("oktaemu: encode state: %w", err)
	}
	if err := writeFileAtomic(s.cfg.StateFile, data); err != nil {
		return err
	}
	s.savedVersion = v
	return nil
}

// ---- routing ----

type handlerFunc func(s *Server, w http.ResponseWriter, r *http.Request, p []string)

type route struct {
	pattern  string
	segs     []string
	methods  map[string]handlerFunc
	public   bool // no SSWS token needed (authorization server endpoints)
	bucketOf func(method string) string
}

func (rt *route) allow() string {
	ms := make([]string, 0, len(rt.methods))
	for m := range rt.methods {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return strings.Join(ms, ", ")
}

func fixedBucket(b string) func(string) string { return func(string) string { return b } }

var routes = buildRoutes()

func buildRoutes() []*route {
	const (
		apps   = "/api/v1/apps"
		app    = apps + "/{id}"
		secret = app + "/credentials/secrets/{secretId}"
		as     = "/api/v1/authorizationServers/{as}"
		policy = as + "/policies/{policyId}"
		rule   = policy + "/rules/{ruleId}"
	)
	appsBucket := fixedBucket(bucketApps)
	other := fixedBucket(bucketOther)
	list := []*route{
		{pattern: apps, bucketOf: appsBucket, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).listApps, http.MethodPost: (*Server).createApp}},
		{pattern: app, bucketOf: fixedBucket(bucketApp), methods: map[string]handlerFunc{
			http.MethodGet: (*Server).getApp, http.MethodPut: (*Server).replaceApp, http.MethodDelete: (*Server).deleteApp}},
		{pattern: app + "/lifecycle/activate", bucketOf: appsBucket, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).activateApp}},
		{pattern: app + "/lifecycle/deactivate", bucketOf: appsBucket, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).deactivateApp}},
		{pattern: app + "/credentials/secrets", bucketOf: appsBucket, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).listSecrets, http.MethodPost: (*Server).createSecret}},
		{pattern: secret, bucketOf: appsBucket, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).getSecret, http.MethodDelete: (*Server).deleteSecret}},
		{pattern: secret + "/lifecycle/activate", bucketOf: appsBucket, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).activateSecret}},
		{pattern: secret + "/lifecycle/deactivate", bucketOf: appsBucket, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).deactivateSecret}},
		// grants.go, orgauth.go: okta.* scope grants and the org authorization server.
		{pattern: app + "/grants", bucketOf: appsBucket, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).listGrants, http.MethodPost: (*Server).createGrant}},
		{pattern: app + "/grants/{grantId}", bucketOf: appsBucket, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).getGrant, http.MethodDelete: (*Server).deleteGrant}},
		{pattern: "/oauth2/v1/token", public: true, bucketOf: fixedBucket(bucketToken), methods: map[string]handlerFunc{
			http.MethodPost: (*Server).orgToken}},
		{pattern: "/oauth2/v1/keys", public: true, bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).orgJWKS}},
		{pattern: "/.well-known/oauth-authorization-server", public: true, bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).orgMetadata}},
		{pattern: "/.well-known/openid-configuration", public: true, bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).orgMetadata}},

		{pattern: "/api/v1/authorizationServers", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).listAuthServers, http.MethodPost: (*Server).createAuthServer}},
		{pattern: as, bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).getAuthServer, http.MethodPut: (*Server).replaceAuthServer, http.MethodDelete: (*Server).deleteAuthServer}},
		{pattern: as + "/lifecycle/activate", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).activateAuthServer}},
		{pattern: as + "/lifecycle/deactivate", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).deactivateAuthServer}},
		{pattern: as + "/claims", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).listClaims, http.MethodPost: (*Server).createClaim}},
		{pattern: as + "/claims/{claimId}", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).getClaim, http.MethodPut: (*Server).replaceClaim, http.MethodDelete: (*Server).deleteClaim}},
		{pattern: as + "/credentials/keys", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).listAuthServerKeys}},
		{pattern: as + "/credentials/keys/{keyId}", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).getAuthServerKey}},
		{pattern: as + "/credentials/lifecycle/keyRotate", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).rotateAuthServerKeys}},
		{pattern: as + "/scopes", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).listScopes, http.MethodPost: (*Server).createScope}},
		{pattern: as + "/scopes/{scopeId}", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).getScope, http.MethodPut: (*Server).replaceScope, http.MethodDelete: (*Server).deleteScope}},
		{pattern: as + "/policies", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).listPolicies, http.MethodPost: (*Server).createPolicy}},
		{pattern: policy, bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).getPolicy, http.MethodPut: (*Server).replacePolicy, http.MethodDelete: (*Server).deletePolicy}},
		{pattern: policy + "/lifecycle/activate", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).activatePolicy}},
		{pattern: policy + "/lifecycle/deactivate", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).deactivatePolicy}},
		{pattern: policy + "/rules", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).listRules, http.MethodPost: (*Server).createRule}},
		{pattern: rule, bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).getRule, http.MethodPut: (*Server).replaceRule, http.MethodDelete: (*Server).deleteRule}},
		{pattern: rule + "/lifecycle/activate", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).activateRule}},
		{pattern: rule + "/lifecycle/deactivate", bucketOf: other, methods: map[string]handlerFunc{
			http.MethodPost: (*Server).deactivateRule}},

		{pattern: "/oauth2/{as}/v1/token", public: true, bucketOf: fixedBucket(bucketToken), methods: map[string]handlerFunc{
			http.MethodPost: (*Server).token}},
		{pattern: "/oauth2/{as}/v1/keys", public: true, bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).jwks}},
		{pattern: "/oauth2/{as}/.well-known/oauth-authorization-server", public: true, bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).oauthMetadata}},
		{pattern: "/oauth2/{as}/.well-known/openid-configuration", public: true, bucketOf: other, methods: map[string]handlerFunc{
			http.MethodGet: (*Server).oidcMetadata}},
	}
	for _, rt := range list {
		rt.segs = strings.Split(strings.TrimPrefix(rt.pattern, "/"), "/")
	}
	return list
}

// Routes lists the route keys ("METHOD /pattern") the emulator serves,
// sorted; Stats uses the same keys.
func Routes() []string {
	var out []string
	for _, rt := range routes {
		for m := range rt.methods {
			out = append(out, m+" "+rt.pattern)
		}
	}
	sort.Strings(out)
	return out
}

// match finds the route for path; params are the decoded placeholder values.
func match(escapedPath string) (*route, []string) {
	raw := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	segs := make([]string, len(raw))
	for i, r := range raw {
		v, err := url.PathUnescape(r)
		if err != nil {
			return nil, nil
		}
		segs[i] = v
	}
	for _, rt := range routes {
		if len(rt.segs) != len(segs) {
			continue
		}
		var params []string
		ok := true
		for i, ps := range rt.segs {
			if strings.HasPrefix(ps, "{") {
				if segs[i] == "" {
					ok = false
					break
				}
				params = append(params, segs[i])
				continue
			}
			if ps != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return rt, params
		}
	}
	return nil, nil
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// discardWriter swallows a response (used when an injected fault hides the
// real answer).
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emulator/") {
		s.serveEmulator(w, r)
		return
	}
	now := s.now()
	sw := &statusWriter{ResponseWriter: w}
	h := w.Header()
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	h.Set("X-Okta-Request-Id", newID("", 27))

	rt, params := match(r.URL.EscapedPath())
	key, bucket := "unknown", bucketOther
	var handler handlerFunc
	if rt != nil {
		key = r.Method + " " + rt.pattern
		bucket = rt.bucketOf(r.Method)
		handler = rt.methods[r.Method]
	}
	injected := false
	defer func() {
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.stats.record(key, sw.status, injected)
	}()

	var who principal
	if rt != nil && !rt.public {
		who = s.identify(r)
	}
	release, ok := s.enterConcurrency(now, h)
	if !ok {
		writeAPIError(sw, rateLimited())
		return
	}
	defer release()
	d := s.limiter.take(bucket, who.rateKey(), now)
	d.writeHeaders(h)
	if !d.allowed {
		writeAPIError(sw, rateLimited())
		return
	}

	var fault *apiError
	afterCommit := false
	if f, ok := s.faultFor(r); ok {
		if f.Latency > 0 && !sleepCtx(r.Context(), f.Latency) {
			// The client gave up; answer nothing useful.
			sw.status = 499
			return
		}
		switch u := rand.Float64(); {
		case u < f.Prob500:
			fault = newAPIError(http.StatusInternalServerError, codeInternal, "Internal Server Error")
		case u < f.Prob500+f.Prob503:
			fault = newAPIError(http.StatusServiceUnavailable, codeUnavailable, "Service is in read only mode")
		}
		afterCommit = f.AfterCommit
	}
	if fault != nil && !afterCommit {
		injected = true
		writeAPIError(sw, fault)
		return
	}

	switch {
	case rt == nil:
		writeAPIError(sw, pathNotFound())
		return
	case handler == nil:
		h.Set("Allow", rt.allow())
		writeAPIError(sw, methodNotAllowed())
		return
	case !rt.public && who.kind == "":
		if who.fail != nil {
			who.fail(sw)
		} else {
			writeAPIError(sw, invalidToken())
		}
		return
	case !rt.public && !s.authorize(sw, r, who):
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	if fault != nil {
		handler(s, &discardWriter{h: http.Header{}}, r, params)
		injected = true
		writeAPIError(sw, fault)
		return
	}
	handler(s, sw, r, params)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// faultFor returns the fault with the longest matching prefix.
func (s *Server) faultFor(r *http.Request) (Fault, bool) {
	var best Fault
	found := false
	for _, f := range *s.faults.Load() {
		if !strings.HasPrefix(r.URL.Path, f.PathPrefix) || (f.Method != "" && f.Method != r.Method) {
			continue
		}
		if !found || len(f.PathPrefix) > len(best.PathPrefix) {
			best, found = f, true
		}
	}
	return best, found
}

func (s *Server) validSSWS(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "SSWS") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.cfg.APIToken)) == 1
}

// serveEmulator answers the emulator's own endpoints.
func (s *Server) serveEmulator(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_emulator/healthz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeAPIError(w, methodNotAllowed())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case "/_emulator/stats":
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeAPIError(w, methodNotAllowed())
			return
		}
		if !s.validSSWS(r) {
			writeAPIError(w, invalidToken())
			return
		}
		writeJSON(w, http.StatusOK, s.Stats())
	case "/_emulator/faults":
		s.serveFaults(w, r)
	default:
		writeAPIError(w, pathNotFound())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Only emulator bugs get here; still never leak details.
		writeAPIError(w, newAPIError(http.StatusInternalServerError, codeInternal, "Internal Server Error"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// readBody reads a request body that the route caps with MaxBytesReader.
func readBody(r *http.Request) ([]byte, *apiError) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newAPIError(http.StatusRequestEntityTooLarge, codeBodyNotWellFormed,
				"The request body was not well-formed.",
				fmt.Sprintf("The request body is larger than %d bytes.", mbe.Limit))
		}
		return nil, malformedBody()
	}
	return data, nil
}

// decodeJSONObject reads and decodes a JSON object body into v.
func decodeJSONObject(r *http.Request, v any) *apiError {
	data, aerr := readBody(r)
	if aerr != nil {
		return aerr
	}
	return decodeJSONBytes(data, v)
}

// decodeJSONBytes decodes exactly one JSON object into v. Syntax and type
// errors are Okta's 400 E0000003.
func decodeJSONBytes(data []byte, v any) *apiError {
	trimmed := strings.TrimSpace(string(data))
	if !strings.HasPrefix(trimmed, "{") {
		return malformedBody()
	}
	dec := json.NewDecoder(strings.NewReader(trimmed))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return malformedBody(fmt.Sprintf("%s: expected a value of type %s", te.Field, te.Type))
		}
		return malformedBody()
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformedBody()
	}
	return nil
}
