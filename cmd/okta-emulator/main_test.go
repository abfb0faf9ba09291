package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/testutil"
)

// TestMain lets a test re-run this binary as the real command.
func TestMain(m *testing.M) {
	if os.Getenv("OKTA_EMULATOR_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// syncBuffer is a goroutine-safe output sink.
type syncBuffer = testutil.SyncBuffer

// setenv sets OKTA_EMULATOR_* variables for one test.
func setenv(t *testing.T, m map[string]string) {
	for k, v := range m {
		t.Setenv(k, v)
	}
}

// waitFor polls out until it contains the org URL and issuer lines.
func waitFor(t *testing.T, out *syncBuffer, done <-chan int) (org, issuer string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s := out.String()
		if strings.Contains(s, "Issuer: ") {
			for _, line := range strings.Split(s, "\n") {
				if v, ok := strings.CutPrefix(line, "Okta org URL: "); ok {
					org = v
				}
				if v, ok := strings.CutPrefix(line, "Issuer: "); ok {
					issuer = v
				}
			}
			return org, issuer
		}
		select {
		case code := <-done:
			t.Fatalf("exited early with %d: %s", code, s)
		case <-deadline:
			t.Fatalf("no start-up lines: %q", s)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     map[string]string
		code    int
		wantErr string
	}{
		"no api token":       {nil, nil, 2, "--api-token (or OKTA_EMULATOR_API_TOKEN) is required"},
		"bad fault flag":     {[]string{"--api-token", "t", "--fault", "/x:500=2"}, nil, 2, "invalid"},
		"bad fault env":      {[]string{"--api-token", "t"}, map[string]string{"OKTA_EMULATOR_FAULT": "nope"}, 2, "OKTA_EMULATOR_FAULT"},
		"lifetime under 5s":  {[]string{"--api-token", "t", "--addr", "127.0.0.1:0", "--token-lifetime", "2s"}, nil, 2, "token lifetime"},
		"bad scope":          {[]string{"--api-token", "t", "--addr", "127.0.0.1:0", "--scopes", "a\"b"}, nil, 2, "scope"},
		"unknown flag":       {[]string{"--api-token", "t", "--nope"}, nil, 2, "flag provided but not defined"},
		"extra argument":     {[]string{"--api-token", "t", "serve"}, nil, 2, "unexpected arguments"},
		"bad rate limit env": {[]string{"--api-token", "t"}, map[string]string{"OKTA_EMULATOR_RATE_LIMIT_APPS": "many"}, 2, "OKTA_EMULATOR_RATE_LIMIT_APPS"},
		"help":               {[]string{"--help"}, nil, 0, "500=P"},
		"help: strict org":   {[]string{"--help"}, nil, 0, "--access-policy=none"},
		"help: env twins":    {[]string{"--help"}, nil, 0, "OKTA_EMULATOR_CONCURRENCY_LIMIT"},
		"help: grants":       {[]string{"--help"}, nil, 0, "/api/v1/apps/{appId}/grants"},
		"bad preset":         {[]string{"--api-token", "t", "--rate-limit-preset", "okta-gold"}, nil, 2, "rate-limit preset"},
		"bad preset env":     {[]string{"--api-token", "t"}, map[string]string{"OKTA_EMULATOR_RATE_LIMIT_PRESET": "x"}, 2, "rate-limit preset"},
		"bad access policy":  {[]string{"--api-token", "t", "--addr", "127.0.0.1:0", "--access-policy", "some"}, nil, 2, "access policy"},
		"bad role env":       {[]string{"--api-token", "t", "--addr", "127.0.0.1:0"}, map[string]string{"OKTA_EMULATOR_API_TOKEN_ROLE": "root"}, 2, "api token role"},
		"bad share":          {[]string{"--api-token", "t", "--addr", "127.0.0.1:0", "--rate-limit-share", "2"}, nil, 2, "rate-limit share"},
		"bad concurrency":    {[]string{"--api-token", "t", "--addr", "127.0.0.1:0", "--concurrency-limit", "-3"}, nil, 2, "concurrency limit"},
		"bad feature":        {[]string{"--api-token", "t", "--addr", "127.0.0.1:0", "--disable-feature", "sso"}, nil, 2, "unknown feature"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			setenv(t, tc.env)
			var stdout, stderr syncBuffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.wantErr)
			}
			if strings.Contains(stderr.String()+stdout.String(), "secret-token") {
				t.Error("the API token was printed")
			}
		})
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"--api-token", "secret-token", "--addr", ln.Addr().String()}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "cannot listen on "+ln.Addr().String()) || !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("stderr = %q", stderr.String())
	}
	if stdout.String() != "" {
		t.Errorf("printed %q although it could not listen", stdout.String())
	}
}

