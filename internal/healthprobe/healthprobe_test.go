package healthprobe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "addr")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			_, _ = w.Write([]byte("ok"))
		case "/fail":
			http.Error(w, "[-]readyz failed: reason withheld\nhealthz check failed", http.StatusInternalServerError)
		case "/slow":
			time.Sleep(time.Second)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	// An address nothing listens on: a listener closed at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	_ = ln.Close()

	tests := map[string]struct {
		file    string // file content; "-" for no file
		path    string
		wantErr []string // substrings; none: success
	}{
		"200":                  {file: addr + "\n", path: "/readyz"},
		"200, no newline":      {file: addr, path: "/readyz"},
		"empty host is local":  {file: ":" + port, path: "/readyz"},
		"500":                  {file: addr, path: "/fail", wantErr: []string{"500 Internal Server Error", "readyz failed"}},
		"404":                  {file: addr, path: "/nope", wantErr: []string{"404"}},
		"file missing":         {file: "-", path: "/readyz", wantErr: []string{"address file", "no such file"}},
		"empty file":           {file: "", path: "/readyz", wantErr: []string{"is not a host:port"}},
		"garbage":              {file: "\x00\x01 not an address", path: "/readyz", wantErr: []string{"is not a host:port"}},
		"port 0":               {file: "127.0.0.1:0", path: "/readyz", wantErr: []string{"is not a host:port"}},
		"a URL, not host:port": {file: "http://" + addr + "/x", path: "/readyz", wantErr: []string{"is not a host:port"}},
		"server down":          {file: down, path: "/readyz", wantErr: []string{"connection refused"}},
		"too slow":             {file: addr, path: "/slow", wantErr: []string{"deadline exceeded"}},
		"relative path":        {file: addr, path: "readyz", wantErr: []string{"does not start with /"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "missing")
			if tc.file != "-" {
				file = writeFile(t, tc.file)
			}
			err := Check(context.Background(), file, tc.path, 300*time.Millisecond)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check succeeded; want an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestWriteAddressFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "addr")
	for _, a := range []string{"127.0.0.1:1234", "127.0.0.1:5678"} {
		if err := WriteAddressFile(p, a); err != nil {
			t.Fatal(err)
		}
		got, err := ReadAddressFile(p)
		if err != nil || got != a {
			t.Fatalf("read %q, %v; want %q", got, err, a)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want only the address file (no temporary left)", len(entries))
	}
	if err := WriteAddressFile(filepath.Join(dir, "no-such-dir", "addr"), "127.0.0.1:1"); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

// TestServerServesChecksOnPortZero: the server binds a free port, publishes it, and answers
// on the paths of controller-runtime's probe server, a failing check making its endpoint 500.
func TestServerServesChecksOnPortZero(t *testing.T) {
	file := filepath.Join(t.TempDir(), "addr")
	failing := errors.New("not yet")
	srv, err := Server("127.0.0.1:0", file, Checks{
		Liveness:  map[string]healthz.Checker{"healthz": healthz.Ping},
		Readiness: map[string]healthz.Checker{"readyz": func(*http.Request) error { return failing }},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	}()
	addr, err := ReadAddressFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if addr != srv.Listener.Addr().String() || strings.HasSuffix(addr, ":0") {
		t.Fatalf("file holds %q, the listener is on %s", addr, srv.Listener.Addr())
	}
	for path, want := range map[string]int{
		"/healthz":         200,
		"/healthz/":        200,
		"/healthz/healthz": 200,
		"/readyz":          500,
		"/readyz/readyz":   500,
		"/healthz/nope":    404,
		"/metrics":         404,
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if err := Check(ctx, file, LivenessPath, time.Second); err != nil {
		t.Errorf("liveness: %v", err)
	}
	if err := Check(ctx, file, ReadinessPath, time.Second); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("readiness with a failing check: %v, want a 500", err)
	}
}

func TestServerRefusesABusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	file := filepath.Join(t.TempDir(), "addr")
	if _, err := Server(ln.Addr().String(), file, Checks{}); err == nil {
		t.Fatal("bound a port in use")
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("address file written for a failed bind (%v)", err)
	}
}
