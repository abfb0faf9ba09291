package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRepoRoot(t *testing.T) {
	root := RepoRoot()
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatalf("RepoRoot %s has no go.mod: %v", root, err)
	}
	if !bytes.Contains(data, []byte("module github.com/clientcreds/clientcreds\n")) {
		t.Fatalf("RepoRoot %s holds another module's go.mod", root)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testutil", "testutil.go")); err != nil {
		t.Fatalf("RepoRoot %s is not this repository: %v", root, err)
	}
}

// TestSyncBuffer writes from many goroutines while reading (the race
// detector is the real check) and then counts what arrived.
func TestSyncBuffer(t *testing.T) {
	cases := map[string]struct {
		writers, lines int
	}{
		"one writer":   {writers: 1, lines: 100},
		"many writers": {writers: 8, lines: 200},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var b SyncBuffer
			var wg sync.WaitGroup
			for range tc.writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range tc.lines {
						_, _ = b.Write([]byte("line\n"))
						_ = b.String()
						_ = b.Len()
					}
				}()
			}
			wg.Wait()
			want := tc.writers * tc.lines
			if got := strings.Count(b.String(), "line\n"); got != want {
				t.Fatalf("%d lines, want %d", got, want)
			}
			if b.Len() != want*len("line\n") {
				t.Fatalf("Len %d, want %d", b.Len(), want*len("line\n"))
			}
		})
	}
}
