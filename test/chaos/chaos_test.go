//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/procs"
	"github.com/clientcreds/clientcreds/internal/testenv"
)

// config is what CHAOS_* variables set.
type config struct {
	clients      int
	duration     time.Duration // the fault phase
	seed         uint64
	kubeletDelay time.Duration
	tokenLife    time.Duration
	interval     time.Duration
	grace        time.Duration
	churn        float64 // part of the clients deleted and created again
	managerKills int
	out          string
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func loadConfig(t *testing.T) config {
	c := config{
		clients:      envInt("CHAOS_CLIENTS", 200),
		duration:     envDuration("CHAOS_DURATION", 8*time.Minute),
		kubeletDelay: envDuration("CHAOS_KUBELET_DELAY", 3*time.Second),
		tokenLife:    envDuration("CHAOS_TOKEN_LIFETIME", 30*time.Second),
		interval:     30 * time.Second,
		grace:        15 * time.Second,
		churn:        0.2,
		managerKills: envInt("CHAOS_MANAGER_KILLS", 24),
		out:          os.Getenv("CHAOS_OUT"),
	}
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: want an unsigned integer", v)
		}
		c.seed = s
	} else {
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.seed = uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	}
	if c.clients < 1 || c.duration < time.Minute || c.duration > 11*time.Minute {
		t.Fatalf("CHAOS_CLIENTS must be ≥ 1 and CHAOS_DURATION within 1m..11m (the whole run stays under 15m); got %d, %s", c.clients, c.duration)
	}
	if c.kubeletDelay >= c.grace {
		t.Fatalf("CHAOS_KUBELET_DELAY %s must be shorter than the grace period %s", c.kubeletDelay, c.grace)
	}
	return c
}

// run is one chaos run: its processes, clients and records.
type run struct {
	t     *testing.T
	cfg   config
	start time.Time
	dir   string
	// logDir keeps every process's logs (kept after the run, printed).
	logDir string
	ns     string

	k8s     client.Client
	kc      kubernetes.Interface
	api     *apiServer
	emu     *restartable
	org     string
	token   string
	state   string
	front   string
	mgrs    [2]*restartable
	metrics [2]string

	evMu    sync.Mutex
	events  *os.File
	counts  map[string]int
	tallies map[string]int

	downMu  sync.Mutex
	emuDown [][2]time.Time // intervals the emulator was not serving
	lastEnd time.Time      // end of the last fault
	secrets *secretSet
	checks  *checker
	fleet   *fleet
}

// eventf logs an event with its time since the start, to the test log and
// events.log.
func (r *run) eventf(kind, format string, args ...any) {
	line := fmt.Sprintf("%8.1fs %s %-10s %s", time.Since(r.start).Seconds(), time.Now().UTC().Format("15:04:05.000"), kind, fmt.Sprintf(format, args...))
	r.evMu.Lock()
	defer r.evMu.Unlock()
	r.counts[kind]++
	if r.events != nil {
		fmt.Fprintln(r.events, line)
	}
	r.t.Log(line)
}

// count tallies one fault or churn of a kind.
func (r *run) count(kind string) {
	r.evMu.Lock()
	r.tallies[kind]++
	r.evMu.Unlock()
}

func (r *run) tally() map[string]int {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	out := make(map[string]int, len(r.tallies))
	for k, v := range r.tallies {
		out[k] = v
	}
	return out
}

func (r *run) faultDone() {
	r.downMu.Lock()
	r.lastEnd = time.Now()
	r.downMu.Unlock()
}

