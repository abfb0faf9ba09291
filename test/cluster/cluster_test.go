//go:build cluster

// Package cluster holds the end-to-end tests that run on a real node (make test-cluster):
// kubelet mounts the Secrets, kube-controller-manager's namespace controller and garbage
// collector do their work, the operator runs as pods. They expect the cluster of
// hack/cluster.sh (bin/cluster/kubeconfig, images imported) and the ports below free on
// 127.0.0.1; every pod uses hostNetwork and listens on loopback.
//
//	go test -tags cluster -count=1 -v -timeout 20m ./test/cluster/
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/clientcreds/clientcreds/internal/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Loopback ports of the pods (hostNetwork): one node, so each must be distinct.
const (
	emulatorPort      = 31080
	proxyPort         = 31081 // verifier sidecar in front of hello
	helloPort         = 31082
	proxyAdminPort    = 31083
	forwardAuthPort   = 31084 // verifier Deployment answering /verify
	forwardAdminPort  = 31085
	injectorPort      = 31090 // token-injector sidecar of the client pod
	injectorAdminPort = 31091
	managerMetrics    = 31062 // served by the leader only (--metrics-leader-only)
	managerReplicas   = 2

	systemNS  = "clientcreds-system"
	emuNS     = "okta-emulator"
	appsNS    = "e2e-apps"
	audience  = "api://default"
	helloText = "Hello World!"
)

var oauthClients = schema.GroupVersionResource{Group: "oauth.clientcreds.dev", Version: "v1alpha1", Resource: "oauthclients"}

type env struct {
	t          *testing.T
	root       string
	kubectl    string
	kubeconfig string
	kube       *kubernetes.Clientset
	dyn        dynamic.Interface
	apiToken   string
	apiPort    string
	kubeletDir string
	load       *load // requests through the token-injector client, for the whole run
}

var (
	shared     *env
	sharedOnce sync.Once
)

func repoRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

