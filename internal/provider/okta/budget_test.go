package okta

import (
	"container/heap"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// t0 is a window boundary, like Okta's minute windows.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// answer builds an Okta answer with rate-limit headers; date is Okta's clock.
func answer(status, limit, remaining int, reset, date time.Time) *http.Response {
	h := http.Header{}
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("Date", date.UTC().Format(http.TimeFormat))
	return &http.Response{StatusCode: status, Header: h}
}

func newTestBudget(t *testing.T, opts BudgetOptions) (*orgBudget, *clocktesting.FakeClock) {
	t.Helper()
	fc := clocktesting.NewFakeClock(t0)
	opts.Clock = fc
	b := NewBudgets(opts)
	return b.org("https://test.okta.com"), fc
}

// mustAcquire acquires without waiting.
func mustAcquire(t *testing.T, o *orgBudget, bucket string) *ticket {
	t.Helper()
	tk, err := o.acquire(context.Background(), bucket, false)
	if err != nil {
		t.Fatalf("acquire %s: %v", bucket, err)
	}
	return tk
}

func TestBudgetRefusesSpentBucketUntilReset(t *testing.T) {
	tests := map[string]struct {
		jitter      time.Duration
		reset       time.Duration // from now
		wantRefused bool
	}{
		"reset far away: refused with retry at the reset":  {jitter: -1, reset: 30 * time.Second, wantRefused: true},
		"reset far away: retry at the reset plus jitter":   {jitter: 500 * time.Millisecond, reset: 30 * time.Second, wantRefused: true},
		"reset within max wait: waits instead of refusing": {jitter: -1, reset: time.Second},
		"reset beyond max wait: refused":                   {jitter: -1, reset: 2 * time.Second, wantRefused: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, fc := newTestBudget(t, BudgetOptions{MaxJitter: tc.jitter})
			wantReset := t0.Add(tc.reset)
			mustAcquire(t, o, BucketApps).done(answer(200, 10, 0, wantReset, t0))

			if tc.wantRefused {
				before := rateLimitedCount(BucketApps, SourceLocal)
				_, err := o.acquire(context.Background(), BucketApps, false)
				var rl *rateLimitError
				if !errors.As(err, &rl) || !rl.local {
					t.Fatalf("acquire = %v, want a local rate-limit refusal", err)
				}
				maxJitter := max(tc.jitter, 0)
				if rl.retryAt.Before(wantReset) || rl.retryAt.After(wantReset.Add(maxJitter)) {
					t.Errorf("retry at %s, want within [%s, %s]", rl.retryAt, wantReset, wantReset.Add(maxJitter))
				}
				if got := rateLimitedCount(BucketApps, SourceLocal) - before; got != 1 {
					t.Errorf("local rate-limited metric grew by %v, want 1", got)
				}
				return
			}
			waits := rateLimitWaitCount()
			got := make(chan error, 1)
			go func() {
				tk, err := o.acquire(context.Background(), BucketApps, false)
				if err == nil {
					tk.done(nil)
				}
				got <- err
			}()
			waitForWaiters(t, fc)
			select {
			case err := <-got:
				t.Fatalf("acquire returned %v before the reset", err)
			default:
			}
			fc.Step(tc.reset)
			if err := <-got; err != nil {
				t.Fatalf("acquire after reset: %v", err)
			}
			if n := rateLimitWaitCount() - waits; n != 1 {
				t.Errorf("wait histogram observed %d waits, want 1", n)
			}
		})
	}
}

