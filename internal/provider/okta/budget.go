package okta

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// Rate-limit buckets. Okta counts requests per endpoint family; these are the families the
// provider uses.
const (
	// BucketApps: /api/v1/apps and its sub-paths, except what BucketApp covers.
	BucketApps = "apps"
	// BucketApp: GET, PUT and DELETE /api/v1/apps/{id}.
	BucketApp = "app"
	// BucketToken: the authorization server's token endpoint.
	BucketToken = "token"
	// BucketOrgToken: the org authorization server's token endpoint (/oauth2/v1/token), where
	// the provider gets its own access tokens in OAuth mode; Okta limits it separately from
	// the custom authorization servers' token endpoints.
	BucketOrgToken = "org-token"
	// BucketOther: every other endpoint (authorization servers, metadata).
	BucketOther = "other"
)

// Budget defaults.
const (
	// DefaultMaxWait is how long a request waits in the budget for a window to reset before it
	// is refused with a RetryAt instead.
	DefaultMaxWait = time.Second
	// DefaultMaxJitter spreads the RetryAt of refused requests so that callers don't all
	// come back in the same instant.
	DefaultMaxJitter = time.Second
	// DefaultBlock is how long a bucket stays closed after a 429 that carries no usable
	// X-Rate-Limit-Reset header.
	DefaultBlock = 10 * time.Second
	// DefaultShare is the share of each org-wide bucket the provider uses: Okta's default
	// for one API token (50%).
	DefaultShare = 0.5
	// maxConcurrencyBlock bounds how long a concurrency-limit 429 closes its bucket: Okta's
	// reset for it is an estimate of the next second.
	maxConcurrencyBlock = 2 * time.Second
)

// BudgetOptions tune a Budgets registry. The zero value gives the defaults above and the
// real clock.
type BudgetOptions struct {
	// Clock drives waits and window resets; default the real clock.
	Clock clock.Clock
	// MaxWait: requests wait at most this long for a bucket to reopen; longer waits are
	// refused with provider.ErrRateLimited. 0 means DefaultMaxWait, negative never waits.
	MaxWait time.Duration
	// MaxJitter: the RetryAt of a refused request is the reset time plus a random duration
	// in [0, MaxJitter). 0 means DefaultMaxJitter, negative no jitter.
	MaxJitter time.Duration
	// Block: how long a 429 without a reset header closes its bucket. 0 means DefaultBlock.
	Block time.Duration
	// Share (0 < Share <= 1) of each org-wide bucket the provider may use per window: of
	// the buckets whose X-Rate-Limit-Limit counts the whole org (the token endpoint and the
	// public metadata, which every workload shares). For calls made with the API token Okta
	// reports the token's own ceiling (by default half the org's bucket) and enforces it;
	// those buckets are used up to what Okta reports. 0 means DefaultShare.
	Share float64
}

// Budgets is a registry of Okta rate budgets, one per org (keyed by the normalized org URL),
// shared by every Client of that org that uses this registry. It tracks Okta's
// X-Rate-Limit-Limit/-Remaining/-Reset headers per bucket, counts the requests in flight
// against Remaining, and refuses requests locally (without calling Okta) when a bucket is
// spent until a reset that is too far away to wait for.
type Budgets struct {
	clock     clock.Clock
	maxWait   time.Duration
	maxJitter time.Duration
	block     time.Duration
	share     float64

	mu   sync.Mutex
	orgs map[string]*orgBudget
}

// NewBudgets returns an empty registry.
func NewBudgets(opts BudgetOptions) *Budgets {
	b := &Budgets{
		clock:     opts.Clock,
		maxWait:   opts.MaxWait,
		maxJitter: opts.MaxJitter,
		block:     opts.Block,
		share:     opts.Share,
		orgs:      map[string]*orgBudget{},
	}
	if b.share <= 0 || b.share > 1 {
		b.share = DefaultShare
	}
	if b.clock == nil {
		b.clock = clock.RealClock{}
	}
	switch {
	case b.maxWait == 0:
		b.maxWait = DefaultMaxWait
	case b.maxWait < 0:
		b.maxWait = 0
	}
	switch {
	case b.maxJitter == 0:
		b.maxJitter = DefaultMaxJitter
	case b.maxJitter < 0:
		b.maxJitter = 0
	}
	if b.block <= 0 {
		b.block = DefaultBlock
	}
	return b
}

// jitter spreads retries of a refused request over [t, t+MaxJitter).
func (b *Budgets) jitter(t time.Time) time.Time {
	if b.maxJitter <= 0 {
		return t
	}
	return t.Add(rand.N(b.maxJitter))
}

var (
	sharedMu      sync.Mutex
	sharedBudgets = NewBudgets(BudgetOptions{})
)

// SharedBudgets returns the process-wide registry that Clients use when Config.Budgets is
// nil.
func SharedBudgets() *Budgets {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	return sharedBudgets
}

