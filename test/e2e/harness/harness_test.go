package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot %s has no go.mod: %v", root, err)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "e2e", "harness")); err != nil {
		t.Fatalf("RepoRoot %s is not this repository: %v", root, err)
	}
}

func TestFreePortIsListenable(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d from FreePort is not free: %v", port, err)
	}
	_ = l.Close()
}

// TestProcessLifecycle runs a real shell that serves nothing: Stop must
// end it with SIGTERM, Kill must end one that ignores SIGTERM, and output
// must land in the log file.
func TestProcessLifecycle(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh: %v", err)
	}
	cases := map[string]struct {
		script string
		end    func(*Process) error
		maxDur time.Duration
	}{
		"stop with SIGTERM":         {script: "echo started; exec sleep 60", end: (*Process).Stop, maxDur: 900 * time.Millisecond},
		"kill ignores SIGTERM":      {script: "trap '' TERM; echo started; sleep 60 & wait", end: (*Process).Kill, maxDur: 900 * time.Millisecond},
		"stop after it exited":      {script: "echo started", end: (*Process).Stop, maxDur: 900 * time.Millisecond},
		"stop escalates to SIGKILL": {script: "trap '' TERM; echo started; while :; do sleep 1; done", end: (*Process).Stop, maxDur: 5 * time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := Start(t, "sh", sh, []string{"-c", tc.script}, Options{StopGrace: time.Second})
			deadline := time.Now().Add(5 * time.Second)
			for {
				data, _ := os.ReadFile(p.LogPath)
				if strings.Contains(string(data), "started") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("log %s never showed the output", p.LogPath)
				}
				time.Sleep(20 * time.Millisecond)
			}
			start := time.Now()
			if err := tc.end(p); err != nil {
				t.Fatalf("ending the process: %v", err)
			}
			if !p.Exited() {
				t.Fatal("process still running")
			}
			if d := time.Since(start); d > tc.maxDur {
				t.Fatalf("ending took %s, want under %s", d, tc.maxDur)
			}
		})
	}
}
