package verifier

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// Every answer is counted by mode and status code; a proxied request the upstream does not
// answer is counted as an upstream error (the 502 the alert ClientcredsVerifier5xx sees).
func TestResponsesByCode(t *testing.T) {
	env := newServerEnv(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL, _ := url.Parse(dead.URL)
	dead.Close()
	proxy := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy, Upstream: deadURL})
	m := env.v.metrics
	count := func(mode, code string) float64 { return counterValue(t, m.responses.WithLabelValues(mode, code)) }

	ok0, denied0, upstream0 := count("proxy", "200"), count("proxy", "401"), counterValue(t, m.upstreamErr)
	for _, token := range []string{env.good, env.good, "not-a-token"} {
		req := httptest.NewRequest(http.MethodGet, "/hello", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		proxy.ServeHTTP(httptest.NewRecorder(), req)
	}
	if got := count("proxy", "200") - ok0; got != 2 {
		t.Errorf("proxy 200s counted %v, want 2", got)
	}
	if got := count("proxy", "401") - denied0; got != 1 {
		t.Errorf("proxy 401s counted %v, want 1", got)
	}
	if got := counterValue(t, m.upstreamErr) - upstream0; got != 2 {
		t.Errorf("upstream errors counted %v, want 2 (both allowed requests met a dead upstream)", got)
	}
}