func (r *run) emulatorDownAround(at time.Time, slack time.Duration) bool {
	r.downMu.Lock()
	defer r.downMu.Unlock()
	for _, iv := range r.emuDown {
		end := iv[1]
		if end.IsZero() {
			end = time.Now()
		}
		if !at.Before(iv[0]) && at.Before(end.Add(slack)) {
			return true
		}
	}
	return false
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestChaos is make chaos.
func TestChaos(t *testing.T) {
	cfg := loadConfig(t)
	r := &run{t: t, cfg: cfg, start: time.Now(), ns: "chaos", counts: map[string]int{}, tallies: map[string]int{}, secrets: newSecretSet()}
	r.dir = t.TempDir()
	var err error
	r.logDir, err = os.MkdirTemp("", fmt.Sprintf("clientcreds-chaos-%d-", cfg.seed))
	if err != nil {
		t.Fatal(err)
	}
	if r.events, err = os.Create(filepath.Join(r.logDir, "events.log")); err != nil {
		t.Fatal(err)
	}
	t.Logf("chaos: seed %d, %d OAuthClients, faults for %s, kubelet delay %s, token lifetime %s, rotation every %s (grace %s); logs in %s",
		cfg.seed, cfg.clients, cfg.duration, cfg.kubeletDelay, cfg.tokenLife, cfg.interval, cfg.grace, r.logDir)
	rng := mrand.New(mrand.NewPCG(cfg.seed, 0x636861))

	r.setUp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	r.fleet, err = newFleet(r)
	if err != nil {
		t.Fatal(err)
	}
	defer r.fleet.stopAll()
	inf := r.fleet.watchSecrets(ctx, r.kc)
	r.checks = newChecker(r)

	// The clients, all at once.
	created := time.Now()
	for _, sl := range r.fleet.slots {
		uid := r.createClient(ctx, sl.name)
		r.fleet.setGeneration(sl, uid, inf)
	}
	r.eventf("setup", "%d OAuthClients created in %s", cfg.clients, time.Since(created).Round(time.Millisecond))
	if n, err := r.waitAllReady(ctx, 5*time.Minute); err != nil {
		t.Fatalf("before the faults: %d of %d Ready: %v", n, cfg.clients, err)
	}
	r.eventf("setup", "all %d Ready %s after creation", cfg.clients, time.Since(created).Round(time.Millisecond))

	go r.checks.loop(ctx)

	// Faults and churn, each kind on its own schedule drawn from the seed.
	faultStart := time.Now()
	plan := r.plan(rng)
	var wg sync.WaitGroup
	for _, p := range plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p(ctx, faultStart, inf)
		}()
	}
	wg.Wait()
	r.faultDone()
	r.downMu.Lock()
	last := r.lastEnd
	r.downMu.Unlock()
	r.eventf("settle", "last fault ended; faults ran %s", last.Sub(faultStart).Round(time.Second))

	// Every remaining OAuthClient Ready within 2 minutes after the last fault.
	n, readyErr := r.waitAllReady(ctx, 2*time.Minute)
	readyAfter := time.Since(last)
	// Let deletions and retirements finish, then the final checks.
	time.Sleep(cfg.grace + 5*time.Second)
	r.checks.once(ctx, true)
	r.fleet.stopAll()
	cancel()
	r.report(n, readyErr, readyAfter)
}