// SetSharedBudgets replaces the process-wide registry (the manager does, from its flags,
// before any Provider exists).
func SetSharedBudgets(b *Budgets) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	sharedBudgets = b
}

func (b *Budgets) org(key string) *orgBudget {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.orgs[key]
	if o == nil {
		o = &orgBudget{parent: b, buckets: map[string]*bucketState{}}
		b.orgs[key] = o
	}
	return o
}

// orgBudget holds the buckets of one org.
type orgBudget struct {
	parent  *Budgets
	mu      sync.Mutex
	buckets map[string]*bucketState
}

type bucketMode int

const (
	// modeUnknown: nothing learned yet; one probe request at a time.
	modeUnknown bucketMode = iota
	// modeMetered: Okta reports limits for the bucket.
	modeMetered
	// modeUnmetered: Okta answered without rate-limit headers; don't hold requests back.
	modeUnmetered
)

type bucketState struct {
	mode       bucketMode
	limit      int
	remaining  int
	resetEpoch int64     // X-Rate-Limit-Reset of the window remaining belongs to
	reset      time.Time // the same instant on the local clock
	// rolled: the window ended locally (remaining refilled to limit); reports about it that
	// are still in flight are stale.
	rolled       bool
	blockedUntil time.Time
	inflight     int
	// shared: the bucket's figures count the whole org (not the API token), so the provider
	// keeps to its share of it; own counts the requests it sent in the current window.
	shared bool
	own    int
	// concurrency429s counts 429s that were Okta's concurrency limit, not the window's.
	concurrency429s int
	// changed is closed (and replaced) whenever the state changes, to wake waiters.
	changed chan struct{}
}

func (o *orgBudget) bucket(name string) *bucketState {
	s := o.buckets[name]
	if s == nil {
		s = &bucketState{changed: make(chan struct{})}
		o.buckets[name] = s
	}
	return s
}

func (s *bucketState) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// refill starts a new window locally once the reported one has ended.
func (s *bucketState) refill(now time.Time) {
	if s.mode == modeMetered && !s.rolled && !now.Before(s.reset) {
		s.remaining = s.limit
		s.rolled = true
		s.own = 0
	}
}

// rateLimitError is a request the budget refused or Okta answered with 429.
type rateLimitError struct {
	bucket  string
	retryAt time.Time
	// local: refused by the budget without calling Okta.
	local  bool
	status int
	code   string
	// concurrency: Okta's limit of simultaneous requests, not the per-minute window.
	concurrency bool
}

func (e *rateLimitError) Error() string {
	if e.concurrency {
		return "okta answered 429 for " + e.bucket + " requests: too many requests at once (concurrency limit); retry after " + e.retryAt.UTC().Format(time.RFC3339)
	}
	if e.local {
		return "okta rate budget for " + e.bucket + " requests is spent until " + e.retryAt.UTC().Format(time.RFC3339)
	}
	return "okta answered 429 for " + e.bucket + " requests; retry after " + e.retryAt.UTC().Format(time.RFC3339)
}

// ticket is a granted request; done must be called exactly once.
type ticket struct {
	o      *orgBudget
	bucket string
}

// acquire reserves one request of bucket, waiting up to MaxWait for a window reset (or for
// requests in flight to report back); otherwise it returns a *rateLimitError with RetryAt.
func (o *orgBudget) acquire(ctx context.Context, bucket string, shared bool) (*ticket, error) {
	p := o.parent
	var waited time.Duration
	defer func() {
		if waited > 0 {
			rateLimitWait.Observe(waited.Seconds())
		}
	}()
	for {
		o.mu.Lock()
		s := o.bucket(bucket)
		s.shared = s.shared || shared
		now := p.clock.Now()
		s.refill(now)
		var until time.Time // wait until this instant...
		waitChange := false // ...or until the state changes
		switch {
		case now.Before(s.blockedUntil):
			until = s.blockedUntil
		case s.mode == modeMetered:
			room := s.remaining - s.inflight
			capped := false
			if s.shared {
				// The org-wide bucket: keep to the share, counting what is in flight.
				if c := max(1, int(float64(s.limit)*p.share)) - s.own; c < room {
					room, capped = c, true
				}
			}
			switch {
			case room > 0:
			case !capped && s.remaining > 0:
				// What is left is taken by requests in flight; their answers will tell.
				waitChange = true
			case s.reset.After(now):
				until = s.reset
			case s.inflight > 0:
				// Spent, and no reset ahead to wait for (a limit of 0): probe one at a time.
				waitChange = true
			}
		case s.mode == modeUnknown && s.inflight > 0:
			// Learn the limits from one answer before letting a burst through.
			waitChange = true
		}
		if until.IsZero() && !waitChange {
			s.inflight++
			s.own++
			o.mu.Unlock()
			return &ticket{o: o, bucket: bucket}, nil
		}
		changed := s.changed
		o.mu.Unlock()

		var timer clock.Timer
		var fired <-chan time.Time
		if !waitChange {
			d := until.Sub(now)
			if d > p.maxWait {
				rateLimited.WithLabelValues(bucket, SourceLocal).Inc()
				return nil, &rateLimitError{bucket: bucket, retryAt: p.jitter(until), local: true}
			}
			timer = p.clock.NewTimer(d)
			fired = timer.C()
		}
		start := p.clock.Now()
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-changed:
		case <-fired:
		}
		if timer != nil {
			timer.Stop()
		}
		waited += p.clock.Since(start)
		if err != nil {
			return nil, err
		}
	}
}