func newEnv(t *testing.T) *env {
	root := repoRoot(t)
	version, err := os.ReadFile(filepath.Join(root, "hack", "k8s-version"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t:          t,
		root:       root,
		kubectl:    filepath.Join(root, "bin", "k8s", strings.TrimSpace(string(version)), "kubectl"),
		kubeconfig: filepath.Join(root, "bin", "cluster", "kubeconfig"),
		apiPort:    envOr("CLUSTER_APISERVER_PORT", "26443"),
		kubeletDir: filepath.Join(root, "bin", "cluster", "kubelet", "root"),
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		t.Fatalf("no cluster (run make cluster): %v", err)
	}
	if e.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if e.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	e.apiToken = hex.EncodeToString(b)
	// A cluster kept from an earlier run (CLUSTER_KEEP=1) has an emulator started with the
	// token of that run: keep using it.
	if s, err := e.kube.CoreV1().Secrets(emuNS).Get(context.Background(), "okta-api-token", metav1.GetOptions{}); err == nil && len(s.Data["token"]) > 0 {
		e.apiToken = string(s.Data["token"])
	}
	return e
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// k runs kubectl against the cluster; stdin may be empty. It fails the test on error.
func (e *env) k(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := e.kTry(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) kTry(stdin string, args ...string) (string, error) {
	cmd := exec.Command(e.kubectl, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// apply renders a manifest template with the test's ports and applies it.
func (e *env) apply(t *testing.T, manifest string) {
	t.Helper()
	tpl := template.Must(template.New("m").Parse(manifest))
	var buf bytes.Buffer
	data := map[string]any{
		"EmulatorPort": emulatorPort, "ProxyPort": proxyPort, "HelloPort": helloPort,
		"ProxyAdminPort": proxyAdminPort, "ForwardAuthPort": forwardAuthPort,
		"ForwardAdminPort": forwardAdminPort, "InjectorPort": injectorPort,
		"InjectorAdminPort": injectorAdminPort, "Audience": audience, "APIPort": e.apiPort,
		"EmuNS": emuNS, "AppsNS": appsNS, "SystemNS": systemNS,
	}
	if err := tpl.Execute(&buf, data); err != nil {
		t.Fatal(err)
	}
	e.k(t, buf.String(), "apply", "--server-side", "--force-conflicts", "-f", "-")
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
	return 0
}

func (e *env) waitRollout(t *testing.T, ns, deploy string) {
	t.Helper()
	e.k(t, "", "-n", ns, "rollout", "status", "deploy/"+deploy, "--timeout=180s")
}

// waitNamespace waits for a namespace's default ServiceAccount (a pod applied before it
// exists is refused).
func (e *env) waitNamespace(t *testing.T, ns string) {
	t.Helper()
	eventually(t, "ServiceAccount default in "+ns, time.Minute, func() error {
		_, err := e.kube.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{})
		return err
	})
}

// app is what the emulated org holds, as its management API lists it.
type app struct {
	ID     string `json:"id"`
	Label  string `json:"label"`
	Status string `json:"status"`
}

func (e *env) orgApps(t *testing.T) []app {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/api/v1/apps?limit=200", emulatorPort), nil)
	req.Header.Set("Authorization", "SSWS "+e.apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list apps: %s", resp.Status)
	}
	var apps []app
	if err := json.NewDecoder(resp.Body).Decode(&apps); err != nil {
		t.Fatal(err)
	}
	return apps
}

// activeSecrets counts the client secrets of an app that the org accepts.
func (e *env) activeSecrets(t *testing.T, appID string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/api/v1/apps/%s/credentials/secrets", emulatorPort, appID), nil)
	req.Header.Set("Authorization", "SSWS "+e.apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list secrets of app %s: %s", appID, resp.Status)
	}
	var secrets []struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&secrets); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range secrets {
		if s.Status == "ACTIVE" {
			n++
		}
	}
	return n
}

func countLabel(apps []app, pred func(string) bool) int {
	n := 0
	for _, a := range apps {
		if pred(a.Label) {
			n++
		}
	}
	return n
}

func (e *env) oauthClientReady(ns, name string) error {
	u, err := e.dyn.Resource(oauthClients).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" && m["status"] == "True" {
			return nil
		}
	}
	return fmt.Errorf("OAuthClient %s/%s not Ready: %v", ns, name, conds)
}

func (e *env) oauthClientStatus(t *testing.T, ns, name, field string) string {
	t.Helper()
	u, err := e.dyn.Resource(oauthClients).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, _, _ := unstructured.NestedString(u.Object, "status", field)
	return v
}

// setup brings up, once for all tests: the emulator, the operator (installed by the
// chart), hello behind the verifier (sidecar and forward-auth) and the two client pods.
func setup(t *testing.T) *env {
	sharedOnce.Do(func() {
		e := newEnv(t)
		e.apply(t, emulatorManifest)
		e.waitNamespace(t, emuNS)
		e.applySecret(t, emuNS, "okta-api-token", e.apiToken)
		e.waitRollout(t, emuNS, "okta-emulator")

		e.installOperator(t)
		e.applySecret(t, systemNS, "okta-api-token", e.apiToken)
		e.apply(t, providerManifest)
		eventually(t, "ClusterOAuthProvider okta Ready", 2*time.Minute, func() error {
			out, err := e.kTry("", "get", "clusteroauthprovider", "okta", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
			if err != nil || strings.TrimSpace(out) != "True" {
				return fmt.Errorf("Ready=%q (%v)", out, err)
			}
			return nil
		})
		e.apply(t, helloManifest)
		e.waitRollout(t, appsNS, "hello-protected")
		e.waitRollout(t, appsNS, "verifier-forward-auth")
		e.apply(t, clientsManifest)
		for _, c := range []string{"injected", "sdk"} {
			eventually(t, "OAuthClient "+c+" Ready", 3*time.Minute, func() error { return e.oauthClientReady(appsNS, c) })
		}
		e.waitRollout(t, appsNS, "client-injected")
		e.waitRollout(t, appsNS, "client-sdk")
		e.load = startLoad(200 * time.Millisecond)
		shared = e
	})
	if shared == nil {
		t.Fatal("set-up failed in an earlier test")
	}
	return shared
}

func (e *env) applySecret(t *testing.T, ns, name, token string) {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		StringData: map[string]string{"token": token},
	}
	_, err := e.kube.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = e.kube.CoreV1().Secrets(ns).Update(context.Background(), s, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// get calls url and returns status and body.
func get(url string) (int, string, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// load calls hello through the client pod's token-injector (the pods share the node's
// loopback) every interval until stopped, counting answers other than Hello World.
type load struct {
	mu       sync.Mutex
	ok, fail int
	failures []string
	stop     chan struct{}
	done     chan struct{}
}

func startLoad(interval time.Duration) *load {
	l := &load{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			code, body, err := get(fmt.Sprintf("http://127.0.0.1:%d/", injectorPort))
			l.mu.Lock()
			if err == nil && code == 200 && strings.Contains(body, helloText) {
				l.ok++
			} else {
				l.fail++
				if len(l.failures) < 20 {
					l.failures = append(l.failures, fmt.Sprintf("%s: %d %q %v", time.Now().Format(time.TimeOnly), code, body, err))
				}
			}
			l.mu.Unlock()
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return l
}

func (l *load) counts() (int, int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.fail, slices.Clone(l.failures)
}

func (l *load) halt() { close(l.stop); <-l.done }

// sdkCalls counts the calls the pkg/credentials client (examples/hello-client) logged; it
// calls the forward-auth verifier's /verify, which answers 200 to a valid token.
func (e *env) sdkCalls(t *testing.T) (ok, failed int) {
	t.Helper()
	out := e.k(t, "", "-n", appsNS, "logs", "deploy/client-sdk", "--tail=-1")
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			Status int    `json:"status"`
			Body   string `json:"body"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch {
		case line.Msg == "Called" && line.Status == 200:
			ok++
		case line.Msg == "Called" || line.Msg == "Call failed":
			failed++
		}
	}
	return ok, failed
}

func TestHelloWorldThroughBothClients(t *testing.T) {
	e := setup(t)
	code, body, err := get(fmt.Sprintf("http://127.0.0.1:%d/", injectorPort))
	if err != nil || code != 200 || !strings.Contains(body, helloText) {
		t.Fatalf("through the token-injector sidecar and the verifier sidecar: %d %q %v", code, body, err)
	}
	// Without a token the verifier refuses.
	code, _, err = get(fmt.Sprintf("http://127.0.0.1:%d/", proxyPort))
	if err != nil || code != http.StatusUnauthorized {
		t.Fatalf("verifier sidecar without a token: %d %v, want 401", code, err)
	}
	eventually(t, "hello-client (pkg/credentials) logged 200s from the forward-auth verifier", time.Minute, func() error {
		ok, failed := e.sdkCalls(t)
		if ok == 0 || failed != 0 {
			return fmt.Errorf("%d ok, %d failed", ok, failed)
		}
		return nil
	})
}

const managerDeploy = "clientcreds-manager"

// installOperator installs the operator with the Helm chart, as users do, with the locally
// built image and the values a node without a pod network needs: the node's network, exec
// probes (probes.exec: both replicas share the node's network, so each binds its probe
// server to a free loopback port and the kubelet runs `/manager probe` in the container),
// metrics from the leader only on a loopback port, the API server's loopback address
// (hostNetwork pods cannot reach the kubernetes Service's ClusterIP: no kube-proxy), and
// http to the emulator on loopback. Two replicas, the chart's default.
func (e *env) installOperator(t *testing.T) {
	t.Helper()
	extraArgs, _ := json.Marshal([]string{
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", managerMetrics),
		// The emulator pod serves http on the node's loopback; the chart leaves this off.
		"--allow-insecure-loopback-http",
	})
	extraEnv, _ := json.Marshal([]map[string]string{
		{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
		{"name": "KUBERNETES_SERVICE_PORT", "value": e.apiPort},
	})
	cmd := testutil.GoTool("hack/tools/helm/go.mod", "helm",
		"--kubeconfig", e.kubeconfig, "upgrade", "--install", "clientcreds", filepath.Join(e.root, "charts/clientcreds"),
		"--namespace", systemNS, "--create-namespace",
		"--set", fmt.Sprintf("replicas=%d", managerReplicas), "--set", "image.pullPolicy=Never", "--set", "hostNetwork=true",
		"--set", "probes.exec=true",
		// spec.rotation.restart and nudgePods (TestRotationWaitsForRestartedConsumers).
		"--set", "consumers.rbac=true",
		"--set", fmt.Sprintf("metricsPort=%d", managerMetrics),
		"--set-json", "extraArgs="+string(extraArgs), "--set-json", "extraEnv="+string(extraEnv))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm upgrade --install: %v\n%s", err, out)
	}
	e.waitRollout(t, systemNS, managerDeploy)
}
