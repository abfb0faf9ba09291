package verifierbench

import (
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/loadgen"
)

func runWithP99(round int, p99 time.Duration) Run {
	return Run{Round: round, Result: loadgen.Result{P99: p99}}
}

func TestMedianP99(t *testing.T) {
	tests := map[string]struct {
		p99s      []time.Duration
		wantRound int
	}{
		"one run":                    {[]time.Duration{3 * time.Millisecond}, 0},
		"three runs, median is last": {[]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}, 2},
		"three runs, median first":   {[]time.Duration{2 * time.Millisecond, 5 * time.Millisecond, time.Millisecond}, 0},
		"even count takes the upper": {[]time.Duration{4 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var runs []Run
			for i, d := range tc.p99s {
				runs = append(runs, runWithP99(i, d))
			}
			got := MedianP99(runs)
			if got.Round != tc.wantRound {
				t.Fatalf("picked round %d (p99 %s); want round %d", got.Round, got.Result.P99, tc.wantRound)
			}
			if runs[0].Result.P99 != tc.p99s[0] {
				t.Fatal("MedianP99 reordered its argument")
			}
		})
	}
}
