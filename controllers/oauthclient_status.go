package controllers

import (
	"context"
	"fmt"
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
func (r *OAuthClientReconciler) finish(ctx context.Context, st *reconcileState, err error) (ctrl.Result, error) {
	before := readyState(st.obj)
	readyTimes.begin(st.obj, r.now())
	res, err := r.conclude(ctx, st, err)
	readyTimes.end(st.obj, r.now())
	after := readyState(st.obj)
	// A new client's first Ready is already told by AppCreated; events are cached by the
	// recorder for minutes, so one per create keeps a batch of thousands cheap.
	firstReady := before.status == "" && after.status == metav1.ConditionTrue && st.issued == issuedCreate
	if after.status != before.status || after.reason != before.reason {
		// The reconciler's logger carries the object's namespace and name.
		log.FromContext(ctx).Info("Readiness changed", "ready", after.status, "reason", after.reason,
			"previousReason", before.reason)
	}
	if (after.status != before.status || after.reason != before.reason) && !firstReady {
		typ := corev1.EventTypeWarning
		if after.status == metav1.ConditionTrue {
			typ = corev1.EventTypeNormal
		}
		r.event(st.obj, typ, after.reason, "Reconcile", "%s", after.message)
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
func (r *OAuthClientReconciler) conclude(ctx context.Context, st *reconcileState, err error) (ctrl.Result, error) {
	obj := st.obj
	obj.Status.ObservedGeneration = obj.Generation
	conds := conditions{list: &obj.Status.Conditions, generation: obj.Generation}
	if err == nil {
		conds.ready(oauthv1.ReasonSucceeded, fmt.Sprintf("Client %s is active and its credentials in Secret %s work", obj.Status.ClientID, obj.SecretName()))
		if st.sync {
			r.lastSync.Store(obj.UID, r.now())
		}
		return ctrl.Result{RequeueAfter: r.nextWake(obj)}, nil
	}
	v := judge(err, r.now(), r.resyncPeriod())
	if v.credentialsRefused && st.providerObj != nil {
		r.Backends.Forget(st.providerObj)
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
	if t := obj.Status.RetireAfter; t != nil {
		wake = min(wake, max(t.Sub(now), time.Second))
	}
	if due, ok := rotationDue(obj); ok {
		wake = min(wake, max(due.Sub(now), time.Second))
	}
	return wake
}

// statusPatcher writes the status once, at the end, and only when it changed. A phase that
// must persist something before an external call (crash safety) calls patch early.
type statusPatcher struct {
	client  client.Client
	obj     *oauthv1.OAuthClient
	base    *oauthv1.OAuthClient
	written *staleVersions
}

func (p *statusPatcher) patch(ctx context.Context) error {
	if equality.Semantic.DeepEqual(p.base.Status, p.obj.Status) {
		return nil
	}
	before := p.obj.ResourceVersion
	if err := p.client.Status().Patch(ctx, p.obj, client.MergeFrom(p.base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patch status: %w", err)
	}
	if p.obj.ResourceVersion != before {
		p.written.wrote(p.obj, before)
	}
	p.rebase()
	return nil
}

func (p *statusPatcher) rebase() { p.base = p.obj.DeepCopy() }
