package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/oauthapiwatch"
	"github.com/clientcreds/clientcreds/internal/verifier"
)

var required = []string{"--issuer", "https://example.okta.com/oauth2/default", "--audience", "api://default"}

func TestParseOptions(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, o *options)
	}{
		{name: "defaults", check: func(t *testing.T, o *options) {
			if o.verifier.TokenCacheSize != verifier.DefaultTokenCacheSize {
				t.Errorf("token cache = %d", o.verifier.TokenCacheSize)
			}
			if o.verifier.JWKSMaxStale != 24*time.Hour {
				t.Errorf("jwks max stale = %v, want 24h", o.verifier.JWKSMaxStale)
			}
			want := serverTimeouts{readHeader: 10 * time.Second, read: 30 * time.Second, write: time.Minute, idle: 2 * time.Minute}
			if o.timeouts != want {
				t.Errorf("timeouts = %+v, want %+v", o.timeouts, want)
			}
			if o.server.ProxyDialTimeout != 5*time.Second || o.server.ProxyResponseHeaderTimeout != 30*time.Second {
				t.Errorf("proxy timeouts = %v, %v", o.server.ProxyDialTimeout, o.server.ProxyResponseHeaderTimeout)
			}
			if o.server.AllowUpgrade || o.server.Target.AllowPathParams || len(o.server.TokenReviewAudiences) != 0 || o.server.TokenReviewRequireClientCert {
				t.Errorf("an exception or TokenReview is on by default: %+v", o.server)
			}
			if !o.server.ServeMetrics || o.server.Upstream != nil || o.adminListen != "" {
				t.Errorf("server = %+v, admin %q", o.server, o.adminListen)
			}
		}},
		// --help says 0 or negative means no cache; the config field's 0
		// would mean the default size, so the flag maps both to -1.
		{name: "token cache size 0 means no cache", args: []string{"--token-cache-size", "0"}, check: func(t *testing.T, o *options) {
			if o.verifier.TokenCacheSize >= 0 {
				t.Errorf("TokenCacheSize = %d, want negative (off)", o.verifier.TokenCacheSize)
			}
		}},
		{name: "token cache size negative means no cache", args: []string{"--token-cache-size", "-5"}, check: func(t *testing.T, o *options) {
			if o.verifier.TokenCacheSize >= 0 {
				t.Errorf("TokenCacheSize = %d, want negative (off)", o.verifier.TokenCacheSize)
			}
		}},
		{name: "token cache size positive", args: []string{"--token-cache-size", "7"}, check: func(t *testing.T, o *options) {
			if o.verifier.TokenCacheSize != 7 {
				t.Errorf("TokenCacheSize = %d, want 7", o.verifier.TokenCacheSize)
			}
		}},
		{name: "proxy mode", args: []string{"--upstream", "http://127.0.0.1:8081", "--admin-listen", ":9090", "--allow-upgrade"}, check: func(t *testing.T, o *options) {
			if o.server.Upstream == nil || o.server.Upstream.Host != "127.0.0.1:8081" || o.adminListen != ":9090" || !o.server.AllowUpgrade {
				t.Errorf("server = %+v, admin %q", o.server, o.adminListen)
			}
		}},
		{name: "every new flag from its environment twin", env: map[string]string{
			"VERIFIER_UPSTREAM":                      "http://127.0.0.1:8081",
			"VERIFIER_ADMIN_LISTEN":                  ":9091",
			"VERIFIER_ALLOW_PATH_PARAMS":             "true",
			"VERIFIER_ALLOW_UPGRADE":                 "true",
			"VERIFIER_TOKENREVIEW_AUDIENCES":         "https://kubernetes.default.svc, k8s-2",
			"VERIFIER_JWKS_MAX_STALE":                "3h",
			"VERIFIER_PROXY_DIAL_TIMEOUT":            "2s",
			"VERIFIER_PROXY_RESPONSE_HEADER_TIMEOUT": "7s",
			"VERIFIER_READ_HEADER_TIMEOUT":           "3s",
			"VERIFIER_READ_TIMEOUT":                  "11s",
			"VERIFIER_WRITE_TIMEOUT":                 "0s",
			"VERIFIER_IDLE_TIMEOUT":                  "13s",
			"VERIFIER_TOKEN_CACHE_SIZE":              "0",
		}, check: func(t *testing.T, o *options) {
			if o.server.Upstream == nil || o.adminListen != ":9091" || !o.server.Target.AllowPathParams || !o.server.AllowUpgrade {
				t.Errorf("server = %+v, admin %q", o.server, o.adminListen)
			}
			if !slices.Equal(o.server.TokenReviewAudiences, []string{"https://kubernetes.default.svc", "k8s-2"}) {
				t.Errorf("TokenReview audiences = %q", o.server.TokenReviewAudiences)
			}
			if o.verifier.JWKSMaxStale != 3*time.Hour || o.verifier.TokenCacheSize >= 0 {
				t.Errorf("verifier = %+v", o.verifier)
			}
			if o.server.ProxyDialTimeout != 2*time.Second || o.server.ProxyResponseHeaderTimeout != 7*time.Second {
				t.Errorf("proxy timeouts = %v, %v", o.server.ProxyDialTimeout, o.server.ProxyResponseHeaderTimeout)
			}
			want := serverTimeouts{readHeader: 3 * time.Second, read: 11 * time.Second, write: 0, idle: 13 * time.Second}
			if o.timeouts != want {
				t.Errorf("timeouts = %+v, want %+v", o.timeouts, want)
			}
		}},
		{name: "a flag wins over its twin", args: []string{"--tokenreview-audiences", "from-flag"}, env: map[string]string{"VERIFIER_TOKENREVIEW_AUDIENCES": "from-env"}, check: func(t *testing.T, o *options) {
			if !slices.Equal(o.server.TokenReviewAudiences, []string{"from-flag"}) {
				t.Errorf("TokenReview audiences = %q", o.server.TokenReviewAudiences)
			}
		}},
		{name: "client CA with TLS and audiences", args: []string{"--tokenreview-audiences", "https://kubernetes.default.svc", "--tokenreview-client-ca", "ca.pem", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"}, check: func(t *testing.T, o *options) {
			if !o.server.TokenReviewRequireClientCert || o.clientCA != "ca.pem" {
				t.Errorf("client CA not in effect: %+v", o.server)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			o, err := parseOptions(append(slices.Clone(required), tc.args...), &bytes.Buffer{})
			if err != nil {
				t.Fatalf("parseOptions: %v", err)
			}
			tc.check(t, o)
		})
	}
}