// setUp starts the control plane, the emulator, hello, the verifier and
// the manager, and creates the provider.
func (r *run) setUp(t *testing.T) {
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	restCfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		t.Fatalf("control plane: %v", err)
	}
	t.Cleanup(func() {
		if r.api != nil && r.api.envPid == 0 {
			_ = r.api.r.stop()
		}
		_ = env.Stop()
	})
	restCfg.QPS, restCfg.Burst = 200, 400
	restCfg.Timeout = 10 * time.Second
	if r.k8s, err = client.New(restCfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		t.Fatal(err)
	}
	if r.kc, err = kubernetes.NewForConfig(restCfg); err != nil {
		t.Fatal(err)
	}
	ready := func(ctx context.Context) error {
		return r.kc.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	}
	if r.api, err = newAPIServer(r.logDir, ready); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(r.dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigFor(restCfg), 0o600); err != nil {
		t.Fatal(err)
	}

	// The org: fixed address across restarts, its state in a file.
	emuAddr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	r.org = "http://" + emuAddr
	r.token = randomHex(20)
	r.state = filepath.Join(r.dir, "org-state.json")
	r.secrets.addValue(r.token)
	bin := func(name string) string {
		p, err := binary(name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	r.emu = &restartable{name: "okta-emulator", bin: bin("okta-emulator"), logDir: r.logDir,
		args: []string{"--addr", emuAddr, "--state-file", r.state, "--scopes", "hello:read",
			"--token-lifetime", r.cfg.tokenLife.String(),
			// No rate limits: the run is about faults, not about the budget.
			"--rate-limit-apps", "-1", "--rate-limit-app", "-1", "--rate-limit-token", "-1", "--rate-limit-other", "-1"},
		env:   []string{"OKTA_EMULATOR_API_TOKEN=" + r.token},
		ready: r.org + "/_emulator/healthz"}
	if err := r.emu.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.emu.stop() })

	helloAddr, _ := procs.FreeAddr()
	hello := &restartable{name: "hello", bin: bin("hello"), logDir: r.logDir, env: []string{"HELLO_LISTEN=" + helloAddr},
		ready: "http://" + helloAddr + "/healthz"}
	if err := hello.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hello.stop() })
	front, _ := procs.FreeAddr()
	admin, _ := procs.FreeAddr()
	verifier := &restartable{name: "verifier", bin: bin("verifier"), logDir: r.logDir,
		args: []string{"--issuer", r.org + "/oauth2/default", "--audience", "api://default", "--required-scopes", "hello:read",
			"--listen", front, "--admin-listen", admin, "--upstream", "http://" + helloAddr, "--log-level", "warn"},
		ready: "http://" + admin + "/readyz"}
	if err := verifier.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = verifier.stop() })
	r.front = "http://" + front

	ctx := context.Background()
	for _, ns := range []string{"clientcreds-system", r.ns} {
		if err := r.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "okta-api-token", Namespace: "clientcreds-system"},
		StringData: map[string]string{"token": r.token}}); err != nil {
		t.Fatal(err)
	}
	if err := r.k8s.Create(ctx, &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "chaos"},
		Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{OrgURL: r.org,
			APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "okta-api-token", Namespace: "clientcreds-system"}}}}); err != nil {
		t.Fatal(err)
	}

	for i := range r.mgrs {
		metrics, _ := procs.FreeAddr()
		probe, _ := procs.FreeAddr()
		r.metrics[i] = "http://" + metrics + "/metrics"
		r.mgrs[i] = &restartable{name: fmt.Sprintf("manager-%c", 'a'+i), bin: bin("manager"), logDir: r.logDir,
			args: []string{"--kubeconfig", kubeconfig, "--metrics-bind-address", metrics, "--health-probe-bind-address", probe,
				"--allow-insecure-loopback-http", "--leader-elect", "--leader-election-namespace", "clientcreds-system",
				"--resync-period", "2m"},
			ready: "http://" + probe + "/readyz", keepUp: true,
			onExit: func(name string, err error, in time.Duration) {
				r.count("selfexit")
				r.eventf("exit", "%s exited by itself (%v); restarted in %s, as kubelet would", name, err, in)
			}}
		t.Cleanup(func() { _ = r.mgrs[i].stop() })
	}
	if err := r.mgrs[0].start(); err != nil {
		t.Fatal(err)
	}
}

