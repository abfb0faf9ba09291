package operatorbench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/proc"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/procs"
)

// restartBucket is the resolution of a restarted manager's call timeline.
const restartBucket = 10 * time.Second

// watchRestart starts the manager again with args (the same metrics and probe addresses)
// and watches it for sc.Restart: when it has reconciled every client once with an empty
// queue, and the backend calls it makes meanwhile, per restartBucket.
func watchRestart(env Env, sc Scenario, args []string, logDir, metricsAddr, probeAddr string,
	stats func() (oktaemu.Stats, error)) (*RestartResult, *proc.Process, error) {
	before, err := stats()
	if err != nil {
		return nil, nil, err
	}
	began := time.Now()
	mgr, err := proc.Start(proc.Spec{Name: "manager-restarted", Path: filepath.Join(env.Bin, "manager"), LogDir: logDir,
		Env: env.ManagerEnv, Args: args})
	if err != nil {
		return nil, nil, err
	}
	if err := procs.WaitHTTP("http://"+probeAddr+"/readyz", 60*time.Second, procs.Status2xx, mgr); err != nil {
		return nil, mgr, err
	}
	rr := &RestartResult{Watch: sc.Restart, Bucket: restartBucket}
	metricsURL := "http://" + metricsAddr + "/metrics"
	prev := before
	next := began.Add(restartBucket)
	for time.Since(began) < sc.Restart {
		if mgr.Exited() {
			return nil, mgr, fmt.Errorf("the restarted manager exited: %v", mgr.Err())
		}
		if m, err := scrapeAll(metricsURL); err == nil && rr.Settled == 0 {
			done := SumMetric(m, "controller_runtime_reconcile_total", `controller="oauthclient"`)
			depth := SumMetric(m, "workqueue_depth", `name="oauthclient"`)
			if done >= float64(sc.Clients) && depth == 0 {
				rr.Settled = time.Since(began)
				env.Logf("  restarted manager settled after %s (%.0f reconciles, queue empty)", rr.Settled.Round(100*time.Millisecond), done)
			}
		}
		if time.Now().After(next) {
			cur, err := stats()
			if err == nil {
				r, w, tk := ReadsWrites(diffStats(cur, prev))
				rr.Timeline = append(rr.Timeline, CallPoint{At: time.Since(began).Truncate(time.Second), Reads: r, Writes: w, Tokens: tk})
				env.Logf("  +%3.0fs  app-API reads %d, writes %d, token requests %d in the last %s", time.Since(began).Seconds(), r, w, tk, restartBucket)
				prev = cur
			}
			next = next.Add(restartBucket)
		}
		time.Sleep(time.Second)
	}
	after, err := stats()
	if err != nil {
		return nil, mgr, err
	}
	rr.Calls = diffStats(after, before)
	if m, err := scrapeAll(metricsURL); err == nil {
		rr.Reconciles = SumMetric(m, "controller_runtime_reconcile_total", `controller="oauthclient"`)
		rr.APIRequests = SumMetric(m, "rest_client_requests_total")
	}
	rr.RSS, _ = proc.Status(mgr.Pid(), "VmRSS")
	rr.PeakRSS, _ = proc.Status(mgr.Pid(), "VmHWM")
	return rr, mgr, nil
}

// scrapeAll returns every sample of a Prometheus text endpoint (histogram buckets left
// out), keyed by the series as written.
func scrapeAll(url string) (map[string]float64, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range bytes.Split(body, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' || bytes.Contains(line, []byte("_bucket{")) {
			continue
		}
		i := bytes.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(string(line[i+1:]), 64)
		if err != nil {
			continue
		}
		out[string(line[:i])] = v
	}
	return out, nil
}

// saveURL writes what url answers to path.
func saveURL(url, path string) error {
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
