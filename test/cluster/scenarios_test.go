//go:build cluster

package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// delays collects kubelet's Secret-update delays over the whole run, reported at the end.
var delays []time.Duration

func (e *env) secretValue(t *testing.T, ns, name, key string) (string, bool) {
	t.Helper()
	s, err := e.kube.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	v, ok := s.Data[key]
	return string(v), ok
}

// podVolumeFile is where kubelet keeps a key of a pod's Secret volume on this node.
func (e *env) podVolumeFile(t *testing.T, ns, app, volume, key string) string {
	t.Helper()
	pods, err := e.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			return filepath.Join(e.kubeletDir, "pods", string(p.UID), "volumes", "kubernetes.io~secret", volume, key)
		}
	}
	t.Fatalf("no running pod app=%s in %s", app, ns)
	return ""
}

// secretChange runs trigger, waits until the Secret's key holds a value other than before,
// and returns how long after that the value reached the file kubelet maintains in each
// pod's volume. Values are compared, never printed.
func (e *env) secretChange(t *testing.T, ns, secret, key string, files []string, trigger func()) []time.Duration {
	t.Helper()
	before, _ := e.secretValue(t, ns, secret, key)
	trigger()
	var after string
	eventually(t, "Secret "+secret+" key "+key+" changed", 5*time.Minute, func() error {
		v, ok := e.secretValue(t, ns, secret, key)
		if !ok || v == before {
			return fmt.Errorf("unchanged")
		}
		after = v
		return nil
	})
	seen := time.Now()
	var out []time.Duration
	for _, f := range files {
		eventually(t, "kubelet updated "+f, 4*time.Minute, func() error {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if string(b) != after {
				return fmt.Errorf("old value")
			}
			return nil
		})
		out = append(out, time.Since(seen))
	}
	delays = append(delays, out...)
	t.Logf("kubelet delivered the new %s of Secret %s after %v", key, secret, out)
	return out
}

func (e *env) clientFiles(t *testing.T, key string) []string {
	return []string{
		e.podVolumeFile(t, appsNS, "client-injected", "oauth-client", key),
		e.podVolumeFile(t, appsNS, "client-sdk", "oauth-client", key),
	}
}

func (e *env) checkLoad(t *testing.T, what string) {
	t.Helper()
	ok, failed, failures := e.load.counts()
	sdkOK, sdkFailed := e.sdkCalls(t)
	t.Logf("%s: token-injector client %d ok / %d failed; pkg/credentials client %d ok / %d failed", what, ok, failed, sdkOK, sdkFailed)
	if failed != 0 || sdkFailed != 0 {
		t.Errorf("%s: failed requests: injector %d (first: %v), pkg/credentials %d", what, failed, failures, sdkFailed)
	}
	if ok == 0 || sdkOK == 0 {
		t.Errorf("%s: no successful requests (injector %d, pkg/credentials %d)", what, ok, sdkOK)
	}
}

func TestDeletedOAuthClientLeavesNoSecretAndNoApp(t *testing.T) {
	e := setup(t)
	e.apply(t, `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: gc, namespace: {{.AppsNS}}}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta}
  scopes: [hello:read]
`)
	eventually(t, "OAuthClient gc Ready", 2*time.Minute, func() error { return e.oauthClientReady(appsNS, "gc") })
	s, err := e.kube.CoreV1().Secrets(appsNS).Get(context.Background(), "gc-oauth-client", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := metav1.GetControllerOf(s)
	if ref == nil || ref.Kind != "OAuthClient" || ref.Name != "gc" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Fatalf("Secret's controller reference %+v: the garbage collector would not remove it", ref)
	}
	// Foreground: the garbage collector deletes the dependents before the owner goes.
	fg := metav1.DeletePropagationForeground
	if err := e.dyn.Resource(oauthClients).Namespace(appsNS).Delete(context.Background(), "gc", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, "OAuthClient gc and its Secret gone", 2*time.Minute, func() error {
		if _, err := e.kube.CoreV1().Secrets(appsNS).Get(context.Background(), "gc-oauth-client", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("Secret still there (%v)", err)
		}
		if _, err := e.dyn.Resource(oauthClients).Namespace(appsNS).Get(context.Background(), "gc", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("OAuthClient still there (%v)", err)
		}
		return nil
	})
	t.Logf("OAuthClient and Secret gone after %v", took)
	if n := countLabel(e.orgApps(t), func(l string) bool { return l == appsNS+"/gc" }); n != 0 {
		t.Errorf("%d apps labelled %s/gc left in the org", n, appsNS)
	}
}

