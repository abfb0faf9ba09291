package verifier

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
)

// Settings are the parts of the configuration a Reloader takes while the
// server runs: who issues the tokens, whom they are for, and the path rules.
// The OAuthAPI watch (internal/oauthapiwatch) makes them from an OAuthAPI's
// status.issuer, status.audience and spec.rules; this package knows nothing
// of where they come from.
type Settings struct {
	Issuer   string
	Audience string
	Rules    []Rule
}

func (s Settings) equal(o Settings) bool {
	return s.Issuer == o.Issuer && s.Audience == o.Audience &&
		slices.EqualFunc(s.Rules, o.Rules, func(a, b Rule) bool {
			return a.PathPrefix == b.PathPrefix && a.Public == b.Public &&
				slices.Equal(a.Methods, b.Methods) && slices.Equal(a.Scopes, b.Scopes)
		})
}

// ReasonNotConfigured is the decision reason (and metric label) of a request
// refused because the server has no settings yet, or no longer has any: it
// is answered 503, whatever its path, since the rules are unknown too.
const ReasonNotConfigured = "not_configured"

// NotConfiguredBody is the whole body (before the newline) of every answer
// given while the server is not configured: the 503 of a request, of
// /tokenreview and of /readyz. It is fixed on purpose: why the server has no
// settings (an object's name, an API server's error, a refused setting) is
// for the verifier's log — the OAuthAPI watch logs it — and Reloader.Current,
// not for whoever sends a request.
const NotConfiguredBody = "verifier not configured"

// serverState is what a Server decides with. It is never modified once
// stored; a Reloader replaces it whole.
type serverState struct {
	v      *Verifier // nil: not configured; every request is refused with 503
	review *Verifier // nil: TokenReview off, or not configured
	policy *Policy
	// down says why v is nil (Reloader.Current); never sent to a client.
	down string
	// settings built this state (Reloader states only).
	settings Settings
	// stop ends the key refresh of v (Reloader states only; shared by the
	// states that share v's keys).
	stop context.CancelFunc
}

func notConfigured(st *serverState) decision {
	return decision{status: http.StatusServiceUnavailable, reason: ReasonNotConfigured, body: NotConfiguredBody}
}

// ReloaderConfig configures a Reloader.
type ReloaderConfig struct {
	// Verifier is the template of the verifiers the reloader builds. Issuer
	// and Audience must be empty: they come from Settings. JWKSURL must be
	// empty too: the keys follow the issuer's metadata when it changes.
	Verifier Config
	// DefaultScopes are needed by requests no rule matches.
	DefaultScopes []string
	// Server configures the HTTP front. Verifier and Policy must be nil.
	Server ServerConfig
	// Waiting is the reason Current gives until the first Apply or Suspend
	// (answers say only NotConfiguredBody).
	Waiting string
}

// Reloader owns a Server whose issuer, audience and rules are set, changed
// and withdrawn while it serves. A change is one atomic swap of the
// server's state: a request decides with the state it loaded when it
// started, so requests in flight finish on the old settings and no request
// is dropped. A change of issuer builds a new verifier (and key set, which
// fetches the new issuer's metadata and JWKS); a change of audience alone
// keeps the keys; a change of rules alone keeps the verifier and its token
// cache.
type Reloader struct {
	srv        *Server
	base       Config
	defaults   []string
	reviewAuds []string
	ctx        context.Context
	mu         sync.Mutex // serializes Apply and Suspend
}

// NewReloader checks cfg and returns a Reloader whose server is not
// configured: every request is answered 503 (reason not_configured) and
// /readyz is not ready until Apply succeeds. Verifiers it builds refresh
// their keys until ctx ends.
func NewReloader(ctx context.Context, cfg ReloaderConfig) (*Reloader, error) {
	if cfg.Verifier.Issuer != "" || cfg.Verifier.Audience != "" || cfg.Verifier.JWKSURL != "" {
		return nil, fmt.Errorf("%w: a reloaded verifier takes its issuer and audience from its settings, and its keys from the issuer's metadata", ErrConfig)
	}
	if cfg.Server.Verifier != nil || cfg.Server.Policy != nil {
		return nil, fmt.Errorf("%w: a reloaded server takes its verifier and policy from its settings", ErrServerConfig)
	}
	if cfg.Verifier.Metrics == nil {
		cfg.Verifier.Metrics = NewMetrics()
	}
	// Check the template (algorithms, durations) now rather than at the
	// first Apply.
	probe := cfg.Verifier
	probe.Issuer, probe.Audience = "https://issuer.invalid", "audience"
	if _, err := New(probe); err != nil {
		return nil, err
	}
	if _, err := NewPolicy(cfg.DefaultScopes, nil); err != nil {
		return nil, err
	}
	sc := cfg.Server
	for _, a := range sc.TokenReviewAudiences {
		if a == "" {
			return nil, fmt.Errorf("%w: an empty TokenReview audience", ErrServerConfig)
		}
	}
	if sc.TokenReviewRequireClientCert && len(sc.TokenReviewAudiences) == 0 {
		return nil, fmt.Errorf("%w: a TokenReview client CA without TokenReview audiences", ErrServerConfig)
	}
	if u := sc.Upstream; u != nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
		return nil, fmt.Errorf("%w: upstream %q must be an absolute http(s) URL", ErrServerConfig, u.Redacted())
	}
	waiting := cfg.Waiting
	if waiting == "" {
		waiting = "waiting for settings"
	}
	srv := newServer(sc, cfg.Verifier.Metrics, &serverState{down: waiting})
	srv.reviewOn = len(sc.TokenReviewAudiences) > 0
	cfg.Verifier.Metrics.configActive(false)
	return &Reloader{
		srv:        srv,
		base:       cfg.Verifier,
		defaults:   slices.Clone(cfg.DefaultScopes),
		reviewAuds: slices.Clone(sc.TokenReviewAudiences),
		ctx:        ctx,
	}, nil
}

