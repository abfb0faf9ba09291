package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// The consumers of the Secret (spec.rotation.restart, spec.secretTemplate.nudgePods,
// status.consumers). Everything here reads around the cache (APIReader): the manager keeps
// no pod or workload informer, so a cluster that does not use the feature pays nothing, and
// one that does pays one pod list per reconcile of the clients that use it. The RBAC it needs
// is in its own ClusterRole (config/rbac/consumers_role.yaml), never in manager-role: no
// +kubebuilder:rbac marker may name pods or apps here.

const (
	// AnnotationRestartedAt is the pod template annotation `kubectl rollout restart` sets;
	// changing it rolls the workload.
	AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"
	// AnnotationSecretHash is the pod annotation spec.secretTemplate.nudgePods sets to the
	// Secret's content hash: a change of any annotation makes kubelet sync the pod, and so
	// refresh its Secret volumes, at once.
	AnnotationSecretHash = "oauth.clientcreds.dev/secret-hash"
	// AnnotationRestartedFor is the pod template annotation set with AnnotationRestartedAt:
	// the content hash of the Secret the workload was restarted for. A workload that carries
	// the Secret's current hash is not restarted again for it — not even by a reconcile that
	// read an OAuthClient older than its last status write (recoverPublished then starts a
	// second rollout for the same Secret).
	AnnotationRestartedFor = "oauth.clientcreds.dev/restarted-for"

	// maxConsumers bounds status.consumers (the CRD says so too).
	maxConsumers = 32
	// consumerPoll is how often a client waiting for its consumers looks again: nothing
	// watches the workloads.
	consumerPoll = 2 * time.Second
	// nudgeSettle is how long after the nudge the retirement waits at least: kubelet
	// refreshed the files of a nudged pod within 0.4 s on a real node.
	nudgeSettle = 5 * time.Second
	// podListPage bounds one page of the pod list.
	podListPage = 500
	// maxTrackedWorkloads bounds status.rollout.workloads (the CRD says so too): more are
	// restarted, the first ones (by kind and name) are waited for.
	maxTrackedWorkloads = 64
	// maxWaitingNamed bounds the workloads the Reconciling message names.
	maxWaitingNamed = 5
)

// consumerState is what reconcileConsumers found: whether the retirement must wait, and
// why; and whether the manager lacks the permissions (the feature is then off).
type consumerState struct {
	// waiting names the workloads (or the nudge) the retirement waits for; empty when none.
	waiting []string
	// denied says which permission the API server refused; "" when none was.
	denied string
}

// consumersEnabled says the client uses the consumer features.
func consumersEnabled(obj *oauthv1.OAuthClient) bool {
	return len(restartSpec(obj)) > 0 || nudgePods(obj)
}

func restartSpec(obj *oauthv1.OAuthClient) []oauthv1.WorkloadSelector {
	if obj.Spec.Rotation == nil {
		return nil
	}
	return obj.Spec.Rotation.Restart
}

func nudgePods(obj *oauthv1.OAuthClient) bool {
	return obj.Spec.SecretTemplate != nil && obj.Spec.SecretTemplate.NudgePods
}

// maxGracePeriod bounds the wait for the consumers.
func maxGracePeriod(obj *oauthv1.OAuthClient) time.Duration {
	if rot := obj.Spec.Rotation; rot != nil {
		return rot.MaxGracePeriodOrDefault()
	}
	return oauthv1.DefaultGracePeriod + time.Hour
}

// startRollout records, with newly published credentials, that the consumers are to be
// restarted and nudged before the previous secret is retired.
func startRollout(obj *oauthv1.OAuthClient, now time.Time) {
	if !consumersEnabled(obj) {
		return
	}
	obj.Status.Rollout = &oauthv1.ConsumerRollout{SecretHash: obj.Status.SecretHash, PublishedAt: statusTime(now)}
}