// TestGarbageCollectorAloneRemovesTheSecret is the twin of the test above that leaves the
// garbage collector alone with the Secret: the operator's finalizer deletes the Secret itself
// before the owner goes, so above the collector's part cannot be told from the operator's.
// Here the manager is scaled to 0 and the finalizer taken off by hand (standing in for a
// manager that is gone), so nothing but kube-controller-manager can remove the Secret: its
// going proves the owner reference the operator writes is one the collector follows. The app
// the finalizer would have deleted is deleted through the org's API afterwards.
func TestGarbageCollectorAloneRemovesTheSecret(t *testing.T) {
	e := setup(t)
	const name, secret = "gc-alone", "gc-alone-oauth-client"
	e.apply(t, `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: gc-alone, namespace: {{.AppsNS}}}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta}
  scopes: [hello:read]
`)
	eventually(t, "OAuthClient gc-alone Ready", 2*time.Minute, func() error { return e.oauthClientReady(appsNS, name) })
	ctx := context.Background()
	if _, err := e.kube.CoreV1().Secrets(appsNS).Get(ctx, secret, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	e.k(t, "", "-n", systemNS, "scale", "deploy", managerDeploy, "--replicas=0")
	t.Cleanup(func() {
		e.k(t, "", "-n", systemNS, "scale", "deploy", managerDeploy, fmt.Sprintf("--replicas=%d", managerReplicas))
		e.waitRollout(t, systemNS, managerDeploy)
	})
	eventually(t, "every manager pod gone, terminating ones included", 2*time.Minute, func() error {
		pods, err := e.kube.CoreV1().Pods(systemNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=manager"})
		if err != nil {
			return err
		}
		if n := len(pods.Items); n != 0 {
			return fmt.Errorf("%d manager pods left", n)
		}
		return nil
	})

	e.k(t, "", "-n", appsNS, "patch", "oauthclient", name, "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
	bg := metav1.DeletePropagationBackground
	if err := e.dyn.Resource(oauthClients).Namespace(appsNS).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, "Secret gc-alone-oauth-client collected", 2*time.Minute, func() error {
		if _, err := e.kube.CoreV1().Secrets(appsNS).Get(ctx, secret, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("Secret still there (%v)", err)
		}
		return nil
	})
	t.Logf("with no manager running, the garbage collector removed the Secret %v after the OAuthClient's deletion", took)

	// The app is left in the org (no finalizer ran): delete it, as the finalizer would have.
	var ids []string
	for _, a := range e.orgApps(t) {
		if a.Label == appsNS+"/"+name {
			ids = append(ids, a.ID)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d apps labelled %s/%s in the org, want 1", len(ids), appsNS, name)
	}
	for _, step := range []struct{ method, path string }{
		{http.MethodPost, "/api/v1/apps/" + ids[0] + "/lifecycle/deactivate"},
		{http.MethodDelete, "/api/v1/apps/" + ids[0]},
	} {
		req, _ := http.NewRequest(step.method, fmt.Sprintf("http://127.0.0.1:%d%s", emulatorPort, step.path), nil)
		req.Header.Set("Authorization", "SSWS "+e.apiToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s", step.method, step.path, resp.Status)
		}
	}
}

func TestNamespaceDeletionLeavesNoApps(t *testing.T) {
	e := setup(t)
	const ns = "e2e-doomed"
	e.k(t, "", "create", "namespace", ns)
	e.waitNamespace(t, ns)
	var m strings.Builder
	for i := range 3 {
		fmt.Fprintf(&m, `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: c%d, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta}
  scopes: [hello:read]
---`, i, ns)
	}
	fmt.Fprintf(&m, `
apiVersion: v1
kind: Pod
metadata: {name: consumer, namespace: %s}
spec:
  hostNetwork: true
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 65532}
  containers:
  - name: app
    image: clientcreds/pause:dev
    imagePullPolicy: Never
    volumeMounts: [{name: creds, mountPath: /creds, readOnly: true}]
  volumes:
  - name: creds
    secret: {secretName: c0-oauth-client}
`, ns)
	e.k(t, m.String(), "apply", "-f", "-")
	for i := range 3 {
		eventually(t, "OAuthClient Ready", 2*time.Minute, func() error { return e.oauthClientReady(ns, fmt.Sprintf("c%d", i)) })
	}
	e.k(t, "", "-n", ns, "wait", "--for=condition=Ready", "pod/consumer", "--timeout=120s")
	inNS := func(l string) bool { return strings.HasPrefix(l, ns+"/") }
	if n := countLabel(e.orgApps(t), inNS); n != 3 {
		t.Fatalf("%d apps of %s in the org before deletion, want 3", n, ns)
	}
	start := time.Now()
	e.k(t, "", "delete", "namespace", ns, "--wait=false")
	took := eventually(t, "namespace "+ns+" gone", 5*time.Minute, func() error {
		_, err := e.kube.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
	t.Logf("namespace with 3 OAuthClients and a running pod deleted by the namespace controller in %v", took)
	if n := countLabel(e.orgApps(t), inNS); n != 0 {
		t.Errorf("%d apps of the deleted namespace left in the org %v after the deletion began", n, time.Since(start))
	}
}

// containerPID finds the host PID of a pod's container through containerd.
func containerPID(t *testing.T, pod *corev1.Pod, container string) int {
	t.Helper()
	var id string
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == container {
			id = strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	if id == "" {
		t.Fatalf("pod %s has no running container %s", pod.Name, container)
	}
	out, err := exec.Command("ctr", "--address", "/run/clientcreds-containerd/containerd.sock", "-n", "k8s.io", "tasks", "ls").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("container %s not among containerd's tasks", id)
	return 0
}

func (e *env) managerPods(t *testing.T) []corev1.Pod {
	t.Helper()
	pods, err := e.kube.CoreV1().Pods(systemNS).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=manager"})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// podReady says whether the pod's Ready condition is True.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestManagerPodProbesNonRootReadOnly: both replicas of the chart's install run with their
// liveness and readiness probes (exec probes: `/manager probe` against the address file of a
// probe server on a free loopback port), pass them, run as non-root on a read-only root
// filesystem; the leader alone serves the metrics endpoint, to a scraper the chart's
// metrics-reader role lets in.
func TestManagerPodProbesNonRootReadOnly(t *testing.T) {
	e := setup(t)
	var pods []corev1.Pod
	eventually(t, fmt.Sprintf("%d manager pods Ready", managerReplicas), 2*time.Minute, func() error {
		pods = e.managerPods(t)
		ready := 0
		for i := range pods {
			if podReady(&pods[i]) {
				ready++
			}
		}
		if len(pods) != managerReplicas || ready != managerReplicas {
			return fmt.Errorf("%d pods, %d Ready", len(pods), ready)
		}
		return nil
	})
	for _, p := range pods {
		c := p.Spec.Containers[0]
		for name, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if probe == nil || probe.Exec == nil || len(probe.Exec.Command) < 2 || probe.Exec.Command[0] != c.Command[0] || probe.Exec.Command[1] != "probe" {
				t.Errorf("pod %s: %s probe %+v, want an exec probe running %v probe", p.Name, name, probe, c.Command)
				continue
			}
			// The probe's own command, run in the container as the kubelet runs it.
			args := append([]string{"-n", systemNS, "exec", p.Name, "-c", "manager", "--"}, probe.Exec.Command...)
			if out, err := e.kTry("", args...); err != nil {
				t.Errorf("pod %s: %s probe %v failed: %v %s", p.Name, name, probe.Exec.Command, err, out)
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount != 0 {
				t.Errorf("pod %s container %s restarted %d times (liveness probe?)", p.Name, cs.Name, cs.RestartCount)
			}
		}
		t.Logf("pod %s: Ready, liveness and readiness exec probes pass, %d restarts", p.Name, p.Status.ContainerStatuses[0].RestartCount)
		pid := containerPID(t, &p, "manager")
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) == 5 && f[0] == "Uid:" && (f[1] == "0" || f[2] == "0") {
				t.Errorf("pod %s: manager process runs as root: %s", p.Name, line)
			} else if len(f) == 5 && f[0] == "Uid:" {
				t.Logf("pod %s: manager process %s", p.Name, line)
			}
		}
		mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
		if err != nil {
			t.Fatal(err)
		}
		rootRO := false
		for _, line := range strings.Split(string(mounts), "\n") {
			if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
				rootRO = slices.Contains(strings.Split(f[5], ","), "ro")
			}
		}
		if !rootRO {
			t.Errorf("pod %s: the manager's root filesystem is writable", p.Name)
		}
	}
	e.checkLeaderMetrics(t)
}

// checkLeaderMetrics scrapes the manager's metrics port as a ServiceAccount bound to the
// chart's metrics-reader role: the one replica serving it is the leader.
func (e *env) checkLeaderMetrics(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	e.apply(t, `
apiVersion: v1
kind: ServiceAccount
metadata: {name: metrics-scraper, namespace: {{.SystemNS}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-metrics-scraper}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: clientcreds-metrics-reader}
subjects:
- {kind: ServiceAccount, name: metrics-scraper, namespace: {{.SystemNS}}}
`)
	tok, err := e.kube.CoreV1().ServiceAccounts(systemNS).CreateToken(ctx, "metrics-scraper", &authv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The manager's self-signed certificate (no --metrics-cert-dir).
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback test scrape
	}}
	url := fmt.Sprintf("https://127.0.0.1:%d/metrics", managerMetrics)
	scrape := func(token string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	var body string
	eventually(t, "the leader serves /metrics to the metrics-reader", time.Minute, func() error {
		code, b, err := scrape(tok.Status.Token)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("%d %v", code, err)
		}
		body = b
		return nil
	})
	if !strings.Contains(body, "clientcreds_") || !regexp.MustCompile(`(?m)^leader_election_master_status\{[^}]*\} 1$`).MatchString(body) {
		t.Errorf("the metrics served on %d are not a leader's clientcreds metrics (no clientcreds_* or leader_election_master_status 1)", managerMetrics)
	}
	if code, _, err := scrape(""); err != nil || (code != http.StatusUnauthorized && code != http.StatusForbidden) {
		t.Errorf("scrape without a token: %d %v, want 401 or 403", code, err)
	}
	t.Logf("the leader serves %d bytes of metrics on 127.0.0.1:%d to the metrics-reader; refused without a token", len(body), managerMetrics)
}

func TestLeaderFailover(t *testing.T) {
	e := setup(t)
	// The chart's install: 2 replicas with their exec probes, metrics from the leader.
	e.waitRollout(t, systemNS, managerDeploy)
	lease := func() (string, int32) {
		l, err := e.kube.CoordinationV1().Leases(systemNS).Get(context.Background(), "clientcreds-manager.oauth.clientcreds.dev", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return "", 0
		}
		d := int32(0)
		if l.Spec.LeaseDurationSeconds != nil {
			d = *l.Spec.LeaseDurationSeconds
		}
		return *l.Spec.HolderIdentity, d
	}
	// With hostNetwork both replicas have the node's hostname, so the Lease's holder
	// identity (<hostname>_<uuid>) does not name the pod: the leader is the pod that logged
	// acquiring the lease.
	acquired := func(p corev1.Pod) bool {
		out, err := e.kTry("", "-n", systemNS, "logs", p.Name)
		return err == nil && strings.Contains(out, `"msg":"Successfully acquired lease"`)
	}
	var holder string
	var duration int32
	var leader corev1.Pod
	eventually(t, "one of two running pods holds the lease", 2*time.Minute, func() error {
		pods := e.managerPods(t)
		var leaders []corev1.Pod
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning && acquired(p) {
				leaders = append(leaders, p)
			}
		}
		// Read after the log line, which is written after the Lease: the holder is that pod.
		holder, duration = lease()
		if holder == "" || len(pods) != 2 || len(leaders) != 1 {
			return fmt.Errorf("holder %q, %d pods, %d logged acquiring the lease", holder, len(pods), len(leaders))
		}
		leader = leaders[0]
		return nil
	})
	pid := containerPID(t, &leader, "manager")
	if err := exec.Command("kill", "-9", strconv.Itoa(pid)).Run(); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, "a new holder takes the lease", time.Duration(2*duration+30)*time.Second, func() error {
		if h, _ := lease(); h == "" || h == holder {
			return fmt.Errorf("holder %q", h)
		}
		return nil
	})
	// The killed container is restarted by kubelet and competes for the lease with the other
	// replica once it expires: either may win; what matters is that a live process holds it.
	var winner string
	eventually(t, "a live manager logged acquiring the lease", 30*time.Second, func() error {
		for _, p := range e.managerPods(t) {
			if acquired(p) {
				winner = p.Name
				return nil
			}
		}
		return fmt.Errorf("none did")
	})
	other := "the other replica"
	if winner == leader.Name {
		other = "the killed pod's restarted container"
	}
	t.Logf("leader %s killed (SIGKILL); %s (%s) took the lease after %v (lease duration %ds)", leader.Name, other, winner, took, duration)
	e.apply(t, `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: after-failover, namespace: {{.AppsNS}}}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta}
  scopes: [hello:read]
`)
	eventually(t, "OAuthClient after-failover Ready", 2*time.Minute, func() error { return e.oauthClientReady(appsNS, "after-failover") })
	apps := e.orgApps(t)
	for _, name := range []string{"injected", "sdk", "after-failover"} {
		if n := countLabel(apps, func(l string) bool { return l == appsNS+"/"+name }); n != 1 {
			t.Errorf("%d apps labelled %s/%s in the org, want 1", n, appsNS, name)
		}
	}
	// The killed container is restarted in its pod; both replicas pass their probes again
	// (the restarted one wrote its new probe address), and the new leader serves metrics.
	var state []string
	eventually(t, "both manager pods Ready after the fail-over, the killed container restarted", 2*time.Minute, func() error {
		ready, restarts := 0, int32(0)
		pods := e.managerPods(t)
		state = state[:0]
		for i := range pods {
			if podReady(&pods[i]) {
				ready++
			}
			var n int32
			for _, cs := range pods[i].Status.ContainerStatuses {
				n += cs.RestartCount
			}
			restarts += n
			state = append(state, fmt.Sprintf("%s Ready=%v restarts=%d", pods[i].Name, podReady(&pods[i]), n))
		}
		if len(pods) != managerReplicas || ready != managerReplicas || restarts == 0 {
			return fmt.Errorf("%d pods, %d Ready, %d restarts", len(pods), ready, restarts)
		}
		return nil
	})
	t.Logf("after the fail-over: %s", strings.Join(state, "; "))
	e.checkLeaderMetrics(t)
}

func TestSecretDeletedIsRestoredWithoutFailedRequests(t *testing.T) {
	e := setup(t)
	for _, s := range []string{"injected-oauth-client", "sdk-oauth-client"} {
		files := []string{e.podVolumeFile(t, appsNS, strings.TrimSuffix("client-"+s, "-oauth-client"), "oauth-client", "CLIENT_SECRET")}
		e.secretChange(t, appsNS, s, "CLIENT_SECRET", files, func() {
			if err := e.kube.CoreV1().Secrets(appsNS).Delete(context.Background(), s, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Give consumers one token refresh past the change before counting.
	time.Sleep(70 * time.Second)
	e.checkLoad(t, "after Secret deletion")
}

func TestAuthMethodSwitchWithoutFailedRequests(t *testing.T) {
	e := setup(t)
	e.secretChange(t, appsNS, "injected-oauth-client", "AUTH_METHOD", []string{e.podVolumeFile(t, appsNS, "client-injected", "oauth-client", "AUTH_METHOD")}, func() {
		e.k(t, "", "-n", appsNS, "patch", "oauthclient", "injected", "--type=merge", "-p", `{"spec":{"tokenEndpointAuthMethod":"client_secret_post"}}`)
	})
	time.Sleep(70 * time.Second)
	e.checkLoad(t, "after auth-method switch")
}

func TestScheduledRotationWithoutFailedRequests(t *testing.T) {
	e := setup(t)
	// Grace above kubelet's worst delay (1.5 × syncFrequency = 90 s) and a token refresh.
	before := e.oauthClientStatus(t, appsNS, "sdk", "lastRotationTime")
	e.secretChange(t, appsNS, "sdk-oauth-client", "CLIENT_SECRET", []string{e.podVolumeFile(t, appsNS, "client-sdk", "oauth-client", "CLIENT_SECRET")}, func() {
		e.k(t, "", "-n", appsNS, "patch", "oauthclient", "sdk", "--type=merge", "-p", `{"spec":{"rotation":{"interval":"150s","gracePeriod":"120s"}}}`)
	})
	if after := e.oauthClientStatus(t, appsNS, "sdk", "lastRotationTime"); after == before || after == "" {
		t.Errorf("lastRotationTime %q → %q: the Secret changed without a rotation", before, after)
	}
	// No further rotation during the wait: the next is due an hour after this one.
	e.k(t, "", "-n", appsNS, "patch", "oauthclient", "sdk", "--type=merge", "-p", `{"spec":{"rotation":{"interval":"1h","gracePeriod":"120s"}}}`)
	appID := e.oauthClientStatus(t, appsNS, "sdk", "appID")
	if n := e.activeSecrets(t, appID); n != 2 {
		t.Errorf("%d active secrets during the grace period, want 2 (old and new)", n)
	}
	// Past the grace period the previous secret is retired; consumers must not notice.
	eventually(t, "the previous secret retired", 4*time.Minute, func() error {
		if n := e.activeSecrets(t, appID); n != 1 {
			return fmt.Errorf("%d active secrets", n)
		}
		return nil
	})
	// One token refresh (tokens live 2 min, are renewed after 1) past the retirement.
	time.Sleep(70 * time.Second)
	e.checkLoad(t, "through a scheduled rotation and the old secret's retirement")
}

func TestZLogsHoldNoSecretAndNoRequestFailed(t *testing.T) {
	e := setup(t)
	var secrets []string
	list, err := e.kube.CoreV1().Secrets(appsNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		for _, k := range []string{"CLIENT_SECRET", "PRIVATE_KEY"} {
			if v := s.Data[k]; len(v) > 0 {
				secrets = append(secrets, string(v))
			}
		}
	}
	secrets = append(secrets, e.apiToken)
	if len(secrets) < 3 {
		t.Fatalf("only %d secret values to look for", len(secrets))
	}
	var logs bytes.Buffer
	for _, p := range e.managerPods(t) {
		logs.WriteString(e.k(t, "", "-n", systemNS, "logs", p.Name, "--all-containers"))
	}
	for _, d := range []string{"client-injected", "client-sdk", "hello-protected", "verifier-forward-auth"} {
		logs.WriteString(e.k(t, "", "-n", appsNS, "logs", "deploy/"+d, "--all-containers"))
	}
	if logs.Len() == 0 {
		t.Fatal("no logs read")
	}
	for i, s := range secrets {
		if bytes.Contains(logs.Bytes(), []byte(s)) {
			t.Errorf("secret value #%d found in the logs", i)
		}
	}
	e.checkLoad(t, "whole run")
	// Reported, not asserted: token requests refused while a pod still held credentials
	// the backend no longer accepts (after the switch of auth method, which ends the old
	// secret at once); consumers ride through them on their cached token as long as kubelet
	// delivers the new Secret before the token expires.
	for _, d := range []string{"client-injected", "client-sdk"} {
		out := e.k(t, "", "-n", appsNS, "logs", "deploy/"+d, "--all-containers")
		t.Logf("%s: %d token requests refused, %d tokens fetched", d,
			strings.Count(out, `"msg":"Token request failed"`), strings.Count(out, `"msg":"Fetched an access token"`))
	}
	if len(nudgeDelays) > 0 {
		t.Logf("nudged pods (spec.secretTemplate.nudgePods): Secret-update delay over %d updates: %v", len(nudgeDelays), nudgeDelays)
	}
	if len(delays) > 0 {
		sorted := slices.Clone(delays)
		slices.Sort(sorted)
		t.Logf("kubelet Secret-update delay over %d updates: p50 %v, max %v (all: %v)", len(sorted), sorted[len(sorted)/2], sorted[len(sorted)-1], delays)
	}
}
