package hello

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	cases := []struct {
		name       string
		method     string
		path       string
		clientID   string
		wantStatus int
		wantBody   string // exact JSON, compared after decoding
	}{
		{name: "hello without identity", method: "GET", path: "/", wantStatus: 200, wantBody: `"Hello World!"`},
		{name: "hello names the client", method: "GET", path: "/", clientID: "0oa123", wantStatus: 200, wantBody: `{"message":"Hello World!","clientId":"0oa123"}`},
		{name: "client id is JSON-escaped", method: "GET", path: "/", clientID: `a"b<c>`, wantStatus: 200, wantBody: `{"message":"Hello World!","clientId":"a\"b<c>"}`},
		{name: "HEAD is GET without a body", method: "HEAD", path: "/", wantStatus: 200},
		{name: "health", method: "GET", path: "/healthz", wantStatus: 200},
		{name: "wrong method", method: "POST", path: "/", wantStatus: 405},
		{name: "wrong method on health", method: "DELETE", path: "/healthz", wantStatus: 405},
		{name: "unknown path", method: "GET", path: "/other", wantStatus: 404},
		{name: "sub-path of root", method: "GET", path: "/x/", wantStatus: 404},
	}
	h := Handler()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.clientID != "" {
				req.Header.Set(ClientIDHeader, tc.clientID)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tc.wantStatus)
			}
			if tc.wantStatus == 405 && rec.Header().Get("Allow") == "" {
				t.Fatal("405 without an Allow header")
			}
			if tc.wantBody == "" {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			if !strings.Contains(rec.Body.String(), "Hello World!") {
				t.Fatalf("body %q lacks the greeting", rec.Body.String())
			}
			var got, want any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			_ = json.Unmarshal([]byte(tc.wantBody), &want)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Fatalf("body = %s, want %s", gb, wb)
			}
		})
	}
}
