package oktaemu

import (
	"maps"
	"strconv"
	"sync"
)

// Stats counts the requests the emulator answered. Emulator-internal
// endpoints (/_emulator/...) are not counted.
type Stats struct {
	// Total is the number of requests answered.
	Total int64 `json:"total"`
	// ByRoute counts requests by route key, "METHOD /pattern", e.g.
	// "POST /api/v1/apps", "GET /api/v1/apps/{id}" or
	// "POST /oauth2/{as}/v1/token". Unknown paths count as "unknown".
	ByRoute map[string]int64 `json:"byRoute"`
	// ByStatus counts requests by HTTP status code (decimal string keys).
	ByStatus map[string]int64 `json:"byStatus"`
	// ByRouteStatus counts requests by route key and status code.
	ByRouteStatus map[string]map[string]int64 `json:"byRouteStatus"`
	// RateLimited is the number of 429 answers.
	RateLimited int64 `json:"rateLimited"`
	// FaultsInjected is the number of injected 500/503 answers.
	FaultsInjected int64 `json:"faultsInjected"`
}

// Route returns the number of requests for a route key.
func (s Stats) Route(key string) int64 { return s.ByRoute[key] }

// Status returns the number of answers with an HTTP status code.
func (s Stats) Status(code int) int64 { return s.ByStatus[strconv.Itoa(code)] }

// RouteStatus returns the number of answers with code for a route key.
func (s Stats) RouteStatus(key string, code int) int64 {
	return s.ByRouteStatus[key][strconv.Itoa(code)]
}

type statsRecorder struct {
	mu sync.Mutex
	s  Stats
}

func newStatsRecorder() *statsRecorder {
	return &statsRecorder{s: Stats{ByRoute: map[string]int64{}, ByStatus: map[string]int64{}, ByRouteStatus: map[string]map[string]int64{}}}
}

func (r *statsRecorder) record(route string, status int, injected bool) {
	code := strconv.Itoa(status)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.Total++
	r.s.ByRoute[route]++
	r.s.ByStatus[code]++
	m := r.s.ByRouteStatus[route]
	if m == nil {
		m = map[string]int64{}
		r.s.ByRouteStatus[route] = m
	}
	m[code]++
	if status == 429 {
		r.s.RateLimited++
	}
	if injected {
		r.s.FaultsInjected++
	}
}

func (r *statsRecorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.s
	out.ByRoute = maps.Clone(r.s.ByRoute)
	out.ByStatus = maps.Clone(r.s.ByStatus)
	out.ByRouteStatus = make(map[string]map[string]int64, len(r.s.ByRouteStatus))
	for k, v := range r.s.ByRouteStatus {
		out.ByRouteStatus[k] = maps.Clone(v)
	}
	return out
}
