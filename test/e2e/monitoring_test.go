package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// TestMonitoring is issue 24's proof that the dashboard and the alerts work against what the
// binaries really export: Debian's prometheus runs on loopback and scrapes the manager (its
// metrics endpoint as config/manager deploys it: HTTPS with --metrics-secure, the caller's
// bearer token checked by the API server's TokenReview and SubjectAccessReview; the
// certificate is the manager's self-signed one, so the scrape skips verification), the
// verifier and the token-injector. OAuthClients are driven through create, failure (a
// provider that does not exist; a scope the authorization server does not have) and
// scheduled rotation, requests go through injector → verifier → hello, and then every
// dashboard panel's queries and every alert's expression go through Prometheus's HTTP API:
// each parses and evaluates, each panel returns series, and every clientcreds_ metric a
// query names is among the names Prometheus scraped.
func TestMonitoring(t *testing.T) {
	promBin := prometheusBinary(t)
	root := harness.RepoRoot(t)
	c := sharedCluster(t)
	org := startOrg(t, "--scopes", helloScope)

	// The manager with the secure metrics endpoint, and a ServiceAccount allowed to read it.
	metricsAddr := harness.FreeAddr(t)
	probe := harness.FreeAddr(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	data, err := os.ReadFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		t.Fatal(err)
	}
	mgr := harness.Start(t, "manager-monitoring", harness.Binary(t, "manager"), []string{
		"--kubeconfig", kubeconfig, "--metrics-bind-address", metricsAddr, "--metrics-secure",
		"--health-probe-bind-address", probe, "--allow-insecure-loopback-http",
	}, harness.Options{})
	harness.WaitHTTP(t, "http://"+probe+"/readyz", startWait, mgr)
	c.kubectl(t, `apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus-e2e, namespace: `+systemNamespace+`}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: clientcreds-e2e-metrics-reader}
rules:
- nonResourceURLs: ["/metrics"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: clientcreds-e2e-metrics-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: clientcreds-e2e-metrics-reader}
subjects:
- {kind: ServiceAccount, name: prometheus-e2e, namespace: `+systemNamespace+`}
`, "apply", "-f", "-")
	t.Cleanup(func() {
		for _, obj := range []string{"clusterrolebinding/clientcreds-e2e-metrics-reader", "clusterrole/clientcreds-e2e-metrics-reader"} {
			if _, err := c.run("", "delete", "--ignore-not-found", obj); err != nil {
				t.Log(err)
			}
		}
		if _, err := c.run("", "delete", "--ignore-not-found", "-n", systemNamespace, "serviceaccount/prometheus-e2e"); err != nil {
			t.Log(err)
		}
	})
	promDir := t.TempDir()
	tokenFile := filepath.Join(promDir, "manager-token")
	token := strings.TrimSpace(c.kubectl(t, "", "create", "token", "prometheus-e2e", "-n", systemNamespace, "--duration=1h"))
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	// The endpoint refuses a caller without a token: the scrape below really authenticates.
	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	// The secure endpoint starts after the probes (it makes its certificate first).
	var resp *http.Response
	for deadline := time.Now().Add(startWait); ; time.Sleep(200 * time.Millisecond) {
		resp, err = insecure.Get("https://" + metricsAddr + "/metrics")
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("manager metrics over HTTPS: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			t.Fatalf("manager metrics without a token answered %d, want 401 or 403", resp.StatusCode)
		}
	}

	c.addProvider(t, "okta-monitoring", org)
	ns := "monitoring"
	c.kubectl(t, "", "create", "namespace", ns)
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "--ignore-not-found", "--timeout=60s", "-n", ns, "oauthclients", "--all"); err != nil {
			t.Log(err)
		}
	})
	applyClient := func(name, extra string) {
		t.Helper()
		c.kubectl(t, fmt.Sprintf(`apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: %s, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta-monitoring}
  scopes: [%q]
%s`, name, ns, helloScope, extra), "apply", "-f", "-")
	}
	applyClient("app", "")
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=90s", "-n", ns, "oauthclient/app")

	// The app's credentials, mounted as the kubelet would (one file per key).
	sec := c.secret(t, ns, c.oauthClient(t, ns, "app").Status.SecretName)
	vol := t.TempDir()
	for k, v := range sec.Data {
		if err := os.WriteFile(filepath.Join(vol, k), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hello := startHello(t)
	front, verifierAdmin := startVerifierProxy(t, "verifier-monitoring", oktaClient{org: org.url}, hello)
	listen, injectorAdmin := harness.FreeAddr(t), harness.FreeAddr(t)
	inj := harness.Start(t, "token-injector-monitoring", harness.Binary(t, "token-injector"), []string{
		"--listen", listen, "--admin-listen", injectorAdmin, "--upstream", front,
	}, harness.Options{Env: []string{"TOKEN_INJECTOR_CREDENTIALS_DIR=" + vol}})
	harness.WaitHTTP(t, "http://"+injectorAdmin+"/readyz", startWait, inj)

	// Prometheus scrapes the three, and evaluates the alert rules.
	verifierURL, _ := url.Parse(verifierAdmin)
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
- job_name: manager
  scheme: https
  tls_config: {insecure_skip_verify: true}
  authorization: {type: Bearer, credentials_file: %q}
  static_configs: [{targets: [%q]}]
- job_name: verifier
  static_configs: [{targets: [%q]}]
- job_name: token-injector
  static_configs: [{targets: [%q]}]
`, filepath.Join(root, "config", "prometheus", "alerts.yaml"), tokenFile, metricsAddr, verifierURL.Host, injectorAdmin)
	cfgFile := filepath.Join(promDir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := harness.FreeAddr(t)
	prom := harness.Start(t, "prometheus", promBin, []string{
		"--config.file=" + cfgFile, "--storage.tsdb.path=" + filepath.Join(promDir, "data"),
		"--web.listen-address=" + promAddr, "--log.level=warn",
	}, harness.Options{Dir: promDir})
	api := promAPI{base: "http://" + promAddr}
	harness.WaitHTTP(t, api.base+"/-/ready", startWait, prom)
	api.waitTargetsUp(t, []string{"manager", "verifier", "token-injector"}, 60*time.Second)

	// Failure: a provider that does not exist, and a scope the authorization server lacks.
	c.kubectl(t, fmt.Sprintf(`apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: lost, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: no-such-provider}
  scopes: [%q]
`, ns, helloScope), "apply", "-f", "-")
	c.kubectl(t, fmt.Sprintf(`apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: unknown-scope, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta-monitoring}
  scopes: ["not:granted"]