// rateHeaders are Okta's X-Rate-Limit-* headers of one answer.
type rateHeaders struct {
	ok         bool
	limit      int
	remaining  int
	resetEpoch int64
	// reset is resetEpoch on the local clock, corrected by the answer's Date header.
	reset time.Time
}

// parseRateHeaders reads the rate-limit headers; now is the local time the answer arrived.
func parseRateHeaders(h http.Header, now time.Time) rateHeaders {
	limit, err1 := strconv.Atoi(h.Get("X-Rate-Limit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-Rate-Limit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || limit < 0 || remaining < 0 || reset <= 0 {
		return rateHeaders{}
	}
	r := rateHeaders{ok: true, limit: limit, remaining: remaining, resetEpoch: reset}
	// The reset is an epoch second on Okta's clock; the Date header tells how far away it is
	// regardless of any skew between Okta's clock and ours.
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		r.reset = now.Add(time.Unix(reset, 0).Sub(date))
	} else {
		r.reset = time.Unix(reset, 0)
	}
	return r
}

// resetOnly reads just X-Rate-Limit-Reset (for a 429 that lacks the other headers).
func resetOnly(h http.Header, now time.Time) (time.Time, bool) {
	reset, err := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
	if err != nil || reset <= 0 {
		return time.Time{}, false
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		return now.Add(time.Unix(reset, 0).Sub(date)), true
	}
	return time.Unix(reset, 0), true
}

// done releases the ticket with Okta's answer (nil when the request failed without one) and
// learns the bucket's state from its headers. For a 429 it returns when the request may be
// retried.
func (t *ticket) done(resp *http.Response) (retryAt time.Time, concurrency bool) {
	o, p := t.o, t.o.parent
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.bucket(t.bucket)
	s.inflight--
	defer s.notify()
	if resp == nil {
		return time.Time{}, false
	}
	now := p.clock.Now()
	h := parseRateHeaders(resp.Header, now)
	if resp.StatusCode == http.StatusTooManyRequests {
		concurrency = s.isConcurrency429(h)
		return p.jitter(s.refused(h, resp.Header, now, p.block)), concurrency
	}
	switch {
	case h.ok:
		switch {
		case s.mode != modeMetered || h.resetEpoch > s.resetEpoch:
			// First report, or a newer window.
			s.mode = modeMetered
			s.limit, s.remaining = h.limit, h.remaining
			s.resetEpoch, s.reset, s.rolled = h.resetEpoch, h.reset, false
		case h.resetEpoch == s.resetEpoch && !s.rolled:
			// Answers arrive out of order; the lowest count is the latest.
			s.remaining = min(s.remaining, h.remaining)
			s.limit = h.limit
		}
		rateLimitRemaining.WithLabelValues(t.bucket).Set(float64(s.remaining))
		provider.ReportRateLimit(SpecField, t.bucket, s.remaining, s.limit, s.reset)
	case s.mode == modeUnknown:
		s.mode = modeUnmetered
	}
	return time.Time{}, false
}

// isConcurrency429 tells a 429 for too many requests at once from one for a spent window.
// Okta reports the concurrency figures in the X-Rate-Limit-* headers of such an answer
// (developer.okta.com/docs/reference/rl-best-practices; the emulator's --concurrency-limit):
// a limit other than the window's, or a reset other than the window's while the window
// still had room.
func (s *bucketState) isConcurrency429(h rateHeaders) bool {
	if !h.ok || s.mode != modeMetered {
		return false
	}
	return h.limit != s.limit || (!s.rolled && h.resetEpoch != s.resetEpoch && s.remaining > 0)
}

// refused learns from a 429: it closes the bucket until the answer's reset and returns
// that time. It never takes the answer's figures for the window's: a concurrency 429
// carries the concurrency limit and a reset a second away, and taking those would shrink
// or stretch the per-minute window. A 429 of the known window spends it.
func (s *bucketState) refused(h rateHeaders, hdr http.Header, now time.Time, block time.Duration) time.Time {
	until, ok := resetOnly(hdr, now)
	if !ok || !until.After(now) {
		until = now.Add(block)
	}
	if s.isConcurrency429(h) {
		s.concurrency429s++
		if lim := now.Add(maxConcurrencyBlock); until.After(lim) {
			until = lim
		}
	} else if s.mode == modeMetered && h.ok && h.resetEpoch == s.resetEpoch && !s.rolled {
		s.remaining = 0
	}
	if until.After(s.blockedUntil) {
		s.blockedUntil = until
	}
	return until
}