// Server returns the handler the reloader configures.
func (r *Reloader) Server() *Server { return r.srv }

// Metrics returns the metrics the reloader's verifiers record into.
func (r *Reloader) Metrics() *Metrics { return r.base.Metrics }

// Apply checks s and makes it the server's configuration. It reports
// whether anything changed (settings equal to the current ones change
// nothing). On error nothing changes: the last good settings stay in force
// or, when there are none, the server stays not configured with the error
// as the reason.
func (r *Reloader) Apply(s Settings) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.srv.st.Load()
	if cur.v != nil && cur.settings.equal(s) {
		return false, nil
	}
	next, err := r.build(cur, s)
	if err != nil {
		r.base.Metrics.configReload(false)
		if cur.v == nil {
			r.srv.st.Store(&serverState{down: err.Error()})
		}
		return false, err
	}
	r.srv.st.Store(next)
	if cur.stop != nil && next.v.keys != cur.v.keys {
		cur.stop()
	}
	r.base.Metrics.configReload(true)
	r.base.Metrics.configActive(true)
	return true, nil
}

func (r *Reloader) build(cur *serverState, s Settings) (*serverState, error) {
	if s.Issuer == "" || s.Audience == "" {
		return nil, fmt.Errorf("%w: an issuer and an audience are required", ErrConfig)
	}
	if slices.Contains(r.reviewAuds, s.Audience) {
		return nil, fmt.Errorf("%w: audience %q is also a TokenReview audience: tokens for the API must not authenticate to Kubernetes", ErrServerConfig, s.Audience)
	}
	policy, err := NewPolicy(r.defaults, s.Rules)
	if err != nil {
		return nil, err
	}
	next := &serverState{policy: policy, settings: cloneSettings(s)}
	if cur.v != nil && cur.settings.Issuer == s.Issuer {
		next.v, next.review, next.stop = cur.v, cur.review, cur.stop
		if cur.settings.Audience != s.Audience {
			// Same issuer, same keys; a fresh token cache, since cached
			// identities were checked against the old audience.
			if next.v, err = cur.v.ForAudiences([]string{s.Audience}); err != nil {
				return nil, err
			}
		}
		return next, nil
	}
	cfg := r.base
	cfg.Issuer, cfg.Audience = s.Issuer, s.Audience
	v, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if len(r.reviewAuds) > 0 {
		if next.review, err = v.ForAudiences(r.reviewAuds); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(r.ctx)
	v.Start(ctx)
	next.v, next.stop = v, cancel
	return next, nil
}

// Suspend withdraws the settings: from now on every request is refused with
// 503 (reason not_configured, body NotConfiguredBody; the reason is only
// given by Current) and /readyz is not ready, until Apply succeeds again. Requests already deciding finish
// with the settings they started with.
func (r *Reloader) Suspend(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.srv.st.Load()
	r.srv.st.Store(&serverState{down: reason})
	if cur.stop != nil {
		cur.stop()
	}
	r.base.Metrics.configActive(false)
}

// Current returns the settings in force and true, or, when the server is
// not configured, the reason and false.
func (r *Reloader) Current() (Settings, string, bool) {
	st := r.srv.st.Load()
	if st.v == nil {
		return Settings{}, st.down, false
	}
	return cloneSettings(st.settings), "", true
}

func cloneSettings(s Settings) Settings {
	out := Settings{Issuer: s.Issuer, Audience: s.Audience, Rules: make([]Rule, len(s.Rules))}
	for i, r := range s.Rules {
		out.Rules[i] = Rule{PathPrefix: r.PathPrefix, Methods: slices.Clone(r.Methods), Scopes: slices.Clone(r.Scopes), Public: r.Public}
	}
	return out
}
