package provider

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestGuardTransport(t *testing.T) {
	const limit = 1000
	tests := map[string]struct {
		status        int
		body          int  // bytes sent
		contentLength bool // send a Content-Length (else chunked)
		wantRead      int  // bytes the caller gets before the error
		wantErr       error
	}{
		"under the limit":                    {status: 200, body: 999, wantRead: 999},
		"exactly the limit":                  {status: 200, body: limit, wantRead: limit},
		"one byte over, chunked":             {status: 200, body: limit + 1, wantRead: limit, wantErr: ErrResponseTooLarge},
		"far over, chunked":                  {status: 200, body: 1 << 20, wantRead: limit, wantErr: ErrResponseTooLarge},
		"over, announced by Content-Length":  {status: 200, body: limit + 1, contentLength: true, wantErr: ErrResponseTooLarge},
		"error answer over the limit":        {status: 500, body: 4 * limit, wantRead: limit, wantErr: ErrResponseTooLarge},
		"redirect":                           {status: 302, wantErr: ErrRedirectRefused},
		"permanent redirect":                 {status: 308, wantErr: ErrRedirectRefused},
		"not modified is not a redirect":     {status: 304},
		"content length at the limit passes": {status: 200, body: limit, contentLength: true, wantRead: limit},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.contentLength {
					w.Header().Set("Content-Length", strconv.Itoa(tc.body))
				}
				if tc.status >= 300 && tc.status < 400 && tc.status != 304 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				if tc.status == 304 {
					return
				}
				// Written in two parts, so a chunked answer has no Content-Length.
				half := tc.body / 2
				_, _ = w.Write([]byte(strings.Repeat("a", half)))
				w.(http.Flusher).Flush()
				_, _ = w.Write([]byte(strings.Repeat("a", tc.body-half)))
			}))
			t.Cleanup(srv.Close)
			c := &http.Client{Transport: GuardTransport(nil, limit, nil), CheckRedirect: NoRedirects}
			resp, err := c.Get(srv.URL + "/api/x?secret-query=1")
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				_ = resp.Body.Close()
			}
			if len(body) != tc.wantRead {
				t.Errorf("read %d bytes, want %d", len(body), tc.wantRead)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("error = %v, want none", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrPermanent) {
				t.Fatalf("error = %v, want class %v (and %v)", err, tc.wantErr, ErrPermanent)
			}
			msg := err.Error()
			if !strings.Contains(msg, "GET http://"+strings.TrimPrefix(srv.URL, "http://")+"/api/x") {
				t.Errorf("error %q does not name the endpoint", msg)
			}
			if errors.Is(err, ErrResponseTooLarge) && !strings.Contains(msg, "limit of 1000 bytes") {
				t.Errorf("error %q does not name the limit", msg)
			}
			// url.Error names the request URL; the guard's own text never adds the query.
			var tl *ResponseTooLargeError
			var re *RedirectError
			if (errors.As(err, &tl) && strings.Contains(tl.Error(), "secret-query")) ||
				(errors.As(err, &re) && strings.Contains(re.Error(), "secret-query")) {
				t.Errorf("the guard's error %q carries the query", msg)
			}
		})
	}
}
