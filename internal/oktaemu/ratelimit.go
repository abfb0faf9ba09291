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
type rateLimiter struct {
	mu      sync.Mutex
	limits  RateLimits
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

func newRateLimiter(l RateLimits) *rateLimiter {
	return &rateLimiter{limits: l, windows: map[string]*window{}}
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

// take consumes one request from bucket at time now, unless the budget is
// spent; refused requests do not count.
func (r *rateLimiter) take(bucket string, now time.Time) rateDecision {
	r.mu.Lock()
	defer r.mu.Unlock()
	win := r.limits.window()
	start := now.Truncate(win)
	w := r.windows[bucket]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start}
		r.windows[bucket] = w
	}
	limit := r.limits.budget(bucket)
	unlimited := limit < 0
	if unlimited {
		limit = unlimitedBudget
	}
	d := rateDecision{limit: limit, reset: start.Add(win)}
	if !unlimited && w.used >= limit {
		return d
	}
	w.used++
	d.allowed = true
	d.remaining = max(limit-w.used, 0)
	return d
}

func (d rateDecision) writeHeaders(h http.Header) {
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(d.limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(d.remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(d.reset.Unix(), 10))
}
