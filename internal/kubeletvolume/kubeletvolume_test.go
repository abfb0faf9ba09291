package kubeletvolume

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteSwapsVersions(t *testing.T) {
	dir := t.TempDir()
	steps := []map[string][]byte{
		{"A": []byte("1"), "B": []byte("x")},
		{"A": []byte("2")},
		{"A": []byte("3"), "C": []byte("c")},
	}
	for i, data := range steps {
		if err := Write(dir, data); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		target, err := os.Readlink(filepath.Join(dir, "..data"))
		if err != nil {
			t.Fatalf("step %d: ..data: %v", i, err)
		}
		for k, want := range data {
			got, err := os.ReadFile(filepath.Join(dir, k))
			if err != nil || string(got) != string(want) {
				t.Errorf("step %d: %s = %q, %v; want %q", i, k, got, err, want)
			}
			if l, _ := os.Readlink(filepath.Join(dir, k)); l != filepath.Join("..data", k) {
				t.Errorf("step %d: %s links to %q", i, k, l)
			}
		}
		entries, _ := os.ReadDir(dir)
		versions := 0
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() && n != target {
				t.Errorf("step %d: old version %s left behind", i, n)
			}
			if e.IsDir() {
				versions++
			}
			if _, ok := data[n]; !ok && n != "..data" && n != target {
				t.Errorf("step %d: stale entry %s", i, n)
			}
		}
		if versions != 1 {
			t.Errorf("step %d: %d version directories", i, versions)
		}
	}
	if err := Write(dir, map[string][]byte{"../x": nil}); err == nil {
		t.Error("a key with a slash was accepted")
	}
}
