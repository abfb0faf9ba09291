package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
)

// Defaults of the options.
const (
	DefaultPollInterval  = time.Second
	DefaultRefreshMargin = 5 * time.Minute
	DefaultFetchTimeout  = 30 * time.Second
	// defaultLifetime is assumed for a token whose answer had no expires_in.
	defaultLifetime = 5 * time.Minute
	minBackoff      = time.Second
	maxBackoff      = 30 * time.Second
)

// ErrClosed is returned by a closed Source.
var ErrClosed = errors.New("credentials: source closed")

// Fetch describes one token fetch (one or, after a refused request, two token requests),
// for metrics. It holds no secret.
type Fetch struct {
	// Duration from the first request's start to the last answer.
	Duration time.Duration
	// Retried: the first request was refused as invalid_client and retried with freshly read
	// credentials.
	Retried bool
	// Err is nil on success; otherwise the last request's error (see Refused).
	Err error
	// AuthMethod the (last) request authenticated with.
	AuthMethod string
}

// Refused reports whether the token endpoint answered with an error (as opposed to no answer
// or unusable credentials).
func (f Fetch) Refused() bool {
	var oe *oauth2client.Error
	return errors.As(f.Err, &oe)
}

// Option configures a Source.
type Option func(*config)

type config struct {
	httpClient    *http.Client
	log           *slog.Logger
	poll          time.Duration
	refreshMargin time.Duration
	fetchTimeout  time.Duration
	scopes        []string
	maxAge        time.Duration
	envPrefix     string
	observe       func(Fetch)
	now           func() time.Time
}

// WithHTTPClient sets the client for token requests (default: a client with
// DefaultFetchTimeout). Redirects are never followed.
func WithHTTPClient(c *http.Client) Option { return func(o *config) { o.httpClient = c } }

// WithLogger sets the logger (default: slog.Default()). Nothing secret is logged.
func WithLogger(l *slog.Logger) Option { return func(o *config) { o.log = l } }

// WithPollInterval sets how often a directory is checked for a new version (default
// DefaultPollInterval).
func WithPollInterval(d time.Duration) Option { return func(o *config) { o.poll = d } }

// WithRefreshMargin sets how long before expiry a token is renewed, at most (default
// DefaultRefreshMargin; never more than half the token's lifetime).
func WithRefreshMargin(d time.Duration) Option { return func(o *config) { o.refreshMargin = d } }

// WithFetchTimeout bounds each token fetch (default DefaultFetchTimeout).
func WithFetchTimeout(d time.Duration) Option { return func(o *config) { o.fetchTimeout = d } }

// WithMaxTokenAge treats every token as valid for at most d (0: as long as the token
// endpoint says), so that tokens are renewed at least that often: scope or policy changes
// then reach the client within d, and short-lived tokens can be tried against an
// authorization server whose minimum lifetime is long.
func WithMaxTokenAge(d time.Duration) Option { return func(o *config) { o.maxAge = d } }

// WithScopes requests these scopes instead of the SCOPE key's.
func WithScopes(scopes ...string) Option {
	return func(o *config) { o.scopes = append([]string{}, scopes...) }
}

// WithEnvPrefix makes FromEnv read PREFIX + key (e.g. "BILLING_" for BILLING_CLIENT_ID).
func WithEnvPrefix(prefix string) Option { return func(o *config) { o.envPrefix = prefix } }

// WithFetchObserver calls f after every token fetch (for metrics). f must not block.
func WithFetchObserver(f func(Fetch)) Option { return func(o *config) { o.observe = f } }

