// Package operatorbench measures the operator at scale against the Okta emulator, with
// every piece a separate process as in production: etcd and kube-apiserver (hack/controlplane),
// bin/okta-emulator with Okta-like per-minute rate limits, and bin/manager.
//
// A scenario applies N OAuthClients at once (server-side apply from many goroutines, so the
// apply itself takes a second or two) and measures the time until every one is Ready, the
// Okta calls the emulator served and refused (429), then, optionally, the Okta calls per
// minute while nothing changes, and the manager's peak resident memory (VmHWM).
package operatorbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/proc"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/procs"
)

// Env locates what a scenario runs.
type Env struct {
	// Root is the repository (config/crd/bases); Bin its bin/ directory (manager,
	// okta-emulator, controlplane); Assets the directory of kube-apiserver, etcd, kubectl.
	Root, Bin, Assets string
	// ManagerEnv is added to the manager's environment (e.g. GODEBUG=gctrace=1).
	ManagerEnv []string
	Logf       func(format string, args ...any)
}

// Scenario is one run.
type Scenario struct {
	// Name names the output directory.
	Name string
	// OutDir receives logs and raw results.
	OutDir string
	// Clients is the number of OAuthClients applied at once.
	Clients int
	// AppsRate and AppRate are the emulator's budgets per rate-limit window for
	// /api/v1/apps (and sub-paths) and for GET/PUT/DELETE /api/v1/apps/{id}; negative means
	// unlimited.
	AppsRate, AppRate int
	// Window is the length of the emulator's fixed rate-limit windows: 0 means one minute,
	// as Okta; shorter ones keep a small run short.
	Window time.Duration
	// AlignToWindow starts the apply just after a rate-limit window opens (windows are
	// aligned to the wall clock), so that the window phase, and with it the floor, is known.
	AlignToWindow bool
	// ResyncPeriod is the manager's --resync-period.
	ResyncPeriod time.Duration
	// SteadyWindow, when set, is how long Okta calls are counted after every client is
	// Ready (and SteadySettle has passed) with nothing changing.
	SteadyWindow, SteadySettle time.Duration
	// ReadyTimeout bounds the wait for all clients to be Ready.
	ReadyTimeout time.Duration
	// PollEvery is how often the clients' status is read.
	PollEvery time.Duration

	// Real-org scenario (issue 11). Preset, when set, is the emulator's --rate-limit-preset
	// (Okta's documented per-minute buckets, AppsRate and AppRate are then ignored) and
	// EmulatorShare its --rate-limit-share (the API token's share of each bucket; 0 means 1,
	// as the scenarios above measure the figures they give). EmulatorAccessPolicy is the
	// emulator's --access-policy ("none": the org's policies admit no client), AccessPolicy
	// the provider's spec.okta.accessPolicy, ManagerShare the manager's
	// --okta-rate-limit-share (0: its default).
	Preset               string
	EmulatorShare        float64
	EmulatorAccessPolicy string
	AccessPolicy         string
	ManagerShare         float64

	// Scale scenario (issue 25). Restart, when set, restarts the manager after the steady
	// window (SIGTERM, then a new process with the same flags) and watches it this long:
	// how soon it settles and which backend calls it makes. HeapProfile starts the manager
	// with a pprof endpoint and saves its heap profile (manager-heap.pprof) at the end.
	Restart     time.Duration
	HeapProfile bool
}

// WindowLength is the effective rate-limit window.
func (sc Scenario) WindowLength() time.Duration {
	if sc.Window <= 0 {
		return time.Minute
	}
	return sc.Window
}

