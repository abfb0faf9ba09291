package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// The verifier end to end: the real bin/okta-emulator issues tokens,
// bin/verifier checks them and bin/hello answers, behind a real nginx
// (auth_request) and, separately, with the verifier as a reverse proxy.

const (
	helloScope = "hello:read"
	otherScope = "other:scope"
	audience   = "api://default"
	startWait  = 30 * time.Second
)

// oktaClient is a service app created in the emulator.
type oktaClient struct {
	org      string
	clientID string
	secret   string
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// startEmulator runs bin/okta-emulator and creates one client-credentials
// service app through the management API.
func startEmulator(t *testing.T) oktaClient {
	t.Helper()
	apiToken := randomHex(t, 20)
	_, org := runEmulator(t, harness.FreeAddr(t), "", apiToken)
	return createApp(t, org, apiToken)
}

// runEmulator runs bin/okta-emulator on addr (keeping its state in
// stateFile when set) and waits until it serves.
func runEmulator(t *testing.T, addr, stateFile, apiToken string) (*harness.Process, string) {
	t.Helper()
	args := []string{"--addr", addr, "--scopes", helloScope + "," + otherScope}
	if stateFile != "" {
		args = append(args, "--state-file", stateFile)
	}
	p := harness.Start(t, "okta-emulator", harness.Binary(t, "okta-emulator"), args,
		harness.Options{Env: []string{"OKTA_EMULATOR_API_TOKEN=" + apiToken}})
	org := "http://" + addr
	harness.WaitHTTP(t, org+"/oauth2/default/.well-known/oauth-authorization-server", startWait, p)
	return p, org
}

// createApp creates a client-credentials service app in the emulator.
func createApp(t *testing.T, org, apiToken string) oktaClient {
	t.Helper()
	body := `{"name":"oidc_client","label":"verifier e2e","signOnMode":"OPENID_CONNECT",
	  "credentials":{"oauthClient":{"token_endpoint_auth_method":"client_secret_basic"}},
	  "settings":{"oauthClient":{"application_type":"service","grant_types":["client_credentials"],"response_types":["token"]}}}`
	req, err := http.NewRequest(http.MethodPost, org+"/api/v1/apps", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "SSWS "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("creating the app: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating the app: status %d", resp.StatusCode)
	}
	var app struct {
		Credentials struct {
			OAuthClient struct {
				ClientID     string `json:"client_id"`
				ClientSecret string `json:"client_secret"`
			} `json:"oauthClient"`
		} `json:"credentials"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&app); err != nil {
		t.Fatalf("decoding the app: %v", err)
	}
	c := oktaClient{org: org, clientID: app.Credentials.OAuthClient.ClientID, secret: app.Credentials.OAuthClient.ClientSecret}
	if c.clientID == "" || c.secret == "" {
		t.Fatal("the created app has no client id or secret")
	}
	return c
}

func (c oktaClient) issuer() string { return c.org + "/oauth2/default" }

// token gets an access token for scope with the client-credentials grant.
func (c oktaClient) token(t *testing.T, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, err := http.NewRequest(http.MethodPost, c.issuer()+"/v1/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(url.QueryEscape(c.clientID), url.QueryEscape(c.secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token request for scope %q: status %d", scope, resp.StatusCode)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token response without an access token (decode error: %v)", err)
	}
	return tok.AccessToken
}

// startHello runs bin/hello and returns its base URL.
func startHello(t *testing.T) string {
	t.Helper()
	addr := harness.FreeAddr(t)
	p := harness.Start(t, "hello", harness.Binary(t, "hello"), nil, harness.Options{Env: []string{"HELLO_LISTEN=" + addr}})
	base := "http://" + addr
	harness.WaitHTTP(t, base+"/healthz", startWait, p)
	return base
}

// startVerifier runs bin/verifier against the emulator's issuer (some flags
// given as environment variables, to exercise the twins) and waits until it
// has fetched the keys.
func startVerifier(t *testing.T, name string, c oktaClient, extraArgs ...string) string {
	t.Helper()
	// Proxy mode needs an admin listener; give it one.
	base, _ := runVerifier(t, name, c, slices.Contains(extraArgs, "--upstream"), extraArgs...)
	return base
}

// startVerifierProxy runs bin/verifier in proxy mode in front of upstream
// and returns the proxying and the admin base URLs.
func startVerifierProxy(t *testing.T, name string, c oktaClient, upstream string, extraArgs ...string) (front, admin string) {
	t.Helper()
	return runVerifier(t, name, c, true, append([]string{"--upstream", upstream}, extraArgs...)...)
}

func runVerifier(t *testing.T, name string, c oktaClient, proxy bool, extraArgs ...string) (base, admin string) {
	t.Helper()
	addr := harness.FreeAddr(t)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte("rules:\n- pathPrefix: /healthz\n  public: true\n- pathPrefix: /\n  scopes: [hello:read]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--issuer", c.issuer(), "--listen", addr, "--rules", rules}, extraArgs...)
	env := []string{
		"VERIFIER_AUDIENCE=" + audience,
		"VERIFIER_REQUIRED_SCOPES=" + helloScope,
		"VERIFIER_LOG_LEVEL=debug",
	}
	base = "http://" + addr
	admin = base
	if proxy {
		adminAddr := harness.FreeAddr(t)
		env = append(env, "VERIFIER_ADMIN_LISTEN="+adminAddr)
		admin = "http://" + adminAddr
	}
	p := harness.Start(t, name, harness.Binary(t, "verifier"), args, harness.Options{Env: env})
	harness.WaitHTTP(t, admin+"/healthz", startWait, p)
	harness.WaitHTTP(t, admin+"/readyz", startWait, p)
	return base, admin
}

// ensureNginx returns the nginx binary, installing it with
// hack/ensure-nginx.sh when it is not on PATH. The test fails (it does not
// skip) when nginx cannot be had.
func ensureNginx(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	script := filepath.Join(harness.RepoRoot(t), "hack", "ensure-nginx.sh")
	out, err := exec.Command("bash", script).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx is not installed and %s failed: %v\n%s", script, err, out)
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Fatalf("nginx still not found after %s", script)
	return ""
}

// nginxConf is nginx in front of hello with auth_request to the verifier.
// 401 answers carry the verifier's WWW-Authenticate (auth_request passes it
// on); 403 answers get it added from the subrequest.
const nginxConf = `
%s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
http {
  access_log %[2]s/access.log;
  client_body_temp_path %[2]s/tmp/body;
  proxy_temp_path %[2]s/tmp/proxy;
  fastcgi_temp_path %[2]s/tmp/fastcgi;
  uwsgi_temp_path %[2]s/tmp/uwsgi;
  scgi_temp_path %[2]s/tmp/scgi;
  server {
    listen %[3]s;
    location = /nginx-health { return 200 "ok\n"; }
    location = /_verify {
      internal;
      proxy_pass %[4]s/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
    }
    location @forbidden {
      add_header WWW-Authenticate $auth_www_authenticate always;
      return 403;
    }
    location / {
      auth_request /_verify;
      auth_request_set $auth_client_id $upstream_http_x_auth_client_id;
      auth_request_set $auth_subject $upstream_http_x_auth_subject;
      auth_request_set $auth_scopes $upstream_http_x_auth_scopes;
      auth_request_set $auth_www_authenticate $upstream_http_www_authenticate;
      error_page 403 = @forbidden;
      proxy_set_header X-Auth-Client-Id $auth_client_id;
      proxy_set_header X-Auth-Subject $auth_subject;
      proxy_set_header X-Auth-Scopes $auth_scopes;
      proxy_pass %[5]s;
    }
  }
}
`

// startNginx runs nginx as the current user with its own config, pid,
// logs and temp paths in a temporary directory, on a loopback port.
func startNginx(t *testing.T, verifierURL, helloURL string) string {
	t.Helper()
	bin := ensureNginx(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	userLine := ""
	if os.Geteuid() == 0 {
		// The master runs as root here; keep the workers as the same user
		// instead of nginx's default "nobody".
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			t.Fatal(err)
		}
		userLine = fmt.Sprintf("user %s %s;", u.Username, g.Name)
	}
	addr := harness.FreeAddr(t)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, userLine, dir, addr, verifierURL, helloURL), 0o600); err != nil {
		t.Fatal(err)
	}
	p := harness.Start(t, "nginx", bin, []string{"-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")}, harness.Options{Dir: dir})
	base := "http://" + addr
	harness.WaitHTTP(t, base+"/nginx-health", startWait, p)
	return base
}

type helloAnswer struct {
	status          int
	wwwAuthenticate string
	body            string
}

func call(t *testing.T, method, u, token string, headers map[string]string) helloAnswer {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return helloAnswer{status: resp.StatusCode, wwwAuthenticate: resp.Header.Get("WWW-Authenticate"), body: string(body)}
}

// checkProtectedHello runs the same assertions against any front (nginx
// with forward auth, or the verifier as a reverse proxy).
func checkProtectedHello(t *testing.T, front string, c oktaClient, checkForbiddenChallenge bool) {
	good := c.token(t, helloScope)
	noScope := c.token(t, otherScope)
	cases := []struct {
		name      string
		method    string
		path      string
		token     string
		headers   map[string]string
		status    int
		challenge func(string) bool
		check     func(t *testing.T, body string)
	}{
		{name: "no token", path: "/", status: 401, challenge: func(h string) bool {
			return strings.HasPrefix(h, "Bearer realm=") && !strings.Contains(h, "error=")
		}},
		{name: "garbage token", path: "/", token: "not.a.jwt", status: 401, challenge: func(h string) bool {
			return strings.HasPrefix(h, `Bearer error="invalid_token"`)
		}},
		{name: "forged token", path: "/", token: good[:strings.LastIndex(good, ".")] + ".c2lnbmF0dXJl", status: 401, challenge: func(h string) bool {
			return strings.HasPrefix(h, `Bearer error="invalid_token"`)
		}},
		{name: "valid token", path: "/", token: good, status: 200, check: func(t *testing.T, body string) {
			var g struct {
				Message  string `json:"message"`
				ClientID string `json:"clientId"`
			}
			if err := json.Unmarshal([]byte(body), &g); err != nil {
				t.Fatalf("hello body %q is not the greeting object: %v", body, err)
			}
			if g.Message != "Hello World!" || g.ClientID != c.clientID {
				t.Fatalf("hello answered %+v, want Hello World! for client %s", g, c.clientID)
			}
		}},
		{name: "spoofed identity header is replaced", path: "/", token: good, headers: map[string]string{"X-Auth-Client-Id": "admin"}, status: 200, check: func(t *testing.T, body string) {
			if strings.Contains(body, `"admin"`) || !strings.Contains(body, c.clientID) {
				t.Fatalf("hello saw a client-sent identity: %s", body)
			}
		}},
		{name: "token without the hello scope", path: "/", token: noScope, status: 403, challenge: func(h string) bool {
			return !checkForbiddenChallenge || strings.Contains(h, `error="insufficient_scope"`) && strings.Contains(h, `scope="hello:read"`)
		}},
		{name: "public path needs no token", path: "/healthz", status: 200},
		{name: "valid token, wrong method reaches hello", method: "POST", path: "/", token: good, status: 405},
		{name: "valid token, unknown path reaches hello", path: "/nope", token: good, status: 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			a := call(t, method, front+tc.path, tc.token, tc.headers)
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d", a.status, tc.status)
			}
			if tc.challenge != nil && !tc.challenge(a.wwwAuthenticate) {
				t.Fatalf("WWW-Authenticate = %q", a.wwwAuthenticate)
			}
			if tc.status == 200 && tc.path == "/" && !strings.Contains(a.body, "Hello World!") {
				t.Fatalf("body %q lacks Hello World!", a.body)
			}
			if tc.check != nil {
				tc.check(t, a.body)
			}
		})
	}
}

func TestVerifierBehindNginx(t *testing.T) {
	c := startEmulator(t)
	hello := startHello(t)
	verifier := startVerifier(t, "verifier-forward-auth", c)
	front := startNginx(t, verifier, hello)
	checkProtectedHello(t, front, c, true)
	checkAmbiguousTargets(t, front, c, http.StatusForbidden)

	t.Run("metrics counted the decisions", func(t *testing.T) {
		a := call(t, http.MethodGet, verifier+"/metrics", "", nil)
		for _, want := range []string{
			`clientcreds_verifier_decisions_total{reason="ok",result="allow"}`,
			`clientcreds_verifier_decisions_total{reason="missing_token",result="deny"}`,
			`clientcreds_verifier_decisions_total{reason="insufficient_scope",result="deny"}`,
			`clientcreds_verifier_jwks_fetches_total{result="success"}`,
			// Every ambiguous target above was refused by the verifier
			// itself, not by nginx.
			`clientcreds_verifier_decisions_total{reason="bad_request",result="deny"} 7`,
		} {
			if !strings.Contains(a.body, want) {
				t.Fatalf("/metrics lacks %s", want)
			}
		}
	})
}

// checkAmbiguousTargets sends request targets the upstream could read
// differently from the verifier, raw, with a valid token: none may reach
// hello.
func checkAmbiguousTargets(t *testing.T, front string, c oktaClient, wantStatus int) {
	good := c.token(t, helloScope)
	addr := strings.TrimPrefix(front, "http://")
	for _, target := range []string{
		"/healthz/../",         // dot segment out of the public prefix
		"/healthz/%2e%2e/",     // the same, encoded
		"/healthz/%2E%2e/",     // any case
		"/healthz;x/../",       // path parameter
		"/healthz%2f..%2f",     // encoded slash
		"/healthz/%252e%252e/", // double encoding
		"//healthz",            // repeated slash
	} {
		t.Run("ambiguous target "+target, func(t *testing.T) {
			status, body := rawGet(t, addr, target, good)
			if status != wantStatus {
				t.Fatalf("GET %s = %d (%q), want %d", target, status, body, wantStatus)
			}
			if strings.Contains(body, "Hello World!") {
				t.Fatalf("GET %s reached hello", target)
			}
		})
	}
}

// rawGet sends "GET target" exactly as written (no client-side cleaning)
// and returns the status and body.
func rawGet(t *testing.T, addr, target, token string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestVerifierReverseProxy(t *testing.T) {
	c := startEmulator(t)
	hello := startHello(t)
	front, admin := startVerifierProxy(t, "verifier-proxy", c, hello)
	checkProtectedHello(t, front, c, true)
	checkAmbiguousTargets(t, front, c, http.StatusBadRequest)

	t.Run("the verifier's own paths belong to hello on the proxying port", func(t *testing.T) {
		good := c.token(t, helloScope)
		for _, p := range []string{"/metrics", "/readyz", "/verify", "/tokenreview"} {
			if a := call(t, http.MethodGet, front+p, good, nil); a.status != http.StatusNotFound || strings.Contains(a.body, "clientcreds_verifier") {
				t.Fatalf("GET %s on the proxy = %d %q, want hello's 404", p, a.status, a.body)
			}
			if a := call(t, http.MethodGet, front+p, "", nil); a.status != http.StatusUnauthorized {
				t.Fatalf("GET %s on the proxy without a token = %d, want 401", p, a.status)
			}
		}
		a := call(t, http.MethodGet, admin+"/metrics", "", nil)
		if a.status != 200 || !strings.Contains(a.body, `clientcreds_verifier_decisions_total{reason="bad_request",result="deny"}`) {
			t.Fatalf("admin /metrics = %d, want the verifier's metrics with the bad_request refusals", a.status)
		}
	})
	t.Run("Upgrade refused", func(t *testing.T) {
		a := call(t, http.MethodGet, front+"/", c.token(t, helloScope), map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"})
		if a.status != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", a.status)
		}
	})
}

// TestVerifierFailsClosedOnStaleKeys: with the issuer gone for longer than
// --jwks-max-stale, the verifier drops its keys and refuses even a token it
// has cached with 503 (and says so in /readyz and a metric); once the
// issuer is back with the same keys, the token works again.
func TestVerifierFailsClosedOnStaleKeys(t *testing.T) {
	addr := harness.FreeAddr(t)
	state := filepath.Join(t.TempDir(), "emulator-state.json")
	apiToken := randomHex(t, 20)
	emu, org := runEmulator(t, addr, state, apiToken)
	c := createApp(t, org, apiToken)
	verifier := startVerifier(t, "verifier-stale", c, "--jwks-max-stale", "3s", "--jwks-refresh-interval", "1s")
	good := c.token(t, helloScope)
	verify := func() int {
		return call(t, http.MethodGet, verifier+"/verify", good, map[string]string{"X-Original-URI": "/", "X-Original-Method": "GET"}).status
	}
	if s := verify(); s != http.StatusOK {
		t.Fatalf("/verify = %d, want 200", s)
	}

	if err := emu.Stop(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, verify, http.StatusServiceUnavailable, "/verify after the issuer went away")
	if s := call(t, http.MethodGet, verifier+"/readyz", "", nil).status; s != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with stale keys = %d, want 503", s)
	}
	m := call(t, http.MethodGet, verifier+"/metrics", "", nil).body
	for _, want := range []string{"clientcreds_verifier_jwks_stale 1", `clientcreds_verifier_decisions_total{reason="jwks_stale",result="deny"}`} {
		if !strings.Contains(m, want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}

	runEmulator(t, addr, state, apiToken)
	waitStatus(t, verify, http.StatusOK, "/verify after the issuer came back")
	if s := call(t, http.MethodGet, verifier+"/readyz", "", nil).status; s != http.StatusOK {
		t.Fatalf("/readyz after recovery = %d, want 200", s)
	}
}

// waitStatus polls get until it answers want (generous: the machine may be
// loaded).
func waitStatus(t *testing.T, get func() int, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := get()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d within 90s", what, got, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
