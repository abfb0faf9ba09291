package controllers_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
)

// envDeployment is a Deployment whose pods read the Secret through env. No controller
// manager runs in envtest: its status is what the test writes.
func envDeployment(ns, name, secret string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"reads": "oauth"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:dev",
					EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}}}}},
			},
		},
	}
}

// consumerPod is a pod that reads secret through env or mounts it; owner is a ReplicaSet
// name (with hash its pod-template-hash) or "" for a bare pod.
func consumerPod(ns, name, secret, owner, hash string, env, files bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "app:dev"}}},
	}
	if owner != "" {
		p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner,
			UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true)}}
	}
	if env {
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "CLIENT_SECRET", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "CLIENT_SECRET"}}}}
	}
	if files {
		p.Spec.Volumes = []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}}}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "creds", MountPath: "/creds"}}
	}
	return p
}

// completeRollout writes the status the Deployment controller writes when every replica of
// the current generation is updated and available.
func (f *fixture) completeRollout(name string) {
	f.t.Helper()
	d := &appsv1.Deployment{}
	if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, d); err != nil {
		f.t.Fatal(err)
	}
	n := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
	if err := k8s.Status().Update(f.ctx, d); err != nil {
		f.t.Fatal(err)
	}
}

func reconcilingReason(obj *oauthv1.OAuthClient) (string, string) {
	c := meta.FindStatusCondition(obj.Status.Conditions, oauthv1.ConditionReconciling)
	if c == nil {
		return "", ""
	}
	return c.Reason, c.Message
}

// TestRotationWaitsForRestartedWorkloads: after a restore (the Secret deleted) the
// operator restarts the workloads of spec.rotation.restart as `kubectl rollout restart`
// does, keeps the previous secret while their rollouts are not complete (Ready=True,
// Reconciling WaitingForConsumers naming the workload) even past gracePeriod, and retires
// it once the rollout completes. status.consumers groups the pods that read the Secret, and
// nudgePods annotates the pods that mount it.
func TestRotationWaitsForRestartedWorkloads(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	const name = "waits"
	secret := name + "-oauth-client"
	f.create(envDeployment(f.ns, "app", secret))
	f.create(consumerPod(f.ns, "app-5d8f7c-abcde", secret, "app-5d8f7c", "5d8f7c", true, false))
	f.create(consumerPod(f.ns, "reader", secret, "", "", false, true))
	f.create(consumerPod(f.ns, "stray", secret, "", "", true, false))
	f.create(consumerPod(f.ns, "unrelated", "other-secret", "", "", true, true))
	f.newClient(name, func(o *oauthv1.OAuthClient) {
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: time.Hour},
			GracePeriod: &metav1.Duration{Duration: time.Second}, MaxGracePeriod: &metav1.Duration{Duration: 10 * time.Minute},
			Restart: []oauthv1.WorkloadSelector{{Kind: "Deployment", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"reads": "oauth"}}}}}
		o.Spec.SecretTemplate = &oauthv1.SecretTemplate{NudgePods: true}
	})
	obj := f.waitReady(name)
	wantConsumers := []oauthv1.SecretConsumer{
		{Kind: "Deployment", Name: "app", Pods: 1, Env: true, Coverage: oauthv1.ConsumerRestartedOnRotation},
		{Kind: "Pod", Name: "reader", Pods: 1, Files: true, Coverage: oauthv1.ConsumerReadsFiles},
		{Kind: "Pod", Name: "stray", Pods: 1, Env: true, Coverage: oauthv1.ConsumerNotCovered},
	}
	f.eventually(waitTimeout, "status.consumers", func() (bool, string) {
		obj = f.get(name)
		return slices.Equal(obj.Status.Consumers, wantConsumers), describe(obj)
	})
	if obj.Status.Rollout != nil {
		t.Fatalf("a new client has nothing to roll out; status.rollout = %+v", obj.Status.Rollout)
	}

	// Restore: the Secret is deleted, new credentials are published.
	first := obj.Status.SecretID
	if err := k8s.Delete(f.ctx, f.secret(secret)); err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "the restart of Deployment app", func() (bool, string) {
		obj = f.get(name)
		reason, msg := reconcilingReason(obj)
		return obj.Status.SecretID != first && obj.Status.Rollout != nil && obj.Status.Rollout.RestartedAt != "" &&
			reason == oauthv1.ReasonWaitingForConsumers && strings.Contains(msg, "Deployment app"), describe(obj)
	})
	if c := readyCondition(obj); c.Status != metav1.ConditionTrue {
		t.Fatalf("Ready while waiting for consumers: %s", describe(obj))
	}
	d := &appsv1.Deployment{}
	if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "app"}, d); err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Annotations[controllers.AnnotationRestartedAt]; got != obj.Status.Rollout.RestartedAt {
		t.Fatalf("Deployment restartedAt = %q, status.rollout.restartedAt %q", got, obj.Status.Rollout.RestartedAt)
	}
	// The nudge: only the pod that mounts the Secret, with the Secret's content hash.
	f.eventually(waitTimeout, "the nudge of pod reader", func() (bool, string) {
		p := &corev1.Pod{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "reader"}, p); err != nil {
			return false, err.Error()
		}
		return p.Annotations[controllers.AnnotationSecretHash] == f.get(name).Status.SecretHash, p.Annotations[controllers.AnnotationSecretHash]
	})
	for _, pod := range []string{"stray", "app-5d8f7c-abcde", "unrelated"} {
		p := &corev1.Pod{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: pod}, p); err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Annotations[controllers.AnnotationSecretHash]; ok {
			t.Errorf("pod %s does not mount the Secret but was nudged", pod)
		}
	}
	// Well past gracePeriod (1s) the previous secret still works: the rollout is not done.
	time.Sleep(3 * time.Second)
	obj = f.get(name)
	if n := f.activeSecrets(obj.Status.AppID); n != 2 {
		t.Fatalf("%d active client secrets while the rollout is not complete, want 2 (the previous one kept)", n)
	}
	if obj.Status.RetireAfter == nil {
		t.Fatalf("retirement no longer pending: %s", describe(obj))
	}
	if !slices.Contains(f.eventReasons(name), "Warning/"+controllers.EventConsumerNotCovered) {
		t.Errorf("no ConsumerNotCovered warning for pod stray; events %v", f.eventReasons(name))
	}

	f.completeRollout("app")
	f.eventually(waitTimeout, "the retirement after the rollout", func() (bool, string) {
		obj = f.get(name)
		reason, _ := reconcilingReason(obj)
		return obj.Status.RetireAfter == nil && obj.Status.Rollout == nil && reason == "", describe(obj)
	})
	if n := f.activeSecrets(obj.Status.AppID); n != 1 {
		t.Fatalf("%d active client secrets after the rollout, want 1", n)
	}
	if slices.Contains(f.eventReasons(name), "Warning/"+controllers.EventConsumersNotReady) {
		t.Errorf("ConsumersNotReady recorded although the rollout completed")
	}
}

