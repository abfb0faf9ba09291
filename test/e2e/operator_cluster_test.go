package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/testenv"
	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// The operator's end-to-end tests share one control plane — a real etcd and
// kube-apiserver started through envtest — and talk to it only with the built
// kubectl, as a user would. Each test brings its own emulator, provider and
// manager; they run one after another, because a manager reconciles every
// OAuthClient in the cluster.

const systemNamespace = "clientcreds-system"

// cluster is the shared control plane.
type cluster struct {
	env        *envtest.Environment
	dir        string
	kubeconfig string
	kubectlBin string
}

var shared struct {
	once sync.Once
	c    *cluster
	err  error
}

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger; its start-up chatter
	// is of no use here, and without a logger it prints a warning instead.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if shared.c != nil {
		if err := shared.c.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the shared control plane: %v\n", err)
		}
	}
	os.Exit(code)
}

// sharedCluster starts the control plane on first use and installs the CRDs
// with kubectl.
func sharedCluster(t *testing.T) *cluster {
	t.Helper()
	shared.once.Do(func() { shared.c, shared.err = startCluster(harness.RepoRoot(t)) })
	if shared.err != nil {
		t.Fatalf("control plane: %v", shared.err)
	}
	return shared.c
}

func startCluster(root string) (*cluster, error) {
	assets, err := testenv.AssetsDir()
	if err != nil {
		return nil, err
	}
	kubectl := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		return nil, fmt.Errorf("kubectl not found in %s: run make control-plane", assets)
	}
	dir, err := os.MkdirTemp("", "clientcreds-e2e-cluster-")
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	if _, err := env.Start(); err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	c := &cluster{env: env, dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig"), kubectlBin: kubectl}
	if err := os.WriteFile(c.kubeconfig, env.KubeConfig, 0o600); err != nil {
		_ = c.stop()
		return nil, err
	}
	if _, err := c.run("", "apply", "--server-side", "-f", filepath.Join(root, "config", "crd", "bases")); err != nil {
		_ = c.stop()
		return nil, err
	}
	if _, err := c.run("", "wait", "--for=condition=Established", "--timeout=60s",
		"crd/oauthclients.oauth.clientcreds.dev", "crd/clusteroauthproviders.oauth.clientcreds.dev",
		"crd/oauthproviders.oauth.clientcreds.dev", "crd/oauthapis.oauth.clientcreds.dev"); err != nil {
		_ = c.stop()
		return nil, err
	}
	if _, err := c.run("", "create", "namespace", systemNamespace); err != nil {
		_ = c.stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) stop() error {
	err := c.env.Stop()
	return errors.Join(err, os.RemoveAll(c.dir))
}

// run runs kubectl against the cluster. Its standard output is returned and
// never logged (it may hold Secret data); standard error goes into the error.
func (c *cluster) run(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.kubectlBin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// kubectl runs kubectl and fails the test when it fails.
func (c *cluster) kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := c.run(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// getJSON reads objects with kubectl get -o json into v.
func (c *cluster) getJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := c.kubectl(t, "", append([]string{"get", "-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("decoding kubectl get %s: %v", strings.Join(args, " "), err)
	}
}

func (c *cluster) oauthClient(t *testing.T, ns, name string) oauthv1.OAuthClient {
	t.Helper()
	var oc oauthv1.OAuthClient
	c.getJSON(t, &oc, "oauthclient", name, "-n", ns)
	return oc
}

func (c *cluster) oauthClients(t *testing.T, ns string) []oauthv1.OAuthClient {
	t.Helper()
	var l oauthv1.OAuthClientList
	c.getJSON(t, &l, "oauthclients", "-n", ns)
	return l.Items
}

func (c *cluster) secret(t *testing.T, ns, name string) corev1.Secret {
	t.Helper()
	var s corev1.Secret
	c.getJSON(t, &s, "secret", name, "-n", ns)
	return s
}

// addProvider creates an API-token Secret and a ClusterOAuthProvider for the
// emulated org, waits until the provider is Ready, and removes both when the
// test ends.
func (c *cluster) addProvider(t *testing.T, name string, org emulatedOrg) {
	t.Helper()
	c.applyProvider(t, name, org, "External")
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=60s", "clusteroauthprovider/"+name)
}

// applyProvider creates a ClusterOAuthProvider for org with the given
// spec.okta.accessPolicy (and its API-token Secret), without waiting for it.
func (c *cluster) applyProvider(t *testing.T, name string, org emulatedOrg, accessPolicy string) {
	t.Helper()
	secretName := "okta-api-token-" + name
	c.kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %[1]s, namespace: %[2]s}
type: Opaque
stringData: {token: %[3]q}
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: %[4]s}
spec:
  okta:
    orgURL: %[5]s
    accessPolicy: %[6]s
    apiTokenSecretRef: {name: %[1]s, namespace: %[2]s}
`, secretName, systemNamespace, org.apiToken, name, org.url, accessPolicy), "apply", "-f", "-")
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "--ignore-not-found", "--wait=false", "clusteroauthprovider/"+name); err != nil {
			t.Log(err)
		}
		if _, err := c.run("", "delete", "--ignore-not-found", "--wait=false", "-n", systemNamespace, "secret/"+secretName); err != nil {
			t.Log(err)
		}
	})
}

// startManager runs bin/manager against the cluster with its own kubeconfig
// and free metrics and probe ports, and waits until it is ready. It returns
// the process and the metrics URL.
func startManager(t *testing.T, c *cluster, name string, extraArgs ...string) (*harness.Process, string) {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	data, err := os.ReadFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		t.Fatal(err)
	}
	metrics, probe := harness.FreeAddr(t), harness.FreeAddr(t)
	args := append([]string{
		"--kubeconfig", kubeconfig,
		"--metrics-bind-address", metrics,
		"--health-probe-bind-address", probe,
		// The emulator serves http on loopback.
		"--allow-insecure-loopback-http",
	}, extraArgs...)
	p := harness.Start(t, name, harness.Binary(t, "manager"), args, harness.Options{})
	harness.WaitHTTP(t, "http://"+probe+"/readyz", startWait, p)
	return p, "http://" + metrics + "/metrics"
}

// readyCondition returns the Ready condition of an OAuthClient, or nil.
func readyCondition(oc oauthv1.OAuthClient) *metav1.Condition {
	return meta.FindStatusCondition(oc.Status.Conditions, oauthv1.ConditionReady)
}
