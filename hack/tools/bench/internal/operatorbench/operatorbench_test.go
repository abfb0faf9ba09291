package operatorbench

import (
	"testing"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

func TestAppAPICalls(t *testing.T) {
	s := oktaemu.Stats{ByRouteStatus: map[string]map[string]int64{
		"POST /api/v1/apps":                           {"201": 10, "429": 3},
		"GET /api/v1/apps/{id}":                       {"200": 5, "404": 1},
		"PUT /api/v1/apps/{id}":                       {"200": 2},
		"POST /api/v1/apps/{id}/lifecycle/deactivate": {"200": 1},
		"GET /api/v1/apps/{id}/credentials/secrets":   {"200": 4},
		"POST /oauth2/{as}/v1/token":                  {"200": 10},
		"GET /api/v1/authorizationServers/{as}":       {"200": 2},
	}}
	got := AppAPICalls(s)
	want := AppAPI{Served: 23, Refused: 3, Reads: 10, Writes: 13, AppsBucket: 15, AppBucket: 8}
	if got.Served != want.Served || got.Refused != want.Refused || got.Reads != want.Reads || got.Writes != want.Writes ||
		got.AppsBucket != want.AppsBucket || got.AppBucket != want.AppBucket {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got.ByRoute["POST /oauth2/{as}/v1/token"] != 0 || got.ByRoute["POST /api/v1/apps"] != 10 {
		t.Fatalf("by route %v", got.ByRoute)
	}
}

func TestDiffStats(t *testing.T) {
	a := oktaemu.Stats{Total: 10, RateLimited: 2, ByRoute: map[string]int64{"A": 7, "B": 3},
		ByStatus: map[string]int64{"200": 8, "429": 2}, ByRouteStatus: map[string]map[string]int64{"A": {"200": 5, "429": 2}, "B": {"200": 3}}}
	b := oktaemu.Stats{Total: 4, RateLimited: 2, ByRoute: map[string]int64{"A": 4},
		ByStatus: map[string]int64{"200": 2, "429": 2}, ByRouteStatus: map[string]map[string]int64{"A": {"200": 2, "429": 2}}}
	d := diffStats(a, b)
	if d.Total != 6 || d.RateLimited != 0 || d.ByRoute["A"] != 3 || d.ByRoute["B"] != 3 || d.ByStatus["429"] != 0 ||
		d.ByRouteStatus["A"]["200"] != 3 || d.ByRouteStatus["A"]["429"] != 0 || d.ByRouteStatus["B"]["200"] != 3 {
		t.Fatalf("diff %+v", d)
	}
	if _, ok := d.ByStatus["429"]; ok {
		t.Fatal("zero differences should be left out")
	}
}

func TestSumMetric(t *testing.T) {
	m := map[string]float64{
		`clientcreds_okta_rate_limited_total{bucket="apps",source="local"}`: 4,
		`clientcreds_okta_rate_limited_total{bucket="app",source="local"}`:  1,
		`clientcreds_okta_rate_limited_total{bucket="apps",source="okta"}`:  2,
		`clientcreds_reconcile_rate_limit_waits_total`:                      7,
	}
	tests := map[string]struct {
		name   string
		labels []string
		want   float64
	}{
		"by label":  {name: "clientcreds_okta_rate_limited_total", labels: []string{`source="local"`}, want: 5},
		"all":       {name: "clientcreds_okta_rate_limited_total", want: 7},
		"no labels": {name: "clientcreds_reconcile_rate_limit_waits_total", want: 7},
		"absent":    {name: "clientcreds_nothing_total", want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := SumMetric(m, tc.name, tc.labels...); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