`, ns), "apply", "-f", "-")
	// Rotation: every 12s with a 3s grace.
	applyClient("rotating", "  rotation: {interval: 12s, gracePeriod: 3s}\n")
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=90s", "-n", ns, "oauthclient/rotating")
	first := c.oauthClient(t, ns, "rotating").Status.LastRotationTime

	// Traffic: through the injector (a token is fetched and the verifier allows), and
	// straight to the verifier without a token (401).
	for i := range 20 {
		resp, err := http.Get("http://" + listen + "/")
		if err != nil {
			t.Fatalf("request %d through the injector: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d through the injector answered %d", i, resp.StatusCode)
		}
	}
	for range 5 {
		resp, err := http.Get(front + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a request without a token answered %d, want 401", resp.StatusCode)
		}
	}

	// Wait until Prometheus has seen a completed rotation and both failures.
	api.waitSeries(t, `clientcreds_secret_rotations_total{phase="completed"} > 0`, 90*time.Second)
	api.waitSeries(t, `clientcreds_oauthclients{ready="False",reason="ProviderNotFound"}`, 60*time.Second)
	api.waitSeries(t, `clientcreds_oauthclients{ready="False",reason!="ProviderNotFound"}`, 60*time.Second)
	if now := c.oauthClient(t, ns, "rotating").Status.LastRotationTime; now == nil || first == nil || !now.After(first.Time) {
		t.Fatalf("lastRotationTime %v after the rotation, %v before", now, first)
	}
	time.Sleep(3 * time.Second) // a few more scrapes of the final state

	t.Run("describe and logs tell the story", func(t *testing.T) {
		checkStory(t, c, ns, mgr.LogPath)
	})

	names := api.metricNames(t)
	t.Run("docs/metrics.md agrees with what was scraped", func(t *testing.T) {
		checkMetricsDoc(t, api, filepath.Join(root, "docs", "metrics.md"))
	})

	// Every dashboard panel.
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	raw, err := os.ReadFile(filepath.Join(root, "config", "grafana", "clientcreds.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("config/grafana/clientcreds.json: %v", err)
	}
	panels := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		panels++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		total := 0
		for _, tg := range p.Targets {
			q := grafanaVars.Replace(tg.Expr)
			checkNames(t, "panel "+p.Title, q, names)
			n, err := api.query(q)
			if err != nil {
				t.Errorf("panel %q: %s: %v", p.Title, q, err)
				continue
			}
			if n == 0 {
				t.Errorf("panel %q: %s returned no series", p.Title, q)
			}
			total += n
		}
		t.Logf("panel %-38q %2d queries, %3d series", p.Title, len(p.Targets), total)
	}
	if panels == 0 {
		t.Fatal("the dashboard has no panels")
	}

	// Every alert expression: it parses and evaluates here, it names only scraped metrics,
	// and Prometheus's own evaluation of the rule file reports no error.
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				Expr  string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	raw, err = os.ReadFile(filepath.Join(root, "config", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts++
			checkNames(t, "alert "+r.Alert, r.Expr, names)
			n, err := api.query(r.Expr)
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
				continue
			}
			t.Logf("alert %-38s evaluates: %d series now", r.Alert, n)
		}
	}
	api.checkRuleHealth(t, alerts)
	t.Logf("%d panels and %d alerts checked against %d scraped metric names", panels, alerts, len(names))
}

// checkStory: kubectl describe shows a client's life in events (created, published,
// rotated, retired; refused with the reason), and every line the manager logged while
// reconciling an OAuthClient names it, the readiness changes with their reason.
func checkStory(t *testing.T, c *cluster, ns, managerLog string) {
	t.Helper()
	rotating := c.kubectl(t, "", "describe", "oauthclient", "-n", ns, "rotating")
	for _, reason := range []string{"AppCreated", "CredentialsIssued", "SecretsRevoked"} {
		if !strings.Contains(rotating, reason) {
			t.Errorf("kubectl describe oauthclient rotating lacks a %s event:\n%s", reason, rotating)
		}
	}
	if !strings.Contains(rotating, "(rotate)") {
		t.Errorf("kubectl describe oauthclient rotating does not tell of a rotation:\n%s", rotating)
	}
	refused := c.oauthClient(t, ns, "unknown-scope")
	ready := readyCondition(refused)
	if ready == nil || ready.Reason == "" {
		t.Fatalf("unknown-scope has no Ready reason: %+v", ready)
	}
	d := c.kubectl(t, "", "describe", "oauthclient", "-n", ns, "unknown-scope")
	if !regexp.MustCompile(`Warning\s+` + ready.Reason + `\s`).MatchString(d) {
		t.Errorf("kubectl describe oauthclient unknown-scope lacks a Warning event with reason %s:\n%s", ready.Reason, d)
	}

	raw, err := os.ReadFile(managerLog)
	if err != nil {
		t.Fatal(err)
	}
	var reconcileLines, readiness, frameworkErrors int
	for _, line := range strings.Split(string(raw), "\n") {
		var entry map[string]any
		// Lines logged while reconciling carry a reconcileID (start-up lines do not).
		if json.Unmarshal([]byte(line), &entry) != nil || entry["controllerKind"] != "OAuthClient" || entry["reconcileID"] == nil {
			continue
		}
		reconcileLines++
		if entry["namespace"] == nil || entry["name"] == nil {
			t.Errorf("a reconcile log line without namespace/name: %s", line)
		}
		if entry["msg"] == "Reconciler error" {
			// controller-runtime's own line: the reason comes from logreason.Logger.
			frameworkErrors++
			if r, _ := entry["reason"].(string); r == "" {
				t.Errorf("a Reconciler error line without a reason: %s", line)
			}
		}
		if entry["msg"] == "Readiness changed" {
			if entry["reason"] == nil {
				t.Errorf("a readiness change logged without its reason: %s", line)
			}
			if entry["name"] == "unknown-scope" && entry["reason"] == ready.Reason {
				readiness++
			}
		}
	}
	if readiness == 0 {
		t.Errorf("the manager's log has no readiness change of unknown-scope to %s (%d reconcile lines)", ready.Reason, reconcileLines)
	}
	t.Logf("%d reconcile log lines, each with namespace and name; %d Reconciler error lines, each with a reason", reconcileLines, frameworkErrors)
}

// checkMetricsDoc: every clientcreds_ metric Prometheus scraped is documented in
// docs/metrics.md, with the type the binary declared.
func checkMetricsDoc(t *testing.T, api promAPI, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(clientcreds_[a-z0-9_]+)` \\| ([a-z]+) \\|").FindAllStringSubmatch(string(raw), -1) {
		documented[m[1]] = m[2]
	}
	var meta map[string][]struct {
		Type string `json:"type"`
	}
	if err := api.get("/api/v1/metadata", url.Values{}, &meta); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for name, entries := range meta {
		if !strings.HasPrefix(name, "clientcreds_") || len(entries) == 0 {
			continue
		}
		checked++
		if got, ok := documented[name]; !ok {
			t.Errorf("%s is scraped but not in docs/metrics.md", name)
		} else if got != entries[0].Type {
			t.Errorf("%s: docs/metrics.md says %s, the binary declares %s", name, got, entries[0].Type)
		}
	}
	if checked == 0 {
		t.Fatal("no clientcreds_ metric metadata scraped")
	}
	t.Logf("%d scraped clientcreds_ metrics documented with their type (%d documented)", checked, len(documented))
}

