package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestFixturesUpToDate regenerates the fixtures from the recordings, when
// they are present next to the repository, and compares them with the
// committed ones: the generator is deterministic and the fixtures current.
func TestFixturesUpToDate(t *testing.T) {
	src := filepath.Join("..", "..", "..", "shared", "okta-transcripts", "idaas")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("recordings not present at %s", src)
	}
	committed := filepath.Join("..", "..", "internal", "oktaemu", "testdata", "transcripts")
	out := t.TempDir()
	if err := run(src, out); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(out, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no output: %v", err)
	}
	for _, f := range files {
		got, _ := os.ReadFile(f)
		want, err := os.ReadFile(filepath.Join(committed, filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed fixture (err %v): run go run ./hack/okta-transcripts", filepath.Base(f), err)
		}
	}
}
