package oktaemu

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Rate-limit buckets, one per family of endpoints.
const (
	bucketApps  = "apps"
	bucketApp   = "app"
	bucketToken = "token"
	bucketOther = "other"
)

// rateLimiter counts requests per bucket in fixed windows (one minute
// unless configured shorter), the way Okta reports them: X-Rate-Limit-Reset is the epoch second at which
// the current window ends.
//
// A request made by a principal (an API token or an OAuth 2.0 app) also
// counts against that principal's share of the bucket, as Okta's "token
// and OAuth 2.0 app rate limits": it is allowed only while both the org's
// bucket and the principal's share, floor(bucket × share) and at least 1,
// have room. The headers then report the principal's ceiling and the
// smaller of the two remainders. Anonymous requests (the authorization
// server's token, keys and metadata) count only org-wide.
type rateLimiter struct {
	mu      sync.Mutex
	limits  RateLimits
	share   float64
	windows map[string]*window
}

type window struct {
	start time.Time
	used  int
}

type rateDecision struct {
	limit, remaining int
	reset            time.Time
	allowed          bool
}

func newRateLimiter(l RateLimits, share float64) *rateLimiter {
	return &rateLimiter{limits: l, share: share, windows: map[string]*window{}}
}

// windowFor returns the current window of key; the caller holds r.mu.
func (r *rateLimiter) windowFor(key string, start time.Time) *window {
	w := r.windows[key]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start}
		r.windows[key] = w
	}
	return w
}

func (r *rateLimiter) set(l RateLimits) {
	r.mu.Lock()
	r.limits = l
	r.mu.Unlock()
}

func (r *rateLimiter) get() RateLimits {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.limits
}

// take consumes one request from bucket at time now for principal ("" =
// anonymous), unless the budget is spent; refused requests do not count.
func (r *rateLimiter) take(bucket, principal string, now time.Time) rateDecision {
	r.mu.Lock()
	defer r.mu.Unlock()
	win := r.limits.window()
	start := now.Truncate(win)
	w := r.windowFor(bucket, start)
	limit := r.limits.budget(bucket)
	unlimited := limit < 0
	if unlimited {
		limit = unlimitedBudget
	}
	d := rateDecision{limit: limit, reset: start.Add(win)}
	if principal == "" || unlimited {
		if !unlimited && w.used >= limit {
			return d
		}
		w.used++
		d.allowed = true
		d.remaining = max(limit-w.used, 0)
		return d
	}
	pw := r.windowFor(bucket+"\x00"+principal, start)
	plimit := tokenShare(limit, r.share)
	d.limit = plimit
	if w.used >= limit || pw.used >= plimit {
		return d
	}
	w.used++
	pw.used++
	d.allowed = true
	d.remaining = max(min(limit-w.used, plimit-pw.used), 0)
	return d
}

func (d rateDecision) writeHeaders(h http.Header) {
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(d.limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(d.remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(d.reset.Unix(), 10))
}