// TestRotationMaxGracePeriod: a restarted workload that never becomes available holds the
// previous secret only until maxGracePeriod; then it is retired with a warning naming the
// workload.
func TestRotationMaxGracePeriod(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	const name = "bounded"
	secret := name + "-oauth-client"
	f.create(envDeployment(f.ns, "stuck", secret))
	f.newClient(name, func(o *oauthv1.OAuthClient) {
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: time.Hour},
			GracePeriod: &metav1.Duration{Duration: time.Second}, MaxGracePeriod: &metav1.Duration{Duration: 4 * time.Second},
			Restart: []oauthv1.WorkloadSelector{{Kind: "Deployment", Name: "stuck"}, {Kind: "StatefulSet", Name: "absent"}}}
	})
	obj := f.waitReady(name)
	first := obj.Status.SecretID
	if err := k8s.Delete(f.ctx, f.secret(secret)); err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "the wait for Deployment stuck", func() (bool, string) {
		obj = f.get(name)
		reason, msg := reconcilingReason(obj)
		return obj.Status.SecretID != first && reason == oauthv1.ReasonWaitingForConsumers && strings.Contains(msg, "Deployment stuck"), describe(obj)
	})
	published := obj.Status.Rollout.PublishedAt.Time
	f.eventually(waitTimeout, "the retirement at maxGracePeriod", func() (bool, string) {
		obj = f.get(name)
		return obj.Status.RetireAfter == nil && obj.Status.Rollout == nil, describe(obj)
	})
	if since := time.Since(published); since < 4*time.Second {
		t.Fatalf("retired %v after publication, before maxGracePeriod (4s)", since)
	}
	if n := f.activeSecrets(obj.Status.AppID); n != 1 {
		t.Fatalf("%d active client secrets after maxGracePeriod, want 1", n)
	}
	if !slices.Contains(f.eventReasons(name), "Warning/"+controllers.EventConsumersNotReady) {
		t.Fatalf("no ConsumersNotReady warning; events %v", f.eventReasons(name))
	}
	if c := readyCondition(obj); c.Status != metav1.ConditionTrue {
		t.Fatalf("not Ready after the retirement: %s", describe(obj))
	}
}

// TestConsumerAccessDenied: without the consumers ClusterRole (here: the API server refuses
// the restart patch) the client stays Ready with reason ConsumerAccessDenied naming the
// permission, and the previous secret is retired after the plain grace period.
func TestConsumerAccessDenied(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{intercept: &interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if _, ok := obj.(*appsv1.Deployment); ok {
				return apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, obj.GetName(),
					errors.New("no RBAC policy matched"))
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	}})
	const name = "denied"
	f.create(envDeployment(f.ns, "app", name+"-oauth-client"))
	f.newClient(name, func(o *oauthv1.OAuthClient) {
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: 10 * time.Second},
			GracePeriod: &metav1.Duration{Duration: 2 * time.Second}, MaxGracePeriod: &metav1.Duration{Duration: 8 * time.Second},
			Restart: []oauthv1.WorkloadSelector{{Kind: "Deployment", Name: "app"}}}
	})
	obj := f.waitReady(name)
	first := obj.Status.SecretID
	obj = f.waitReason(name, metav1.ConditionTrue, oauthv1.ReasonConsumerAccessDenied)
	if msg := readyCondition(obj).Message; !strings.Contains(msg, "may not patch deployments") || !strings.Contains(msg, "clientcreds-consumers") {
		t.Fatalf("message does not name the permission and the ClusterRole: %q", msg)
	}
	f.eventually(waitTimeout, "the retirement after the plain grace period", func() (bool, string) {
		obj = f.get(name)
		return obj.Status.SecretID != first && obj.Status.RetireAfter == nil && f.activeSecrets(obj.Status.AppID) == 1, describe(obj)
	})
	if slices.Contains(f.eventReasons(name), "Warning/"+controllers.EventConsumersNotReady) {
		t.Errorf("retired by the maxGracePeriod bound, not after the plain grace period")
	}
	if !slices.Contains(f.eventReasons(name), "Warning/"+oauthv1.ReasonConsumerAccessDenied) {
		t.Errorf("no ConsumerAccessDenied warning; events %v", f.eventReasons(name))
	}
}