// Source is an oauth2.TokenSource for the credentials of one Secret. It is safe for
// concurrent use. Close stops its watch of the directory.
type Source struct {
	cfg  config
	load func() (snapshot, error)
	dir  string // "" for the environment

	mu          sync.Mutex
	snap        snapshot
	tok         *oauth2.Token
	refreshAt   time.Time
	usableUntil time.Time
	tokVersion  string        // the credentials version tok was fetched with
	inflight    chan struct{} // closed when the running fetch ends
	lastErr     error
	failures    int
	nextAttempt time.Time
	loadErr     string // last unusable version's error, to log it once

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

var _ oauth2.TokenSource = (*Source)(nil)

// FromDir reads the credentials from dir, a mounted Secret, and watches it for new versions
// until Close. It fails when the credentials are incomplete or unusable; it makes no token
// request.
func FromDir(dir string, opts ...Option) (*Source, error) {
	s := newSource(opts)
	s.dir = dir
	s.load = func() (snapshot, error) { return readDir(dir, s.cfg.scopes) }
	snap, err := s.load()
	if err != nil {
		return nil, err
	}
	s.snap = snap
	s.cfg.log.Info("Read OAuth 2.0 client credentials", "dir", dir, "version", snap.label,
		"clientID", snap.creds.ClientID, "authMethod", string(snap.creds.AuthMethod))
	s.wg.Add(1)
	go s.watch(linkTarget(dir))
	return s, nil
}

// FromEnv reads the credentials from environment variables (see WithEnvPrefix). A refused
// token request re-reads them, as FromDir re-reads its files.
func FromEnv(opts ...Option) (*Source, error) {
	s := newSource(opts)
	s.load = func() (snapshot, error) { return readEnv(s.cfg.envPrefix, s.cfg.scopes) }
	snap, err := s.load()
	if err != nil {
		return nil, err
	}
	s.snap = snap
	return s, nil
}

func newSource(opts []Option) *Source {
	cfg := config{poll: DefaultPollInterval, refreshMargin: DefaultRefreshMargin, fetchTimeout: DefaultFetchTimeout, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	if cfg.httpClient == nil {
		cfg.httpClient = &http.Client{Timeout: cfg.fetchTimeout}
	}
	if cfg.poll <= 0 {
		cfg.poll = DefaultPollInterval
	}
	if cfg.fetchTimeout <= 0 {
		cfg.fetchTimeout = DefaultFetchTimeout
	}
	return &Source{cfg: cfg, closed: make(chan struct{})}
}

// Close stops watching the directory and waits for a running fetch. Token fails afterwards.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		// Under mu, so that no fetch starts (wg.Add) once Wait may run.
		s.mu.Lock()
		close(s.closed)
		s.mu.Unlock()
	})
	s.wg.Wait()
	return nil
}

// Token returns a valid access token, fetching one if none is cached (oauth2.TokenSource).
func (s *Source) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext is Token with a context that bounds the wait for a fetch.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	select {
	case <-s.closed:
		return nil, ErrClosed
	default:
	}
	s.mu.Lock()
	now := s.cfg.now()
	if s.tok != nil && now.Before(s.usableUntil) {
		if !now.Before(s.refreshAt) || s.tokVersion != s.snap.version {
			s.startFetchLocked(now)
		}
		tok := s.tok
		s.mu.Unlock()
		return tok, nil
	}
	if s.inflight == nil && now.Before(s.nextAttempt) {
		err := s.lastErr
		s.mu.Unlock()
		return nil, fmt.Errorf("credentials: no access token (next attempt in %s): %w", s.nextAttempt.Sub(now).Round(time.Millisecond), err)
	}
	s.startFetchLocked(now)
	ch := s.inflight
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closed:
		return nil, ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.cfg.now().Before(s.usableUntil) {
		return s.tok, nil
	}
	return nil, fmt.Errorf("credentials: no access token: %w", s.lastErr)
}

// HasToken reports whether a usable token is cached (a readiness signal).
func (s *Source) HasToken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok != nil && s.cfg.now().Before(s.usableUntil)
}

// startFetchLocked starts a background fetch unless one runs or the backoff says wait.
func (s *Source) startFetchLocked(now time.Time) {
	if s.inflight != nil || now.Before(s.nextAttempt) {
		return
	}
	select {
	case <-s.closed:
		return
	default:
	}
	s.inflight = make(chan struct{})
	s.wg.Add(1)
	go s.fetch(s.snap, s.inflight)
}