// reconcileConsumers observes the pods that read the Secret (status.consumers), restarts
// the workloads of spec.rotation.restart and nudges the pods that mount the Secret once per
// publication, and follows the rollouts. It never fails the reconcile for the consumers'
// sake: the credentials work whatever the consumers do. A refusal by the API server turns
// the feature off for this reconcile (consumerState.denied) and rotation falls back to the
// plain grace period.
func (r *OAuthClientReconciler) reconcileConsumers(ctx context.Context, obj *oauthv1.OAuthClient) (consumerState, error) {
	if !consumersEnabled(obj) {
		obj.Status.Consumers, obj.Status.ConsumersOmitted, obj.Status.Rollout = nil, 0, nil
		return consumerState{}, nil
	}
	pods, err := r.listPods(ctx, obj.Namespace)
	if err != nil {
		return r.consumerError(obj, err, "list", "pods")
	}
	workloads, err := r.resolveRestart(ctx, obj)
	if err != nil {
		return r.consumerError(obj, err, "list", "deployments, statefulsets or daemonsets")
	}
	consumers := findConsumers(obj.SecretName(), pods, workloads)
	obj.Status.Consumers, obj.Status.ConsumersOmitted = boundConsumers(consumers)

	ro := obj.Status.Rollout
	if ro == nil {
		// Not rotating: keep the mounted files current anyway (a template change).
		if nudgePods(obj) {
			if _, err := r.nudge(ctx, obj, pods); err != nil {
				return r.consumerError(obj, err, "patch", "pods")
			}
		}
		return consumerState{}, nil
	}
	now := r.now()
	if ro.RestartedAt == "" {
		value := ro.PublishedAt.UTC().Format(time.RFC3339)
		for _, w := range workloads {
			if prev, done := restartedFor(w, obj.Status.SecretHash); done {
				value = prev // restarted for this Secret already: the same rollout
				break
			}
		}
		ro.Workloads = ro.Workloads[:0]
		for _, w := range workloads {
			if _, done := restartedFor(w, obj.Status.SecretHash); !done {
				if err := r.restartWorkload(ctx, w, value, obj.Status.SecretHash); err != nil {
					return r.consumerError(obj, err, "patch", strings.ToLower(w.kind)+"s")
				}
			}
			if len(ro.Workloads) < maxTrackedWorkloads {
				ro.Workloads = append(ro.Workloads, oauthv1.WorkloadRollout{Kind: w.kind, Name: w.obj.GetName()})
			}
		}
		if nudgePods(obj) {
			if _, err := r.nudge(ctx, obj, pods); err != nil {
				return r.consumerError(obj, err, "patch", "pods")
			}
			t := statusTime(now)
			ro.NudgedAt = &t
		}
		ro.RestartedAt = value
		if len(ro.Workloads) > 0 {
			log.FromContext(ctx).Info("Restarted the consumers of the new credentials", "workloads", len(ro.Workloads))
		}
		for _, c := range obj.Status.Consumers {
			if c.Coverage == oauthv1.ConsumerNotCovered {
				r.event(obj, corev1.EventTypeWarning, EventConsumerNotCovered, "Rotate",
					"%s %s reads Secret %s through env and is not in spec.rotation.restart: it keeps the previous secret until it restarts",
					c.Kind, c.Name, obj.SecretName())
			}
		}
	}
	var st consumerState
	notDone := 0
	for i := range ro.Workloads {
		w := &ro.Workloads[i]
		if w.Done {
			continue
		}
		done, msg, err := r.rolloutDone(ctx, obj.Namespace, w.Kind, w.Name)
		if err != nil {
			return r.consumerError(obj, err, "get", strings.ToLower(w.Kind)+"s")
		}
		w.Done, w.Message = done, msg
		if !done {
			notDone++
			if notDone <= maxWaitingNamed {
				st.waiting = append(st.waiting, fmt.Sprintf("%s %s (%s)", w.Kind, w.Name, msg))
			}
		}
	}
	if notDone > maxWaitingNamed {
		st.waiting = append(st.waiting, fmt.Sprintf("%d more workloads", notDone-maxWaitingNamed))
	}
	if ro.NudgedAt != nil && now.Before(ro.NudgedAt.Add(nudgeSettle)) {
		st.waiting = append(st.waiting, "the pods that mount the Secret to refresh their files")
	}
	return st, nil
}

