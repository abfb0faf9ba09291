//go:build cluster

package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// tokenRefusals is how many token requests the emulator refused (401) so far.
func tokenRefusals(t *testing.T) int64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/_emulator/stats", emulatorPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		ByRouteStatus map[string]map[string]int64 `json:"byRouteStatus"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.ByRouteStatus["POST /oauth2/{as}/v1/token"]["401"]
}

const restartedAtKey = "kubectl.kubernetes.io/restartedAt"

func (e *env) envDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	d, err := e.kube.AppsV1().Deployments(appsNS).Get(context.Background(), "client-env", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rolloutComplete says whether Deployment client-env was restarted since prev (its
// restartedAt annotation then) and runs only pods of the restarted template, all available —
// what kubectl rollout status waits for.
func (e *env) rolloutComplete(t *testing.T, prev string) (bool, string) {
	t.Helper()
	d := e.envDeployment(t)
	s := d.Status
	value := d.Spec.Template.Annotations[restartedAtKey]
	state := fmt.Sprintf("restartedAt %q (before %q) gen %d/%d replicas %d updated %d available %d", value, prev,
		s.ObservedGeneration, d.Generation, s.Replicas, s.UpdatedReplicas, s.AvailableReplicas)
	want := *d.Spec.Replicas
	return value != "" && value != prev &&
		s.ObservedGeneration >= d.Generation && s.Replicas == want && s.UpdatedReplicas == want && s.AvailableReplicas == want, state
}

// rollingStatus reads the OAuthClient rolling's status fields the test follows.
func (e *env) rollingStatus(t *testing.T) (secretID, restartedAt string, consumers []any) {
	t.Helper()
	u, err := e.dyn.Resource(oauthClients).Namespace(appsNS).Get(context.Background(), "rolling", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secretID, _, _ = unstructured.NestedString(u.Object, "status", "secretID")
	restartedAt, _, _ = unstructured.NestedString(u.Object, "status", "rollout", "restartedAt")
	consumers, _, _ = unstructured.NestedSlice(u.Object, "status", "consumers")
	return secretID, restartedAt, consumers
}

// envCalls follows the calls the client-env pods log, per pod, read every second while the
// test runs (a replaced pod's last second may be missed: the server-side counts below are
// the complete ones).
type envCalls struct {
	mu       sync.Mutex
	perPod   map[string][2]int // ok, failed
	failures map[string]string // a failed call's log line, by pod and line number
}

func (c *envCalls) read(e *env, t *testing.T) {
	pods, err := e.kube.CoreV1().Pods(appsNS).List(context.Background(), metav1.ListOptions{LabelSelector: "app=client-env"})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		out, err := e.kTry("", "-n", appsNS, "logs", p.Name, "--tail=-1")
		if err != nil {
			continue // not started yet, or gone
		}
		ok, failed := 0, 0
		sc := bufio.NewScanner(strings.NewReader(out))
		for n := 0; sc.Scan(); n++ {
			var line struct {
				Msg    string `json:"msg"`
				Status int    `json:"status"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch {
			case line.Msg == "Called" && line.Status == 200:
				ok++
			case line.Msg == "Called" || line.Msg == "Call failed":
				failed++
				c.mu.Lock()
				if len(c.failures) < 10 {
					c.failures[fmt.Sprintf("%s#%d", p.Name, n)] = sc.Text()
				}
				c.mu.Unlock()
			}
		}
		c.mu.Lock()
		if prev := c.perPod[p.Name]; ok >= prev[0] {
			c.perPod[p.Name] = [2]int{ok, failed}
		}
		c.mu.Unlock()
	}
}

func (c *envCalls) totals() (pods, ok, failed int, failures []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.perPod {
		ok += n[0]
		failed += n[1]
	}
	for k, v := range c.failures {
		failures = append(failures, k+": "+v)
	}
	return len(c.perPod), ok, failed, failures
}

// verifierDenials is the number of requests the verifier sidecar in front of hello denied,
// and allowed, so far (its metrics).
func verifierDecisions(t *testing.T) (allowed, denied float64) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", proxyAdminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "clientcreds_verifier_decisions_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		if strings.Contains(line, `result="allow"`) {
			allowed += v
		} else {
			denied += v
		}
	}
	return allowed, denied
}

// TestRotationWaitsForRestartedConsumers: three scheduled rotations (every 30 s) and one
// Secret deletion of a client whose Secret a Deployment of 2 replicas reads through env
// (spec.rotation.restart) and a pkg/credentials pod mounts (nudgePods). Each previous secret
// is retired only after the Deployment's rollout completed; no request fails.
func TestRotationWaitsForRestartedConsumers(t *testing.T) {
	e := setup(t)
	refusedBefore := tokenRefusals(t)
	allowedBefore, deniedBefore := verifierDecisions(t)
	e.apply(t, consumersManifest)
	t.Cleanup(func() {
		_, _ = e.kTry("", "-n", appsNS, "delete", "deployment", "client-env", "client-files", "--wait=false")
		_, _ = e.kTry("", "-n", appsNS, "delete", "oauthclient", "rolling", "--wait=false")
	})
	eventually(t, "OAuthClient rolling Ready", 2*time.Minute, func() error { return e.oauthClientReady(appsNS, "rolling") })
	e.waitRollout(t, appsNS, "client-env")
	e.waitRollout(t, appsNS, "client-files")
	appID := e.oauthClientStatus(t, appsNS, "rolling", "appID")
	eventually(t, "status.consumers of rolling", time.Minute, func() error {
		_, _, consumers := e.rollingStatus(t)
		b, _ := json.Marshal(consumers)
		s := string(b)
		if !strings.Contains(s, `"name":"client-env"`) || !strings.Contains(s, `"RestartedOnRotation"`) ||
			!strings.Contains(s, `"name":"client-files"`) || !strings.Contains(s, `"ReadsFiles"`) {
			return fmt.Errorf("consumers %s", s)
		}
		return nil
	})
	calls := &envCalls{perPod: map[string][2]int{}, failures: map[string]string{}}
	stopReading := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			calls.read(e, t)
			select {
			case <-stopReading:
				return
			case <-time.After(time.Second):
			}
		}
	}()

	cycle := func(name string, trigger func()) {
		t.Helper()
		before, _, _ := e.rollingStatus(t)
		prev := e.envDeployment(t).Spec.Template.Annotations[restartedAtKey]
		oldValue, _ := e.secretValue(t, appsNS, "rolling-oauth-client", "CLIENT_SECRET")
		if trigger != nil {
			trigger()
		}
		var published time.Time
		eventually(t, name+": new credentials published", 2*time.Minute, func() error {
			id, _, _ := e.rollingStatus(t)
			v, ok := e.secretValue(t, appsNS, "rolling-oauth-client", "CLIENT_SECRET")
			if id == before || !ok || v == oldValue {
				return fmt.Errorf("not yet")
			}
			published = time.Now()
			return nil
		})
		newValue, _ := e.secretValue(t, appsNS, "rolling-oauth-client", "CLIENT_SECRET")
		file := e.podVolumeFile(t, appsNS, "client-files", "oauth-client", "CLIENT_SECRET")
		var restartedAt string
		var rolled, retired, fileAt time.Duration
		eventually(t, name+": rollout and retirement", 2*time.Minute, func() error {
			if _, v, _ := e.rollingStatus(t); v != "" {
				restartedAt = v // status.rollout, while it lasts
			}
			if fileAt == 0 {
				if b, err := os.ReadFile(file); err == nil && string(b) == newValue {
					fileAt = time.Since(published)
				}
			}
			if rolled == 0 {
				if ok, _ := e.rolloutComplete(t, prev); ok {
					rolled = time.Since(published)
				}
			}
			if e.activeSecrets(t, appID) != 1 {
				return fmt.Errorf("previous secret active; rollout done after %v", rolled)
			}
			retired = time.Since(published)
			// Read after the retirement was seen: a rollout not complete now was not
			// complete when the previous secret was retired.
			if ok, state := e.rolloutComplete(t, prev); !ok {
				t.Errorf("%s: the previous secret was retired before the rollout completed (%s)", name, state)
			}
			return nil
		})
		if v := e.envDeployment(t).Spec.Template.Annotations[restartedAtKey]; restartedAt != "" && v != restartedAt {
			t.Errorf("%s: the Deployment was restarted with %q, status.rollout.restartedAt said %q", name, v, restartedAt)
		}
		if fileAt == 0 {
			eventually(t, name+": nudged pod's file updated", 2*time.Minute, func() error {
				if b, err := os.ReadFile(file); err != nil || string(b) != newValue {
					return fmt.Errorf("old value")
				}
				fileAt = time.Since(published)
				return nil
			})
		}
		t.Logf("%s: new secret → rollout of 2 env replicas complete %v, previous secret retired %v; nudged volume file updated %v",
			name, rolled.Round(10*time.Millisecond), retired.Round(10*time.Millisecond), fileAt.Round(10*time.Millisecond))
		nudgeDelays = append(nudgeDelays, fileAt)
	}
	for i := 1; i <= 3; i++ {
		cycle(fmt.Sprintf("scheduled rotation %d", i), nil)
	}
	// No further rotation: the Secret deletion is the last cycle.
	e.k(t, "", "-n", appsNS, "patch", "oauthclient", "rolling", "--type=merge", "-p", `{"spec":{"rotation":{"interval":"1h"}}}`)
	cycle("Secret deleted", func() {
		if err := e.kube.CoreV1().Secrets(appsNS).Delete(context.Background(), "rolling-oauth-client", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	// Calls keep going for a few seconds past the last retirement.
	time.Sleep(5 * time.Second)
	close(stopReading)
	<-readerDone
	calls.read(e, t)
	pods, okCalls, failedCalls, failures := calls.totals()
	allowedAfter, deniedAfter := verifierDecisions(t)
	out := e.k(t, "", "-n", appsNS, "logs", "deploy/client-files", "--tail=-1")
	filesOK, filesFailed := strings.Count(out, `"status":200`), strings.Count(out, `"msg":"Call failed"`)+strings.Count(out, `"msg":"Called"`)-strings.Count(out, `"status":200`)
	refused := tokenRefusals(t) - refusedBefore
	t.Logf("env Deployment: %d pods seen, %d calls ok / %d failed (their logs, read every second); pkg/credentials volume pod: %d ok / %d failed",
		pods, okCalls, failedCalls, filesOK, filesFailed)
	t.Logf("server side during the test: token requests refused %d; verifier in front of hello allowed %.0f, denied %.0f (all its clients)",
		refused, allowedAfter-allowedBefore, deniedAfter-deniedBefore)
	if failedCalls != 0 || filesFailed != 0 || refused != 0 || deniedAfter != deniedBefore {
		t.Errorf("failed requests: env %d, volume %d, refused token requests %d, denied by the verifier %.0f; env failures: %v",
			failedCalls, filesFailed, refused, deniedAfter-deniedBefore, failures)
	}
	if okCalls == 0 || filesOK == 0 {
		t.Errorf("no successful calls (env %d, volume %d)", okCalls, filesOK)
	}
}

// nudgeDelays are the Secret-to-file delays of nudged pods, reported with kubelet's own
// (delays) at the end.
var nudgeDelays []time.Duration
