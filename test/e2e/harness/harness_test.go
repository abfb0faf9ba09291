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

// TestStartIsBoundToTheTest: a process runs in the repository root by
// default (or Options.Dir) with Options.Env, and ends with the test that
// started it; a passing test's log is removed. (How processes are stopped
// and killed is tested in internal/procs.)
func TestStartIsBoundToTheTest(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh: %v", err)
	}
	other := t.TempDir()
	cases := map[string]struct {
		opts    Options
		wantDir string
	}{
		"repository root by default": {opts: Options{StopGrace: time.Second, Env: []string{"HARNESS_TEST_VALUE=default"}}, wantDir: RepoRoot(t)},
		"Options.Dir":                {opts: Options{StopGrace: time.Second, Dir: other, Env: []string{"HARNESS_TEST_VALUE=dir"}}, wantDir: other},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var p *Process
			var log string
			t.Run("inner", func(t *testing.T) {
				p = Start(t, "sh", sh, []string{"-c", `pwd -P; echo "value=$HARNESS_TEST_VALUE"; echo started; exec sleep 60`}, tc.opts)
				deadline := time.Now().Add(30 * time.Second)
				for !strings.Contains(log, "started") {
					if time.Now().After(deadline) {
						t.Fatalf("log %s never showed the output", p.LogPath)
					}
					time.Sleep(20 * time.Millisecond)
					data, _ := os.ReadFile(p.LogPath)
					log = string(data)
				}
			})
			if !p.Exited() {
				t.Fatal("the process outlived the test that started it")
			}
			wantDir, err := filepath.EvalSymlinks(tc.wantDir)
			if err != nil {
				t.Fatal(err)
			}
			if lines := strings.Split(log, "\n"); lines[0] != wantDir {
				t.Errorf("working directory %q, want %q", lines[0], wantDir)
			}
			if want := "value=" + strings.TrimPrefix(tc.opts.Env[0], "HARNESS_TEST_VALUE="); !strings.Contains(log, want) {
				t.Errorf("log %q lacks %q: Options.Env not passed", log, want)
			}
			if _, err := os.Stat(filepath.Dir(p.LogPath)); !os.IsNotExist(err) {
				t.Errorf("the log directory of a passing test was kept (%v)", err)
			}
		})
	}
}