// grafanaVars replaces the Grafana variables the dashboard's queries use.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "${__rate_interval}", "1m")

var metricNameRE = regexp.MustCompile(`\bclientcreds_[a-zA-Z0-9_]+`)

// checkNames fails the test for each clientcreds_ metric q names that Prometheus did not
// scrape.
func checkNames(t *testing.T, what, q string, names []string) {
	t.Helper()
	for _, n := range metricNameRE.FindAllString(q, -1) {
		if !slices.Contains(names, n) {
			t.Errorf("%s: %s is not a metric Prometheus scraped", what, n)
		}
	}
}

// prometheusBinary returns Debian's prometheus, installing it with hack/ensure-prometheus.sh
// when it is missing.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	out, err := exec.Command(filepath.Join(harness.RepoRoot(t), "hack", "ensure-prometheus.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("prometheus is not installed and hack/ensure-prometheus.sh failed: %v\n%s", err, out)
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus still not on PATH after hack/ensure-prometheus.sh")
	}
	return p
}

// promAPI is a client of the Prometheus HTTP API.
type promAPI struct{ base string }

func (p promAPI) get(path string, params url.Values, into any) error {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: HTTP %d, undecodable answer: %w", path, resp.StatusCode, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, into)
}

// query runs an instant query and returns how many series it returned.
func (p promAPI) query(q string) (int, error) {
	var data struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {q}}, &data); err != nil {
		return 0, err
	}
	if data.ResultType == "scalar" {
		return 1, nil
	}
	return len(data.Result), nil
}

