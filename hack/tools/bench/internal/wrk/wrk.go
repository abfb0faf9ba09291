// Package wrk runs wrk (the HTTP benchmarking tool, Debian package "wrk") for one bounded
// closed-loop run and reads its results from a Lua done() hook that prints JSON, so the
// percentiles come straight from wrk's histogram rather than from its rounded text.
package wrk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/loadgen"
)

// script sends the headers given on the command line and, when a token file is passed
// after "--", one token per request from that file, in order; when the tokens run out
// the thread stops, and done() reports it. done() prints the summary as one JSON line.
const script = `-- Written by the clientcreds benchmark (hack/tools/bench/internal/wrk).
local tokens, n, i, exhausted = nil, 0, 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  if args[1] == nil then return end
  tokens = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      n = n + 1
      tokens[n] = "Bearer " .. line
    end
  end
end

if os.getenv("BENCH_WRK_TOKENS") == "1" then
  request = function()
    i = i + 1
    if i > n then
      exhausted = 1
      wrk.thread:stop()
      i = n
    end
    wrk.headers["Authorization"] = tokens[i]
    return wrk.format()
  end
end

function done(summary, latency, requests)
  local ex = 0
  for _, t in ipairs(threads) do
    ex = ex + (t:get("exhausted") or 0)
  end
  io.write(string.format(
    '\nBENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"exhausted":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, ex))
end
`

// Config is one wrk run.
type Config struct {
	URL       string
	Headers   [][2]string
	Token     string // a repeated token (static request), or
	TokenFile string // a file of tokens, one per request
	Conns     int
	Duration  time.Duration
	// CPUs pins wrk with taskset (e.g. "1").
	CPUs string
	// Dir receives the Lua script.
	Dir string
}

// Run runs wrk with one thread and returns the result in loadgen's terms and the CPU time
// wrk used.
func Run(cfg Config) (loadgen.Result, time.Duration, error) {
	scriptPath := filepath.Join(cfg.Dir, "bench.lua")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		return loadgen.Result{}, 0, err
	}
	args := []string{"-t1", "-c" + strconv.Itoa(cfg.Conns), "-d" + strconv.Itoa(int(cfg.Duration.Seconds())) + "s",
		"--timeout", "5s", "-s", scriptPath}
	for _, h := range cfg.Headers {
		args = append(args, "-H", h[0]+": "+h[1])
	}
	if cfg.Token != "" {
		args = append(args, "-H", "Authorization: Bearer "+cfg.Token)
	}
	args = append(args, cfg.URL)
	env := os.Environ()
	if cfg.TokenFile != "" {
		args = append(args, "--", cfg.TokenFile)
		env = append(env, "BENCH_WRK_TOKENS=1")
	}
	path := "wrk"
	if cfg.CPUs != "" {
		args = append([]string{"-c", cfg.CPUs, path}, args...)
		path = "taskset"
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	var out, stderr bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return loadgen.Result{}, 0, fmt.Errorf("wrk: %v: %s%s", err, stderr.String(), out.String())
	}
	_, js, ok := bytes.Cut(out.Bytes(), []byte("BENCH_JSON "))
	if !ok {
		return loadgen.Result{}, 0, fmt.Errorf("wrk printed no result: %s", out.String())
	}
	var r map[string]int64
	if err := json.Unmarshal(bytes.TrimSpace(js), &r); err != nil {
		return loadgen.Result{}, 0, fmt.Errorf("wrk result %q: %w", js, err)
	}
	us := func(k string) time.Duration { return time.Duration(r[k]) * time.Microsecond }
	res := loadgen.Result{
		Requests:  r["requests"],
		Errors:    r["connect"] + r["read"] + r["write"] + r["timeout"],
		BadStatus: r["status"],
		Duration:  us("duration_us"),
		P50:       us("p50"),
		P90:       us("p90"),
		P99:       us("p99"),
		P999:      us("p999"),
		Max:       us("max"),
		Exhausted: r["exhausted"] > 0,
	}
	if res.Duration > 0 {
		res.RPS = float64(res.Requests) / res.Duration.Seconds()
	}
	return res, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// Available reports whether wrk is on PATH.
func Available() bool {
	_, err := exec.LookPath("wrk")
	return err == nil
}
