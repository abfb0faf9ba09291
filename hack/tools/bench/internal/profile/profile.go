// Package profile samples a running process with Linux perf (no change to the program, no
// pprof endpoint) and sums the samples by the part of the program they fall in, so a
// benchmark can say what dominates a server's CPU time.
package profile

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Available reports whether perf is installed.
func Available() bool {
	_, err := exec.LookPath("perf")
	return err == nil
}

// Warm runs perf once on nothing, so that its one-time start-up work (reading the kernel's
// symbols, say) is done before a measurement depends on its timing.
func Warm(dir string) {
	_ = exec.Command("perf", "record", "-q", "-o", filepath.Join(dir, "warm.perf.data"), "--", "true").Run()
}

// Record samples pid (all its threads, user and kernel) for d into file. It blocks for d.
func Record(pid int, d time.Duration, file string) error {
	cmd := exec.Command("perf", "record", "-q", "-F", "1999", "-p", strconv.Itoa(pid), "-o", file,
		"--", "sleep", strconv.FormatFloat(d.Seconds(), 'f', 1, 64))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("perf record: %v: %s", err, out)
	}
	return nil
}

// Symbol is one function's share of the samples.
type Symbol struct {
	Name    string  `json:"name"`
	Percent float64 `json:"percent"`
}

// Report is a flat profile.
type Report struct {
	// Samples is the number of samples taken.
	Samples    int                `json:"samples"`
	Top        []Symbol           `json:"top"`
	Categories map[string]float64 `json:"categories"`
}

// Analyze reads a perf data file.
func Analyze(file string, top int) (Report, error) {
	out, err := exec.Command("perf", "report", "-i", file, "--stdio", "--no-children", "--sort", "sym",
		"--percent-limit", "0").Output()
	if err != nil {
		return Report{}, fmt.Errorf("perf report: %v", err)
	}
	var syms []Symbol
	samples := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# Samples: "); ok {
			n, _, _ := strings.Cut(rest, " ")
			samples, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(n, "K"), "M"))
			switch {
			case strings.HasSuffix(n, "K"):
				samples *= 1000
			case strings.HasSuffix(n, "M"):
				samples *= 1000000
			}
		}
		if line == "" || line[0] == '#' {
			continue
		}
		// "12.34%  [.] crypto/internal/fips140/sha256.blockSHANI" or "[k] do_syscall_64".
		pct, rest, ok := strings.Cut(line, "%")
		if !ok {
			continue
		}
		p, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err != nil {
			continue
		}
		rest = strings.TrimSpace(rest)
		kernel := strings.HasPrefix(rest, "[k]")
		name := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(rest, "[.]"), "[k]"))
		if kernel {
			name = "[kernel] " + name
		}
		syms = append(syms, Symbol{Name: name, Percent: p})
	}
	if len(syms) == 0 {
		return Report{}, fmt.Errorf("perf report: no samples")
	}
	r := Report{Samples: samples, Categories: map[string]float64{}}
	for _, s := range syms {
		r.Categories[Category(s.Name)] += s.Percent
	}
	slices.SortFunc(syms, func(a, b Symbol) int {
		switch {
		case a.Percent > b.Percent:
			return -1
		case a.Percent < b.Percent:
			return 1
		}
		return 0
	})
	r.Top = syms[:min(top, len(syms))]
	return r, nil
}

// Categories, in the order a report lists them.
var CategoryOrder = []string{
	"RSA/SHA-256 (crypto)", "JWS/JWT libraries", "token parsing and checks (verifier)",
	"token cache (verifier)", "metrics", "JSON and base64 decoding", "HTTP server (net/http)",
	"kernel (loopback TCP, syscalls)", "Go runtime (GC, scheduler, allocation)", "other",
}

// Category names the part of a program a symbol belongs to.
func Category(sym string) string {
	switch {
	case strings.HasPrefix(sym, "[kernel]"):
		return "kernel (loopback TCP, syscalls)"
	case strings.HasPrefix(sym, "crypto/"), strings.HasPrefix(sym, "math/big"), strings.HasPrefix(sym, "vendor/golang.org/x/crypto"):
		return "RSA/SHA-256 (crypto)"
	case strings.Contains(sym, "lestrrat-go/"), strings.Contains(sym, "go-jose/"), strings.Contains(sym, "coreos/go-oidc"),
		strings.Contains(sym, "golang-jwt/"):
		return "JWS/JWT libraries"
	case strings.Contains(sym, "clientcreds/internal/verifier.(*tokenCache)"):
		return "token cache (verifier)"
	case strings.Contains(sym, "clientcreds/internal/verifier"):
		return "token parsing and checks (verifier)"
	case strings.Contains(sym, "prometheus"):
		return "metrics"
	case strings.HasPrefix(sym, "encoding/json"), strings.HasPrefix(sym, "encoding/base64"):
		return "JSON and base64 decoding"
	case strings.HasPrefix(sym, "net/"), strings.HasPrefix(sym, "net."), strings.HasPrefix(sym, "bufio"),
		strings.HasPrefix(sym, "internal/poll"), strings.HasPrefix(sym, "syscall"), strings.HasPrefix(sym, "internal/runtime/syscall"),
		strings.HasPrefix(sym, "mime"), strings.HasPrefix(sym, "net/textproto"):
		return "HTTP server (net/http)"
	case strings.HasPrefix(sym, "runtime"), strings.HasPrefix(sym, "internal/runtime"), strings.HasPrefix(sym, "aeshash"),
		strings.HasPrefix(sym, "memeqbody"), strings.HasPrefix(sym, "internal/bytealg"), strings.HasPrefix(sym, "sync"),
		strings.HasPrefix(sym, "internal/sync"), strings.HasPrefix(sym, "gcWriteBarrier"):
		return "Go runtime (GC, scheduler, allocation)"
	}
	return "other"
}
