// Package hydrabench measures clientcreds and Ory hydra-maester side by side on one Ory
// Hydra (bin/hydra, in-memory SQLite, JWT access tokens): N OAuthClients under bin/manager
// and N OAuth2Client objects under hydra-maester (built by hack/build-hydra-maester.sh),
// each operator's admin calls counted by its own counting reverse proxy in front of
// Hydra's admin port on loopback. For each operator: the time from the first apply until
// every Secret holds working credentials (a token fetched with each by the benchmark), the
// admin calls per client, the manager's memory, and the admin calls per client per resync
// over a steady-state window.
package hydrabench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/proc"
	"github.com/clientcreds/clientcreds/internal/procs"
)

// Config says what to run.
type Config struct {
	// Root is the repository; Bin its bin/ (manager, hydra, controlplane); Assets the
	// control plane's binaries; MaesterDir holds hydra-maester's manager and crd.yaml.
	Root, Bin, Assets, MaesterDir, MaesterTag string
	OutDir                                    string
	// HydraEnv is added to Hydra's environment (e.g. OAUTH2_HASHERS_BCRYPT_COST=4).
	HydraEnv []string
	// AccessTokenAlg, when set (ES256, RS256, ...), is the algorithm of a key added to
	// Hydra's access-token key set (hydra.jwt.access-token) through its admin API before
	// either operator starts, as `hydra create jwks` does; Hydra signs with the newest key.
	// Unset, Hydra generates its default, a 4096-bit RSA key.
	AccessTokenAlg string
	// Clients is N, per operator.
	Clients int
	// ResyncPeriod is both operators' resync (clientcreds --resync-period, hydra-maester
	// --sync-period); SteadyWindow how long admin calls are counted once both are done,
	// after SteadySettle.
	ResyncPeriod, SteadySettle, SteadyWindow time.Duration
	ReadyTimeout                             time.Duration
	Logf                                     func(format string, args ...any)
}

// Side is what one operator did.
type Side struct {
	Name string `json:"name"`
	// ApplyTime is how long applying the N objects took; TimeToWorking runs from the first
	// apply until the last Secret's credentials got a token, FirstWorking until the first.
	ApplyTime     time.Duration `json:"applyTime"`
	TimeToWorking time.Duration `json:"timeToWorking"`
	FirstWorking  time.Duration `json:"firstWorking"`
	// TimeToCreated runs from the first apply until Hydra answered the last client create
	// (the operator's own pace, without the benchmark's token checks); ClientsCreated
	// counts the creates Hydra answered 201.
	TimeToCreated  time.Duration `json:"timeToCreated"`
	ClientsCreated int64         `json:"clientsCreated"`
	// Calls are the admin API calls until every Secret worked, by "METHOD route".
	Calls map[string]int64 `json:"calls"`
	// Steady are the admin API calls over the steady-state window.
	Steady map[string]int64 `json:"steady"`
	// PeakRSS (VmHWM) and RSS (VmRSS) of the operator's process at the end; PeakRSSAtWorking
	// when every Secret first worked.
	PeakRSS          int64 `json:"peakRss"`
	RSS              int64 `json:"rss"`
	PeakRSSAtWorking int64 `json:"peakRssAtWorking"`
	// RSSAnon is the anonymous part of RSS at the end (heap, stacks: the Go runtime's
	// memory), without the mapped executable, whose size differs between the two.
	RSSAnon int64 `json:"rssAnon"`
}

// Result is the run.
type Result struct {
	Config       Config        `json:"-"`
	Clients      int           `json:"clients"`
	ClientCreds  Side          `json:"clientcreds"`
	Maester      Side          `json:"hydraMaester"`
	SteadyWindow time.Duration `json:"steadyWindow"`
	Elapsed      time.Duration `json:"elapsed"`
}

const scope = "hello:read"

var (
	oauthClientGVR  = schema.GroupVersionResource{Group: "oauth.clientcreds.dev", Version: "v1alpha1", Resource: "oauthclients"}
	oauth2ClientGVR = schema.GroupVersionResource{Group: "hydra.ory.sh", Version: "v1alpha1", Resource: "oauth2clients"}
)

