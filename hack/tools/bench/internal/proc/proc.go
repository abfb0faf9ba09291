// Package proc runs the processes a benchmark measures: each in its own process group, with
// its output in a log file, optionally pinned to CPUs with taskset and limited with
// GOMAXPROCS, and stopped with SIGTERM (then SIGKILL) when the benchmark is done with it.
// It also reads what the kernel knows about a running process: CPU time and peak RSS.
package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec describes a process to start.
type Spec struct {
	// Name names the log file (<LogDir>/<Name>.log) and error messages.
	Name string
	// Path and Args are the program and its arguments.
	Path string
	Args []string
	// Env is added to the environment of this process.
	Env []string
	// CPUs, when set, pins the process with taskset -c CPUs (e.g. "0").
	CPUs string
	// LogDir receives the log file.
	LogDir string
	// Dir is the working directory (default: the current one).
	Dir string
	// StopGrace is how long StopAll waits after SIGTERM (default 10s).
	StopGrace time.Duration
	// NoDeathSignal leaves the process running if the benchmark dies (for processes that
	// watch their parent themselves and need to stop their own children cleanly).
	NoDeathSignal bool
}

// Process is a started process.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	stopMu  sync.Mutex
	grace   time.Duration
}

// live are the processes started and not yet stopped, for StopAll.
var live struct {
	sync.Mutex
	procs []*Process
}

// StopAll stops every process started and not yet stopped, the newest first.
func StopAll() {
	live.Lock()
	procs := live.procs
	live.procs = nil
	live.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(procs[i].grace)
	}
}

// Start starts the process described by s.
func Start(s Spec) (*Process, error) {
	if err := os.MkdirAll(s.LogDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(s.LogDir, s.Name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	path, args := s.Path, s.Args
	if s.CPUs != "" {
		taskset, err := exec.LookPath("taskset")
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("pinning %s to CPU %s: %w", s.Name, s.CPUs, err)
		}
		args = append([]string{"-c", s.CPUs, path}, args...)
		path = taskset
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !s.NoDeathSignal {
		// Killed with the benchmark, however it ends.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("starting %s: %w", s.Name, err)
	}
	p := &Process{Name: s.Name, LogPath: logPath, cmd: cmd, done: make(chan struct{}), grace: s.StopGrace}
	if p.grace <= 0 {
		p.grace = 10 * time.Second
	}
	live.Lock()
	live.procs = append(live.procs, p)
	live.Unlock()
	go func() {
		p.waitErr = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id. taskset execs the program, so it is the program's pid.
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

// Err describes how the process ended, with the tail of its log.
func (p *Process) Err() error {
	return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.Name, p.waitErr, p.LogPath, Tail(p.LogPath, 15))
}

// Stop sends SIGTERM, waits up to grace, then kills the process group. It is safe to call
// more than once.
func (p *Process) Stop(grace time.Duration) {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	live.Lock()
	for i, q := range live.procs {
		if q == p {
			live.procs = append(live.procs[:i], live.procs[i+1:]...)
			break
		}
	}
	live.Unlock()
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// Wait waits for the process to end and returns its exit error.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Tail returns the last n lines of a file.
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

// FreeAddr returns "127.0.0.1:<port>" for a port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// WaitHTTP polls url until it answers with a status accepted by ok, the process exits, or
// timeout passes.
func WaitHTTP(url string, timeout time.Duration, p *Process, ok func(int) bool) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		if p != nil && p.Exited() {
			return p.Err()
		}
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within %s (last: %s)", url, timeout, last)
}

// Status2xx accepts 2xx answers.
func Status2xx(code int) bool { return code >= 200 && code < 300 }

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// CPUTime returns the user+system CPU time the process has used so far.
func CPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	// The command name is in parentheses and may hold spaces: fields start after ") ".
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	// After the name: state(0) ppid(1) ... utime is field 14 of the full line, index 11 here.
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat format")
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// Status returns a field of /proc/<pid>/status in bytes (for kB fields such as VmHWM and
// VmRSS).
func Status(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			break
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, err
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n *= 1024
		}
		return n, nil
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// CPUBusy returns the CPU time all CPUs have spent busy (not idle or waiting for I/O)
// since boot, from /proc/stat.
func CPUBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat format")
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, errors.New("unexpected /proc/stat format")
		}
		// user nice system idle iowait irq softirq steal guest guest_nice: guest time is
		// already counted in user and nice.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}
