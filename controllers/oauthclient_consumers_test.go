package controllers

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// The completion rules of `kubectl rollout status`, per kind.
func TestRolloutStatus(t *testing.T) {
	dep := func(gen, observed int64, replicas int32, st appsv1.DeploymentStatus) *appsv1.Deployment {
		st.ObservedGeneration = observed
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)}, Status: st}
	}
	sts := func(strategy appsv1.StatefulSetUpdateStrategyType, partition *int32, st appsv1.StatefulSetStatus) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: strategy}}, Status: st}
		if partition != nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition}
		}
		return s
	}
	ds := func(strategy appsv1.DaemonSetUpdateStrategyType, observed int64, st appsv1.DaemonSetStatus) *appsv1.DaemonSet {
		st.ObservedGeneration = observed
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DaemonSetSpec{
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: strategy}}, Status: st}
	}
	tests := map[string]struct {
		obj      client.Object
		wantDone bool
		wantMsg  string
	}{
		"deployment: spec not observed": {obj: dep(3, 2, 2, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}), wantMsg: "spec update"},
		"deployment: updating":          {obj: dep(3, 3, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2}), wantMsg: "1 of 2 new replicas"},
		"deployment: old pending":       {obj: dep(3, 3, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 2}), wantMsg: "1 old replicas"},
		"deployment: not available":     {obj: dep(3, 3, 2, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1}), wantMsg: "1 of 2 updated replicas available"},
		"deployment: deadline": {obj: dep(3, 3, 2, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}}}), wantMsg: "progress deadline"},
		"deployment: done":        {obj: dep(3, 3, 2, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}), wantDone: true},
		"deployment: scaled to 0": {obj: dep(3, 3, 0, appsv1.DeploymentStatus{}), wantDone: true},
		"statefulset: OnDelete":   {obj: sts(appsv1.OnDeleteStatefulSetStrategyType, nil, appsv1.StatefulSetStatus{ObservedGeneration: 2}), wantMsg: "OnDelete"},
		"statefulset: not observed": {obj: sts(appsv1.RollingUpdateStatefulSetStrategyType, nil, appsv1.StatefulSetStatus{ObservedGeneration: 1}),
			wantMsg: "spec update"},
		"statefulset: not ready": {obj: sts(appsv1.RollingUpdateStatefulSetStrategyType, nil, appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 2}),
			wantMsg: "2 of 3 pods ready"},
		"statefulset: old revision": {obj: sts(appsv1.RollingUpdateStatefulSetStrategyType, nil, appsv1.StatefulSetStatus{ObservedGeneration: 2,
			ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "a", UpdateRevision: "b"}), wantMsg: "1 of 3 pods at the new revision"},
		"statefulset: done": {obj: sts(appsv1.RollingUpdateStatefulSetStrategyType, nil, appsv1.StatefulSetStatus{ObservedGeneration: 2,
			ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "b", UpdateRevision: "b"}), wantDone: true},
		"statefulset: partition done": {obj: sts(appsv1.RollingUpdateStatefulSetStrategyType, ptr.To[int32](1), appsv1.StatefulSetStatus{ObservedGeneration: 2,
			ReadyReplicas: 3, UpdatedReplicas: 2, CurrentRevision: "a", UpdateRevision: "b"}), wantDone: true},
		"daemonset: OnDelete":     {obj: ds(appsv1.OnDeleteDaemonSetStrategyType, 2, appsv1.DaemonSetStatus{}), wantMsg: "OnDelete"},
		"daemonset: not observed": {obj: ds(appsv1.RollingUpdateDaemonSetStrategyType, 1, appsv1.DaemonSetStatus{}), wantMsg: "spec update"},
		"daemonset: scheduling": {obj: ds(appsv1.RollingUpdateDaemonSetStrategyType, 2, appsv1.DaemonSetStatus{DesiredNumberScheduled: 3,
			UpdatedNumberScheduled: 2, NumberAvailable: 3}), wantMsg: "2 of 3 new pods"},
		"daemonset: not available": {obj: ds(appsv1.RollingUpdateDaemonSetStrategyType, 2, appsv1.DaemonSetStatus{DesiredNumberScheduled: 3,
			UpdatedNumberScheduled: 3, NumberAvailable: 2}), wantMsg: "2 of 3 updated pods available"},
		"daemonset: done": {obj: ds(appsv1.RollingUpdateDaemonSetStrategyType, 2, appsv1.DaemonSetStatus{DesiredNumberScheduled: 3,
			UpdatedNumberScheduled: 3, NumberAvailable: 3}), wantDone: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			done, msg := rolloutStatus(tc.obj)
			if done != tc.wantDone || !strings.Contains(msg, tc.wantMsg) {
				t.Fatalf("rolloutStatus = %v %q, want %v %q", done, msg, tc.wantDone, tc.wantMsg)
			}
		})
	}
}