// Run runs the benchmark.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	began := time.Now()
	logf := cfg.Logf
	logDir := filepath.Join(cfg.OutDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	var started []*proc.Process
	defer func() {
		for i := len(started) - 1; i >= 0; i-- {
			_ = started[i].Stop()
		}
	}()

	// Control plane, with both operators' CRDs.
	kubeconfig := filepath.Join(cfg.OutDir, "kubeconfig")
	_ = os.Remove(kubeconfig)
	cp, err := proc.Start(proc.Spec{Name: "controlplane", Path: filepath.Join(cfg.Bin, "controlplane"), LogDir: logDir,
		StopGrace: 60 * time.Second, NoDeathSignal: true,
		Args: []string{"--kubeconfig", kubeconfig, "--port", "0", "--etcd-port", "0", "--assets", cfg.Assets, "--log-dir", logDir,
			"--exit-with-parent"}})
	if err != nil {
		return nil, err
	}
	started = append(started, cp)
	kubectl := func(stdin string, args ...string) error {
		cmd := exec.CommandContext(ctx, filepath.Join(cfg.Assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if cp.Exited() {
			return nil, cp.Err()
		}
		if _, err := os.Stat(kubeconfig); err == nil && kubectl("", "get", "--raw", "/readyz") == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("kube-apiserver did not become ready within 3m")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, f := range []string{filepath.Join(cfg.Root, "config", "crd", "bases"), filepath.Join(cfg.MaesterDir, "crd.yaml")} {
		if err := kubectl("", "apply", "--server-side", "-f", f); err != nil {
			return nil, err
		}
	}
	if err := kubectl("", "wait", "--for=condition=Established", "--timeout=60s", "crd/oauthclients.oauth.clientcreds.dev",
		"crd/clusteroauthproviders.oauth.clientcreds.dev", "crd/oauth2clients.hydra.ory.sh"); err != nil {
		return nil, err
	}

	// Hydra, and a counting proxy in front of its admin API for each operator.
	adminPort, publicPort := freePort(), freePort()
	if adminPort == 0 || publicPort == 0 {
		return nil, errors.New("no free port")
	}
	issuer := fmt.Sprintf("http://127.0.0.1:%d/", publicPort)
	hydra, err := proc.Start(proc.Spec{Name: "hydra", Path: filepath.Join(cfg.Bin, "hydra"), LogDir: logDir,
		Args: []string{"serve", "all", "--dev"},
		Env: append([]string{"DSN=memory", "SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT=" + strconv.Itoa(adminPort),
			"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT=" + strconv.Itoa(publicPort), "URLS_SELF_ISSUER=" + issuer,
			"SECRETS_SYSTEM=" + randomHex(16), "STRATEGIES_ACCESS_TOKEN=jwt", "LOG_LEVEL=warn"}, cfg.HydraEnv...)})
	if err != nil {
		return nil, err
	}
	started = append(started, hydra)
	adminURL := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	if err := procs.WaitHTTP(adminURL+"/health/ready", 60*time.Second, procs.Status2xx, hydra); err != nil {
		return nil, err
	}
	if cfg.AccessTokenAlg != "" {
		if err := addAccessTokenKey(adminURL, cfg.AccessTokenAlg); err != nil {
			return nil, err
		}
	}
	tokenURL := strings.TrimSuffix(issuer, "/") + "/oauth2/token"
	ccProxy, err := startCounter(adminURL)
	if err != nil {
		return nil, err
	}
	defer ccProxy.close()
	hmProxy, err := startCounter(adminURL)
	if err != nil {
		return nil, err
	}
	defer hmProxy.close()

	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	restCfg.QPS, restCfg.Burst = -1, 0
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	kc, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	if err := kubectl(`apiVersion: v1
kind: Namespace
metadata: {name: bench-clientcreds}
---
apiVersion: v1
kind: Namespace
metadata: {name: bench-maester}
`, "apply", "-f", "-"); err != nil {
		return nil, err
	}
	res := &Result{Config: cfg, Clients: cfg.Clients}

	// clientcreds.
	if err := kubectl(fmt.Sprintf(`apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: hydra}
spec:
  hydra: {adminURL: %q, issuer: %q}
`, ccProxy.url, issuer), "apply", "-f", "-"); err != nil {
		return nil, err
	}
	metricsAddr, _ := procs.FreeAddr()
	probeAddr, _ := procs.FreeAddr()
	mgr, err := proc.Start(proc.Spec{Name: "manager", Path: filepath.Join(cfg.Bin, "manager"), LogDir: logDir,
		Args: []string{"--kubeconfig", kubeconfig, "--metrics-bind-address", metricsAddr, "--health-probe-bind-address", probeAddr,
			"--resync-period", cfg.ResyncPeriod.String(), "--allow-insecure-loopback-http"}})
	if err != nil {
		return nil, err
	}
	started = append(started, mgr)
	if err := procs.WaitHTTP("http://"+probeAddr+"/readyz", 60*time.Second, procs.Status2xx, mgr); err != nil {
		return nil, err
	}
	if err := kubectl("", "wait", "--for=condition=Ready", "--timeout=60s", "clusteroauthprovider/hydra"); err != nil {
		return nil, err
	}
	logf("clientcreds: applying %d OAuthClients", cfg.Clients)
	res.ClientCreds, err = measure(ctx, cfg, "clientcreds", mgr, ccProxy, kc, tokenURL, "bench-clientcreds", func(ctx context.Context) error {
		return apply(ctx, dyn, oauthClientGVR, "bench-clientcreds", cfg.Clients, func(name string) map[string]any {
			return map[string]any{"providerRef": map[string]any{"kind": "ClusterOAuthProvider", "name": "hydra"}, "scopes": []any{scope}}
		}, "OAuthClient")
	})
	if err != nil {
		return nil, err
	}

	// hydra-maester.
	hmMetrics, _ := procs.FreeAddr()
	hm, err := proc.Start(proc.Spec{Name: "hydra-maester", Path: filepath.Join(cfg.MaesterDir, "manager"), LogDir: logDir,
		Env: []string{"KUBECONFIG=" + kubeconfig},
		Args: []string{"--metrics-addr", hmMetrics, "--hydra-url", "http://127.0.0.1", "--hydra-port", strconv.Itoa(hmProxy.port),
			"--endpoint", "/admin/clients", "--sync-period", cfg.ResyncPeriod.String()}})
	if err != nil {
		return nil, err
	}
	started = append(started, hm)
	logf("hydra-maester %s: applying %d OAuth2Clients", cfg.MaesterTag, cfg.Clients)
	res.Maester, err = measure(ctx, cfg, "hydra-maester", hm, hmProxy, kc, tokenURL, "bench-maester", func(ctx context.Context) error {
		return apply(ctx, dyn, oauth2ClientGVR, "bench-maester", cfg.Clients, func(name string) map[string]any {
			return map[string]any{"grantTypes": []any{"client_credentials"}, "responseTypes": []any{"token"}, "scope": scope,
				"secretName": name + "-oauth-client", "tokenEndpointAuthMethod": "client_secret_basic"}
		}, "OAuth2Client")
	})
	if err != nil {
		return nil, err
	}

	// Steady state: both running, nothing changing.
	logf("steady state: settling %s, then counting both operators' admin calls for %s (resync period %s)", cfg.SteadySettle,
		cfg.SteadyWindow, cfg.ResyncPeriod)
	time.Sleep(cfg.SteadySettle)
	cc0, hm0 := ccProxy.snapshot(), hmProxy.snapshot()
	t0 := time.Now()
	time.Sleep(cfg.SteadyWindow)
	res.ClientCreds.Steady, res.Maester.Steady = diff(ccProxy.snapshot(), cc0), diff(hmProxy.snapshot(), hm0)
	res.SteadyWindow = time.Since(t0)
	for _, s := range []struct {
		side *Side
		p    *proc.Process
	}{{&res.ClientCreds, mgr}, {&res.Maester, hm}} {
		if s.p.Exited() {
			return nil, fmt.Errorf("%s exited during the steady-state window: %v", s.side.Name, s.p.Err())
		}
		s.side.PeakRSS, _ = proc.Status(s.p.Pid(), "VmHWM")
		s.side.RSS, _ = proc.Status(s.p.Pid(), "VmRSS")
		s.side.RSSAnon, _ = proc.Status(s.p.Pid(), "RssAnon")
	}
	res.Elapsed = time.Since(began)
	raw, _ := json.MarshalIndent(res, "", "  ")
	_ = os.WriteFile(filepath.Join(cfg.OutDir, "result.json"), raw, 0o644)
	return res, nil
}

// measure applies one operator's objects and waits until every Secret in ns holds
// credentials that get a token.
func measure(ctx context.Context, cfg Config, name string, p *proc.Process, counter *counter, kc kubernetes.Interface,
	tokenURL, ns string, applyAll func(context.Context) error) (Side, error) {
	side := Side{Name: name}
	before := counter.snapshot()
	start := time.Now()
	if err := applyAll(ctx); err != nil {
		return side, err
	}
	side.ApplyTime = time.Since(start)
	working := map[string]string{} // Secret name → the CLIENT_ID that got a token
	lastLog := time.Now()
	httpc := &http.Client{Timeout: 30 * time.Second}
	for len(working) < cfg.Clients {
		if p.Exited() {
			return side, fmt.Errorf("%s exited: %v", name, p.Err())
		}
		if time.Since(start) > cfg.ReadyTimeout {
			return side, fmt.Errorf("%s: only %d of %d Secrets work after %s", name, len(working), cfg.Clients, time.Since(start).Round(time.Second))
		}
		list, err := kc.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return side, err
		}
		type job struct{ name, id, secret string }
		var jobs []job
		for _, s := range list.Items {
			id, secret := string(s.Data["CLIENT_ID"]), string(s.Data["CLIENT_SECRET"])
			if id == "" || secret == "" || working[s.Name] == id {
				continue
			}
			jobs = append(jobs, job{s.Name, id, secret})
		}
		var mu sync.Mutex
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(jobs) {
						return
					}
					j := jobs[i]
					if tokenWorks(ctx, httpc, tokenURL, j.id, j.secret) {
						mu.Lock()
						working[j.name] = j.id
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if len(working) > 0 && side.FirstWorking == 0 {
			side.FirstWorking = time.Since(start)
		}
		if time.Since(lastLog) >= 10*time.Second {
			cfg.Logf("  %4.0fs  %s: %d/%d Secrets work", time.Since(start).Seconds(), name, len(working), cfg.Clients)
			lastLog = time.Now()
		}
		if len(working) < cfg.Clients {
			time.Sleep(500 * time.Millisecond)
		}
	}
	side.TimeToWorking = time.Since(start)
	created, last := counter.createdState()
	side.ClientsCreated = created
	side.TimeToCreated = last.Sub(start)
	side.Calls = diff(counter.snapshot(), before)
	side.PeakRSSAtWorking, _ = proc.Status(p.Pid(), "VmHWM")
	cfg.Logf("%s: every Secret works after %s (first after %s); %d admin calls; VmHWM %.1f MiB", name,
		side.TimeToWorking.Round(100*time.Millisecond), side.FirstWorking.Round(100*time.Millisecond), total(side.Calls),
		float64(side.PeakRSSAtWorking)/(1<<20))
	return side, nil
}

// tokenWorks asks the token endpoint for a client-credentials token with client_secret_basic.
func tokenWorks(ctx context.Context, c *http.Client, tokenURL, id, secret string) bool {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return false
	}
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&out) == nil && out.AccessToken != ""
}

// apply server-side applies n objects of gvr from 32 goroutines.
func apply(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns string, n int,
	spec func(name string) map[string]any, kind string) error {
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
					"apiVersion": gvr.Group + "/" + gvr.Version, "kind": kind,
					"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec(name),
				}}
				if _, err := dyn.Resource(gvr).Namespace(ns).Apply(ctx, name, u, metav1.ApplyOptions{FieldManager: "clientcreds-bench", Force: true}); err != nil {
					errs <- fmt.Errorf("apply %s %s: %w", kind, name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// counter is a reverse proxy that counts the requests it forwards by "METHOD route".
type counter struct {
	url  string
	port int
	srv  *http.Server
	mu   sync.Mutex
	n    map[string]int64
	// created counts the clients Hydra created (POST answered 201); lastCreated is when
	// the last of them was answered.
	created     int64
	lastCreated time.Time
}

// statusRecorder keeps the status an answer was written with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func startCounter(target string) (*counter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &counter{n: map[string]int64{}, port: l.Addr().(*net.TCPAddr).Port}
	c.url = "http://" + l.Addr().String()
	proxy := httputil.NewSingleHostReverseProxy(u)
	c.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + route(r.URL.Path)
		c.mu.Lock()
		c.n[key]++
		c.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		if key == "POST /admin/clients" && rec.status == http.StatusCreated {
			c.mu.Lock()
			c.created++
			c.lastCreated = time.Now()
			c.mu.Unlock()
		}
	})}
	go func() { _ = c.srv.Serve(l) }()
	return c, nil
}

