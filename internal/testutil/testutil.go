// Package testutil holds the small helpers tests across the module share and that need
// nothing heavy: where the repository is, and a goroutine-safe buffer for captured
// output. (internal/testenv starts a control plane; test/e2e/harness runs the binaries.)
package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// RepoRoot is the repository's top directory, found from this source file's
// location, so it does not depend on the working directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// GoTool is the command that runs a pinned tool of a tools module — modfile is its go.mod
// relative to the repository root, e.g. hack/tools/helm/go.mod — from the repository root.
// The tool is built as the Makefile builds Go code outside the race-detected tests
// (CGO_ENABLED=0, -trimpath), so that the packages it shares with the project compile once.
func GoTool(modfile string, args ...string) *exec.Cmd {
	root := RepoRoot()
	cmd := exec.Command("go", append([]string{"tool", "-modfile=" + filepath.Join(root, modfile)}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS="+GoToolFlags())
	return cmd
}

// GoToolFlags is GOFLAGS for GoTool: the caller's GOFLAGS with -trimpath added.
func GoToolFlags() string {
	if f := os.Getenv("GOFLAGS"); f != "" {
		return "-trimpath " + f
	}
	return "-trimpath"
}

// SyncBuffer is a bytes.Buffer that goroutines may write and read at once: a
// logger's or a subprocess's output that a test inspects while it runs.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what has been written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Len returns how many bytes have been written so far.
func (s *SyncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}
