package okta

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

func TestMetricsOnControllerRuntimeRegistry(t *testing.T) {
	app := "/api/v1/apps/" + appID
	srv := newFakeOkta(t, map[string]reply{
		"GET " + app:                            {status: 200, body: map[string]any{"id": appID, "label": "x", "status": "ACTIVE"}},
		"POST " + app + "/lifecycle/deactivate": {status: 200, body: map[string]any{}},
		"DELETE " + app:                         {status: 404, body: oktaError(CodeNotFound, "Not found")},
	})
	p := newTestProvider(t, srv.URL)
	before := map[[3]string]float64{}
	series := [][3]string{
		{"/api/v1/apps/{id}", "GET", "200"},
		{"/api/v1/apps/{id}/lifecycle/deactivate", "POST", "200"},
		{"/api/v1/apps/{id}", "DELETE", "404"},
	}
	for _, s := range series {
		before[s] = requestCount(s[0], s[1], s[2])
	}
	if _, err := p.GetApp(context.Background(), appID); err != nil {
		t.Fatal(err)
	}
	_ = p.DeleteApp(context.Background(), appID)
	for _, s := range series {
		if got := requestCount(s[0], s[1], s[2]) - before[s]; got != 1 {
			t.Errorf("%s %s %s grew by %v, want 1", s[1], s[0], s[2], got)
		}
	}

	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string][]string{
		MetricRequests:           {"code", "endpoint", "method"},
		MetricRequestDuration:    {"endpoint"},
		MetricRateLimitRemaining: {"bucket"},
	}
	found := map[string]bool{}
	for _, mf := range families {
		name := mf.GetName()
		if !strings.HasPrefix(name, "clientcreds_okta_") {
			continue
		}
		found[name] = true
		for _, m := range mf.GetMetric() {
			var names []string
			for _, l := range m.GetLabel() {
				names = append(names, l.GetName())
				if strings.Contains(l.GetValue(), appID) || strings.Contains(l.GetValue(), testToken) {
					t.Errorf("%s has a label value with an id or the token: %q", name, l.GetValue())
				}
			}
			if want, ok := wantLabels[name]; ok && strings.Join(names, ",") != strings.Join(want, ",") {
				t.Errorf("%s labels %v, want %v", name, names, want)
			}
		}
	}
	// Vectors without observations are not gathered; these two have some by now.
	for _, name := range []string{MetricRequests, MetricRequestDuration} {
		if !found[name] {
			t.Errorf("%s not on the controller-runtime registry", name)
		}
	}
}

// requestCount returns the current value of clientcreds_okta_requests_total for the labels
// (the counter is process-wide, so compare before and after).
func requestCount(endpoint, method, code string) float64 {
	return counterValue(requestsTotal.WithLabelValues(endpoint, method, code))
}

// rateLimitedCount returns the current value of clientcreds_okta_rate_limited_total.
func rateLimitedCount(bucket, source string) float64 {
	return counterValue(rateLimited.WithLabelValues(bucket, source))
}

// rateLimitWaitCount returns how many waits clientcreds_okta_rate_limit_wait_seconds observed.
func rateLimitWaitCount() uint64 {
	var m dto.Metric
	if err := rateLimitWait.Write(&m); err != nil {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