func (s *Source) fetch(snap snapshot, done chan struct{}) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.fetchTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := s.cfg.now()
	tok, err := oauth2client.RequestToken(ctx, s.cfg.httpClient, snap.creds)
	retried := false
	if errors.Is(err, oauth2client.ErrInvalidClient) {
		// Refused: the files may have changed since the last poll. Read them now and
		// try once more.
		retried = true
		if fresh, ok := s.reload("token request refused"); ok {
			snap = fresh
		}
		tok, err = oauth2client.RequestToken(ctx, s.cfg.httpClient, snap.creds)
	}
	end := s.cfg.now()
	var life time.Duration
	if err == nil {
		// The lifetime, on the Source's clock, counted from the request's start.
		life = lifetime(tok.Token)
		if s.cfg.maxAge > 0 && life > s.cfg.maxAge {
			life = s.cfg.maxAge
		}
		if life <= 0 {
			err = errors.New("the token endpoint issued a token that has already expired")
		}
	}

	// Reported before waiters are released, so that a caller who got the result sees it
	// counted.
	f := Fetch{Duration: end.Sub(start), Retried: retried, Err: err, AuthMethod: string(snap.creds.AuthMethod)}
	if err == nil {
		s.cfg.log.Info("Fetched an access token", "clientID", snap.creds.ClientID, "authMethod", f.AuthMethod, "version", snap.label,
			"lifetime", life.String(), "took", f.Duration.String(), "retried", retried)
	} else {
		s.cfg.log.Warn("Token request failed", "clientID", snap.creds.ClientID, "authMethod", f.AuthMethod, "version", snap.label,
			"error", err.Error(), "took", f.Duration.String(), "retried", retried)
	}
	if s.cfg.observe != nil {
		s.cfg.observe(f)
	}

	s.mu.Lock()
	if err == nil {
		s.tok, s.tokVersion = tok.Token, snap.version
		expiry := start.Add(life)
		s.refreshAt = expiry.Add(-min(s.cfg.refreshMargin, life/2))
		s.usableUntil = expiry.Add(-min(10*time.Second, life/10))
		s.lastErr, s.failures, s.nextAttempt = nil, 0, time.Time{}
	} else {
		s.lastErr = err
		s.failures++
		backoff := minBackoff << min(s.failures-1, 5)
		s.nextAttempt = end.Add(min(backoff, maxBackoff))
	}
	s.inflight = nil
	close(done)
	s.mu.Unlock()

}

// reload reads the credentials again; when they changed it makes them current, ends any
// backoff and starts a fetch with them. It returns the current snapshot and whether the read
// succeeded.
func (s *Source) reload(why string) (snapshot, bool) {
	snap, err := s.load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if msg := err.Error(); msg != s.loadErr {
			s.loadErr = msg
			s.cfg.log.Warn("Ignoring unusable credentials; keeping the previous ones", "reason", why, "error", msg)
		}
		return s.snap, false
	}
	s.loadErr = ""
	if snap.version == s.snap.version {
		return s.snap, true
	}
	old := s.snap
	s.snap = snap
	s.failures, s.nextAttempt = 0, time.Time{}
	s.cfg.log.Info("Credentials changed", "reason", why, "version", snap.label, "previous", old.label,
		"clientID", snap.creds.ClientID, "authMethod", string(snap.creds.AuthMethod))
	if s.tok != nil {
		// Fetch with the new credentials now; the cached token serves until then.
		s.startFetchLocked(s.cfg.now())
	}
	return snap, true
}

// watch polls the directory for a new version until Close.
func (s *Source) watch(link string) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.poll)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		cur := linkTarget(s.dir)
		if cur != "" && cur == link {
			continue
		}
		if _, ok := s.reload("files changed"); ok || cur == "" {
			link = cur
		}
	}
}

// Client returns an HTTP client that sends every request with the Source's bearer token
// (over http.DefaultTransport).
func (s *Source) Client() *http.Client { return &http.Client{Transport: s.Transport(nil)} }

// Transport returns a RoundTripper that sets "Authorization: Bearer <token>" on every request
// and sends it through base (nil: http.DefaultTransport). A request for which no token can be
// had fails without being sent.
func (s *Source) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{src: s, base: base}
}

type transport struct {
	src  *Source
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.src.TokenContext(req.Context())
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return t.base.RoundTrip(r)
}

// lifetime returns how long tok is valid from when it was requested: expires_in, else the
// expiry x/oauth2 computed, else defaultLifetime.
func lifetime(tok *oauth2.Token) time.Duration {
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		return time.Duration(v * float64(time.Second))
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Duration(n) * time.Second
		}
	}
	if !tok.Expiry.IsZero() {
		return time.Until(tok.Expiry)
	}
	return defaultLifetime
}
