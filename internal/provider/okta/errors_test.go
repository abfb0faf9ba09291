package okta

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/provider"
)

const testToken = "00testTOKENvalue-never-shown"

// reply is a canned answer of a fake Okta.
type reply struct {
	status int
	body   any
	header map[string]string
}

func oktaError(code, summary string, causes ...string) map[string]any {
	cs := []map[string]string{}
	for _, c := range causes {
		cs = append(cs, map[string]string{"errorSummary": c})
	}
	return map[string]any{"errorCode": code, "errorSummary": summary, "errorLink": code, "errorId": "oae123", "errorCauses": cs}
}

// fakeOktaServer answers "METHOD /path" with canned replies and counts requests.
type fakeOktaServer struct {
	*httptest.Server
	mu      sync.Mutex
	replies map[string]reply
	calls   map[string]int
}

func newFakeOkta(t *testing.T, replies map[string]reply) *fakeOktaServer {
	t.Helper()
	f := &fakeOktaServer{replies: replies, calls: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		f.mu.Lock()
		f.calls[key]++
		rp, ok := f.replies[key]
		f.mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/oauth2/") && r.Header.Get("Authorization") != "SSWS "+testToken {
			rp, ok = reply{status: 401, body: oktaError(CodeInvalidToken, "Invalid token provided")}, true
		}
		if !ok {
			rp = reply{status: 404, body: oktaError(CodePathNotFound, "The requested path was not found")}
		}
		for k, v := range rp.header {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(rp.status)
		switch b := rp.body.(type) {
		case nil:
		case string:
			_, _ = w.Write([]byte(b))
		default:
			_ = json.NewEncoder(w).Encode(b)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOktaServer) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}

func newTestProvider(t *testing.T, orgURL string) *Client {
	t.Helper()
	p, err := New(Config{OrgURL: orgURL, APIToken: testToken, Budgets: NewBudgets(BudgetOptions{MaxJitter: -1}), AllowInsecureLoopbackHTTP: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

const (
	appID    = "0oaTESTAPP123456789"
	secretID = "ocsTESTSECRET123456"
)

func TestErrorClassification(t *testing.T) {
	reset := time.Now().Add(30 * time.Second).Truncate(time.Second)
	rateHeaders := map[string]string{
		"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "0",
		"X-Rate-Limit-Reset": strconv.FormatInt(reset.Unix(), 10),
	}
	app := "/api/v1/apps/" + appID
	secret := app + "/credentials/secrets/" + secretID
	ok := reply{status: 200, body: map[string]any{}}
	getApp := func(p *Client) error { _, err := p.GetApp(context.Background(), appID); return err }
	deleteApp := func(p *Client) error { return p.DeleteApp(context.Background(), appID) }
	createSecret := func(p *Client) error { _, err := p.CreateSecret(context.Background(), appID); return err }
	revokeSecret := func(p *Client) error { return p.RevokeSecret(context.Background(), appID, secretID) }
	createApp := func(p *Client) error {
		_, err := p.CreateApp(context.Background(), provider.AppSpec{Label: "x", AuthMethod: provider.AuthClientSecretBasic, Owner: provider.Owner{UID: "u"}})
		return err
	}

	tests := map[string]struct {
		replies    map[string]reply
		call       func(*Client) error
		wantClass  error
		wantCode   string
		wantStatus int
		wantRetry  bool
		wantCalls  map[string]int
		wantMsg    []string // substrings of the error message
	}{
		"get: unknown app": {
			replies: map[string]reply{"GET " + app: {status: 404, body: oktaError(CodeNotFound, "Not found: Resource not found: x (AppInstance)")}},
			call:    getApp, wantClass: provider.ErrNotFound, wantCode: CodeNotFound, wantStatus: 404,
		},
		"get: unknown path is not a missing app": {
			replies: map[string]reply{},
			call:    getApp, wantClass: provider.ErrPermanent, wantCode: CodePathNotFound, wantStatus: 404,
		},
		"get: invalid token": {
			replies: map[string]reply{"GET " + app: {status: 401, body: oktaError(CodeInvalidToken, "Invalid token provided")}},
			call:    getApp, wantClass: provider.ErrUnauthorized, wantCode: CodeInvalidToken, wantStatus: 401,
		},
		"get: forbidden": {
			replies: map[string]reply{"GET " + app: {status: 403, body: oktaError(CodeForbidden, "You do not have permission to perform the requested action")}},
			call:    getApp, wantClass: provider.ErrForbidden, wantCode: CodeForbidden, wantStatus: 403,
		},
		"get: 429 carries the reset and is not retried by the SDK": {
			replies: map[string]reply{"GET " + app: {status: 429, body: oktaError(CodeRateLimited, "API call exceeded rate limit due to too many requests."), header: rateHeaders}},
			call:    getApp, wantClass: provider.ErrRateLimited, wantCode: CodeRateLimited, wantStatus: 429, wantRetry: true,
			wantCalls: map[string]int{"GET " + app: 1},
		},
		"get: 500": {
			replies: map[string]reply{"GET " + app: {status: 500, body: oktaError("E0000009", "Internal Server Error")}},
			call:    getApp, wantClass: provider.ErrTransient, wantCode: "E0000009", wantStatus: 500,
		},
		"get: 503": {
			replies: map[string]reply{"GET " + app: {status: 503, body: oktaError("E0000010", "Service is in read only mode")}},
			call:    getApp, wantClass: provider.ErrTransient, wantCode: "E0000010", wantStatus: 503,
		},
		"get: 502 from a proxy without an okta body": {
			replies: map[string]reply{"GET " + app: {status: 502, body: "<html>bad gateway</html>", header: map[string]string{"Content-Type": "text/html"}}},
			call:    getApp, wantClass: provider.ErrTransient, wantStatus: 502,
		},
		"get: an answer that is not JSON": {
			replies: map[string]reply{"GET " + app: {status: 200, body: "hello", header: map[string]string{"Content-Type": "text/plain"}}},
			call:    getApp, wantClass: provider.ErrTransient,
		},
		"create app: validation error": {
			replies: map[string]reply{"POST /api/v1/apps": {status: 400, body: oktaError(CodeValidation, "Api validation failed: label", "label: The field cannot be left blank")}},
			call:    createApp, wantClass: provider.ErrPermanent, wantCode: CodeValidation, wantStatus: 400,
		},
		"delete app: still active": {
			replies: map[string]reply{
				"POST " + app + "/lifecycle/deactivate": ok,
				"DELETE " + app:                         {status: 403, body: oktaError(CodeDeleteActiveApp, "Delete application forbidden.")},
			},
			call: deleteApp, wantClass: provider.ErrConflict, wantCode: CodeDeleteActiveApp, wantStatus: 403,
		},
		"delete app: gone before the deactivate": {
			replies: map[string]reply{"POST " + app + "/lifecycle/deactivate": {status: 404, body: oktaError(CodeNotFound, "Not found")}},
			call:    deleteApp, wantClass: provider.ErrNotFound, wantCode: CodeNotFound, wantStatus: 404,
			wantCalls: map[string]int{"DELETE " + app: 0},
		},
		"delete app: gone before the delete": {
			replies: map[string]reply{
				"POST " + app + "/lifecycle/deactivate": ok,
				"DELETE " + app:                         {status: 404, body: oktaError(CodeNotFound, "Not found")},
			},
			call: deleteApp, wantClass: provider.ErrNotFound, wantCode: CodeNotFound, wantStatus: 404,
		},
		"create secret: a third secret conflicts": {
			replies: map[string]reply{"POST " + app + "/credentials/secrets": {status: 400, body: oktaError(CodeValidation, "Api validation failed: OAuth2ClientSecretMediated", "You've reached the maximum number of client secrets per client.")}},
			call:    createSecret, wantClass: provider.ErrConflict, wantCode: CodeValidation, wantStatus: 400,
		},
		"create secret: refused for private_key_jwt apps": {
			replies: map[string]reply{"POST " + app + "/credentials/secrets": {status: 400, body: oktaError(CodeValidation, "Api validation failed: client_secret", "'client_secret' can't be used when 'token_endpoint_auth_method' is 'private_key_jwt'.")}},
			call:    createSecret, wantClass: provider.ErrPermanent, wantCode: CodeValidation, wantStatus: 400,
		},
		"revoke secret: the only active secret": {
			replies: map[string]reply{"POST " + secret + "/lifecycle/deactivate": {status: 400, body: oktaError(CodeValidation, "Api validation failed: OAuth2ClientSecretMediated", "You can't deactivate the only active client secret.")}},
			call:    revokeSecret, wantClass: provider.ErrConflict, wantCode: CodeValidation, wantStatus: 400,
			wantCalls: map[string]int{"DELETE " + secret: 0},
		},
		"revoke secret: unknown secret": {
			replies: map[string]reply{"POST " + secret + "/lifecycle/deactivate": {status: 404, body: oktaError(CodeNotFound, "Not found")}},
			call:    revokeSecret, wantClass: provider.ErrNotFound, wantCode: CodeNotFound, wantStatus: 404,
		},
		"health: token refused": {
			replies:   map[string]reply{"GET /api/v1/apps": {status: 401, body: oktaError(CodeInvalidToken, "Invalid token provided")}},
			call:      func(p *Client) error { _, err := p.CheckHealth(context.Background()); return err },
			wantClass: provider.ErrUnauthorized, wantCode: CodeInvalidToken, wantStatus: 401,
			wantCalls: map[string]int{"GET /oauth2/default/.well-known/oauth-authorization-server": 0},
		},
		"health: metadata unavailable": {
			replies: map[string]reply{
				"GET /api/v1/apps": {status: 200, body: []any{}},
				"GET /oauth2/default/.well-known/oauth-authorization-server": {status: 503, body: oktaError("E0000010", "Service is in read only mode")},
			},
			call:      func(p *Client) error { _, err := p.CheckHealth(context.Background()); return err },
			wantClass: provider.ErrTransient, wantCode: "E0000010", wantStatus: 503,
		},
		// An app-admin token: the health check never reads the authorization server.
		"health: app-admin token may not read the authorization server": {
			replies: map[string]reply{
				"GET /api/v1/apps":                                           {status: 200, body: []any{}},
				"GET /api/v1/authorizationServers/default":                   {status: 403, body: oktaError(CodeForbidden, "You do not have permission to perform the requested action")},
				"GET /oauth2/default/.well-known/oauth-authorization-server": {status: 503, body: oktaError("E0000010", "read only")},
			},
			call:      func(p *Client) error { _, err := p.CheckHealth(context.Background()); return err },
			wantClass: provider.ErrTransient, wantCode: "E0000010", wantStatus: 503,
			wantCalls: map[string]int{"GET /api/v1/authorizationServers/default": 0},
		},
		"create app: forbidden names the call and role": {
			replies:   map[string]reply{"POST /api/v1/apps": {status: 403, body: oktaError(CodeForbidden, "You do not have permission to perform the requested action")}},
			call:      createApp,
			wantClass: provider.ErrForbidden, wantCode: CodeForbidden, wantStatus: 403,
			wantMsg: []string{"POST /api/v1/apps", "Application Administrator"},
		},
		"policy: forbidden names the call and role": {
			replies: map[string]reply{"GET /api/v1/authorizationServers/default/policies": {status: 403, body: oktaError(CodeForbidden, "You do not have permission to perform the requested action")}},
			call: func(p *Client) error {
				_, err := p.EnsureAccessPolicy(context.Background(), "", provider.AccessPolicySpec{Name: "n", Description: "d", ClientID: "c", Scopes: []string{"s"}, TokenLifetime: time.Hour})
				return err
			},
			wantClass: provider.ErrForbidden, wantCode: CodeForbidden, wantStatus: 403,
			wantMsg: []string{"GET /api/v1/authorizationServers/{authServerId}/policies", "Super Administrator", "okta.authzServers.manage"},
		},
		"policy: feature not enabled": {
			replies: map[string]reply{"GET /api/v1/authorizationServers/default/policies": {status: 401, body: oktaError(CodeFeatureDisabled, "You do not have permission to access the feature you are requesting")}},
			call: func(p *Client) error {
				_, err := p.EnsureAccessPolicy(context.Background(), "", provider.AccessPolicySpec{Name: "n", Description: "d", ClientID: "c", Scopes: []string{"s"}, TokenLifetime: time.Hour})
				return err
			},
			wantClass: provider.ErrFeatureNotEnabled, wantCode: CodeFeatureDisabled, wantStatus: 401,
			wantMsg: []string{"API Access Management"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newFakeOkta(t, tc.replies)
			p := newTestProvider(t, srv.URL)
			err := tc.call(p)
			if !errors.Is(err, tc.wantClass) {
				t.Fatalf("error = %v, want class %v", err, tc.wantClass)
			}
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *provider.Error", err)
			}
			if pe.Code != tc.wantCode || pe.Status != tc.wantStatus {
				t.Errorf("code %q status %d, want %q and %d", pe.Code, pe.Status, tc.wantCode, tc.wantStatus)
			}
			retryAt, hasRetry := provider.RetryAt(err)
			if hasRetry != tc.wantRetry {
				t.Errorf("RetryAt present = %v, want %v", hasRetry, tc.wantRetry)
			}
			// The reset is on Okta's clock; the Date header of httptest is within a second of ours.
			if tc.wantRetry && (retryAt.Before(reset.Add(-2*time.Second)) || retryAt.After(reset.Add(2*time.Second))) {
				t.Errorf("retry at %s, want about %s", retryAt, reset)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Error("the error message contains the API token")
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
			for key, want := range tc.wantCalls {
				if got := srv.count(key); got != want {
					t.Errorf("%s called %d times, want %d", key, got, want)
				}
			}
		})
	}
}

func TestRateLimited429ClosesBudgetForOtherCalls(t *testing.T) {
	reset := time.Now().Add(40 * time.Second)
	app := "/api/v1/apps/" + appID
	srv := newFakeOkta(t, map[string]reply{"GET " + app: {status: 429, body: oktaError(CodeRateLimited, "API call exceeded rate limit due to too many requests."), header: map[string]string{
		"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": strconv.FormatInt(reset.Unix(), 10),
	}}})
	budgets := NewBudgets(BudgetOptions{})
	// Two providers of the same org share the budget.
	p1, err := New(Config{OrgURL: srv.URL, APIToken: testToken, Budgets: budgets, AllowInsecureLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := New(Config{OrgURL: srv.URL + "/", APIToken: testToken, Budgets: budgets, AllowInsecureLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	before := rateLimitedCount(BucketApp, SourceLocal)
	if _, err := p1.GetApp(context.Background(), appID); !errors.Is(err, provider.ErrRateLimited) {
		t.Fatalf("first get = %v, want rate limited", err)
	}
	_, err = p2.GetApp(context.Background(), appID)
	if !errors.Is(err, provider.ErrRateLimited) {
		t.Fatalf("second get = %v, want rate limited", err)
	}
	if got := srv.count("GET " + app); got != 1 {
		t.Errorf("okta saw %d requests, want 1: the second must be refused locally", got)
	}
	if got := rateLimitedCount(BucketApp, SourceLocal) - before; got != 1 {
		t.Errorf("local rate-limit metric grew by %v, want 1", got)
	}
	if at, ok := provider.RetryAt(err); !ok || at.Before(reset.Add(-2*time.Second)) {
		t.Errorf("RetryAt = %v, %v; want about %s", at, ok, reset)
	}
}

func TestNoAnswerIsTransient(t *testing.T) {
	// A server that accepts and closes connections: the SDK would retry io.EOF forever
	// without backoff if it saw it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	accepted := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	closedURL := "http://" + ln.Addr().String()

	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + refused.Addr().String()
	_ = refused.Close()

	tests := map[string]struct {
		org       string
		ctx       func() (context.Context, context.CancelFunc)
		wantCause error
	}{
		"connection closed without an answer": {org: closedURL, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Second)
		}},
		"connection refused": {org: refusedURL, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Second)
		}},
		"caller gave up": {org: closedURL, wantCause: context.Canceled, ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := newTestProvider(t, tc.org)
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := p.GetApp(ctx, appID)
			if !errors.Is(err, provider.ErrTransient) {
				t.Fatalf("error = %v, want transient", err)
			}
			if tc.wantCause != nil && !errors.Is(err, tc.wantCause) {
				t.Errorf("error = %v, want it to wrap %v", err, tc.wantCause)
			}
			if ctx.Err() != nil && tc.wantCause == nil {
				t.Errorf("the call ran until the deadline: %v", err)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	// net/http may retry a request once on a fresh connection; the SDK must not loop.
	if accepted > 4 {
		t.Errorf("the closing server saw %d connections, want at most 4", accepted)
	}
}

func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   error
	}{
		{404, CodeNotFound, provider.ErrNotFound},
		{404, "", provider.ErrNotFound},
		{404, CodePathNotFound, provider.ErrPermanent},
		{401, CodeInvalidToken, provider.ErrUnauthorized},
		{403, CodeForbidden, provider.ErrForbidden},
		{403, "", provider.ErrForbidden},
		{401, CodeFeatureDisabled, provider.ErrFeatureNotEnabled},
		{401, "", provider.ErrPermanent},
		{401, CodeForbidden, provider.ErrForbidden},
		{403, CodeDeleteActiveApp, provider.ErrConflict},
		{400, CodeDeleteActiveApp, provider.ErrConflict},
		{409, "", provider.ErrConflict},
		{429, CodeRateLimited, provider.ErrRateLimited},
		{400, CodeValidation, provider.ErrPermanent},
		{400, "E0000003", provider.ErrPermanent},
		{405, "E0000022", provider.ErrPermanent},
		{408, "", provider.ErrTransient},
		{500, "E0000009", provider.ErrTransient},
		{503, "E0000010", provider.ErrTransient},
		{504, "", provider.ErrTransient},
	}
	for _, tc := range tests {
		if got := classifyStatus(tc.status, tc.code); got != tc.want {
			t.Errorf("classifyStatus(%d, %q) = %v, want %v", tc.status, tc.code, got, tc.want)
		}
	}
}
