package procs

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func shell(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh: %v", err)
	}
	return sh
}

// start runs script in sh, stops it when the test ends, and waits until its
// log shows "started".
func start(t *testing.T, script string, grace time.Duration) *Process {
	t.Helper()
	p, err := Start(Spec{Name: "sh", Path: shell(t), Args: []string{"-c", script},
		LogPath: filepath.Join(t.TempDir(), "logs", "sh.log"), StopGrace: grace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	waitFor(t, "the log to show the output", func() bool {
		data, _ := os.ReadFile(p.LogPath)
		return strings.Contains(string(data), "started")
	})
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// endedBy is the signal that ended p, or 0 when it exited on its own.
func endedBy(t *testing.T, p *Process) syscall.Signal {
	t.Helper()
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		t.Fatalf("no wait status")
	}
	if ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

// TestStopAndKill runs real shells: Stop must end one with SIGTERM when it
// listens, escalate to SIGKILL when it does not, and do nothing to one that
// has ended; Kill must not wait for SIGTERM at all.
func TestStopAndKill(t *testing.T) {
	cases := map[string]struct {
		script string
		end    func(*Process) error
		wantBy syscall.Signal
	}{
		"stop with SIGTERM":         {script: "echo started; exec sleep 60", end: (*Process).Stop, wantBy: syscall.SIGTERM},
		"stop escalates to SIGKILL": {script: "trap '' TERM; echo started; while :; do sleep 1; done", end: (*Process).Stop, wantBy: syscall.SIGKILL},
		"kill ignores SIGTERM":      {script: "trap '' TERM; echo started; sleep 60 & wait", end: (*Process).Kill, wantBy: syscall.SIGKILL},
		"stop after it exited":      {script: "echo started", end: (*Process).Stop, wantBy: 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			// A grace far longer than the test's patience for "kill": if Kill
			// waited for SIGTERM first, the SIGTERM-ignoring shell would run on.
			grace := time.Second
			if name == "kill ignores SIGTERM" {
				grace = time.Hour
			}
			p := start(t, tc.script, grace)
			if tc.wantBy == 0 {
				<-p.Done()
			}
			if err := tc.end(p); err != nil {
				t.Fatalf("ending the process: %v", err)
			}
			if !p.Exited() {
				t.Fatal("process still running")
			}
			if got := endedBy(t, p); got != tc.wantBy {
				t.Fatalf("ended by signal %d (%v), want %d (%v)", got, got, tc.wantBy, tc.wantBy)
			}
			if err := tc.end(p); err != nil {
				t.Fatalf("ending it again: %v", err)
			}
		})
	}
}

// TestStopReachesTheGroup: what the process started goes with it, whether
// the process itself ended on SIGTERM or had to be killed.
func TestStopReachesTheGroup(t *testing.T) {
	cases := map[string]string{
		// The child ignores nothing but is not sent SIGTERM (only the leader
		// is); the leader leaves at once on SIGTERM.
		"leader exits on SIGTERM, child left behind": "sleep 60 & echo $! > child; trap 'exit 0' TERM; echo started; wait",
		"leader and child ignore SIGTERM":            "trap '' TERM; sleep 60 & echo $! > child; echo started; wait",
	}
	for name, script := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := Start(Spec{Name: "sh", Path: shell(t), Args: []string{"-c", script}, Dir: dir,
				LogPath: filepath.Join(dir, "sh.log"), StopGrace: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Kill() })
			var child int
			waitFor(t, "the child's pid", func() bool {
				data, _ := os.ReadFile(filepath.Join(dir, "child"))
				child, err = strconv.Atoi(strings.TrimSpace(string(data)))
				log, _ := os.ReadFile(p.LogPath)
				return err == nil && strings.Contains(string(log), "started")
			})
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the child to be gone", func() bool {
				return errors.Is(syscall.Kill(child, 0), syscall.ESRCH) || zombie(child)
			})
		})
	}
}

// zombie reports whether pid has ended but is not reaped yet (its new parent
// reaps it in its own time).
func zombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(s[i+1:], " Z")
}

func TestStartRefuses(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct {
		spec Spec
		want string
	}{
		"no name":         {spec: Spec{Path: "/bin/true", LogPath: filepath.Join(dir, "a.log")}, want: "needs Name, Path and LogPath"},
		"no log path":     {spec: Spec{Name: "x", Path: "/bin/true"}, want: "needs Name, Path and LogPath"},
		"missing program": {spec: Spec{Name: "ghost", Path: filepath.Join(dir, "no-such-program"), LogPath: filepath.Join(dir, "ghost.log")}, want: "starting ghost"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := Start(tc.spec)
			if err == nil {
				_ = p.Kill()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestWaitHTTP(t *testing.T) {
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ok, unavailable := status(http.StatusOK), status(http.StatusServiceUnavailable)
	cases := map[string]struct {
		url     string
		timeout time.Duration
		script  string // a watched process, when set
		wantErr string // "" for success
	}{
		"answers 2xx":              {url: ok, timeout: 30 * time.Second},
		"answers 503 until late":   {url: unavailable, timeout: 300 * time.Millisecond, wantErr: "last: 503 Service Unavailable"},
		"nothing listens":          {url: "http://" + closedAddr(t), timeout: 300 * time.Millisecond, wantErr: "connection refused"},
		"watched process ends":     {url: unavailable, timeout: time.Hour, script: "echo started; echo boom; exit 3", wantErr: "exit status 3"},
		"watched process log tail": {url: unavailable, timeout: time.Hour, script: "echo started; echo boom; exit 3", wantErr: "  boom"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var watch []*Process
			if tc.script != "" {
				watch = append(watch, start(t, tc.script, time.Second))
			}
			err := WaitHTTP(tc.url, tc.timeout, Status2xx, watch...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("WaitHTTP: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("WaitHTTP error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestFreeAddrIsListenable(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s from FreeAddr is not free: %v", addr, err)
	}
	_ = l.Close()
}

// FreeAddr never returns the same address twice in a process, although the kernel may
// offer a just-closed port again (a manager's metrics and probe ports once got one port).
func TestFreeAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		addr, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[addr] {
			t.Fatalf("FreeAddr returned %s twice", addr)
		}
		seen[addr] = true
	}
}