// kubeconfigFor writes a kubeconfig for restCfg (client-certificate auth,
// as envtest's admin user).
func kubeconfigFor(c *rest.Config) []byte {
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: chaos
  cluster: {server: %q, certificate-authority-data: %q}
users:
- name: admin
  user: {client-certificate-data: %q, client-key-data: %q}
contexts:
- name: chaos
  context: {cluster: chaos, user: admin}
current-context: chaos
`, c.Host, b64(c.CAData), b64(c.CertData), b64(c.KeyData)))
}

func (r *run) newClient(name string) *oauthv1.OAuthClient {
	return &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.ns},
		Spec: oauthv1.OAuthClientSpec{
			ProviderRef: oauthv1.ProviderReference{Kind: "ClusterOAuthProvider", Name: "chaos"},
			Scopes:      []string{"hello:read"},
			Rotation:    &oauthv1.Rotation{Interval: metav1.Duration{Duration: r.cfg.interval}, GracePeriod: &metav1.Duration{Duration: r.cfg.grace}},
		}}
}

// createClient creates an OAuthClient, retrying while the API server is
// away, and returns its UID.
func (r *run) createClient(ctx context.Context, name string) types.UID {
	for {
		oc := r.newClient(name)
		err := r.k8s.Create(ctx, oc)
		if err == nil {
			return oc.UID
		}
		if apierrors.IsAlreadyExists(err) {
			var cur oauthv1.OAuthClient
			if r.k8s.Get(ctx, client.ObjectKeyFromObject(oc), &cur) == nil && cur.DeletionTimestamp == nil {
				return cur.UID
			}
		}
		if ctx.Err() != nil {
			return ""
		}
		time.Sleep(time.Second)
	}
}

// waitAllReady waits until every OAuthClient in the namespace is Ready
// for its generation; it returns how many were.
func (r *run) waitAllReady(ctx context.Context, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	ready := 0
	var lastErr error
	for time.Now().Before(deadline) {
		var l oauthv1.OAuthClientList
		if err := r.k8s.List(ctx, &l, client.InNamespace(r.ns)); err != nil {
			lastErr = err
			time.Sleep(time.Second)
			continue
		}
		ready = 0
		var notReady []string
		for _, oc := range l.Items {
			c := meta.FindStatusCondition(oc.Status.Conditions, oauthv1.ConditionReady)
			if c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == oc.Generation && oc.DeletionTimestamp == nil {
				ready++
			} else if len(notReady) < 3 {
				reason := "no condition"
				if c != nil {
					reason = c.Reason
				}
				notReady = append(notReady, oc.Name+": "+reason)
			}
		}
		if ready == len(l.Items) && len(l.Items) == r.cfg.clients {
			return ready, nil
		}
		lastErr = fmt.Errorf("%d of %d Ready (of %d wanted), e.g. %s", ready, len(l.Items), r.cfg.clients, strings.Join(notReady, "; "))
		time.Sleep(time.Second)
	}
	return ready, lastErr
}

// leader returns the index of the manager holding the Lease (-1: none).
func (r *run) leader() int {
	for i, m := range r.mgrs {
		if !m.running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.metrics[i], nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			continue
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		cancel()
		for _, line := range strings.Split(buf.String(), "\n") {
			if strings.HasPrefix(line, "leader_election_master_status{") && strings.HasSuffix(line, " 1") {
				return i
			}
		}
	}
	return -1
}

// at sleeps until start+d; false when ctx ended.
func at(ctx context.Context, start time.Time, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(start.Add(d))):
		return true
	}
}

// moments returns n sorted random offsets within [from, to).
func moments(rng *mrand.Rand, n int, from, to time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = from + time.Duration(rng.Int64N(int64(to-from)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

type action func(ctx context.Context, start time.Time, inf sharedInformer)

// plan draws every fault and churn moment from the seed.
func (r *run) plan(rng *mrand.Rand) []action {
	d := r.cfg.duration
	end := d - 20*time.Second
	// Each schedule has its own generator, derived from the seed in a fixed
	// order, so that one kind's draws do not shift another's.
	sub := func() *mrand.Rand { return mrand.New(mrand.NewPCG(rng.Uint64(), rng.Uint64())) }
	killRng, apiRng, burstRng, emuRng, churnRng := sub(), sub(), sub(), sub(), sub()
	return []action{
		r.managerKills(killRng, moments(killRng, r.cfg.managerKills, 10*time.Second, end), d),
		r.apiServerRestarts(apiRng, moments(apiRng, max(2, int(d/(3*time.Minute))+1), 30*time.Second, end)),
		r.emulatorBursts(burstRng, moments(burstRng, max(3, int(d/time.Minute)), 15*time.Second, end)),
		r.emulatorRestarts(emuRng, moments(emuRng, max(2, int(d/(3*time.Minute))+1), 20*time.Second, end)),
		r.churn(churnRng, moments(churnRng, max(1, int(float64(r.cfg.clients)*r.cfg.churn+0.5)), 5*time.Second, end-30*time.Second)),
	}
}

// managerKills: kill -9 of the manager, restarted after 0–5s; during the
// middle third of the run a second manager runs, and the kill hits the
// leader.
func (r *run) managerKills(rng *mrand.Rand, when []time.Duration, d time.Duration) action {
	delays := make([]time.Duration, len(when))
	for i := range delays {
		delays[i] = time.Duration(rng.Int64N(int64(5 * time.Second)))
	}
	return func(ctx context.Context, start time.Time, _ sharedInformer) {
		pairFrom, pairTo := d/3, 2*d/3
		pair := false
		for i, w := range when {
			if !at(ctx, start, w) {
				return
			}
			if !pair && w >= pairFrom && w < pairTo {
				pair = true
				if err := r.mgrs[1].start(); err != nil {
					r.eventf("error", "second manager: %v", err)
				} else {
					r.eventf("fault", "second manager started (two managers, leader election)")
				}
			}
			if pair && w >= pairTo {
				pair = false
				if r.mgrs[1].running() {
					_ = r.mgrs[1].kill()
					r.eventf("fault", "second manager killed (kill -9) and not restarted: one manager again")
				}
			}
			victim := 0
			if pair {
				if l := r.leader(); l >= 0 {
					victim = l
				} else {
					victim = rng.IntN(2)
				}
			}
			if !r.mgrs[victim].running() {
				continue
			}
			if err := r.mgrs[victim].kill(); err != nil {
				r.eventf("error", "kill %s: %v", r.mgrs[victim].name, err)
				continue
			}
			r.count("kill")
			if pair {
				r.count("leaderkill")
			}
			r.eventf("fault", "kill -9 %s%s; restart in %s", r.mgrs[victim].name, map[bool]string{true: " (the leader of two)", false: ""}[pair], delays[i].Round(time.Millisecond))
			time.Sleep(delays[i])
			if err := r.mgrs[victim].start(); err != nil {
				r.eventf("error", "restart %s: %v", r.mgrs[victim].name, err)
			}
			r.faultDone()
		}
		if r.mgrs[1].running() {
			_ = r.mgrs[1].kill()
			r.eventf("fault", "second manager killed (kill -9) and not restarted: one manager again")
		}
		// A manager must run when the faults end.
		if !r.mgrs[0].running() {
			_ = r.mgrs[0].start()
		}
		r.faultDone()
	}
}

// apiServerRestarts: kube-apiserver stopped (SIGTERM or kill -9) for 3–15s
// and started again; etcd runs on with the data.
func (r *run) apiServerRestarts(rng *mrand.Rand, when []time.Duration) action {
	type step struct {
		hard bool
		down time.Duration
	}
	steps := make([]step, len(when))
	for i := range steps {
		steps[i] = step{hard: rng.IntN(2) == 0, down: 3*time.Second + time.Duration(rng.Int64N(int64(12*time.Second)))}
	}
	return func(ctx context.Context, start time.Time, _ sharedInformer) {
		for i, w := range when {
			if !at(ctx, start, w) {
				return
			}
			how := "SIGTERM"
			if steps[i].hard {
				how = "kill -9"
			}
			if err := r.api.stop(steps[i].hard); err != nil {
				r.eventf("error", "stop kube-apiserver: %v", err)
				continue
			}
			r.count("apiserver")
			r.eventf("fault", "kube-apiserver stopped (%s) for %s; etcd keeps running", how, steps[i].down.Round(time.Millisecond))
			time.Sleep(steps[i].down)
			t0 := time.Now()
			if err := r.api.start(); err != nil {
				r.eventf("error", "start kube-apiserver: %v", err)
				r.t.Error(err)
				return
			}
			r.eventf("recover", "kube-apiserver ready again (%s to start)", time.Since(t0).Round(time.Millisecond))
			r.faultDone()
		}
	}
}

// emulatorBursts: the org answers 500 or 503 to a part of the management
// API calls, or slowly, for 10–30s. The token endpoint only slows down
// (2s): errors there would fail consumers whatever the operator does.
func (r *run) emulatorBursts(rng *mrand.Rand, when []time.Duration) action {
	kinds := [][]string{
		{"/api/v1:500=0.5"},
		{"/api/v1:503=0.7"},
		{"/api/v1:503=0.3,after=true"},
		{"/api/v1:latency=3s"},
		{"/api/v1:latency=1500ms,500=0.3", "/oauth2/default/v1/token:latency=2s"},
	}
	type step struct {
		faults []string
		length time.Duration
	}
	steps := make([]step, len(when))
	for i := range steps {
		steps[i] = step{faults: kinds[rng.IntN(len(kinds))], length: 10*time.Second + time.Duration(rng.Int64N(int64(20*time.Second)))}
	}
	return func(ctx context.Context, start time.Time, _ sharedInformer) {
		for i, w := range when {
			if !at(ctx, start, w) {
				return
			}
			if err := r.setFaults(steps[i].faults); err != nil {
				r.eventf("error", "emulator faults: %v", err)
				continue
			}
			r.count("burst")
			r.eventf("fault", "emulator burst for %s: %s", steps[i].length.Round(time.Millisecond), strings.Join(steps[i].faults, "; "))
			time.Sleep(steps[i].length)
			for try := 0; try < 60; try++ {
				if err := r.setFaults(nil); err == nil {
					break
				}
				time.Sleep(time.Second)
			}
			r.eventf("recover", "emulator burst over")
			r.faultDone()
		}
	}
}

func (r *run) setFaults(faults []string) error {
	if faults == nil {
		faults = []string{}
	}
	body, _ := json.Marshal(map[string][]string{"faults": faults})
	req, _ := http.NewRequest(http.MethodPut, r.org+"/_emulator/faults", bytes.NewReader(body))
	req.Header.Set("Authorization", "SSWS "+r.token)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT /_emulator/faults: %d", resp.StatusCode)
	}
	return nil
}

// emulatorRestarts: the emulator stopped (SIGTERM or kill -9) and started
// again after 0.5–3s on the same address and state file.
func (r *run) emulatorRestarts(rng *mrand.Rand, when []time.Duration) action {
	type step struct {
		hard bool
		down time.Duration
	}
	steps := make([]step, len(when))
	for i := range steps {
		steps[i] = step{hard: rng.IntN(2) == 0, down: 500*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond)))}
	}
	return func(ctx context.Context, start time.Time, _ sharedInformer) {
		for i, w := range when {
			if !at(ctx, start, w) {
				return
			}
			r.downMu.Lock()
			r.emuDown = append(r.emuDown, [2]time.Time{time.Now()})
			k := len(r.emuDown) - 1
			r.downMu.Unlock()
			var err error
			how := "SIGTERM"
			if steps[i].hard {
				how = "kill -9"
				err = r.emu.kill()
			} else {
				err = r.emu.stop()
			}
			if err != nil {
				r.eventf("error", "stop emulator: %v", err)
			}
			r.count("emurestart")
			r.eventf("fault", "emulator stopped (%s) for %s, state file kept", how, steps[i].down.Round(time.Millisecond))
			time.Sleep(steps[i].down)
			if err := r.emu.start(); err != nil {
				r.eventf("error", "start emulator: %v", err)
				r.t.Error(err)
				return
			}
			r.downMu.Lock()
			r.emuDown[k][1] = time.Now()
			r.downMu.Unlock()
			r.eventf("recover", "emulator serving again")
			r.faultDone()
		}
	}
}

// churn deletes an OAuthClient (its consumer stopped first, as its pod
// would be), waits until it is gone, removes its Secret as the garbage
// collector would (envtest runs no kube-controller-manager), and creates it
// again after 0–5s.
func (r *run) churn(rng *mrand.Rand, when []time.Duration) action {
	picks := make([]int, len(when))
	pauses := make([]time.Duration, len(when))
	perm := rng.Perm(r.cfg.clients)
	for i := range picks {
		picks[i] = perm[i%len(perm)]
		pauses[i] = time.Duration(rng.Int64N(int64(5 * time.Second)))
	}
	return func(ctx context.Context, start time.Time, inf sharedInformer) {
		var wg sync.WaitGroup
		defer wg.Wait()
		for i, w := range when {
			if !at(ctx, start, w) {
				return
			}
			sl := r.fleet.slots[picks[i]]
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.recreate(ctx, sl, pauses[i], inf)
			}()
		}
	}
}

func (r *run) recreate(ctx context.Context, sl *slot, pause time.Duration, inf sharedInformer) {
	sl.mu.Lock()
	old := sl.gen
	sl.mu.Unlock()
	r.fleet.stopConsumer(sl)
	key := client.ObjectKey{Namespace: r.ns, Name: sl.name}
	t0 := time.Now()
	for {
		err := r.k8s.Delete(ctx, &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: sl.name, Namespace: r.ns}},
			client.Preconditions{UID: &old})
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			break
		}
		if ctx.Err() != nil {
			return
		}
		time.Sleep(time.Second)
	}
	r.checks.deleted(old)
	r.count("churn")
	r.eventf("churn", "%s deleted", sl.name)
	for {
		var oc oauthv1.OAuthClient
		err := r.k8s.Get(ctx, key, &oc)
		if apierrors.IsNotFound(err) || (err == nil && oc.UID != old) {
			break
		}
		if ctx.Err() != nil {
			return
		}
		time.Sleep(time.Second)
	}
	gone := time.Since(t0)
	// The garbage collector's part.
	for try := 0; try < 60; try++ {
		err := r.k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: sl.name + "-oauth-client", Namespace: r.ns}},
			client.Preconditions{UID: secretUIDOwnedBy(ctx, r, sl.name+"-oauth-client", old)})
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			break
		}
		time.Sleep(time.Second)
	}
	time.Sleep(pause)
	uid := r.createClient(ctx, sl.name)
	if uid == "" {
		return
	}
	r.fleet.setGeneration(sl, uid, inf)
	r.eventf("churn", "%s gone %s after its deletion, created again", sl.name, gone.Round(100*time.Millisecond))
}

// secretUIDOwnedBy returns the UID of the Secret if its controller is
// owner; otherwise a UID that matches nothing (the delete then fails with
// a conflict and nothing is removed).
func secretUIDOwnedBy(ctx context.Context, r *run, name string, owner types.UID) *types.UID {
	none := types.UID("none")
	var s corev1.Secret
	if err := r.k8s.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: name}, &s); err != nil {
		return &none
	}
	if ownerUID(&s) != owner {
		return &none
	}
	return &s.UID
}
