package report

import (
	"strings"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/loadgen"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/operatorbench"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/verifierbench"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

func stats(routes map[string]map[string]int64) oktaemu.Stats {
	return oktaemu.Stats{ByRouteStatus: routes}
}

func TestFloors(t *testing.T) {
	tests := map[string]struct {
		result                       operatorbench.Result
		wantServed, wantMin, wantWin time.Duration
		wantBucket                   string
	}{
		"one create per client, phase 1s": {
			result: operatorbench.Result{Clients: 1000, WindowPhase: time.Second,
				Scenario: operatorbench.Scenario{AppsRate: 600, AppRate: 600},
				AtReady:  stats(map[string]map[string]int64{"POST /api/v1/apps": {"201": 1000, "429": 7}})},
			wantServed: 100 * time.Second, wantMin: 100 * time.Second, wantWin: 59 * time.Second, wantBucket: "/api/v1/apps",
		},
		"reads bind": {
			result: operatorbench.Result{Clients: 100, Scenario: operatorbench.Scenario{AppsRate: 600, AppRate: 60},
				AtReady: stats(map[string]map[string]int64{"POST /api/v1/apps": {"201": 100}, "GET /api/v1/apps/{id}": {"200": 150}})},
			wantServed: 150 * time.Second, wantMin: 10 * time.Second, wantWin: 2 * time.Minute, wantBucket: "GET/PUT/DELETE",
		},
		"short windows": {
			result: operatorbench.Result{Clients: 100, WindowPhase: 500 * time.Millisecond,
				Scenario: operatorbench.Scenario{AppsRate: 60, AppRate: 60, Window: 10 * time.Second},
				AtReady:  stats(map[string]map[string]int64{"POST /api/v1/apps": {"201": 100}})},
			wantServed: 100 * time.Second / 6, wantMin: 100 * time.Second / 6, wantWin: 9500 * time.Millisecond, wantBucket: "/api/v1/apps",
		},
		"within one window": {
			result: operatorbench.Result{Clients: 10, Scenario: operatorbench.Scenario{AppsRate: 600, AppRate: 600},
				AtReady: stats(map[string]map[string]int64{"POST /api/v1/apps": {"201": 10}})},
			wantServed: time.Second, wantMin: time.Second, wantWin: 0, wantBucket: "/api/v1/apps",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := Floors(&tc.result)
			near := func(a, b time.Duration) bool { return (a - b).Abs() < time.Millisecond }
			if !near(f.Served, tc.wantServed) || !near(f.Minimum, tc.wantMin) || !near(f.Window, tc.wantWin) {
				t.Fatalf("floors %+v; want served %s, minimum %s, window %s", f, tc.wantServed, tc.wantMin, tc.wantWin)
			}
			if !strings.HasPrefix(f.Bucket, tc.wantBucket) {
				t.Fatalf("bucket %q, want %q…", f.Bucket, tc.wantBucket)
			}
		})
	}
}

func TestRatioVerdict(t *testing.T) {
	tests := map[string]struct {
		ratio, target float64
		wantMet       bool
		wantOutcome   string
	}{
		"above": {ratio: 9, target: 3, wantMet: true, wantOutcome: "met (300% of the target)"},
		"equal": {ratio: 0.7, target: 0.7, wantMet: true, wantOutcome: "met (100% of the target)"},
		"below": {ratio: 0.4, target: 0.8, wantMet: false, wantOutcome: "missed by 0.40 (50% of the target)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := ratioVerdict("x", tc.ratio, tc.target)
			if v.Met != tc.wantMet || v.Outcome != tc.wantOutcome {
				t.Fatalf("got %v %q, want %v %q", v.Met, v.Outcome, tc.wantMet, tc.wantOutcome)
			}
		})
	}
}

func TestHalfLoadVerdictUsesTheMedianRound(t *testing.T) {
	run := func(round int, p99 time.Duration) verifierbench.Run {
		return verifierbench.Run{Round: round, Result: loadgen.Result{P99: p99}}
	}
	rounds := []verifierbench.Run{run(0, 3300*time.Microsecond), run(1, 1500*time.Microsecond), run(2, 1800*time.Microsecond)}
	v := &verifierbench.Results{
		Runs:       map[string][]verifierbench.Run{},
		HalfRounds: map[string][]verifierbench.Run{verifierbench.HalfVerifier: rounds},
		Half:       map[string]verifierbench.Run{verifierbench.HalfVerifier: verifierbench.MedianP99(rounds)},
	}
	var got *Verdict
	for _, vd := range Verdicts(Input{Verifier: v}) {
		if strings.HasPrefix(vd.Name, "p99 at half") {
			got = &vd
		}
	}
	if got == nil {
		t.Fatal("no p99 verdict")
	}
	if !got.Met || !strings.HasPrefix(got.Value, "1.80 ms") || !strings.Contains(got.Value, "median of 3 rounds: 3.30 ms, 1.50 ms, 1.80 ms") {
		t.Fatalf("verdict %+v; want met at the median round's 1.80 ms, naming every round", *got)
	}
}

func TestRealOrgFloorAndSection(t *testing.T) {
	// 200 clients at okta-paid with the default 50% token share: apps 50 a minute binds.
	r := &operatorbench.Result{Clients: 200, TimeToReady: 3*time.Minute + 30*time.Second,
		Scenario: operatorbench.Scenario{Preset: "okta-paid", EmulatorShare: 0.5, EmulatorAccessPolicy: "none", AccessPolicy: "Managed"},
		AtReady: stats(map[string]map[string]int64{
			"POST /api/v1/apps": {"200": 200}, "GET /api/v1/apps": {"200": 1},
			"GET /api/v1/authorizationServers/{as}/policies":                   {"200": 200},
			"POST /api/v1/authorizationServers/{as}/policies":                  {"201": 200},
			"POST /api/v1/authorizationServers/{as}/policies/{policyId}/rules": {"201": 200},
			"POST /oauth2/{as}/v1/token":                                       {"200": 200},
		})}
	floor, bucket, ok := operatorbench.RealOrgFloor(r)
	// apps: 201 calls ÷ 50 per minute = 4.02 min; other: 600 ÷ 300 = 2 min; token: 200 ÷ 600.
	if !ok || bucket != operatorbench.BucketApps || (floor-241200*time.Millisecond).Abs() > time.Millisecond {
		t.Fatalf("floor %s in %q (ok %v), want 4.02 min in apps", floor, bucket, ok)
	}
	md := Markdown(Input{RealOrg: r})
	for _, want := range []string{"### Real Okta org (issue 11)", "| apps | 201 | 1.00 | 0 |", "| other | 600 | 3.00 | 0 |",
		"| token | 200 | 1.00 | 0 |", "real org: 429 answers", "0.87×"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