// Result is what a scenario measured.
type Result struct {
	Scenario Scenario `json:"-"`
	Clients  int      `json:"clients"`
	// ApplyTime is how long applying all clients took; TimeToReady runs from the first
	// apply request until every client was Ready; FirstReady until the first was.
	ApplyTime   time.Duration `json:"applyTime"`
	TimeToReady time.Duration `json:"timeToReady"`
	FirstReady  time.Duration `json:"firstReady"`
	// WindowPhase is how far into a rate-limit window the apply started.
	WindowPhase time.Duration `json:"windowPhase"`
	// Progress is the number of Ready clients at each poll.
	Progress []ProgressPoint `json:"progress"`
	// AtReady are the emulator's counters when all were Ready.
	AtReady oktaemu.Stats `json:"atReady"`
	// Steady are the emulator's counters over the steady-state window (differences).
	Steady       *oktaemu.Stats `json:"steady,omitempty"`
	SteadyWindow time.Duration  `json:"steadyWindow,omitempty"`
	// ManagerMetrics are the manager's clientcreds_* series when all were Ready.
	ManagerMetrics map[string]float64 `json:"managerMetrics"`
	// PeakRSS is the manager's VmHWM at the end; RSS its VmRSS then, made of RSSAnon
	// (heap, stacks: the Go runtime's memory) and RSSFile (the mapped executable).
	PeakRSS int64 `json:"peakRss"`
	RSS     int64 `json:"rss"`
	RSSAnon int64 `json:"rssAnon"`
	RSSFile int64 `json:"rssFile"`
	// EndMetrics are the manager's metrics at the end (clientcreds_* and the Go heap).
	EndMetrics map[string]float64 `json:"endMetrics"`
	// PeakRSSAtReady is VmHWM when all clients were first Ready.
	PeakRSSAtReady int64         `json:"peakRssAtReady"`
	Elapsed        time.Duration `json:"elapsed"`
	// SteadyAPIRequests are the manager's requests to the API server (client-go's
	// rest_client_requests_total) over the steady-state window.
	SteadyAPIRequests float64 `json:"steadyApiRequests,omitempty"`
	// Restarted is what a restarted manager did (Scenario.Restart).
	Restarted *RestartResult `json:"restarted,omitempty"`
	// HeapProfile is the path of the manager's heap profile (Scenario.HeapProfile).
	HeapProfile string `json:"heapProfile,omitempty"`
}

// RestartResult is what a manager restarted with every client in place did.
type RestartResult struct {
	// Settled runs from the new process's start until it had reconciled every client
	// once and its queue was empty (controller_runtime_reconcile_total ≥ clients and
	// workqueue_depth 0); zero if it did not within Watch.
	Settled time.Duration `json:"settled"`
	Watch   time.Duration `json:"watch"`
	// Reconciles is the new process's reconcile count at the end of Watch.
	Reconciles float64 `json:"reconciles"`
	// Calls are the emulator's counters over Watch; Timeline the app-API reads and writes
	// per Bucket since the restart.
	Calls    oktaemu.Stats `json:"calls"`
	Bucket   time.Duration `json:"bucket"`
	Timeline []CallPoint   `json:"timeline"`
	// APIRequests are the new process's requests to the API server over Watch.
	APIRequests float64 `json:"apiRequests"`
	// RSS is the new process's VmRSS at the end of Watch, PeakRSS its VmHWM.
	RSS     int64 `json:"rss"`
	PeakRSS int64 `json:"peakRss"`
}

// CallPoint counts the app-API calls in one bucket of time after a restart.
type CallPoint struct {
	At     time.Duration `json:"at"`
	Reads  int64         `json:"reads"`
	Writes int64         `json:"writes"`
	Tokens int64         `json:"tokens"`
}

// ReadsWrites splits s into management-API reads (GET) and writes (everything else), and
// token requests.
func ReadsWrites(s oktaemu.Stats) (reads, writes, tokens int64) {
	for route, n := range s.ByRoute {
		method, path, _ := strings.Cut(route, " ")
		switch {
		case strings.HasPrefix(path, "/oauth2/") && strings.HasSuffix(path, "/token"):
			tokens += n
		case !strings.HasPrefix(path, "/api/"):
		case method == http.MethodGet:
			reads += n
		default:
			writes += n
		}
	}
	return reads, writes, tokens
}

// ProgressPoint is a sample of the Ready count.
type ProgressPoint struct {
	At    time.Duration `json:"at"`
	Ready int           `json:"ready"`
}