func TestFindConsumers(t *testing.T) {
	const secret = "s"
	pod := func(name string, mutate func(*corev1.Pod)) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
		mutate(&p)
		return p
	}
	envFrom := func(p *corev1.Pod) {
		p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}}
	}
	initEnv := func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "i", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "CLIENT_ID"}}}}}}
	}
	volume := func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}}
	}
	ownedBy := func(kind, name, hash string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			if hash != "" {
				p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
			}
			p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: name, Controller: ptr.To(true)}}
		}
	}
	all := func(fs ...func(*corev1.Pod)) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			for _, f := range fs {
				f(p)
			}
		}
	}
	pods := []corev1.Pod{
		pod("web-7d9c-1", all(envFrom, ownedBy("ReplicaSet", "web-7d9c", "7d9c"))),
		pod("web-7d9c-2", all(envFrom, volume, ownedBy("ReplicaSet", "web-7d9c", "7d9c"))),
		pod("db-0", all(initEnv, ownedBy("StatefulSet", "db", ""))),
		pod("files-1", all(volume, ownedBy("ReplicaSet", "files-1a2b", "1a2b"))),
		pod("bare-rs-1", all(envFrom, ownedBy("ReplicaSet", "bare-rs", ""))),
		pod("done", all(envFrom, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })),
		pod("other", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "other"}}}}
		}),
	}
	restarted := []workload{{kind: "Deployment", obj: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}}}}
	got := findConsumers(secret, pods, restarted)
	want := []oauthv1.SecretConsumer{
		{Kind: "Deployment", Name: "files", Pods: 1, Files: true, Coverage: oauthv1.ConsumerReadsFiles},
		{Kind: "Deployment", Name: "web", Pods: 2, Env: true, Files: true, Coverage: oauthv1.ConsumerRestartedOnRotation},
		{Kind: "ReplicaSet", Name: "bare-rs", Pods: 1, Env: true, Coverage: oauthv1.ConsumerNotCovered},
		{Kind: "StatefulSet", Name: "db", Pods: 1, Env: true, Coverage: oauthv1.ConsumerNotCovered},
	}
	if len(got) != len(want) {
		t.Fatalf("consumers %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("consumer %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// The bound keeps the NotCovered groups.
	var many []oauthv1.SecretConsumer
	for i := range maxConsumers + 5 {
		c := oauthv1.SecretConsumer{Kind: "Pod", Name: string(rune('a'+i%26)) + strings.Repeat("x", i/26), Coverage: oauthv1.ConsumerReadsFiles}
		if i == maxConsumers+4 {
			c.Coverage = oauthv1.ConsumerNotCovered
		}
		many = append(many, c)
	}
	kept, omitted := boundConsumers(many)
	if len(kept) != maxConsumers || omitted != 5 || kept[0].Coverage != oauthv1.ConsumerNotCovered {
		t.Fatalf("bound: %d kept (first %s), %d omitted", len(kept), kept[0].Coverage, omitted)
	}
}

// Without the consumers ClusterRole the API server answers Forbidden: the feature turns
// off with a message naming the permission, the rollout is dropped (the plain grace period
// applies), and nothing else fails.
func TestConsumersAccessDenied(t *testing.T) {
	forbidden := func(resource, verb string) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New(verb+" is not allowed"))
	}
	tests := map[string]struct {
		funcs   interceptor.Funcs
		wantMsg string
	}{
		"list pods": {funcs: interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, o ...client.ListOption) error {
			if _, ok := l.(*corev1.PodList); ok {
				return forbidden("pods", "list")
			}
			return c.List(ctx, l, o...)
		}}, wantMsg: "may not list pods in namespace ns"},
		"patch deployment": {funcs: interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, po ...client.PatchOption) error {
			return forbidden("deployments", "patch")
		}}, wantMsg: "may not patch deployments in namespace ns"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := readyClient()
			obj.Namespace = "ns"
			obj.Spec.Rotation = &oauthv1.Rotation{Restart: []oauthv1.WorkloadSelector{{Kind: "Deployment", Name: "web"}}}
			obj.Status.Rollout = &oauthv1.ConsumerRollout{PublishedAt: metav1.NewTime(testNow)}
			c := fakeclient.NewClientBuilder().WithScheme(testScheme(t)).
				WithObjects(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}}).
				WithInterceptorFuncs(tc.funcs).Build()
			r := &OAuthClientReconciler{Client: c, APIReader: c, Now: func() time.Time { return testNow }}
			st, err := r.reconcileConsumers(context.Background(), obj)
			if err != nil {
				t.Fatalf("error %v; a refusal must not fail the reconcile", err)
			}
			if !strings.Contains(st.denied, tc.wantMsg) || !strings.Contains(st.denied, "clientcreds-consumers") {
				t.Fatalf("denied = %q, want it to name %q and the ClusterRole", st.denied, tc.wantMsg)
			}
			if obj.Status.Rollout != nil || len(st.waiting) > 0 {
				t.Fatalf("the rollout is kept (%+v, waiting %v): retirement would wait for a restart that cannot happen", obj.Status.Rollout, st.waiting)
			}
		})
	}
}

