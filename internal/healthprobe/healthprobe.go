// Package healthprobe serves the manager's /healthz and /readyz on a listener it chose
// itself, so the port may be 0 (any free port) and the address actually bound is published
// in a file; and it is the client of that file: the exec probe a kubelet runs inside the
// container (the image has no shell, so the probe is the manager binary itself).
//
// Several replicas that share one network namespace (hostNetwork pods on one node) cannot
// all bind one fixed probe port; each binds 127.0.0.1:0 and its probes read the file.
package healthprobe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Default endpoint paths, those of controller-runtime's own probe server.
const (
	LivenessPath  = "/healthz"
	ReadinessPath = "/readyz"
)

// Checks are the named checks of each endpoint.
type Checks struct {
	Liveness  map[string]healthz.Checker
	Readiness map[string]healthz.Checker
}

// Handler routes /healthz and /readyz (and /healthz/<check>, /readyz/<check>) the way
// controller-runtime's manager routes its own probe server: the same healthz.Handler, the
// same paths, the same answers.
func Handler(c Checks) http.Handler {
	mux := http.NewServeMux()
	for path, checks := range map[string]map[string]healthz.Checker{LivenessPath: c.Liveness, ReadinessPath: c.Readiness} {
		h := http.StripPrefix(path, &healthz.Handler{Checks: checks})
		mux.Handle(path, h)
		mux.Handle(path+"/", h)
	}
	return mux
}

// Server listens on addr (port 0 picks a free port), writes the address bound to
// addressFile, and returns the server as a manager runnable that serves c from the start,
// leader or not, like the manager's own probe server.
func Server(addr, addressFile string, c Checks) (*manager.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health probe listener on %q: %w", addr, err)
	}
	if err := WriteAddressFile(addressFile, ln.Addr().String()); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return &manager.Server{
		Name: "health probe",
		Server: &http.Server{
			Handler:           Handler(c),
			MaxHeaderBytes:    1 << 20,
			IdleTimeout:       90 * time.Second,
			ReadHeaderTimeout: 32 * time.Second,
		},
		Listener: ln,
	}, nil
}

// WriteAddressFile writes addr and a newline to path atomically: a reader sees the previous
// content or the new one, never a part (a temporary file in the same directory, renamed).
func WriteAddressFile(path, addr string) error {
	if path == "" {
		return errors.New("health probe address file: empty path")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("health probe address file: %w", err)
	}
	_, err = tmp.WriteString(addr + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("health probe address file: %w", err)
	}
	return nil
}

// ReadAddressFile returns the host:port in path, refusing anything else.
func ReadAddressFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("address file: %w", err)
	}
	addr := strings.TrimSpace(string(b))
	host, port, err := net.SplitHostPort(addr)
	if err != nil || strings.ContainsAny(addr, " \t\r\n/?#@") || port == "0" {
		return "", fmt.Errorf("address file %s: %q is not a host:port", path, truncate(addr, 64))
	}
	if host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	return addr, nil
}

// Check GETs http://<address in addressFile><path> and returns nil on 200, or an error
// saying why not, within timeout.
func Check(ctx context.Context, addressFile, path string, timeout time.Duration) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("path %q does not start with /", path)
	}
	addr, err := ReadAddressFile(addressFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := "http://" + addr + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	// No proxy: the probe server is on this machine's loopback.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, truncate(strings.Join(strings.Fields(string(body)), " "), 200))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