func waitForWaiters(t *testing.T, fc *clocktesting.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !fc.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("nobody waits on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBudgetCountsRequestsInFlight(t *testing.T) {
	o, _ := newTestBudget(t, BudgetOptions{MaxJitter: -1})
	reset := t0.Add(time.Minute)
	mustAcquire(t, o, BucketApp).done(answer(200, 100, 3, reset, t0))

	// Three left: three requests go, the fourth waits for one of them to report.
	tickets := []*ticket{mustAcquire(t, o, BucketApp), mustAcquire(t, o, BucketApp), mustAcquire(t, o, BucketApp)}
	got := make(chan error, 1)
	go func() {
		tk, err := o.acquire(context.Background(), BucketApp, false)
		if err == nil {
			tk.done(nil)
		}
		got <- err
	}()
	assertBlocked(t, got)

	// The first report says Okta still had 2 after it: 2 - 2 in flight = nothing free.
	tickets[0].done(answer(200, 100, 2, reset, t0))
	assertBlocked(t, got)
	// Okta also counted someone else's request: 0 left; the waiter is refused.
	tickets[1].done(answer(200, 100, 0, reset, t0))
	var rl *rateLimitError
	if err := <-got; !errors.As(err, &rl) || !rl.retryAt.Equal(reset) {
		t.Fatalf("waiter got %v, want refusal until %s", err, reset)
	}
	tickets[2].done(answer(200, 100, 0, reset, t0))
	if s := o.parent.state("https://test.okta.com", BucketApp); s.InFlight != 0 || s.Remaining != 0 {
		t.Errorf("state = %+v, want nothing in flight and nothing left", s)
	}
}

func assertBlocked(t *testing.T, got chan error) {
	t.Helper()
	select {
	case err := <-got:
		t.Fatalf("acquire returned %v, want it to wait", err)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestBudgetProbesUnknownBucketOneAtATime(t *testing.T) {
	tests := map[string]struct {
		first        *http.Response
		wantMetered  bool
		wantReleased bool
	}{
		"headers learned: the waiter goes":        {first: answer(200, 50, 49, t0.Add(time.Minute), t0), wantMetered: true, wantReleased: true},
		"no headers: the bucket is unmetered":     {first: &http.Response{StatusCode: 200, Header: http.Header{}}, wantReleased: true},
		"no answer: the waiter becomes the probe": {first: nil, wantReleased: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, _ := newTestBudget(t, BudgetOptions{})
			probe := mustAcquire(t, o, BucketOther)
			got := make(chan error, 1)
			var second *ticket
			go func() {
				tk, err := o.acquire(context.Background(), BucketOther, false)
				second = tk
				got <- err
			}()
			assertBlocked(t, got)
			probe.done(tc.first)
			if err := <-got; err != nil {
				t.Fatalf("second acquire: %v", err)
			}
			s := o.parent.state("https://test.okta.com", BucketOther)
			if s.Known != tc.wantMetered || s.InFlight != 1 {
				t.Errorf("state = %+v, want known=%v and one in flight", s, tc.wantMetered)
			}
			second.done(nil)
		})
	}
}

func TestBudgetLearnsFromAnswers(t *testing.T) {
	reset1 := t0.Add(time.Minute)
	reset2 := t0.Add(2 * time.Minute)
	// A step reports an answer, or (resp nil) advances the clock.
	type step struct {
		resp    *http.Response
		advance time.Duration
	}
	tests := map[string]struct {
		steps         []step
		wantRemaining int
		wantReset     time.Time
	}{
		"lowest count of a window wins (answers arrive out of order)": {
			steps:         []step{{resp: answer(200, 100, 40, reset1, t0)}, {resp: answer(200, 100, 42, reset1, t0)}},
			wantRemaining: 40, wantReset: reset1,
		},
		"a newer window replaces the old one": {
			steps:         []step{{resp: answer(200, 100, 3, reset1, t0)}, {resp: answer(200, 100, 99, reset2, t0.Add(time.Minute))}},
			wantRemaining: 99, wantReset: t0.Add(time.Minute),
		},
		"an answer about an older window is ignored": {
			steps:         []step{{resp: answer(200, 100, 99, reset2, reset1)}, {resp: answer(200, 100, 3, reset1, t0)}},
			wantRemaining: 99, wantReset: t0.Add(time.Minute),
		},
		"after the reset the window refills locally": {
			steps:         []step{{resp: answer(200, 100, 0, reset1, t0)}, {advance: time.Minute}},
			wantRemaining: 100,
		},
		"late answers about an ended window do not drain the refilled one": {
			steps:         []step{{resp: answer(200, 100, 5, reset1, t0)}, {advance: time.Minute}, {resp: answer(200, 100, 0, reset1, t0)}},
			wantRemaining: 100,
		},
		"skewed clocks: the reset is taken relative to Okta's Date": {
			// Okta's clock is an hour ahead; its reset is 30s after its Date.
			steps:         []step{{resp: answer(200, 100, 7, t0.Add(time.Hour+30*time.Second), t0.Add(time.Hour))}},
			wantRemaining: 7, wantReset: t0.Add(30 * time.Second),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, fc := newTestBudget(t, BudgetOptions{})
			for _, st := range tc.steps {
				fc.Step(st.advance)
				if st.resp == nil {
					continue
				}
				// A request in flight (granted earlier) reports now.
				o.mu.Lock()
				o.bucket(BucketApps).inflight++
				o.mu.Unlock()
				(&ticket{o: o, bucket: BucketApps}).done(st.resp)
			}
			s := o.parent.state("https://test.okta.com", BucketApps)
			if s.Remaining != tc.wantRemaining || !s.Reset.Equal(tc.wantReset) {
				t.Errorf("remaining %d reset %s, want %d and %s", s.Remaining, s.Reset, tc.wantRemaining, tc.wantReset)
			}
		})
	}
}

func TestBudget429ClosesBucket(t *testing.T) {
	tests := map[string]struct {
		resp      *http.Response
		wantUntil time.Time
	}{
		"reset header": {resp: answer(429, 100, 0, t0.Add(40*time.Second), t0), wantUntil: t0.Add(40 * time.Second)},
		"no headers: closed for the default block": {
			resp: &http.Response{StatusCode: 429, Header: http.Header{}}, wantUntil: t0.Add(DefaultBlock),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, _ := newTestBudget(t, BudgetOptions{MaxJitter: -1})
			retryAt, _ := mustAcquire(t, o, BucketToken).done(tc.resp)
			if !retryAt.Equal(tc.wantUntil) {
				t.Errorf("retry at %s, want %s", retryAt, tc.wantUntil)
			}
			_, err := o.acquire(context.Background(), BucketToken, false)
			var rl *rateLimitError
			if !errors.As(err, &rl) || !rl.local || !rl.retryAt.Equal(tc.wantUntil) {
				t.Fatalf("acquire after 429 = %v, want local refusal until %s", err, tc.wantUntil)
			}
			// Other buckets are not affected.
			mustAcquire(t, o, BucketApps).done(nil)
		})
	}
}

