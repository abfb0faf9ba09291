package tokeninjector

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkAddedLatency measures what the injector adds to a request at a fixed rate of
// 1,000 requests/s (open loop: each request's latency counts from its scheduled start, so a
// stall is not hidden by sending less). It calls a hello-like upstream directly and through
// the injector in alternating rounds of 500 requests, b.N requests each, and reports the
// p50 and p99 of both and their differences in microseconds. Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench AddedLatency -benchtime 10000x ./internal/tokeninjector
func BenchmarkAddedLatency(b *testing.B) {
	const rate = 1000
	hello := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"message":"Hello World!"}`)
	}))
	defer hello.Close()
	idp := newFakeIDP(b)
	m := NewMetrics()
	src := newSource(b, idp.URL+"/token", m)
	if _, err := src.Token(); err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(hello.URL)
	h, err := New(Config{Upstream: u, Source: src, Metrics: m, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	inj := httptest.NewServer(h)
	defer inj.Close()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	// Warm both paths' connections.
	for _, target := range []string{hello.URL, inj.URL} {
		paced(b, client, target, 200, rate)
	}

	b.ResetTimer()
	var direct, via []time.Duration
	const round = 500
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		direct = append(direct, paced(b, client, hello.URL+"/", n, rate)...)
		via = append(via, paced(b, client, inj.URL+"/", n, rate)...)
	}
	b.StopTimer()
	dp50, dp99 := percentile(direct, 50), percentile(direct, 99)
	ip50, ip99 := percentile(via, 50), percentile(via, 99)
	b.ReportMetric(us(dp50), "direct-p50-µs")
	b.ReportMetric(us(dp99), "direct-p99-µs")
	b.ReportMetric(us(ip50), "injector-p50-µs")
	b.ReportMetric(us(ip99), "injector-p99-µs")
	b.ReportMetric(us(ip50-dp50), "added-p50-µs")
	b.ReportMetric(us(ip99-dp99), "added-p99-µs")
	b.ReportMetric(0, "ns/op") // wall time per op is the pacing, not a result
}

// paced sends n GETs to target at rate per second and returns each latency, measured from
// the request's scheduled start.
func paced(b *testing.B, client *http.Client, target string, n, rate int) []time.Duration {
	b.Helper()
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var failed sync.Once
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(target)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = &statusError{resp.StatusCode}
				}
			}
			if err != nil {
				failed.Do(func() { b.Errorf("request to %s: %v", target, err) })
			}
			lat[i] = time.Since(at)
		}()
	}
	wg.Wait()
	return lat
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
