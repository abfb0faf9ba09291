package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeExitCodes: `manager probe` exits 0 on 200, 1 with one line saying why on any
// other answer or none, and 2 on bad arguments.
func TestProbeExitCodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		http.Error(w, "[-]readyz failed", http.StatusInternalServerError)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	_ = ln.Close()

	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	up := file("up", srv.Listener.Addr().String()+"\n")
	tests := map[string]struct {
		args []string
		code int
		want string // in the output; "" for no output
	}{
		"200":             {[]string{"--address-file=" + up, "--path=/healthz"}, 0, ""},
		"500":             {[]string{"--address-file=" + up, "--path=/readyz"}, 1, "500"},
		"default /readyz": {[]string{"--address-file", up}, 1, "/readyz"},
		"file missing":    {[]string{"--address-file=" + filepath.Join(dir, "none")}, 1, "no such file"},
		"garbage":         {[]string{"--address-file=" + file("garbage", "{\"not\": \"an address\"}")}, 1, "not a host:port"},
		"server down":     {[]string{"--address-file=" + file("down", down), "--path=/healthz"}, 1, "connection refused"},
		"no file flag":    {nil, 2, "--address-file is required"},
		"unknown flag":    {[]string{"--address-path=x"}, 2, "address-path"},
		"stray argument":  {[]string{"--address-file=" + up, "readyz"}, 2, "unexpected argument"},
		"zero timeout":    {[]string{"--address-file=" + up, "--timeout=0s"}, 2, "--timeout"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			code := probe(tc.args, &out)
			if code != tc.code {
				t.Errorf("exit %d, want %d (output %q)", code, tc.code, out.String())
			}
			if tc.want == "" && out.Len() != 0 {
				t.Errorf("output %q, want none", out.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output %q lacks %q", out.String(), tc.want)
			}
			if tc.code == 1 && strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
				t.Errorf("reason spans lines: %q", out.String())
			}
		})
	}
}

func TestCheckProbeFile(t *testing.T) {
	for name, tc := range map[string]struct {
		addr, file string
		wantErr    bool
	}{
		"default, no file":        {":8081", "", false},
		"disabled, no file":       {"0", "", false},
		"port 0 with a file":      {"127.0.0.1:0", "/run/x/addr", false},
		"file without the server": {"0", "/run/x/addr", true},
		"file, empty address":     {"", "/run/x/addr", true},
	} {
		t.Run(name, func(t *testing.T) {
			err := checkProbeFile(tc.addr, tc.file)
			if (err != nil) != tc.wantErr || (err != nil && !strings.Contains(err.Error(), "--health-probe-address-file")) {
				t.Fatalf("checkProbeFile(%q, %q) = %v, want error %v naming the flag", tc.addr, tc.file, err, tc.wantErr)
			}
		})
	}
}