// A workload is restarted once per Secret content: a reconcile that read an OAuthClient
// older than its last status write (recoverPublished starts a second rollout for the same
// Secret, with a later publication time) finds the template restarted for the Secret's
// hash, patches nothing and takes over the first restart's value; a new Secret restarts it.
func TestRestartOncePerSecret(t *testing.T) {
	first := testNow.Add(-time.Minute).UTC().Format(time.RFC3339)
	tests := map[string]struct {
		template  map[string]string // the Deployment's pod template annotations
		wantPatch bool
		wantValue string
	}{
		"never restarted": {wantPatch: true, wantValue: testNow.UTC().Format(time.RFC3339)},
		"restarted for this Secret": {template: map[string]string{AnnotationRestartedAt: first, AnnotationRestartedFor: "h2"},
			wantValue: first},
		"restarted for the previous Secret": {template: map[string]string{AnnotationRestartedAt: first, AnnotationRestartedFor: "h1"},
			wantPatch: true, wantValue: testNow.UTC().Format(time.RFC3339)},
		"restarted by kubectl": {template: map[string]string{AnnotationRestartedAt: first},
			wantPatch: true, wantValue: testNow.UTC().Format(time.RFC3339)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := readyClient()
			obj.Namespace = "ns"
			obj.Spec.Rotation = &oauthv1.Rotation{Restart: []oauthv1.WorkloadSelector{{Kind: "Deployment", Name: "web"}}}
			obj.Status.SecretHash = "h2"
			obj.Status.Rollout = &oauthv1.ConsumerRollout{SecretHash: "h1", PublishedAt: metav1.NewTime(testNow)}
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}}
			d.Spec.Template.Annotations = tc.template
			patches := 0
			c := fakeclient.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(d).
				WithInterceptorFuncs(interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, po ...client.PatchOption) error {
					patches++
					return c.Patch(ctx, o, p, po...)
				}}).Build()
			r := &OAuthClientReconciler{Client: c, APIReader: c, Now: func() time.Time { return testNow }}
			if _, err := r.reconcileConsumers(context.Background(), obj); err != nil {
				t.Fatal(err)
			}
			if got := patches > 0; got != tc.wantPatch {
				t.Errorf("%d patches, want a patch: %v", patches, tc.wantPatch)
			}
			if got := obj.Status.Rollout.RestartedAt; got != tc.wantValue {
				t.Errorf("status.rollout.restartedAt %q, want %q", got, tc.wantValue)
			}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(d), d); err != nil {
				t.Fatal(err)
			}
			if a := d.Spec.Template.Annotations; a[AnnotationRestartedAt] != tc.wantValue || a[AnnotationRestartedFor] != "h2" {
				t.Errorf("pod template annotations %v, want restartedAt %q for h2", a, tc.wantValue)
			}
		})
	}
}

// BenchmarkFindConsumers: the per-reconcile cost of status.consumers for a namespace of
// 5,000 pods, 50 of which read the Secret (the pod list itself is the API server's cost).
func BenchmarkFindConsumers(b *testing.B) {
	pods := make([]corev1.Pod, 5000)
	for i := range pods {
		p := &pods[i]
		p.Name = "pod-" + strconv.Itoa(i)
		p.Labels = map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: "h" + strconv.Itoa(i%100)}
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "app" + strconv.Itoa(i%100) + "-h" + strconv.Itoa(i%100), Controller: ptr.To(true)}}
		secret := "other"
		if i%100 == 0 {
			secret = "s"
		}
		p.Spec.Containers = []corev1.Container{{Name: "c", Env: []corev1.EnvVar{{Name: "A", Value: "b"}},
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}}}}
		p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := findConsumers("s", pods, nil); len(got) != 1 || got[0].Pods != 50 {
			b.Fatalf("consumers %+v", got)
		}
	}
}