// consumerError turns a refusal by the API server into consumerState.denied (the feature is
// off; the plain grace period applies), and returns any other error.
func (r *OAuthClientReconciler) consumerError(obj *oauthv1.OAuthClient, err error, verb, resource string) (consumerState, error) {
	if apierrors.IsForbidden(err) {
		obj.Status.Rollout = nil
		return consumerState{denied: fmt.Sprintf("the manager may not %s %s in namespace %s (bind the ClusterRole clientcreds-consumers to its service account, or the chart's consumers.rbac value)",
			verb, resource, obj.Namespace)}, nil
	}
	return consumerState{}, fmt.Errorf("%s %s: %w", verb, resource, err)
}

// listPods lists the pods of a namespace, page by page, around the cache.
func (r *OAuthClientReconciler) listPods(ctx context.Context, ns string) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	opts := []client.ListOption{client.InNamespace(ns), client.Limit(podListPage)}
	for {
		list := &corev1.PodList{}
		if err := r.APIReader.List(ctx, list, opts...); err != nil {
			return nil, err
		}
		pods = append(pods, list.Items...)
		if list.Continue == "" {
			return pods, nil
		}
		opts = []client.ListOption{client.InNamespace(ns), client.Limit(podListPage), client.Continue(list.Continue)}
	}
}

// workload is one workload spec.rotation.restart names.
type workload struct {
	kind string
	obj  client.Object
}

func newWorkload(kind string) client.Object {
	switch kind {
	case "StatefulSet":
		return &appsv1.StatefulSet{}
	case "DaemonSet":
		return &appsv1.DaemonSet{}
	default:
		return &appsv1.Deployment{}
	}
}

func newWorkloadList(kind string) client.ObjectList {
	switch kind {
	case "StatefulSet":
		return &appsv1.StatefulSetList{}
	case "DaemonSet":
		return &appsv1.DaemonSetList{}
	default:
		return &appsv1.DeploymentList{}
	}
}

// resolveRestart finds the workloads spec.rotation.restart names, each once, sorted. A
// name that does not exist is skipped (nothing to restart, nothing to wait for).
func (r *OAuthClientReconciler) resolveRestart(ctx context.Context, obj *oauthv1.OAuthClient) ([]workload, error) {
	seen := map[string]bool{}
	var out []workload
	add := func(kind string, o client.Object) {
		key := kind + "/" + o.GetName()
		if !seen[key] {
			seen[key] = true
			out = append(out, workload{kind: kind, obj: o})
		}
	}
	for _, sel := range restartSpec(obj) {
		if sel.Name != "" {
			o := newWorkload(sel.Kind)
			err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: obj.Namespace, Name: sel.Name}, o)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			add(sel.Kind, o)
			continue
		}
		selector, err := metav1.LabelSelectorAsSelector(sel.Selector)
		if err != nil {
			return nil, fmt.Errorf("spec.rotation.restart selector: %w", err)
		}
		list := newWorkloadList(sel.Kind)
		if err := r.APIReader.List(ctx, list, client.InNamespace(obj.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
			return nil, err
		}
		for _, o := range workloadItems(list) {
			add(sel.Kind, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].kind != out[j].kind {
			return out[i].kind < out[j].kind
		}
		return out[i].obj.GetName() < out[j].obj.GetName()
	})
	return out, nil
}

func workloadItems(list client.ObjectList) []client.Object {
	var out []client.Object
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *appsv1.StatefulSetList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *appsv1.DaemonSetList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out
}

// restartWorkload sets the pod template's restartedAt annotation to value, as `kubectl
// rollout restart` does, and AnnotationRestartedFor to the Secret's content hash. The value
// is the publication time recorded in status, so doing it again after a manager restart
// changes nothing.
func (r *OAuthClientReconciler) restartWorkload(ctx context.Context, w workload, value, secretHash string) error {
	annotations := map[string]string{AnnotationRestartedAt: value}
	if secretHash != "" {
		annotations[AnnotationRestartedFor] = secretHash
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": annotations}}}})
	if err != nil {
		return err
	}
	return r.Patch(ctx, w.obj, client.RawPatch(types.MergePatchType, patch))
}

// podTemplate is the pod template of a Deployment, StatefulSet or DaemonSet.
func podTemplate(o client.Object) *corev1.PodTemplateSpec {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.DaemonSet:
		return &w.Spec.Template
	}
	return nil
}