// TestServeAndShutdown runs the command in-process: env twins configure
// it, a flag beats its variable, and cancelling saves the state file.
func TestServeAndShutdown(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	setenv(t, map[string]string{
		"OKTA_EMULATOR_API_TOKEN":       "secret-token",
		"OKTA_EMULATOR_STATE_FILE":      state,
		"OKTA_EMULATOR_SCOPES":          "ignored:scope",
		"OKTA_EMULATOR_RATE_LIMIT_APPS": "7",
	})
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--scopes", "hello:read,hello:write"}, &stdout, &stderr)
	}()
	org, issuer := waitFor(t, &stdout, done)
	if !strings.HasPrefix(org, "http://127.0.0.1:") || issuer != org+"/oauth2/default" {
		t.Fatalf("org %q issuer %q", org, issuer)
	}

	get := func(path string) (int, http.Header, []byte) {
		req, _ := http.NewRequest(http.MethodGet, org+path, nil)
		req.Header.Set("Authorization", "SSWS secret-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	if code, _, _ := get("/_emulator/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	_, _, meta := get("/oauth2/default/.well-known/oauth-authorization-server")
	var m struct {
		Scopes []string `json:"scopes_supported"`
	}
	_ = json.Unmarshal(meta, &m)
	// Every server also publishes Okta's system scopes (openid, profile, ...),
	// as recorded in TestAccDataSourceOktaAuthServerScopes_read.
	custom := slices.DeleteFunc(slices.Clone(m.Scopes), func(s string) bool {
		return slices.Contains([]string{"openid", "profile", "email", "address", "phone", "offline_access", "device_sso"}, s)
	})
	if strings.Join(custom, ",") != "hello:read,hello:write" {
		t.Errorf("scopes = %v: the flag must win over OKTA_EMULATOR_SCOPES", m.Scopes)
	}
	// 7 from the environment; the API token sees its default share, floor(7 × 0.5).
	if _, h, _ := get("/api/v1/apps"); h.Get("X-Rate-Limit-Limit") != "3" {
		t.Errorf("apps rate limit = %q, want 3 (half of 7 from the environment)", h.Get("X-Rate-Limit-Limit"))
	}

	body := `{"name":"oidc_client","label":"from-cmd","signOnMode":"OPENID_CONNECT",
	 "settings":{"oauthClient":{"application_type":"service"}}}`
	req, _ := http.NewRequest(http.MethodPost, org+"/api/v1/apps", strings.NewReader(body))
	req.Header.Set("Authorization", "SSWS secret-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("create app: %d", resp.StatusCode)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop")
	}
	data, err := os.ReadFile(state)
	if err != nil || !bytes.Contains(data, []byte("from-cmd")) {
		t.Errorf("state file after shutdown: %v", err)
	}
	if strings.Contains(stderr.String()+stdout.String(), "secret-token") {
		t.Error("the API token was printed")
	}
}

// TestSIGTERM runs the real command as a process and stops it with
// SIGTERM: it exits 0 and has saved its state.
func TestSIGTERM(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	cmd := exec.Command(os.Args[0], "--addr", "127.0.0.1:0", "--state-file", state)
	cmd.Env = append(os.Environ(), "OKTA_EMULATOR_TEST_AS_MAIN=1", "OKTA_EMULATOR_API_TOKEN=secret-token")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Okta org URL: http://127.0.0.1:") || !strings.HasPrefix(lines[1], "Issuer: ") {
		_ = cmd.Process.Kill()
		t.Fatalf("start-up lines %q (stderr %s)", lines, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v (stderr %s)", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("did not exit after SIGTERM")
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("state file: %v", err)
	}
}

