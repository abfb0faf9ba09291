package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// finish turns the outcome of the phases into conditions and a result, and records an
// event when readiness changes.
func (r *OAuthClientReconciler) finish(ctx context.Context, obj *oauthv1.OAuthClient, out outcome, err error) (ctrl.Result, error) {
	before := readyState(obj)
	readyTimes.begin(obj, r.now())
	res, err := r.conclude(ctx, obj, out, err)
	readyTimes.end(obj, r.now())
	after := readyState(obj)
	// A new client's first Ready is already told by AppCreated; events are cached by the
	// recorder for minutes, so one per create keeps a batch of thousands cheap.
	firstReady := before.status == "" && after.status == metav1.ConditionTrue && out.issued == issuedCreate
	if after.status != before.status || after.reason != before.reason {
		// The reconciler's logger carries the object's namespace and name.
		log.FromContext(ctx).Info("Readiness changed", "ready", after.status, "reason", after.reason,
			"previousReason", before.reason)
	}
	if (after.status != before.status || after.reason != before.reason) && !firstReady {
		typ := corev1.EventTypeWarning
		if after.status == metav1.ConditionTrue && after.reason != oauthv1.ReasonConsumerAccessDenied {
			typ = corev1.EventTypeNormal
		}
		r.event(obj, typ, after.reason, "Reconcile", "%s", after.message)
	}
	return res, err
}

type readiness struct {
	status          metav1.ConditionStatus
	reason, message string
}

func readyState(obj *oauthv1.OAuthClient) readiness {
	c := meta.FindStatusCondition(obj.Status.Conditions, oauthv1.ConditionReady)
	if c == nil {
		return readiness{}
	}
	return readiness{c.Status, c.Reason, c.Message}
}

// conclude maps the phases' outcome to conditions and a result.
func (r *OAuthClientReconciler) conclude(ctx context.Context, obj *oauthv1.OAuthClient, out outcome, err error) (ctrl.Result, error) {
	obj.Status.ObservedGeneration = obj.Generation
	conds := conditions{list: &obj.Status.Conditions, generation: obj.Generation}
	if err == nil {
		conds.ready(oauthv1.ReasonSucceeded, fmt.Sprintf("Client %s is active and its credentials in Secret %s work", obj.Status.ClientID, obj.SecretName()))
		if out.synced {
			r.memory.synced(obj.UID, r.now())
			r.memory.syncedGrants(obj.UID, out.grantsKey)
		}
		switch {
		case out.consumers.denied != "":
			conds.set(oauthv1.ConditionReady, metav1.ConditionTrue, oauthv1.ReasonConsumerAccessDenied,
				fmt.Sprintf("Client %s is active and its credentials in Secret %s work, but %s; the previous secret is retired after the plain grace period",
					obj.Status.ClientID, obj.SecretName(), out.consumers.denied))
		case len(out.consumers.waiting) > 0 && obj.Status.Rollout != nil:
			conds.set(oauthv1.ConditionReconciling, metav1.ConditionTrue, oauthv1.ReasonWaitingForConsumers,
				"Waiting for "+strings.Join(out.consumers.waiting, "; ")+" before retiring the previous secret")
		}
		wake := r.nextWake(obj)
		if len(out.consumers.waiting) > 0 {
			// Nothing watches the workloads: look again soon.
			wake = min(wake, consumerPoll)
		}
		return ctrl.Result{RequeueAfter: wake}, nil
	}
	v := judge(err, r.now(), r.resyncPeriod())
	if v.credentialsRefused && out.provider != nil {
		r.ClientSource.Forget(out.provider)
	}
	if v.logged {
		log.FromContext(ctx).Error(err, "Backend refused the request", "reason", v.reason)
	}
	return v.apply(conds, isReady(obj.Status.Conditions, obj.Generation), err)
}

// nextWake is when a healthy client needs looking at again: the resync, a rotation, or
// the end of a grace period, whichever is first.
func (r *OAuthClientReconciler) nextWake(obj *oauthv1.OAuthClient) time.Duration {
	wake := jitter(r.resyncPeriod())
	now := r.now()
	if last, ok := r.memory.lastSynced(obj.UID); ok {
		// An app last read a while ago (a restarted manager's staggered first read,
		// syncDue) is due before a full period from now; at the latest 110% of the period
		// after its last read, the end of the jitter.
		wake = min(wake, max(last.Add(r.resyncPeriod()*11/10).Sub(now), time.Second))
	}
	if t := obj.Status.RetireAfter; t != nil {
		wake = min(wake, max(t.Sub(now), time.Second))
	}
	if obj.Spec.CredentialsFrom != nil {
		wake = min(wake, jitter(credentialsFromRecheck))
	}
	if due, ok := rotationDue(obj); ok {
		wake = min(wake, max(due.Sub(now), time.Second))
	}
	return wake
}

// errStaleObject marks a reconcile that read an object older than the API server's: a
// guard write with optimistic locking was refused with a conflict. It has changed nothing
// in the backend; it stops, and the next reconcile reads the newer object.
var errStaleObject = errors.New("the OAuthClient changed since it was read")

// staleObjectRetry is how soon a reconcile stopped by errStaleObject looks again (the
// cache usually holds the newer object by then, and its watch event wakes it anyway).
const staleObjectRetry = 200 * time.Millisecond

// statusPatcher writes the status once, at the end, and only when it changed. A phase about
// to cause a side effect in the backend that status decides (create an app, adopt one,
// issue or revoke a client secret, delete apps) first calls guard: that write carries the
// resource version the reconcile read (client.MergeFromWithOptimisticLock), so a reconcile
// that acts on a stale read is refused by the API server before it acts.
type statusPatcher struct {
	client client.Client
	obj    *oauthv1.OAuthClient
	base   *oauthv1.OAuthClient
	// guarded says a guard write succeeded in this reconcile; obj is as current as the server's.
	guarded bool
	// discarded says the reconcile read a stale object; nothing more is written.
	discarded bool
}

// patch writes what changed in status since the last write, with a plain merge patch: what
// it records happened (an app created, credentials published) and must not be lost to a
// concurrent write of another field.
func (p *statusPatcher) patch(ctx context.Context) error {
	if p.discarded || equality.Semantic.DeepEqual(p.base.Status, p.obj.Status) {
		return nil
	}
	if err := p.client.Status().Patch(ctx, p.obj, client.MergeFrom(p.base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patch status: %w", err)
	}
	p.rebase()
	return nil
}

// guard writes what changed in status since the last write — at least the resource version
// the reconcile read — with optimistic locking, once per reconcile. A conflict means the
// object changed since it was read: errStaleObject.
func (p *statusPatcher) guard(ctx context.Context) error {
	if p.guarded && equality.Semantic.DeepEqual(p.base.Status, p.obj.Status) {
		return nil
	}
	if err := p.client.Status().Patch(ctx, p.obj, client.MergeFromWithOptions(p.base, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("%w: %w", errStaleObject, err)
		}
		return fmt.Errorf("patch status: %w", err)
	}
	p.guarded = true
	p.rebase()
	return nil
}

func (p *statusPatcher) rebase() { p.base = p.obj.DeepCopy() }

// discard drops the status changes of a reconcile that read a stale object.
func (p *statusPatcher) discard() { p.discarded = true }