// route replaces a client id in an admin path by {id}.
func route(p string) string {
	const prefix = "/admin/clients/"
	if strings.HasPrefix(p, prefix) && len(p) > len(prefix) {
		return prefix + "{id}"
	}
	return p
}

func (c *counter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func (c *counter) close() { _ = c.srv.Close() }

// createdState reports how many clients were created in all and when the last one was.
func (c *counter) createdState() (int64, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.created, c.lastCreated
}

func diff(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range a {
		if d := v - b[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func total(m map[string]int64) int64 {
	var t int64
	for _, v := range m {
		t += v
	}
	return t
}

// Writes counts the calls that change something in Hydra (anything but GET).
func Writes(m map[string]int64) int64 {
	var t int64
	for k, v := range m {
		if !strings.HasPrefix(k, http.MethodGet+" ") {
			t += v
		}
	}
	return t
}

// Total is the number of calls in m.
func Total(m map[string]int64) int64 { return total(m) }

// Routes lists m's keys, the most called first.
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

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Markdown renders the result as a section of the report.
func Markdown(r *Result) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	n := float64(r.Clients)
	resyncs := r.SteadyWindow.Seconds() / r.Config.ResyncPeriod.Seconds()
	mib := func(v int64) string { return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20)) }
	w("## Hydra: clientcreds and hydra-maester side by side\n\n")
	w("One Ory Hydra (bin/hydra, in-memory SQLite, JWT access tokens); %d OAuthClients under bin/manager, then %d OAuth2Clients under "+
		"hydra-maester %s (built from its release tag by hack/build-hydra-maester.sh), each operator's admin calls counted by its own "+
		"counting reverse proxy in front of Hydra's admin port. \"Working\" means the benchmark fetched a token from Hydra with the "+
		"Secret's CLIENT_ID and CLIENT_SECRET. Both operators resync every %s (clientcreds --resync-period, hydra-maester --sync-period); "+
		"the steady state is counted over %s with both running and nothing changing.\n\n",
		r.Clients, r.Clients, r.Config.MaesterTag, r.Config.ResyncPeriod, r.SteadyWindow.Round(time.Second))
	if r.Config.AccessTokenAlg != "" {
		w("Hydra signed access tokens with a %s key, added to its key set `hydra.jwt.access-token` through the admin API before "+
			"the operators started (its default is a 4096-bit RSA key).\n\n", r.Config.AccessTokenAlg)
	}
	if len(r.Config.HydraEnv) > 0 {
		w("Hydra ran with `%s`.\n\n", strings.Join(r.Config.HydraEnv, " "))
	}
	w("| | clientcreds | hydra-maester |\n|---|---|---|\n")
	w("| apply of %d objects | %s | %s |\n", r.Clients, r.ClientCreds.ApplyTime.Round(10*time.Millisecond), r.Maester.ApplyTime.Round(10*time.Millisecond))
	w("| time until every Secret works | **%s** | **%s** |\n", r.ClientCreds.TimeToWorking.Round(100*time.Millisecond), r.Maester.TimeToWorking.Round(100*time.Millisecond))
	w("| rate (working Secrets per second) | %.1f/s | %.1f/s |\n", n/r.ClientCreds.TimeToWorking.Seconds(), n/r.Maester.TimeToWorking.Seconds())
	w("| time until Hydra created the last client (clients created) | %s (%d) | %s (%d) |\n",
		r.ClientCreds.TimeToCreated.Round(100*time.Millisecond), r.ClientCreds.ClientsCreated,
		r.Maester.TimeToCreated.Round(100*time.Millisecond), r.Maester.ClientsCreated)
	w("| first Secret working | %s | %s |\n", r.ClientCreds.FirstWorking.Round(100*time.Millisecond), r.Maester.FirstWorking.Round(100*time.Millisecond))
	w("| admin calls per client until all work | %.2f | %.2f |\n", float64(total(r.ClientCreds.Calls))/n, float64(total(r.Maester.Calls))/n)
	w("| manager peak RSS when all work | %s | %s |\n", mib(r.ClientCreds.PeakRSSAtWorking), mib(r.Maester.PeakRSSAtWorking))
	w("| manager peak RSS / RSS at the end | %s / %s | %s / %s |\n", mib(r.ClientCreds.PeakRSS), mib(r.ClientCreds.RSS), mib(r.Maester.PeakRSS), mib(r.Maester.RSS))
	w("| of which anonymous (heap, stacks) at the end | %s | %s |\n", mib(r.ClientCreds.RSSAnon), mib(r.Maester.RSSAnon))
	w("| steady state: admin calls per client per resync | %.2f | %.2f |\n", float64(total(r.ClientCreds.Steady))/n/resyncs, float64(total(r.Maester.Steady))/n/resyncs)
	w("| steady state: writes (non-GET) over the window | %d | %d |\n\n", Writes(r.ClientCreds.Steady), Writes(r.Maester.Steady))
	for _, s := range []Side{r.ClientCreds, r.Maester} {
		w("%s, admin calls until all work:", s.Name)
		for _, k := range Routes(s.Calls) {
			w(" `%s` %d;", k, s.Calls[k])
		}
		w(" over the steady-state window:")
		if len(s.Steady) == 0 {
			w(" none")
		}
		for _, k := range Routes(s.Steady) {
			w(" `%s` %d;", k, s.Steady[k])
		}
		w("\n\n")
	}
	w("The run took %s.\n", r.Elapsed.Round(time.Second))
	return b.String()
}

// addAccessTokenKey adds a signing key of algorithm alg to Hydra's access-token key set and
// checks that it is the one Hydra signs with: the newest key of the set comes first.
func addAccessTokenKey(adminURL, alg string) error {
	const set = "/admin/keys/hydra.jwt.access-token"
	kid := "bench-" + strings.ToLower(alg)
	body, err := json.Marshal(map[string]string{"alg": alg, "use": "sig", "kid": kid})
	if err != nil {
		return err
	}
	resp, err := http.Post(adminURL+set, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("add a %s access-token key: %w", alg, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("add a %s access-token key: Hydra answered %s", alg, resp.Status)
	}
	resp, err = http.Get(adminURL + set)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var keys struct {
		Keys []struct {
			KID string `json:"kid"`
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&keys); err != nil {
		return fmt.Errorf("read the access-token key set: %w", err)
	}
	if len(keys.Keys) == 0 || keys.Keys[0].KID != kid {
		return fmt.Errorf("the access-token key set does not start with the %s key %s: %+v", alg, kid, keys.Keys)
	}
	return nil
}
