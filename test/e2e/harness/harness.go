// Package harness is the small toolkit the end-to-end tests share: find the
// repository and its built binaries, pick free loopback ports, run a binary
// as a separate process with its output in a log file, stop or kill it, and
// wait for an HTTP endpoint to answer. The process handling is
// internal/procs (shared with the benchmark); this package binds it to a
// test: failures end the test, and processes end with it.
//
// Processes are stopped (SIGTERM, then SIGKILL to the process group after a
// grace period) when the test ends. Their log files live outside the test's
// temporary directory so that, when a test fails, the printed paths can
// still be read; they are removed when the test passes.
package harness

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/procs"
	"github.com/clientcreds/clientcreds/internal/testutil"
)

// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL,
// unless Options.StopGrace says otherwise.
const StopGrace = procs.DefaultStopGrace

// RepoRoot returns the repository's root directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	return testutil.RepoRoot()
}

// Binary returns the path of <repo>/bin/<name>, failing the test with a
// hint when it has not been built.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "bin", name)
	info, err := os.Stat(p)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		t.Fatalf("harness: %s is missing or not executable: run make build (or go build -o bin/%s ./cmd/%s)", p, name, name)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("harness: free port %q: %v", addr, err)
	}
	return n
}

// FreeAddr returns "127.0.0.1:<free port>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return addr
}

// Process is a binary started by Start: Stop, Kill, Exited, Done, Pid, and
// Name and LogPath.
type Process = procs.Process

// Options are optional settings for Start.
type Options struct {
	// Env is added to the test process's environment (KEY=value).
	Env []string
	// Dir is the working directory (default: the repository root).
	Dir string
	// StopGrace overrides the package's StopGrace for this process.
	StopGrace time.Duration
}

// Start runs bin with args as a separate process. Its stdout and stderr go
// to a log file whose path is printed if the test fails. The process is
// stopped when the test ends.
func Start(t testing.TB, name, bin string, args []string, opts Options) *Process {
	t.Helper()
	logDir, err := os.MkdirTemp("", "clientcreds-e2e-"+safeName(name)+"-")
	if err != nil {
		t.Fatalf("harness: log directory: %v", err)
	}
	dir := opts.Dir
	if dir == "" {
		dir = RepoRoot(t)
	}
	p, err := procs.Start(procs.Spec{Name: name, Path: bin, Args: args, Env: opts.Env, Dir: dir,
		LogPath: filepath.Join(logDir, name+".log"), StopGrace: opts.StopGrace})
	if err != nil {
		_ = os.RemoveAll(logDir)
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Logf("harness: stopping %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("harness: %s log: %s", name, p.LogPath)
		} else {
			_ = os.RemoveAll(logDir)
		}
	})
	return p
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// WaitHTTP polls url with GET until it answers 2xx, failing the test after
// timeout. When procs are given, it fails at once if one of them exits,
// with its exit status and the last lines of its log.
func WaitHTTP(t testing.TB, url string, timeout time.Duration, watch ...*Process) {
	t.Helper()
	if err := procs.WaitHTTP(url, timeout, procs.Status2xx, watch...); err != nil {
		t.Fatalf("harness: %v", err)
	}
}
