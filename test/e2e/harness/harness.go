// Package harness is the small toolkit the end-to-end tests share: find the
// repository and its built binaries, pick free loopback ports, run a binary
// as a separate process with its output in a log file, stop or kill it, and
// wait for an HTTP endpoint to answer.
//
// Processes are stopped (SIGTERM, then SIGKILL after a grace period) when
// the test ends. Their log files live outside the test's temporary directory
// so that, when a test fails, the printed paths can still be read; they are
// removed when the test passes.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const modulePath = "github.com/clientcreds/clientcreds"

// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL,
// unless Options.StopGrace says otherwise.
const StopGrace = 10 * time.Second

// RepoRoot returns the repository's root directory: the nearest parent of
// the working directory whose go.mod declares the clientcreds module.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("harness: working directory: %v", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+modulePath+"\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("harness: no go.mod for %s above the working directory", modulePath)
		}
		dir = parent
	}
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("harness: finding a free port: %v", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns "127.0.0.1:<free port>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

// Process is a binary started by Start.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	grace   time.Duration
	stopMu  sync.Mutex
}

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
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("harness: log file: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Dir = opts.Dir
	if cmd.Dir == "" {
		cmd.Dir = RepoRoot(t)
	}
	// Its own process group, so that SIGKILL also reaches any children
	// (nginx workers, say).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		t.Fatalf("harness: starting %s: %v", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{}), grace: opts.StopGrace}
	if p.grace <= 0 {
		p.grace = StopGrace
	}
	go func() {
		p.waitErr = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Logf("harness: stopping %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("harness: %s log: %s", name, logPath)
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

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM and waits up to the stop grace period before sending SIGKILL to
// the process group. It returns nil when the process ended (whatever its
// exit status) and is safe to call more than once.
func (p *Process) Stop() error {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return p.kill()
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(p.grace):
		return p.kill()
	}
}

// Kill sends SIGKILL to the process group at once (for crash tests) and
// waits for the process to end.
func (p *Process) Kill() error {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	if p.Exited() {
		return nil
	}
	return p.kill()
}

func (p *Process) kill() error {
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not end after SIGKILL", p.Name, pid)
	}
}

// WaitHTTP polls url with GET until it answers 2xx, failing the test after
// timeout. When procs are given, it fails at once if one of them exits.
func WaitHTTP(t testing.TB, url string, timeout time.Duration, procs ...*Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		for _, p := range procs {
			if p.Exited() {
				t.Fatalf("harness: %s exited while waiting for %s (log: %s)", p.Name, url, p.LogPath)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatalf("harness: %v", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("harness: %s did not answer 2xx within %s (last: %s)", url, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
