// Package hydratest starts a real Ory Hydra (bin/hydra, built by hack/build-hydra.sh) for
// tests: in-memory SQLite, JWT access tokens, admin and public APIs on free loopback ports.
package hydratest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/procs"
)

// Server is a running Hydra.
type Server struct {
	// AdminURL is the admin API's base URL; Issuer the public issuer URL.
	AdminURL, Issuer string
}

// Options change how Hydra is started.
type Options struct {
	// OpaqueTokens makes Hydra issue opaque access tokens (its default) instead of JWTs.
	OpaqueTokens bool
	// AccessTokenTTL, when set, is the lifetime of the access tokens Hydra issues (its
	// default: 1h).
	AccessTokenTTL time.Duration
}

// Binary returns the path of the Hydra binary — $HYDRA_BINARY, else the repository's
// bin/hydra — or "" when it is absent.
func Binary() string {
	p := os.Getenv("HYDRA_BINARY")
	if p == "" {
		_, file, _, _ := runtime.Caller(0)
		p = filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "bin", "hydra")
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Start starts Hydra for t and stops it when t ends. It skips t when bin/hydra is absent
// (make test builds it with hack/build-hydra.sh).
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("bin/hydra (or $HYDRA_BINARY) is absent: run hack/build-hydra.sh (make test does) to run the tests against a real Ory Hydra")
	}
	// A port found free may be taken by another process before Hydra binds it (the test
	// packages run side by side): Hydra then exits at once, and is started again on others.
	for attempt := 1; ; attempt++ {
		s, out, err := start(t, bin, opts)
		if err == nil {
			return s
		}
		if attempt < 3 && strings.Contains(out, "address already in use") {
			t.Logf("hydra: a port was taken before it could bind it; starting it again (attempt %d)", attempt+1)
			continue
		}
		t.Fatalf("%v:\n%s", err, out)
	}
}

// start starts Hydra once on two ports found free and waits until it is ready; on failure
// it returns Hydra's output with the error.
func start(t testing.TB, bin string, opts Options) (*Server, string, error) {
	t.Helper()
	admin, public := freePort(t), freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d/", public)
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	strategy := "jwt"
	if opts.OpaqueTokens {
		strategy = "opaque"
	}
	cmd := exec.Command(bin, "serve", "all", "--dev")
	cmd.Env = append(os.Environ(),
		"DSN=memory",
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT="+strconv.Itoa(admin),
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT="+strconv.Itoa(public),
		"URLS_SELF_ISSUER="+issuer,
		"SECRETS_SYSTEM="+hex.EncodeToString(secret),
		"STRATEGIES_ACCESS_TOKEN="+strategy,
		"LOG_LEVEL=warn",
	)
	if opts.AccessTokenTTL > 0 {
		cmd.Env = append(cmd.Env, "TTL_ACCESS_TOKEN="+opts.AccessTokenTTL.String())
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start hydra: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	s := &Server{AdminURL: fmt.Sprintf("http://127.0.0.1:%d", admin), Issuer: issuer}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, u := range []string{s.AdminURL + "/health/ready", issuer + ".well-known/openid-configuration"} {
		for !ok(ctx, u) {
			select {
			case <-done:
				return nil, out.String(), errors.New("hydra exited before it was ready")
			case <-ctx.Done():
				return nil, out.String(), errors.New("hydra not ready after 60s")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return s, "", nil
}

func ok(ctx context.Context, u string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freePort(t testing.TB) int {
	t.Helper()
	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("free port %q: %v", addr, err)
	}
	return n
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