// restartedFor says the workload's pod template was already restarted for the Secret whose
// content hash is secretHash, and returns the restartedAt value it got then.
func restartedFor(w workload, secretHash string) (string, bool) {
	tmpl := podTemplate(w.obj)
	if secretHash == "" || tmpl == nil || tmpl.Annotations[AnnotationRestartedFor] != secretHash {
		return "", false
	}
	at, ok := tmpl.Annotations[AnnotationRestartedAt]
	return at, ok && at != ""
}

// nudge sets AnnotationSecretHash to the Secret's content hash on the pods that mount the
// Secret and do not have it yet; only that annotation. It returns how many it patched.
func (r *OAuthClientReconciler) nudge(ctx context.Context, obj *oauthv1.OAuthClient, pods []corev1.Pod) (int, error) {
	hash := obj.Status.SecretHash
	if hash == "" {
		return 0, nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationSecretHash: hash}}})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range pods {
		p := &pods[i]
		if !p.DeletionTimestamp.IsZero() || p.Annotations[AnnotationSecretHash] == hash {
			continue
		}
		if _, files := podReads(p, obj.SecretName()); !files {
			continue
		}
		target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}}
		err := r.Patch(ctx, target, client.RawPatch(types.MergePatchType, patch))
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// rolloutDone reads a workload and says whether its rollout is complete.
func (r *OAuthClientReconciler) rolloutDone(ctx context.Context, ns, kind, name string) (bool, string, error) {
	o := newWorkload(kind)
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, o)
	if apierrors.IsNotFound(err) {
		return true, "", nil // deleted: no pod of it holds the previous secret
	}
	if err != nil {
		return false, "", err
	}
	done, msg := rolloutStatus(o)
	return done, msg, nil
}

// rolloutStatus decides whether a workload's rollout is complete the way `kubectl rollout
// status` does for its kind; the message says what it waits for.
func rolloutStatus(o client.Object) (bool, string) {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return deploymentStatus(w)
	case *appsv1.StatefulSet:
		return statefulSetStatus(w)
	case *appsv1.DaemonSet:
		return daemonSetStatus(w)
	}
	return true, ""
}

func deploymentStatus(d *appsv1.Deployment) (bool, string) {
	if d.Generation > d.Status.ObservedGeneration {
		return false, "waiting for the spec update to be observed"
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return false, "exceeded its progress deadline"
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d new replicas updated", s.UpdatedReplicas, want)
	case s.Replicas > s.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < s.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas)
	}
	return true, ""
}

func statefulSetStatus(s *appsv1.StatefulSet) (bool, string) {
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return false, "updateStrategy OnDelete: its pods restart only when deleted"
	}
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		return false, "waiting for the spec update to be observed"
	}
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	if s.Status.ReadyReplicas < want {
		return false, fmt.Sprintf("%d of %d pods ready", s.Status.ReadyReplicas, want)
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
		if s.Status.UpdatedReplicas < want-*ru.Partition {
			return false, fmt.Sprintf("%d of %d pods updated (partitioned)", s.Status.UpdatedReplicas, want-*ru.Partition)
		}
		return true, ""
	}
	if s.Status.UpdateRevision != s.Status.CurrentRevision {
		return false, fmt.Sprintf("%d of %d pods at the new revision", s.Status.UpdatedReplicas, want)
	}
	return true, ""
}

func daemonSetStatus(d *appsv1.DaemonSet) (bool, string) {
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return false, "updateStrategy OnDelete: its pods restart only when deleted"
	}
	if d.Generation > d.Status.ObservedGeneration {
		return false, "waiting for the spec update to be observed"
	}
	s := d.Status
	switch {
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		return false, fmt.Sprintf("%d of %d new pods scheduled", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	case s.NumberAvailable < s.DesiredNumberScheduled:
		return false, fmt.Sprintf("%d of %d updated pods available", s.NumberAvailable, s.DesiredNumberScheduled)
	}
	return true, ""
}

