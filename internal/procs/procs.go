// Package procs runs programs as child processes for the end-to-end tests
// (test/e2e/harness) and the benchmark (hack/tools/bench): each in its own
// process group, with its output in a log file, stopped with SIGTERM and,
// after a grace period, SIGKILL to the whole group. It also waits for a
// process's HTTP endpoint to answer, failing at once when the process dies.
//
// One failure model serves both: a process that will not stop is killed
// with everything it started; a process that dies while it is waited for
// ends the wait with its exit status and the tail of its log.
package procs

import (
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
	"time"
)

// DefaultStopGrace is how long Stop waits after SIGTERM before it sends
// SIGKILL, unless Spec.StopGrace says otherwise.
const DefaultStopGrace = 10 * time.Second

// killWait is how long Stop and Kill wait for the process to end after
// SIGKILL.
const killWait = 10 * time.Second

// Spec describes a process to start.
type Spec struct {
	// Name names the process in errors.
	Name string
	// Path and Args are the program and its arguments.
	Path string
	Args []string
	// Env is added to this process's environment (KEY=value).
	Env []string
	// Dir is the working directory (default: the current one).
	Dir string
	// LogPath is the file that receives stdout and stderr; its directory is
	// created when missing.
	LogPath string
	// StopGrace is how long Stop waits after SIGTERM (default DefaultStopGrace).
	StopGrace time.Duration
	// DieWithParent kills the process (SIGKILL) when the process that started
	// it dies, however it dies. Leave it off for processes that watch their
	// parent themselves to stop their own children cleanly.
	DieWithParent bool
}

// Process is a started process.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	grace   time.Duration
	stopMu  sync.Mutex
}

// Start starts the process s describes.
func Start(s Spec) (*Process, error) {
	if s.Name == "" || s.Path == "" || s.LogPath == "" {
		return nil, errors.New("procs: Spec needs Name, Path and LogPath")
	}
	if err := os.MkdirAll(filepath.Dir(s.LogPath), 0o755); err != nil {
		return nil, fmt.Errorf("starting %s: log directory: %w", s.Name, err)
	}
	f, err := os.Create(s.LogPath)
	if err != nil {
		return nil, fmt.Errorf("starting %s: log file: %w", s.Name, err)
	}
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Dir = s.Dir
	// Its own process group, so that SIGKILL also reaches what it started
	// (nginx workers, say), and a Ctrl-C at the terminal reaches only the
	// parent, which then stops its children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.DieWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("starting %s: %w", s.Name, err)
	}
	p := &Process{Name: s.Name, LogPath: s.LogPath, cmd: cmd, done: make(chan struct{}), grace: s.StopGrace}
	if p.grace <= 0 {
		p.grace = DefaultStopGrace
	}
	go func() {
		p.waitErr = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err describes how the process ended, with the last lines of its log. It
// is meant for a process that ended when it should not have.
func (p *Process) Err() error {
	state := p.Name + " is still running"
	if p.Exited() {
		how := "exit status 0"
		if p.waitErr != nil {
			how = p.waitErr.Error()
		}
		state = p.Name + " exited (" + how + ")"
	}
	return fmt.Errorf("%s; last lines of %s:\n%s", state, p.LogPath, Tail(p.LogPath, 15))
}

// Stop sends SIGTERM and waits up to the stop grace period, then sends
// SIGKILL to the process group (what the process started and left behind
// goes too). It returns nil when the process has ended, whatever its exit
// status, and is safe to call more than once and from several goroutines.
func (p *Process) Stop() error {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err == nil {
		select {
		case <-p.done:
		case <-time.After(p.grace):
		}
	}
	return p.kill()
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
	case <-time.After(killWait):
		return fmt.Errorf("%s (pid %d) did not end after SIGKILL", p.Name, pid)
	}
}

// Tail returns the last n lines of a file, indented, or "" when it cannot
// be read.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// handedOut are the ports FreeAddr returned in this process: the kernel may offer a port
// again as soon as it is closed, and two addresses asked for one after the other (a
// process's metrics and probe ports) must differ.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreeAddr returns "127.0.0.1:<port>" for a TCP port that was free a moment
// ago and that it has not returned before in this process.
func FreeAddr() (string, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("finding a free port: %w", err)
		}
		addr := l.Addr().(*net.TCPAddr)
		_ = l.Close()
		if !handedOut.ports[addr.Port] {
			handedOut.ports[addr.Port] = true
			return addr.String(), nil
		}
	}
	return "", errors.New("finding a free port: the kernel offered only ports handed out before")
}

// Status2xx accepts 2xx answers.
func Status2xx(code int) bool { return code >= 200 && code < 300 }

// WaitHTTP polls url with GET until it answers with a status ok accepts. It
// fails at once, with that process's Err, when one of watch ends, and after
// timeout otherwise, naming the last answer or error.
func WaitHTTP(url string, timeout time.Duration, ok func(int) bool, watch ...*Process) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	last := "no answer"
	for {
		for _, p := range watch {
			if p != nil && p.Exited() {
				return fmt.Errorf("waiting for %s: %w", url, p.Err())
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
			last = resp.Status
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer within %s (last: %s)", url, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
