package okta

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// A concurrency-limit 429 (the emulator's --concurrency-limit; Okta reports the concurrency
// figures in the X-Rate-Limit-* headers of such an answer) closes the bucket for about a
// second and leaves the per-minute window as it was; a 429 of the window spends it until its
// reset.
func TestBudgetConcurrency429(t *testing.T) {
	windowReset := t0.Add(40 * time.Second)
	tests := map[string]struct {
		resp            *http.Response
		wantConcurrency bool
		wantUntil       time.Time
		wantRemaining   int
		wantReset       time.Time
	}{
		"concurrency: another limit, a reset a second away": {
			resp:            answer(429, 75, 0, t0.Add(time.Second), t0),
			wantConcurrency: true, wantUntil: t0.Add(time.Second), wantRemaining: 50, wantReset: windowReset,
		},
		"concurrency: the same figure as the window, another reset, room left": {
			resp:            answer(429, 100, 0, t0.Add(time.Second), t0),
			wantConcurrency: true, wantUntil: t0.Add(time.Second), wantRemaining: 50, wantReset: windowReset,
		},
		"concurrency with a far reset is bounded": {
			resp:            answer(429, 75, 0, t0.Add(30*time.Second), t0),
			wantConcurrency: true, wantUntil: t0.Add(maxConcurrencyBlock), wantRemaining: 50, wantReset: windowReset,
		},
		"the window is spent": {
			resp:      answer(429, 100, 0, windowReset, t0),
			wantUntil: windowReset, wantRemaining: 0, wantReset: windowReset,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, fc := newTestBudget(t, BudgetOptions{MaxJitter: -1, MaxWait: -1})
			mustAcquire(t, o, BucketApps).done(answer(200, 100, 50, windowReset, t0))
			retryAt, concurrency := mustAcquire(t, o, BucketApps).done(tc.resp)
			if concurrency != tc.wantConcurrency || !retryAt.Equal(tc.wantUntil) {
				t.Fatalf("concurrency %v retry at %s, want %v and %s", concurrency, retryAt, tc.wantConcurrency, tc.wantUntil)
			}
			s := o.parent.state("https://test.okta.com", BucketApps)
			if s.Limit != 100 || s.Remaining != tc.wantRemaining || !s.Reset.Equal(tc.wantReset) {
				t.Fatalf("window after the 429: limit %d remaining %d reset %s; want 100, %d, %s", s.Limit, s.Remaining, s.Reset, tc.wantRemaining, tc.wantReset)
			}
			if tc.wantConcurrency {
				fc.SetTime(tc.wantUntil)
			}
			_, err := o.acquire(context.Background(), BucketApps, false)
			if tc.wantConcurrency && err != nil {
				t.Fatalf("after the concurrency block: %v", err)
			}
			var rl *rateLimitError
			if !tc.wantConcurrency && (!errors.As(err, &rl) || !rl.retryAt.Equal(windowReset)) {
				t.Fatalf("a spent window must stay closed until its reset: %v", err)
			}
		})
	}
}

// A concurrency 429 that is the first answer after the window ended locally is not taken
// for the new window (its limit and its reset a second away would throttle the provider to
// the concurrency figure per second).
func TestBudgetConcurrency429AfterTheWindow(t *testing.T) {
	o, fc := newTestBudget(t, BudgetOptions{MaxJitter: -1, MaxWait: -1})
	mustAcquire(t, o, BucketApps).done(answer(200, 100, 10, t0.Add(40*time.Second), t0))
	fc.SetTime(t0.Add(41 * time.Second)) // the window ended: refilled locally
	_, concurrency := mustAcquire(t, o, BucketApps).done(answer(429, 75, 0, t0.Add(42*time.Second), t0.Add(41*time.Second)))
	if !concurrency {
		t.Fatal("not recognised as a concurrency 429")
	}
	s := o.parent.state("https://test.okta.com", BucketApps)
	if s.Limit != 100 || s.Remaining != 100 {
		t.Fatalf("window after the 429: limit %d remaining %d; want the refilled 100/100", s.Limit, s.Remaining)
	}
}

// The budget keeps to its share of an org-wide bucket (requests without the API token),
// and uses all of what Okta reports for the API token's own buckets.
func TestBudgetShare(t *testing.T) {
	reset := t0.Add(time.Minute)
	tests := map[string]struct {
		share  float64
		shared bool
		want   int
	}{
		"org-wide bucket, default share": {shared: true, want: 50},
		"org-wide bucket, share 0.25":    {share: 0.25, shared: true, want: 25},
		"org-wide bucket, share 1":       {share: 1, shared: true, want: 100},
		"the API token's bucket":         {shared: false, want: 100},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, fc := newTestBudget(t, BudgetOptions{MaxJitter: -1, MaxWait: -1, Share: tc.share})
			granted := 0
			for i := 0; i < 200; i++ {
				tk, err := o.acquire(context.Background(), BucketToken, tc.shared)
				if err != nil {
					var rl *rateLimitError
					if !errors.As(err, &rl) || !rl.local || !rl.retryAt.Equal(reset) {
						t.Fatalf("refusal %v, want a local one until the reset", err)
					}
					break
				}
				granted++
				// Okta's org-wide figure counts this request only.
				tk.done(answer(200, 100, 100-granted, reset, t0))
			}
			if granted != tc.want {
				t.Fatalf("%d requests granted in one window, want %d", granted, tc.want)
			}
			// A new window: the share is available again.
			fc.SetTime(reset)
			if _, err := o.acquire(context.Background(), BucketToken, tc.shared); err != nil {
				t.Fatalf("after the reset: %v", err)
			}
		})
	}
}