// podReads says whether a pod reads the Secret through env (env valueFrom secretKeyRef,
// envFrom secretRef; init and regular containers) and whether it mounts it (a secret
// volume or a projected volume's secret source).
func podReads(p *corev1.Pod, secret string) (env, files bool) {
	for i := range p.Spec.Volumes {
		v := &p.Spec.Volumes[i]
		if v.Secret != nil && v.Secret.SecretName == secret {
			files = true
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil && src.Secret.Name == secret {
					files = true
				}
			}
		}
	}
	env = containersRead(p.Spec.InitContainers, secret) || containersRead(p.Spec.Containers, secret)
	return env, files
}

// containersRead says whether any of the containers reads the Secret through env.
func containersRead(containers []corev1.Container, secret string) bool {
	for i := range containers {
		c := &containers[i]
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil && e.SecretRef.Name == secret {
				return true
			}
		}
		for j := range c.Env {
			if v := c.Env[j].ValueFrom; v != nil && v.SecretKeyRef != nil && v.SecretKeyRef.Name == secret {
				return true
			}
		}
	}
	return false
}

// podOwner is the workload a pod belongs to: its controller, with a ReplicaSet made by a
// Deployment resolved to the Deployment by the pod-template-hash suffix the Deployment
// controller gives its ReplicaSets' names (no ReplicaSet read, no RBAC for them).
func podOwner(p *corev1.Pod) (kind, name string) {
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return "Pod", p.Name
	}
	if ref.Kind == "ReplicaSet" {
		if h := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; h != "" && strings.HasSuffix(ref.Name, "-"+h) {
			return "Deployment", strings.TrimSuffix(ref.Name, "-"+h)
		}
	}
	return ref.Kind, ref.Name
}

// findConsumers groups the pods that read the Secret by owner and says how each group gets
// new credentials; sorted by kind and name.
func findConsumers(secret string, pods []corev1.Pod, restarted []workload) []oauthv1.SecretConsumer {
	listed := map[string]bool{}
	for _, w := range restarted {
		listed[w.kind+"/"+w.obj.GetName()] = true
	}
	groups := map[string]*oauthv1.SecretConsumer{}
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		env, files := podReads(p, secret)
		if !env && !files {
			continue
		}
		kind, name := podOwner(p)
		key := kind + "/" + name
		g := groups[key]
		if g == nil {
			g = &oauthv1.SecretConsumer{Kind: kind, Name: name}
			groups[key] = g
		}
		g.Pods++
		g.Env = g.Env || env
		g.Files = g.Files || files
	}
	out := make([]oauthv1.SecretConsumer, 0, len(groups))
	for key, g := range groups {
		switch {
		case listed[key]:
			g.Coverage = oauthv1.ConsumerRestartedOnRotation
		case g.Env:
			g.Coverage = oauthv1.ConsumerNotCovered
		default:
			g.Coverage = oauthv1.ConsumerReadsFiles
		}
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// boundConsumers keeps status.consumers within its bound, NotCovered groups first so that
// those needing attention are never the ones left out.
func boundConsumers(all []oauthv1.SecretConsumer) ([]oauthv1.SecretConsumer, int32) {
	if len(all) == 0 {
		return nil, 0
	}
	if len(all) <= maxConsumers {
		return all, 0
	}
	sorted := append([]oauthv1.SecretConsumer{}, all...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return sorted[i].Coverage == oauthv1.ConsumerNotCovered && sorted[j].Coverage != oauthv1.ConsumerNotCovered
	})
	return sorted[:maxConsumers], int32(len(all) - maxConsumers)
}

// rolloutOverdue says the wait for the consumers has reached maxGracePeriod.
func rolloutOverdue(obj *oauthv1.OAuthClient, now time.Time) bool {
	ro := obj.Status.Rollout
	return ro != nil && !now.Before(ro.PublishedAt.Add(maxGracePeriod(obj)))
}