func TestBudgetZeroLimitDoesNotSpin(t *testing.T) {
	o, fc := newTestBudget(t, BudgetOptions{MaxJitter: -1})
	// Okta reports a limit of 0; after its reset the window "refills" to 0.
	mustAcquire(t, o, BucketOther).done(answer(200, 0, 0, t0.Add(time.Second), t0))
	fc.Step(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tk, err := o.acquire(ctx, BucketOther, false)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	// A second request waits for the probe's answer instead of spinning.
	got := make(chan error, 1)
	go func() {
		tk2, err := o.acquire(ctx, BucketOther, false)
		if err == nil {
			tk2.done(nil)
		}
		got <- err
	}()
	assertBlocked(t, got)
	tk.done(nil)
	if err := <-got; err != nil {
		t.Fatalf("second acquire: %v", err)
	}
}

func TestBudgetWaitRespectsContext(t *testing.T) {
	o, fc := newTestBudget(t, BudgetOptions{MaxWait: time.Second})
	mustAcquire(t, o, BucketApps).done(answer(200, 10, 0, t0.Add(time.Second), t0))
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := o.acquire(ctx, BucketApps, false)
		got <- err
	}()
	waitForWaiters(t, fc)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire = %v, want context.Canceled", err)
	}
}

func TestBudgetsShareByOrg(t *testing.T) {
	b := NewBudgets(BudgetOptions{})
	tests := []struct{ a, b string }{
		{"https://example.okta.com", "https://EXAMPLE.okta.com/"},
		{"https://example.okta.com", "https://example.okta.com:443"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/"},
	}
	for _, tc := range tests {
		ka, err1 := orgKey(tc.a)
		kb, err2 := orgKey(tc.b)
		if err1 != nil || err2 != nil {
			t.Fatalf("orgKey: %v %v", err1, err2)
		}
		if b.org(ka) != b.org(kb) {
			t.Errorf("%s and %s do not share a budget", tc.a, tc.b)
		}
	}
	ka, _ := orgKey("https://a.okta.com")
	kb, _ := orgKey("https://b.okta.com")
	if b.org(ka) == b.org(kb) {
		t.Error("different orgs share a budget")
	}
}

// fakeOkta counts requests in fixed one-minute windows, as Okta does.
type fakeOkta struct {
	limit       int
	windowStart time.Time
	used        int
	served      int
	refused     int
}

func (f *fakeOkta) serve(now time.Time) *http.Response {
	start := now.Truncate(time.Minute)
	if !start.Equal(f.windowStart) {
		f.windowStart, f.used = start, 0
	}
	reset := start.Add(time.Minute)
	if f.used >= f.limit {
		f.refused++
		return answer(429, f.limit, 0, reset, now)
	}
	f.used++
	f.served++
	return answer(200, f.limit, f.limit-f.used, reset, now)
}

type simEvent struct {
	at     time.Time
	client int
}

type simQueue []simEvent

func (q simQueue) Len() int           { return len(q) }
func (q simQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q simQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)        { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// TestBudgetConvergesWithoutStampede simulates 1,000 clients that each need a few calls
// against a 600 requests/minute limit, on a fake clock: every refused client comes back at its
// RetryAt. The budget should let Okta serve every call in about calls ÷ rate, with no 429.
func TestBudgetConvergesWithoutStampede(t *testing.T) {
	tests := map[string]struct {
		clients, callsEach, limit int
		start                     time.Duration // offset into the first window
	}{
		"1000 clients x 3 calls at 600/min":                   {clients: 1000, callsEach: 3, limit: 600},
		"1000 clients x 3 calls at 600/min, mid-window start": {clients: 1000, callsEach: 3, limit: 600, start: 35 * time.Second},
		"200 clients x 5 calls at 60/min":                     {clients: 200, callsEach: 5, limit: 60, start: 10 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fc := clocktesting.NewFakeClock(t0.Add(tc.start))
			b := NewBudgets(BudgetOptions{Clock: fc, MaxWait: -1})
			o := b.org("https://sim.okta.com")
			okta := &fakeOkta{limit: tc.limit}
			left := make([]int, tc.clients)
			q := &simQueue{}
			for i := range left {
				left[i] = tc.callsEach
				heap.Push(q, simEvent{at: fc.Now(), client: i})
			}
			var finished time.Time
			localRefusals := 0
			for q.Len() > 0 {
				ev := heap.Pop(q).(simEvent)
				if ev.at.After(fc.Now()) {
					fc.SetTime(ev.at)
				}
				tk, err := o.acquire(context.Background(), BucketApps, false)
				var rl *rateLimitError
				switch {
				case errors.As(err, &rl):
					localRefusals++
					heap.Push(q, simEvent{at: rl.retryAt, client: ev.client})
					continue
				case err != nil:
					t.Fatalf("acquire: %v", err)
				}
				resp := okta.serve(fc.Now())
				if retryAt, _ := tk.done(resp); resp.StatusCode == 429 {
					heap.Push(q, simEvent{at: retryAt, client: ev.client})
					continue
				}
				left[ev.client]--
				if left[ev.client] > 0 {
					heap.Push(q, simEvent{at: fc.Now(), client: ev.client})
				} else {
					finished = fc.Now()
				}
			}
			calls := tc.clients * tc.callsEach
			if okta.served != calls {
				t.Errorf("okta served %d calls, want %d", okta.served, calls)
			}
			if okta.refused != 0 {
				t.Errorf("okta answered 429 %d times, want 0", okta.refused)
			}
			// calls ÷ rate windows are needed; the first one may be partial.
			windows := (calls + tc.limit - 1) / tc.limit
			took := finished.Sub(t0.Add(tc.start))
			if limit := time.Duration(windows)*time.Minute + DefaultMaxJitter; took > limit {
				t.Errorf("converged in %s, want at most %s", took, limit)
			}
			// Refused clients wait for the reset instead of hammering the budget.
			if maxRefusals := tc.clients * (windows + 1); localRefusals > maxRefusals {
				t.Errorf("%d local refusals, want at most %d", localRefusals, maxRefusals)
			}
			t.Logf("%d calls served in %s, %d local refusals, 0 calls to okta wasted", okta.served, took, localRefusals)
		})
	}
}

// bucketSnapshot is a snapshot of one bucket.
type bucketSnapshot struct {
	// Known is true once Okta has reported limits for the bucket.
	Known     bool
	Limit     int
	Remaining int
	// Reset is when the current window ends (local clock); zero if unknown.
	Reset time.Time
	// BlockedUntil is set by a 429 from Okta.
	BlockedUntil time.Time
	InFlight     int
}

// state returns a snapshot of a bucket of the org at orgURL: of the org-wide budget, or,
// when that has not used the bucket and one credential of the org has (the management API's
// buckets are kept per credential), of that credential's budget.
func (b *Budgets) state(orgURL, bucket string) bucketSnapshot {
	key, err := orgKey(orgURL)
	if err != nil {
		return bucketSnapshot{}
	}
	o := b.org(key)
	o.mu.Lock()
	_, used := o.buckets[bucket]
	o.mu.Unlock()
	if !used {
		b.mu.Lock()
		var creds []*orgBudget
		for k, c := range b.orgs {
			if strings.HasPrefix(k, key+"#") {
				creds = append(creds, c)
			}
		}
		b.mu.Unlock()
		if len(creds) == 1 {
			o = creds[0]
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.bucket(bucket)
	s.refill(b.clock.Now())
	st := bucketSnapshot{Known: s.mode == modeMetered, Limit: s.limit, Remaining: s.remaining,
		BlockedUntil: s.blockedUntil, InFlight: s.inflight}
	if !s.rolled {
		st.Reset = s.reset
	}
	return st
}
