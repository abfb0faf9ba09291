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
		"bad lifetime":       {[]string{"--api-token", "t", "--addr", "127.0.0.1:0", "--token-lifetime", "1m"}, nil, 2, "token lifetime"},
		"bad scope":          {[]string{"--api-token", "t", "--addr", "127.0.0.1:0", "--scopes", "a\"b"}, nil, 2, "scope"},
		"unknown flag":       {[]string{"--api-token", "t", "--nope"}, nil, 2, "flag provided but not defined"},
		"extra argument":     {[]string{"--api-token", "t", "serve"}, nil, 2, "unexpected arguments"},
		"bad rate limit env": {[]string{"--api-token", "t"}, map[string]string{"OKTA_EMULATOR_RATE_LIMIT_APPS": "many"}, 2, "OKTA_EMULATOR_RATE_LIMIT_APPS"},
		"help":               {[]string{"--help"}, nil, 0, "500=P"},
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
	if _, h, _ := get("/api/v1/apps"); h.Get("X-Rate-Limit-Limit") != "7" {
		t.Errorf("apps rate limit = %q, want 7 from the environment", h.Get("X-Rate-Limit-Limit"))
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
