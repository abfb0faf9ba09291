package loadgen

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseResponse(t *testing.T) {
	tests := map[string]struct {
		in        string
		wantUsed  int // -1: the whole input
		wantCode  int
		wantKeep  bool
		wantError bool
	}{
		"content length":     {in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", wantUsed: -1, wantCode: 200, wantKeep: true},
		"empty body":         {in: "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", wantUsed: -1, wantCode: 202, wantKeep: true},
		"incomplete head":    {in: "HTTP/1.1 200 OK\r\nContent-Le"},
		"incomplete body":    {in: "HTTP/1.1 401 Unauthorized\r\nContent-Length: 10\r\n\r\nabc"},
		"connection close":   {in: "HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", wantUsed: -1, wantCode: 403},
		"http/1.0":           {in: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", wantUsed: -1, wantCode: 200},
		"chunked":            {in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", wantUsed: -1, wantCode: 200, wantKeep: true},
		"chunked incomplete": {in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"},
		"no length":          {in: "HTTP/1.1 200 OK\r\n\r\nbody", wantError: true},
		"not http":           {in: "SSH-2.0-OpenSSH\r\n\r\n", wantError: true},
		"bad length":         {in: "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", wantError: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			want := tc.wantUsed
			if want < 0 {
				want = len(tc.in)
			}
			in := tc.in
			if want > 0 {
				in += "HTTP/1.1" // bytes after a complete answer are not part of it
			}
			used, code, keep, err := parseResponse([]byte(in))
			if (err != nil) != tc.wantError {
				t.Fatalf("error %v, want error %v", err, tc.wantError)
			}
			if used != want || code != tc.wantCode || keep != tc.wantKeep {
				t.Fatalf("got used %d code %d keep %v; want %d %d %v", used, code, keep, want, tc.wantCode, tc.wantKeep)
			}
		})
	}
}

func TestRun(t *testing.T) {
	var got atomic.Int64
	var badAuth atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		if r.URL.Path != "/verify" || r.Header.Get("X-Original-URI") != "/hello" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer t") {
			badAuth.Add(1)
		}
		if r.Header.Get("Authorization") == "Bearer t-refused" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	headers := [][2]string{{"X-Original-URI", "/hello"}}

	tests := map[string]struct {
		cfg           Config
		wantExhausted bool
		wantRequests  int64 // exact, when not 0
		wantBad       int64
	}{
		"closed loop, repeated token": {cfg: Config{Headers: append(headers, [2]string{"Authorization", "Bearer t1"}), Conns: 4, Duration: 200 * time.Millisecond}},
		"constant rate": {cfg: Config{Headers: append(headers, [2]string{"Authorization", "Bearer t1"}), Conns: 4, Rate: 500, Duration: 400 * time.Millisecond},
			wantRequests: 200},
		"tokens run out": {cfg: Config{Headers: headers, Tokens: []string{"t1", "t2", "t-refused"}, Conns: 2, Duration: 5 * time.Second},
			wantExhausted: true, wantRequests: 3, wantBad: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Addr, cfg.Path = addr, "/verify"
			before := got.Load()
			r, err := Run(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 {
				t.Fatalf("%d errors", r.Errors)
			}
			if r.Requests != got.Load()-before {
				t.Fatalf("counted %d answers, the server answered %d", r.Requests, got.Load()-before)
			}
			if tc.wantRequests != 0 && r.Requests != tc.wantRequests {
				t.Fatalf("%d requests, want %d", r.Requests, tc.wantRequests)
			}
			if r.Exhausted != tc.wantExhausted || r.BadStatus != tc.wantBad {
				t.Fatalf("exhausted %v, bad status %d; want %v, %d", r.Exhausted, r.BadStatus, tc.wantExhausted, tc.wantBad)
			}
			if r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
				t.Fatalf("percentiles out of order: %+v", r)
			}
		})
	}
	if badAuth.Load() != 0 {
		t.Fatalf("%d requests without the expected Authorization header", badAuth.Load())
	}
}
