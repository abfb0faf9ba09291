package controllers_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/testenv"
	"github.com/clientcreds/clientcreds/internal/testutil"
)

// kubeControllerManager runs kube-controller-manager's deployment and replicaset
// controllers against the envtest API server until the test ends, so that Deployments roll
// as in a cluster (pods are created but never start: there is no scheduler or kubelet). It
// skips the test when the binary is not built (`make node`). The caller must not be a
// parallel test: every test's Deployments are then its own.
func kubeControllerManager(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the control plane (envtest); skipped with -short")
	}
	bin := filepath.Join(testutil.RepoRoot(), "bin", "node", testenv.K8sVersion, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("kube-controller-manager is not built (make node): %v", err)
	}
	user, err := testEnv.ControlPlane.AddUser(envtest.User{Name: "kcm-" + randHex(3), Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(dir, "kcm.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--kubeconfig="+kubeconfig, "--controllers=deployment,replicaset", "--leader-elect=false",
		"--secure-port=0", "--concurrent-deployment-syncs=2", "--concurrent-replicaset-syncs=2")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("kube-controller-manager log (tail):\n%s", b)
		}
	})
}

// simulateKubelet marks the namespace's pods Running and Ready while ready is true, as a
// kubelet would once their containers run; pods created while it is false stay Pending.
func (f *fixture) simulateKubelet(ready *atomic.Bool) {
	stop := make(chan struct{})
	done := make(chan struct{})
	f.t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if !ready.Load() {
				continue
			}
			var pods corev1.PodList
			if err := k8s.List(f.ctx, &pods, client.InNamespace(f.ns)); err != nil {
				continue
			}
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.Status.Phase == corev1.PodRunning || !p.DeletionTimestamp.IsZero() {
					continue
				}
				now := metav1.Now()
				p.Status.Phase = corev1.PodRunning
				p.Status.StartTime = &now
				p.Status.Conditions = []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
					{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
					{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				}
				_ = k8s.Status().Update(f.ctx, p)
			}
		}
	}()
}

// TestRestartRollsWithControllerManager: with kube-controller-manager's Deployment and
// ReplicaSet controllers, the restart the operator makes rolls the Deployment as `kubectl
// rollout restart` does (a new ReplicaSet whose pod template carries restartedAt). When the
// new pods become ready (a simulated kubelet) the previous secret is retired once the
// controllers report the rollout complete; when they never do, it is retired at
// maxGracePeriod with a warning naming the Deployment.
func TestRestartRollsWithControllerManager(t *testing.T) {
	kubeControllerManager(t)
	f := newFixture(t, fixtureOptions{})
	var ready atomic.Bool
	ready.Store(true)
	f.simulateKubelet(&ready)
	const name = "rolled"
	secret := name + "-oauth-client"
	f.create(envDeployment(f.ns, "app", secret))
	deployment := func() *appsv1.Deployment {
		d := &appsv1.Deployment{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "app"}, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	complete := func(d *appsv1.Deployment) bool {
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.Replicas == 2 && s.UpdatedReplicas == 2 && s.AvailableReplicas == 2
	}
	f.eventually(waitTimeout, "the Deployment rolled out by kube-controller-manager", func() (bool, string) {
		d := deployment()
		return complete(d), describeDeployment(d)
	})
	f.newClient(name, func(o *oauthv1.OAuthClient) {
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: time.Hour},
			GracePeriod: &metav1.Duration{Duration: time.Second}, MaxGracePeriod: &metav1.Duration{Duration: 4 * time.Second},
			Restart: []oauthv1.WorkloadSelector{{Kind: "Deployment", Name: "app"}}}
	})
	obj := f.waitReady(name)

	// Completed by the controllers: the Secret is deleted, the operator publishes new
	// credentials and restarts the Deployment; the retirement follows the rollout.
	first := obj.Status.SecretID
	if err := k8s.Delete(f.ctx, f.secret(secret)); err != nil {
		t.Fatal(err)
	}
	var restartedAt string
	f.eventually(waitTimeout, "the retirement after the rollout", func() (bool, string) {
		obj = f.get(name)
		if ro := obj.Status.Rollout; ro != nil && ro.RestartedAt != "" {
			restartedAt = ro.RestartedAt
		}
		if obj.Status.SecretID == first || obj.Status.RetireAfter != nil {
			return false, describe(obj)
		}
		// Read after the retirement: a rollout not complete now was not complete then.
		if d := deployment(); !complete(d) || d.Spec.Template.Annotations[controllers.AnnotationRestartedAt] == "" {
			t.Fatalf("retired before the rollout completed: %s", describeDeployment(d))
		}
		return true, ""
	})
	var sets appsv1.ReplicaSetList
	if err := k8s.List(f.ctx, &sets, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	var restarted, old int
	for _, rs := range sets.Items {
		switch {
		case rs.Spec.Template.Annotations[controllers.AnnotationRestartedAt] == restartedAt && restartedAt != "":
			restarted++
			if rs.Status.AvailableReplicas != 2 {
				t.Errorf("the restarted ReplicaSet %s has %d available replicas", rs.Name, rs.Status.AvailableReplicas)
			}
		case *rs.Spec.Replicas == 0:
			old++
		}
	}
	if restarted != 1 || old != 1 {
		t.Fatalf("%d ReplicaSets with restartedAt %q and %d scaled down, want 1 and 1 (%d in all)", restarted, restartedAt, old, len(sets.Items))
	}
	if n := f.activeSecrets(obj.Status.AppID); n != 1 {
		t.Fatalf("%d active client secrets after the rollout, want 1", n)
	}
	if slices.Contains(f.eventReasons(name), "Warning/"+controllers.EventConsumersNotReady) {
		t.Fatalf("ConsumersNotReady although the rollout completed")
	}

	// Never ready: the new pods stay Pending; the previous secret waits, then goes at
	// maxGracePeriod with a warning.
	ready.Store(false)
	second := obj.Status.SecretID
	if err := k8s.Delete(f.ctx, f.secret(secret)); err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "the wait for the stuck rollout", func() (bool, string) {
		obj = f.get(name)
		reason, msg := reconcilingReason(obj)
		return obj.Status.SecretID != second && reason == oauthv1.ReasonWaitingForConsumers &&
			strings.Contains(msg, "Deployment app") && strings.Contains(msg, "replicas"), describe(obj)
	})
	if n := f.activeSecrets(obj.Status.AppID); n != 2 {
		t.Fatalf("%d active client secrets while the rollout is stuck, want 2", n)
	}
	f.eventually(waitTimeout, "the retirement at maxGracePeriod", func() (bool, string) {
		obj = f.get(name)
		return obj.Status.RetireAfter == nil && obj.Status.Rollout == nil, describe(obj)
	})
	if d := deployment(); complete(d) {
		t.Fatalf("the rollout completed although no new pod became ready: %s", describeDeployment(d))
	}
	if n := f.activeSecrets(obj.Status.AppID); n != 1 {
		t.Fatalf("%d active client secrets after maxGracePeriod, want 1", n)
	}
	if !slices.Contains(f.eventReasons(name), "Warning/"+controllers.EventConsumersNotReady) {
		t.Fatalf("no ConsumersNotReady warning; events %v", f.eventReasons(name))
	}
}

func describeDeployment(d *appsv1.Deployment) string {
	s := d.Status
	return fmt.Sprintf("generation %d observed %d replicas %d updated %d available %d",
		d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.AvailableReplicas)
}
