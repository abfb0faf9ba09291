// Package proc starts the processes a benchmark measures, on internal/procs (the process
// handling the end-to-end tests use too), adding what only a benchmark needs: pinning to
// CPUs with taskset, a death signal by default (the processes die with the benchmark,
// however it ends), StopAll for a benchmark interrupted half-way, and what the kernel
// knows about a running process: CPU time and peak RSS.
package proc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clientcreds/clientcreds/internal/procs"
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
	// StopGrace is how long Stop waits after SIGTERM (default procs.DefaultStopGrace).
	StopGrace time.Duration
	// NoDeathSignal leaves the process running if the benchmark dies (for processes that
	// watch their parent themselves and need to stop their own children cleanly).
	NoDeathSignal bool
}

// Process is a started process (Stop, Err, Pid, Exited, ...).
type Process = procs.Process

// live are the processes started, for StopAll.
var live struct {
	sync.Mutex
	procs []*Process
}

// StopAll stops every process started and not yet ended, the newest first.
func StopAll() {
	live.Lock()
	started := live.procs
	live.procs = nil
	live.Unlock()
	for i := len(started) - 1; i >= 0; i-- {
		_ = started[i].Stop()
	}
}

// Start starts the process described by s.
func Start(s Spec) (*Process, error) {
	path, args := s.Path, s.Args
	if s.CPUs != "" {
		taskset, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("pinning %s to CPU %s: %w", s.Name, s.CPUs, err)
		}
		// taskset execs the program, so the process (and its pid) is the program's.
		args = append([]string{"-c", s.CPUs, path}, args...)
		path = taskset
	}
	p, err := procs.Start(procs.Spec{Name: s.Name, Path: path, Args: args, Env: s.Env, Dir: s.Dir,
		LogPath: filepath.Join(s.LogDir, s.Name+".log"), StopGrace: s.StopGrace, DieWithParent: !s.NoDeathSignal})
	if err != nil {
		return nil, err
	}
	live.Lock()
	live.procs = append(live.procs, p)
	live.Unlock()
	return p, nil
}

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
