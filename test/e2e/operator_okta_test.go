package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// emulatedOrg is a bin/okta-emulator process as the operator's tests see it:
// an org URL, its API token, and read access to what the operator did there.
type emulatedOrg struct {
	url      string
	apiToken string
	proc     *harness.Process
}

// startOrg runs bin/okta-emulator with a random API token (given through its
// environment twin) and the extra flags.
func startOrg(t *testing.T, extraArgs ...string) emulatedOrg {
	t.Helper()
	addr := harness.FreeAddr(t)
	token := randomHex(t, 20)
	p := harness.Start(t, "okta-emulator", harness.Binary(t, "okta-emulator"),
		append([]string{"--addr", addr}, extraArgs...),
		harness.Options{Env: []string{"OKTA_EMULATOR_API_TOKEN=" + token}})
	org := emulatedOrg{url: "http://" + addr, apiToken: token, proc: p}
	harness.WaitHTTP(t, org.url+"/_emulator/healthz", startWait, p)
	return org
}

func (o emulatedOrg) issuer() string { return o.url + "/oauth2/default" }

// emulatedApp is the part of an Okta app the tests look at.
type emulatedApp struct {
	ID          string `json:"id"`
	Label       string `json:"label"`
	Status      string `json:"status"`
	Credentials struct {
		OAuthClient struct {
			ClientID   string `json:"client_id"`
			AuthMethod string `json:"token_endpoint_auth_method"`
		} `json:"oauthClient"`
	} `json:"credentials"`
}

// management sends an SSWS-authenticated GET to the management API.
func (o emulatedOrg) management(t *testing.T, rawURL string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "SSWS "+o.apiToken)
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	return resp
}

// app reads one app; found is false on 404.
func (o emulatedOrg) app(t *testing.T, id string) (app emulatedApp, found bool) {
	t.Helper()
	resp := o.management(t, o.url+"/api/v1/apps/"+url.PathEscape(id))
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return app, false
	case http.StatusOK:
		if err := json.NewDecoder(resp.Body).Decode(&app); err != nil {
			t.Fatalf("decoding app %s: %v", id, err)
		}
		return app, true
	default:
		t.Fatalf("GET app %s: status %d", id, resp.StatusCode)
		return app, false
	}
}

// apps lists every app, pageSize at a time, following the rel="next" Link
// headers as Okta clients do. It fails the test if a page repeats an app.
func (o emulatedOrg) apps(t *testing.T, pageSize int) []emulatedApp {
	t.Helper()
	var all []emulatedApp
	seen := map[string]bool{}
	next := fmt.Sprintf("%s/api/v1/apps?limit=%d", o.url, pageSize)
	for pages := 0; next != ""; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages of apps: the next links loop")
		}
		resp := o.management(t, next)
		var page []emulatedApp
		err := json.NewDecoder(resp.Body).Decode(&page)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("listing apps: status %d, decode error %v", resp.StatusCode, err)
		}
		if len(page) > pageSize {
			t.Fatalf("a page of %d apps for limit=%d", len(page), pageSize)
		}
		for _, a := range page {
			if seen[a.ID] {
				t.Fatalf("app %s listed twice while paging", a.ID)
			}
			seen[a.ID] = true
			all = append(all, a)
		}
		next = nextLink(resp.Header.Values("Link"))
	}
	return all
}

// nextLink finds the rel="next" target among Link header values.
func nextLink(values []string) string {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
				continue
			}
			return strings.Trim(strings.TrimSpace(target), "<>")
		}
	}
	return ""
}

// emulatorStats is the part of /_emulator/stats the tests read.
type emulatorStats struct {
	ByRouteStatus map[string]map[string]int64 `json:"byRouteStatus"`
}

func (o emulatedOrg) stats(t *testing.T) emulatorStats {
	t.Helper()
	resp := o.management(t, o.url+"/_emulator/stats")
	defer func() { _ = resp.Body.Close() }()
	var s emulatorStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("emulator stats: status %d, decode error %v", resp.StatusCode, err)
	}
	return s
}

// appsCreated is the number of successful POST /api/v1/apps.
func (s emulatorStats) appsCreated() int64 { return s.ByRouteStatus["POST /api/v1/apps"]["200"] }

// tokenResult is the answer of a token endpoint.
type tokenResult struct {
	status      int
	tokenType   string
	accessToken string
	errorCode   string
}

// clientCredentialsToken asks tokenURL for an access token the way Okta's
// client-credentials tutorial's test client does: HTTP Basic with
// base64(client_id:client_secret), and the form
// grant_type=client_credentials&scope=<scope>.
func clientCredentialsToken(t *testing.T, tokenURL, clientID, clientSecret, scope string) tokenResult {
	t.Helper()
	r, err := requestToken(tokenURL, clientID, clientSecret, scope)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// requestToken is clientCredentialsToken without a *testing.T, for use from
// several goroutines.
func requestToken(tokenURL, clientID, clientSecret, scope string) (tokenResult, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResult{}, err
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(clientID+":"+clientSecret)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return tokenResult{}, fmt.Errorf("token request: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return tokenResult{}, fmt.Errorf("token response: %w", err)
	}
	var out struct {
		TokenType   string `json:"token_type"`
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return tokenResult{}, fmt.Errorf("token response (status %d) is not JSON: %w", resp.StatusCode, err)
	}
	return tokenResult{status: resp.StatusCode, tokenType: out.TokenType, accessToken: out.AccessToken, errorCode: out.Error}, nil
}