func TestParseOptionsRefuses(t *testing.T) {
	cases := map[string]struct {
		args    []string
		wantErr string
	}{
		"proxy mode without an admin listener":         {args: []string{"--upstream", "http://127.0.0.1:8081"}, wantErr: "--admin-listen"},
		"TokenReview for the protected API's audience": {args: []string{"--tokenreview-audiences", "https://kubernetes.default.svc,api://default"}, wantErr: "must not include --audience"},
		"client CA without TLS":                        {args: []string{"--tokenreview-audiences", "k8s", "--tokenreview-client-ca", "ca.pem"}, wantErr: "--tls-cert-file"},
		"client CA without TokenReview":                {args: []string{"--tokenreview-client-ca", "ca.pem", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"}, wantErr: "--tokenreview-audiences"},
		"upgrade outside proxy mode":                   {args: []string{"--allow-upgrade"}, wantErr: "proxy mode"},
		"relative upstream":                            {args: []string{"--upstream", "/x", "--admin-listen", ":9090"}, wantErr: "absolute"},
		"zero dial timeout":                            {args: []string{"--proxy-dial-timeout", "0s"}, wantErr: "positive"},
		"zero max stale":                               {args: []string{"--jwks-max-stale", "0s"}, wantErr: "positive"},
		"negative write timeout":                       {args: []string{"--write-timeout", "-1s"}, wantErr: "negative"},
		"cert without key":                             {args: []string{"--tls-cert-file", "c.pem"}, wantErr: "go together"},
		"stray argument":                               {args: []string{"extra"}, wantErr: "unexpected"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseOptions(append(slices.Clone(required), tc.args...), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parseOptions error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestHelpNamesEveryFlagAndTwin: --help lists each flag with its
// VERIFIER_* twin, and says what a zero token cache means.
func TestHelpNamesEveryFlagAndTwin(t *testing.T) {
	var out bytes.Buffer
	_, err := parseOptions([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseOptions(--help) = %v", err)
	}
	help := out.String()
	for _, f := range []string{
		"admin-listen", "allow-path-params", "allow-upgrade", "tokenreview-audiences", "tokenreview-client-ca",
		"jwks-max-stale", "proxy-dial-timeout", "proxy-response-header-timeout", "read-header-timeout",
		"read-timeout", "write-timeout", "idle-timeout", "token-cache-size", "oauthapi", "kubeconfig",
	} {
		twin := "VERIFIER_" + strings.ToUpper(strings.ReplaceAll(f, "-", "_"))
		if !strings.Contains(help, "--"+f+" ") && !strings.Contains(help, "--"+f+"\t") || !strings.Contains(help, "["+twin+"]") {
			t.Errorf("--help lacks --%s [%s]", f, twin)
		}
	}
	if !strings.Contains(help, "0 or negative: no cache") {
		t.Error("--help does not say that 0 turns the token cache off")
	}
}

func TestNewServerTimeouts(t *testing.T) {
	to := serverTimeouts{readHeader: time.Second, read: 2 * time.Second, write: 3 * time.Second, idle: 4 * time.Second}
	s := newServer(":0", nil, to, nil)
	if s.ReadHeaderTimeout != time.Second || s.ReadTimeout != 2*time.Second || s.WriteTimeout != 3*time.Second || s.IdleTimeout != 4*time.Second {
		t.Fatalf("server timeouts = %v %v %v %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
	if s.TLSConfig != nil || s.MaxHeaderBytes != 64<<10 {
		t.Fatalf("TLS %v, max header bytes %d", s.TLSConfig, s.MaxHeaderBytes)
	}
}

func TestParseOptionsOAuthAPI(t *testing.T) {
	cases := map[string]struct {
		args []string
		env  map[string]string
		want oauthapiwatch.Ref
	}{
		"flag":                {args: []string{"--oauthapi", "default/hello"}, want: oauthapiwatch.Ref{Namespace: "default", Name: "hello"}},
		"twin":                {env: map[string]string{"VERIFIER_OAUTHAPI": "team-a/orders"}, want: oauthapiwatch.Ref{Namespace: "team-a", Name: "orders"}},
		"with kubeconfig":     {args: []string{"--oauthapi", "default/hello", "--kubeconfig", "/tmp/kc"}, want: oauthapiwatch.Ref{Namespace: "default", Name: "hello"}},
		"with required scope": {args: []string{"--oauthapi", "default/hello", "--required-scopes", "hello:read"}, want: oauthapiwatch.Ref{Namespace: "default", Name: "hello"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			o, err := parseOptions(tc.args, &bytes.Buffer{})
			if err != nil {
				t.Fatalf("parseOptions: %v", err)
			}
			if o.oauthapi == nil || *o.oauthapi != tc.want {
				t.Fatalf("oauthapi = %v, want %v", o.oauthapi, tc.want)
			}
		})
	}
}

func TestParseOptionsOAuthAPIRefuses(t *testing.T) {
	cases := map[string]struct {
		args    []string
		env     map[string]string
		wantErr string
	}{
		"with --issuer":               {args: []string{"--oauthapi", "default/hello", "--issuer", "https://example.okta.com/oauth2/default"}, wantErr: "--oauthapi and --issuer cannot be combined"},
		"with --audience":             {args: []string{"--oauthapi", "default/hello", "--audience", "api://default"}, wantErr: "--oauthapi and --audience cannot be combined"},
		"with --rules":                {args: []string{"--oauthapi", "default/hello", "--rules", "rules.yaml"}, wantErr: "--oauthapi and --rules cannot be combined"},
		"with --jwks-url":             {args: []string{"--oauthapi", "default/hello", "--jwks-url", "https://example.okta.com/keys"}, wantErr: "--oauthapi and --jwks-url cannot be combined"},
		"with VERIFIER_ISSUER":        {args: []string{"--oauthapi", "default/hello"}, env: map[string]string{"VERIFIER_ISSUER": "https://example.okta.com/oauth2/default"}, wantErr: "--oauthapi and --issuer cannot be combined"},
		"no namespace":                {args: []string{"--oauthapi", "hello"}, wantErr: "namespace/name"},
		"bad name":                    {args: []string{"--oauthapi", "default/Hello"}, wantErr: "invalid OAuthAPI reference"},
		"kubeconfig without oauthapi": {args: append(slices.Clone(required), "--kubeconfig", "/tmp/kc"), wantErr: "--kubeconfig applies to --oauthapi only"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := parseOptions(tc.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parseOptions error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestServeOAuthAPIUnreachable runs the verifier with --oauthapi against an
// API server that is not there: it serves, and answers every request and
// /readyz with 503 and the fixed verifier.NotConfiguredBody — no object name,
// no error text; the log names the OAuthAPI. (client-go's watch-list retries
// a refused connection without reporting it, so nothing more is logged.)
func TestServeOAuthAPIUnreachable(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	o, err := parseOptions([]string{"--oauthapi", "default/hello", "--kubeconfig", kubeconfig, "--listen", addr}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &lockedBuffer{}
	go func() { done <- serve(ctx, o, logs) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	get := func(path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("X-Original-Uri", "/")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get("/readyz")
		if code == http.StatusServiceUnavailable && body == verifier.NotConfiguredBody+"\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q, want 503 %q", code, body, verifier.NotConfiguredBody)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/verify"); code != http.StatusServiceUnavailable || body != verifier.NotConfiguredBody+"\n" {
		t.Errorf("/verify: %d %q, want 503 %q", code, body, verifier.NotConfiguredBody)
	}
	if l := logs.String(); !strings.Contains(l, `"oauthapi":"default/hello"`) {
		t.Errorf("the log does not name the OAuthAPI the verifier waits for: %s", l)
	}
}

// lockedBuffer is a log destination written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