// TestStrictOrg starts the command as the README's strict org, its modes
// given by OKTA_EMULATOR_* twins and flags, and checks each took effect.
func TestStrictOrg(t *testing.T) {
	tests := map[string]struct {
		args     []string
		env      map[string]string
		asStatus int    // GET /api/v1/authorizationServers
		asCode   string // its errorCode
		apps     string // X-Rate-Limit-Limit of GET /api/v1/apps
		appLimit string // X-Rate-Limit-Limit of GET /api/v1/apps/{id}
	}{
		"strict by env": {
			args: []string{"--addr", "127.0.0.1:0", "--rate-limit-app", "40"},
			env: map[string]string{"OKTA_EMULATOR_ACCESS_POLICY": "none", "OKTA_EMULATOR_API_TOKEN_ROLE": "app-admin",
				"OKTA_EMULATOR_RATE_LIMIT_PRESET": "okta-paid", "OKTA_EMULATOR_CONCURRENCY_LIMIT": "75"},
			// okta-paid apps 100, halved; --rate-limit-app overrides the preset's 600.
			asStatus: 403, asCode: "E0000006", apps: "50", appLimit: "20",
		},
		"strict by flags": {
			args: []string{"--addr", "127.0.0.1:0", "--access-policy=none", "--disable-feature=api-access-management",
				"--rate-limit-preset=okta-free", "--rate-limit-share=1"},
			asStatus: 401, asCode: "E0000015", apps: "20", appLimit: "100",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			env := map[string]string{"OKTA_EMULATOR_API_TOKEN": "secret-token"}
			for k, v := range tc.env {
				env[k] = v
			}
			setenv(t, env)
			var stdout, stderr syncBuffer
			done := make(chan int, 1)
			go func() { done <- run(ctx, tc.args, &stdout, &stderr) }()
			org, _ := waitFor(t, &stdout, done)
			call := func(method, path, body string) (int, http.Header, []byte) {
				req, _ := http.NewRequest(method, org+path, strings.NewReader(body))
				req.Header.Set("Authorization", "SSWS secret-token")
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, resp.Header, b
			}
			if code, _, b := call(http.MethodGet, "/api/v1/authorizationServers", ""); code != tc.asStatus || !bytes.Contains(b, []byte(tc.asCode)) {
				t.Errorf("authorization servers: %d %s, want %d %s", code, b, tc.asStatus, tc.asCode)
			}
			if _, h, _ := call(http.MethodGet, "/api/v1/apps", ""); h.Get("X-Rate-Limit-Limit") != tc.apps {
				t.Errorf("apps limit %q, want %s", h.Get("X-Rate-Limit-Limit"), tc.apps)
			}
			code, _, b := call(http.MethodPost, "/api/v1/apps?activate=true", `{"name":"oidc_client","label":"strict","signOnMode":"OPENID_CONNECT",
			 "settings":{"oauthClient":{"application_type":"service","grant_types":["client_credentials"]}}}`)
			var app struct {
				ID          string `json:"id"`
				Credentials struct {
					OAuthClient struct {
						ClientID     string `json:"client_id"`
						ClientSecret string `json:"client_secret"`
					} `json:"oauthClient"`
				} `json:"credentials"`
			}
			if err := json.Unmarshal(b, &app); code != 200 || err != nil {
				t.Fatalf("create app: %d %v", code, err)
			}
			if _, h, _ := call(http.MethodGet, "/api/v1/apps/"+app.ID, ""); h.Get("X-Rate-Limit-Limit") != tc.appLimit {
				t.Errorf("app limit %q, want %s", h.Get("X-Rate-Limit-Limit"), tc.appLimit)
			}
			// --access-policy=none: no policy names the new client.
			req, _ := http.NewRequest(http.MethodPost, org+"/oauth2/default/v1/token", strings.NewReader("grant_type=client_credentials&scope=hello:read"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(app.Credentials.OAuthClient.ClientID, app.Credentials.OAuthClient.ClientSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			tb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !bytes.Contains(tb, []byte(`"access_denied"`)) {
				t.Errorf("token: %d %s, want 400 access_denied", resp.StatusCode, tb)
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("exit %d: %s", code, stderr.String())
			}
		})
	}
}

// TestCorruptStateFile: a state file that cannot be read stops the start
// with a usage error naming the file, and the file is left exactly as it
// was (no fresh org is written over an org that may still be recovered).
func TestCorruptStateFile(t *testing.T) {
	for name, content := range map[string]string{
		"truncated json": `{"version": 1, "orgId": "00o1", "apps": [{"id": "0oa1", "secrets": [{"secret": "do-not-print-me-1"`,
		"wrong version":  `{"version": 7, "apps": [{"secrets": [{"secret": "do-not-print-me-2"}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(state, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr syncBuffer
			code := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--api-token", "t", "--state-file", state}, &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), "state file "+state) {
				t.Errorf("the error does not name the state file: %s", stderr.String())
			}
			if strings.Contains(stderr.String()+stdout.String(), "do-not-print-me") {
				t.Error("a secret from the state file was printed")
			}
			if got, err := os.ReadFile(state); err != nil || string(got) != content {
				t.Errorf("the state file was changed (%v): %q", err, got)
			}
			entries, _ := os.ReadDir(filepath.Dir(state))
			if len(entries) != 1 {
				t.Errorf("the state directory holds %d files, want only the state file", len(entries))
			}
		})
	}
}