func (p promAPI) metricNames(t *testing.T) []string {
	t.Helper()
	var names []string
	if err := p.get("/api/v1/label/__name__/values", url.Values{}, &names); err != nil {
		t.Fatal(err)
	}
	return names
}

// waitTargetsUp waits until every job has a target whose last scrape succeeded.
func (p promAPI) waitTargetsUp(t *testing.T, jobs []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var data struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		}
		err := p.get("/api/v1/targets", url.Values{}, &data)
		var down []string
		if err == nil {
			for _, j := range jobs {
				up := false
				for _, tg := range data.ActiveTargets {
					if tg.Labels["job"] == j && tg.Health == "up" {
						up = true
					}
				}
				if !up {
					state := "no target"
					for _, tg := range data.ActiveTargets {
						if tg.Labels["job"] == j {
							state = tg.Health + " " + tg.LastError
						}
					}
					down = append(down, j+" ("+state+")")
				}
			}
			if len(down) == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus targets not up after %s: %v (error %v)", timeout, down, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitSeries waits until q returns a series.
func (p promAPI) waitSeries(t *testing.T, q string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, err := p.query(q)
		if err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no series after %s (error %v)", q, timeout, err)
		}
		time.Sleep(time.Second)
	}
}

// checkRuleHealth: Prometheus loaded every alert of the rule file and evaluated each
// without error.
func (p promAPI) checkRuleHealth(t *testing.T, want int) {
	t.Helper()
	var data struct {
		Groups []struct {
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get("/api/v1/rules", url.Values{}, &data); err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			got++
			if r.Health != "ok" {
				t.Errorf("alert %s: health %q: %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if got != want {
		t.Errorf("prometheus loaded %d rules, alerts.yaml has %d", got, want)
	}
}

// insecureTLS accepts the manager's self-signed metrics certificate.
func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // a test's loopback peer