const (
	namespace    = "bench"
	providerName = "okta"
	tokenSecret  = "okta-api-token"
	systemNS     = "clientcreds-system"
	scope        = "hello:read"
)

var oauthClientGVR = schema.GroupVersionResource{Group: oauthv1.GroupVersion.Group, Version: oauthv1.GroupVersion.Version, Resource: "oauthclients"}

// Run runs one scenario.
func Run(ctx context.Context, env Env, sc Scenario) (*Result, error) {
	began := time.Now()
	logf := env.Logf
	logDir := filepath.Join(sc.OutDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	var started []*proc.Process // stopped newest first, each within its Spec.StopGrace
	defer func() {
		for i := len(started) - 1; i >= 0; i-- {
			_ = started[i].Stop()
		}
	}()

	// Control plane.
	kubeconfig := filepath.Join(sc.OutDir, "kubeconfig")
	_ = os.Remove(kubeconfig)
	cp, err := proc.Start(proc.Spec{Name: "controlplane", Path: filepath.Join(env.Bin, "controlplane"), LogDir: logDir,
		StopGrace: 60 * time.Second, NoDeathSignal: true,
		Args: []string{"--kubeconfig", kubeconfig, "--port", "0", "--etcd-port", "0", "--assets", env.Assets, "--log-dir", logDir,
			"--exit-with-parent"}})
	if err != nil {
		return nil, err
	}
	started = append(started, cp)
	kubectl := func(stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(env.Assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if cp.Exited() {
			return nil, cp.Err()
		}
		if _, err := os.Stat(kubeconfig); err == nil {
			if _, err := kubectl("", "get", "--raw", "/readyz"); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, errors.New("kube-apiserver did not become ready within 3m")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := kubectl("", "apply", "--server-side", "-f", filepath.Join(env.Root, "config", "crd", "bases")); err != nil {
		return nil, err
	}
	if _, err := kubectl("", "wait", "--for=condition=Established", "--timeout=60s", "crd/oauthclients.oauth.clientcreds.dev",
		"crd/clusteroauthproviders.oauth.clientcreds.dev", "crd/oauthapis.oauth.clientcreds.dev"); err != nil {
		return nil, err
	}

	// Okta emulator.
	apiToken := randomHex(20)
	emuAddr, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	emuArgs := []string{"--addr", emuAddr, "--scopes", scope,
		"--rate-limit-apps", strconv.Itoa(sc.AppsRate), "--rate-limit-app", strconv.Itoa(sc.AppRate),
		"--rate-limit-window", sc.WindowLength().String(),
		// The scenario's figures are what the operator's token may use: no 50% share.
		"--rate-limit-share", "1",
		// Generous: the token endpoint (one request per client to prove its credentials)
		// and the authorization-server endpoints are not what is measured.
		"--rate-limit-token", "60000", "--rate-limit-other", "60000"}
	if sc.Preset != "" {
		// Every bucket as Okta's preset says, the token's share as Okta's default.
		share := sc.EmulatorShare
		if share <= 0 {
			share = 1
		}
		emuArgs = []string{"--addr", emuAddr, "--scopes", scope, "--rate-limit-preset", sc.Preset,
			"--rate-limit-share", strconv.FormatFloat(share, 'f', -1, 64), "--rate-limit-window", sc.WindowLength().String()}
	}
	if sc.EmulatorAccessPolicy != "" {
		emuArgs = append(emuArgs, "--access-policy", sc.EmulatorAccessPolicy)
	}
	emu, err := proc.Start(proc.Spec{Name: "okta-emulator", Path: filepath.Join(env.Bin, "okta-emulator"), LogDir: logDir,
		Env: []string{"OKTA_EMULATOR_API_TOKEN=" + apiToken}, Args: emuArgs})
	if err != nil {
		return nil, err
	}
	started = append(started, emu)
	org := "http://" + emuAddr
	if err := procs.WaitHTTP(org+"/_emulator/healthz", 30*time.Second, procs.Status2xx, emu); err != nil {
		return nil, err
	}
	stats := func() (oktaemu.Stats, error) { return emulatorStats(org, apiToken) }

	// The provider and the manager.
	if _, err := kubectl(providerManifests(org, apiToken, sc.AccessPolicy), "apply", "-f", "-"); err != nil {
		return nil, err
	}
	metricsAddr, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	probeAddr, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	mgrArgs := []string{"--kubeconfig", kubeconfig, "--metrics-bind-address", metricsAddr, "--health-probe-bind-address", probeAddr,
		"--resync-period", sc.ResyncPeriod.String(),
		// The emulator serves http on loopback.
		"--allow-insecure-loopback-http"}
	if sc.ManagerShare > 0 {
		mgrArgs = append(mgrArgs, "--okta-rate-limit-share", strconv.FormatFloat(sc.ManagerShare, 'f', -1, 64))
	}
	pprofAddr := ""
	if sc.HeapProfile {
		if pprofAddr, err = procs.FreeAddr(); err != nil {
			return nil, err
		}
		mgrArgs = append(mgrArgs, "--pprof-bind-address", pprofAddr)
	}
	mgr, err := proc.Start(proc.Spec{Name: "manager", Path: filepath.Join(env.Bin, "manager"), LogDir: logDir, Env: env.ManagerEnv,
		Args: mgrArgs})
	if err != nil {
		return nil, err
	}
	started = append(started, mgr)
	if err := procs.WaitHTTP("http://"+probeAddr+"/readyz", 60*time.Second, procs.Status2xx, mgr); err != nil {
		return nil, err
	}
	if _, err := kubectl("", "wait", "--for=condition=Ready", "--timeout=60s", "clusteroauthprovider/"+providerName); err != nil {
		return nil, err
	}

	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	restCfg.QPS, restCfg.Burst = -1, 0 // no client-side throttling: apply at once
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}

	res := &Result{Scenario: sc, Clients: sc.Clients}
	win := sc.WindowLength()
	if sc.AlignToWindow {
		// The emulator's windows, like Okta's minutes, are aligned to the wall clock.
		next := time.Now().Truncate(win).Add(win + min(time.Second, win/20))
		logf("waiting %s for the next rate-limit window to open", time.Until(next).Round(100*time.Millisecond))
		time.Sleep(time.Until(next))
	}
	before, err := stats()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res.WindowPhase = start.Sub(start.Truncate(win))
	logf("applying %d OAuthClients", sc.Clients)
	if err := applyClients(ctx, dyn, sc.Clients); err != nil {
		return nil, err
	}
	res.ApplyTime = time.Since(start)
	logf("applied in %s; waiting for all to be Ready", res.ApplyTime.Round(10*time.Millisecond))

	lastLog := time.Now()
	for {
		if mgr.Exited() {
			return nil, mgr.Err()
		}
		ready, err := countReady(ctx, dyn)
		if err != nil {
			return nil, err
		}
		at := time.Since(start)
		res.Progress = append(res.Progress, ProgressPoint{At: at, Ready: ready})
		if ready > 0 && res.FirstReady == 0 {
			res.FirstReady = at
		}
		if ready == sc.Clients {
			res.TimeToReady = at
			break
		}
		if at > sc.ReadyTimeout {
			return nil, fmt.Errorf("only %d of %d OAuthClients Ready after %s (logs: %s)", ready, sc.Clients, at.Round(time.Second), logDir)
		}
		if time.Since(lastLog) >= 10*time.Second {
			logf("  %4.0fs  %d/%d Ready", at.Seconds(), ready, sc.Clients)
			lastLog = time.Now()
		}
		time.Sleep(sc.PollEvery)
	}
	after, err := stats()
	if err != nil {
		return nil, err
	}
	res.AtReady = diffStats(after, before)
	res.PeakRSSAtReady, _ = proc.Status(mgr.Pid(), "VmHWM")
	res.ManagerMetrics, _ = scrapeMetrics("http://" + metricsAddr + "/metrics")
	logf("all %d Ready after %s (first after %s); manager VmHWM %s", sc.Clients, res.TimeToReady.Round(100*time.Millisecond),
		res.FirstReady.Round(100*time.Millisecond), MiB(res.PeakRSSAtReady))

	if sc.SteadyWindow == 0 && sc.SteadySettle > 0 {
		time.Sleep(sc.SteadySettle)
	}
	if sc.SteadyWindow > 0 {
		logf("steady state: settling %s, then counting Okta calls for %s (resync period %s)", sc.SteadySettle, sc.SteadyWindow, sc.ResyncPeriod)
		time.Sleep(sc.SteadySettle)
		s0, err := stats()
		if err != nil {
			return nil, err
		}
		m0, _ := scrapeAll("http://" + metricsAddr + "/metrics")
		t0 := time.Now()
		time.Sleep(sc.SteadyWindow)
		s1, err := stats()
		if err != nil {
			return nil, err
		}
		m1, _ := scrapeAll("http://" + metricsAddr + "/metrics")
		res.SteadyAPIRequests = SumMetric(m1, "rest_client_requests_total") - SumMetric(m0, "rest_client_requests_total")
		if mgr.Exited() {
			return nil, mgr.Err()
		}
		d := diffStats(s1, s0)
		res.Steady = &d
		res.SteadyWindow = time.Since(t0)
		if ready, err := countReady(ctx, dyn); err == nil && ready != sc.Clients {
			logf("warning: %d of %d Ready at the end of the steady-state window", ready, sc.Clients)
		}
	}
	res.PeakRSS, _ = proc.Status(mgr.Pid(), "VmHWM")
	res.RSS, _ = proc.Status(mgr.Pid(), "VmRSS")
	res.RSSAnon, _ = proc.Status(mgr.Pid(), "RssAnon")
	res.RSSFile, _ = proc.Status(mgr.Pid(), "RssFile")
	res.EndMetrics, _ = scrapeMetrics("http://" + metricsAddr + "/metrics")
	if sc.HeapProfile {
		p := filepath.Join(sc.OutDir, "manager-heap.pprof")
		if err := saveURL("http://"+pprofAddr+"/debug/pprof/heap", p); err != nil {
			logf("warning: heap profile: %v", err)
		} else {
			res.HeapProfile = p
		}
	}
	if sc.Restart > 0 {
		logf("restarting the manager with %d clients in place; watching it for %s", sc.Clients, sc.Restart)
		if err := mgr.Stop(); err != nil {
			return nil, fmt.Errorf("stopping the manager: %w", err)
		}
		rr, next, err := watchRestart(env, sc, mgrArgs, logDir, metricsAddr, probeAddr, stats)
		if next != nil {
			started = append(started, next)
		}
		if err != nil {
			return nil, err
		}
		res.Restarted = rr
	}
	res.Elapsed = time.Since(began)
	raw, _ := json.MarshalIndent(res, "", "  ")
	_ = os.WriteFile(filepath.Join(sc.OutDir, "result.json"), raw, 0o644)
	return res, nil
}

func providerManifests(org, apiToken, accessPolicy string) string {
	if accessPolicy == "" {
		accessPolicy = "External"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Namespace
metadata: {name: %[2]s}
---
apiVersion: v1
kind: Secret
metadata: {name: %[3]s, namespace: %[1]s}
type: Opaque
stringData: {token: %[4]q}
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: %[5]s}
spec:
  okta:
    orgURL: %[6]s
    authorizationServerID: default
    accessPolicy: %[7]s
    apiTokenSecretRef: {name: %[3]s, namespace: %[1]s, key: token}
`, systemNS, namespace, tokenSecret, apiToken, providerName, org, accessPolicy)
}

// applyClients server-side applies n OAuthClients from 32 goroutines.
func applyClients(ctx context.Context, dyn dynamic.Interface, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				name := fmt.Sprintf("client-%05d", i)
				u := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": oauthv1.GroupVersion.String(),
					"kind":       "OAuthClient",
					"metadata":   map[string]any{"name": name, "namespace": namespace},
					"spec": map[string]any{
						"providerRef": map[string]any{"kind": "ClusterOAuthProvider", "name": providerName},
						"scopes":      []any{scope},
					},
				}}
				if _, err := dyn.Resource(oauthClientGVR).Namespace(namespace).Apply(ctx, name, u,
					metav1.ApplyOptions{FieldManager: "clientcreds-bench", Force: true}); err != nil {
					errs <- fmt.Errorf("apply %s: %w", name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// countReady counts the OAuthClients whose Ready condition is True for their generation.
func countReady(ctx context.Context, dyn dynamic.Interface) (int, error) {
	list, err := dyn.Resource(oauthClientGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		var oc oauthv1.OAuthClient
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &oc); err != nil {
			return 0, err
		}
		c := apimeta.FindStatusCondition(oc.Status.Conditions, oauthv1.ConditionReady)
		if c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == oc.Generation {
			n++
		}
	}
	return n, nil
}

func emulatorStats(org, apiToken string) (oktaemu.Stats, error) {
	req, _ := http.NewRequest(http.MethodGet, org+"/_emulator/stats", nil)
	req.Header.Set("Authorization", "SSWS "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return oktaemu.Stats{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return oktaemu.Stats{}, fmt.Errorf("emulator stats: %s", resp.Status)
	}
	var s oktaemu.Stats
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// diffStats returns a - b.
func diffStats(a, b oktaemu.Stats) oktaemu.Stats {
	d := oktaemu.Stats{
		Total: a.Total - b.Total, RateLimited: a.RateLimited - b.RateLimited, FaultsInjected: a.FaultsInjected - b.FaultsInjected,
		ByRoute: map[string]int64{}, ByStatus: map[string]int64{}, ByRouteStatus: map[string]map[string]int64{},
	}
	for k, v := range a.ByRoute {
		if n := v - b.ByRoute[k]; n != 0 {
			d.ByRoute[k] = n
		}
	}
	for k, v := range a.ByStatus {
		if n := v - b.ByStatus[k]; n != 0 {
			d.ByStatus[k] = n
		}
	}
	for r, m := range a.ByRouteStatus {
		for c, v := range m {
			if n := v - b.ByRouteStatus[r][c]; n != 0 {
				if d.ByRouteStatus[r] == nil {
					d.ByRouteStatus[r] = map[string]int64{}
				}
				d.ByRouteStatus[r][c] = n
			}
		}
	}
	return d
}

// scraped are the metric name prefixes scrapeMetrics keeps.
var scraped = [][]byte{[]byte("clientcreds_"), []byte("go_memstats_heap_"), []byte("go_memstats_next_gc_bytes"),
	[]byte("go_memstats_sys_bytes"), []byte("process_resident_memory_bytes"), []byte("go_gc_heap_live_bytes"),
	[]byte("go_gc_heap_goal_bytes"), []byte("go_gc_gogc_percent"), []byte("go_gc_gomemlimit_bytes")}

// scrapeMetrics returns the samples of a Prometheus text endpoint whose names start with
// one of the scraped prefixes (histogram buckets left out), keyed by the series as
// written (name and labels).
func scrapeMetrics(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
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
		keep := false
		for _, p := range scraped {
			keep = keep || bytes.HasPrefix(line, p)
		}
		if !keep || bytes.Contains(line, []byte("_bucket{")) {
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

// SumMetric sums the series of a metric whose labels contain every given label pair.
func SumMetric(m map[string]float64, name string, labels ...string) float64 {
	var sum float64
	for k, v := range m {
		n, rest, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
				break
			}
		}
		if ok {
			sum += v
		}
	}
	return sum
}

// AppAPI sums the requests to /api/v1/apps and its sub-paths in s, by status class:
// served (anything but 429) and refused (429), and split into reads (GET) and writes.
type AppAPI struct {
	Served, Refused, Reads, Writes int64
	// AppsBucket and AppBucket split Served by the emulator's (and Okta's) rate-limit
	// buckets: GET/PUT/DELETE /api/v1/apps/{id} count against App, the rest against Apps.
	AppsBucket, AppBucket int64
	ByRoute               map[string]int64 // served, by route
}

// AppAPICalls classifies the app-API requests in s.
func AppAPICalls(s oktaemu.Stats) AppAPI {
	a := AppAPI{ByRoute: map[string]int64{}}
	for route, codes := range s.ByRouteStatus {
		method, path, _ := strings.Cut(route, " ")
		if !strings.HasPrefix(path, "/api/v1/apps") {
			continue
		}
		for code, n := range codes {
			if code == "429" {
				a.Refused += n
				continue
			}
			a.Served += n
			a.ByRoute[route] += n
			if path == "/api/v1/apps/{id}" {
				a.AppBucket += n
			} else {
				a.AppsBucket += n
			}
			if method == http.MethodGet {
				a.Reads += n
			} else {
				a.Writes += n
			}
		}
	}
	return a
}

// Routes lists the routes of m sorted by count, descending.
func Routes(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// MiB formats bytes as MiB.
func MiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Okta's rate-limit buckets, as the emulator counts them.
const (
	BucketApps  = "apps"
	BucketApp   = "app"
	BucketToken = "token"
	BucketOther = "other"
)

// Buckets lists the buckets in report order.
var Buckets = []string{BucketApps, BucketApp, BucketToken, BucketOther}

// BucketOf is the bucket of an emulator route ("METHOD /path template").
func BucketOf(route string) string {
	method, path, _ := strings.Cut(route, " ")
	switch {
	case path == "/api/v1/apps/{id}" && (method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete):
		return BucketApp
	case strings.HasPrefix(path, "/api/v1/apps"):
		return BucketApps
	case strings.HasPrefix(path, "/oauth2/") && strings.HasSuffix(path, "/v1/token"):
		return BucketToken
	}
	return BucketOther
}

// BucketCalls are the requests of each bucket: served (not 429) and refused (429).
type BucketCalls struct {
	Served, Refused map[string]int64
}

// CallsByBucket sums the emulator's counters by bucket.
func CallsByBucket(s oktaemu.Stats) BucketCalls {
	b := BucketCalls{Served: map[string]int64{}, Refused: map[string]int64{}}
	for route, codes := range s.ByRouteStatus {
		bucket := BucketOf(route)
		for code, n := range codes {
			if code == "429" {
				b.Refused[bucket] += n
			} else {
				b.Served[bucket] += n
			}
		}
	}
	return b
}

// RealOrgFloor is the lower bound on the time until all clients are Ready that the preset's
// buckets imply for the calls the emulator served: for each bucket, calls ÷ what the
// operator may use of it per window — the API token's share for the management buckets
// (apps, app, other: the token's ceiling), the manager's share of the org-wide token bucket
// — and the busiest bucket sets the floor. ok is false when the scenario has no preset.
func RealOrgFloor(r *Result) (floor time.Duration, bucket string, ok bool) {
	sc := r.Scenario
	if sc.Preset == "" {
		return 0, "", false
	}
	lim, err := oktaemu.PresetRateLimits(sc.Preset)
	if err != nil {
		return 0, "", false
	}
	tokenShare := sc.EmulatorShare
	if tokenShare <= 0 {
		tokenShare = 1
	}
	mgrShare := sc.ManagerShare
	if mgrShare <= 0 {
		mgrShare = 0.5
	}
	ceiling := map[string]int{
		BucketApps:  max(1, int(float64(lim.Apps)*tokenShare)),
		BucketApp:   max(1, int(float64(lim.App)*tokenShare)),
		BucketOther: max(1, int(float64(lim.Other)*tokenShare)),
		BucketToken: max(1, int(float64(lim.Token)*mgrShare)),
	}
	calls := CallsByBucket(r.AtReady)
	win := sc.WindowLength()
	for _, b := range Buckets {
		d := time.Duration(float64(calls.Served[b]) / float64(ceiling[b]) * float64(win))
		if d > floor {
			floor, bucket = d, b
		}
	}
	return floor, bucket, true
}
