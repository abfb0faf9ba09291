package controllers

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// ProviderFinalizer holds a provider while OAuthClients use it: their apps are deleted
// through it, so it goes last — also when a whole namespace is deleted at once.
const ProviderFinalizer = "oauth.clientcreds.dev/provider-in-use"

// inUseRecheck is how often a provider waiting for its clients looks again (the
// OAuthClient watch usually wakes it sooner).
const inUseRecheck = 30 * time.Second

// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=clusteroauthproviders;oauthproviders,verbs=update;patch
// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=clusteroauthproviders/finalizers;oauthproviders/finalizers,verbs=update

// addFinalizer makes sure p carries ProviderFinalizer.
func (r *ProviderReconciler) addFinalizer(ctx context.Context, p oauthv1.ProviderObject) error {
	if controllerutil.ContainsFinalizer(p, ProviderFinalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(p.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(p, ProviderFinalizer)
	if err := r.Patch(ctx, p, patch); err != nil {
		return fmt.Errorf("add finalizer: %w", err)
	}
	return nil
}

// reconcileDelete keeps a provider that is being deleted while OAuthClients use it (Ready
// False, reason InUse, with their count), and lets it go once none does: first the
// finalizers on its credentials Secrets, then its own.
func (r *ProviderReconciler) reconcileDelete(ctx context.Context, p oauthv1.ProviderObject, conds conditions) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(p, ProviderFinalizer) {
		return ctrl.Result{}, nil
	}
	n, err := r.countClients(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	if n > 0 {
		conds.notReady(oauthv1.ReasonInUse, fmt.Sprintf(
			"%d OAuthClient(s) still use this %s; it is removed once they are gone (their apps are deleted through it)", n, kindOf(p)))
		return ctrl.Result{RequeueAfter: inUseRecheck}, nil
	}
	m, err := r.countAPIs(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	if m > 0 {
		conds.notReady(oauthv1.ReasonInUse, fmt.Sprintf(
			"%d OAuthAPI(s) still use this %s; it is removed once they are gone (their scopes are deleted through it)", m, kindOf(p)))
		return ctrl.Result{RequeueAfter: inUseRecheck}, nil
	}
	// Learn which Secrets the provider reads, should this process not know yet (a
	// restart); a provider whose Secret is gone or refused holds none.
	_, _ = r.ClientSource.Client(ctx, p)
	if err := r.holdCredentials(ctx, p, false); err != nil {
		return ctrl.Result{}, err
	}
	r.ClientSource.credentials.forget(p)
	r.ClientSource.Forget(p)
	patch := client.MergeFromWithOptions(p.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(p, ProviderFinalizer)
	if err := r.Patch(ctx, p, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("remove finalizer: %w", err))
	}
	return ctrl.Result{}, nil
}

// countClients counts the OAuthClients (being deleted or not) that reference p.
func (r *ProviderReconciler) countClients(ctx context.Context, p oauthv1.ProviderObject) (int, error) {
	var list oauthv1.OAuthClientList
	opts := []client.ListOption{client.MatchingFields{providerIndexKey: providerIndexValue(kindOf(p), p.GetNamespace(), p.GetName())}}
	if ns := p.GetNamespace(); ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := r.List(ctx, &list, opts...); err != nil {
		return 0, fmt.Errorf("list the OAuthClients of %s %q: %w", kindOf(p), p.GetName(), err)
	}
	return len(list.Items), nil
}

// countAPIs counts the OAuthAPIs (being deleted or not) whose scopes live on p.
func (r *ProviderReconciler) countAPIs(ctx context.Context, p oauthv1.ProviderObject) (int, error) {
	var list oauthv1.OAuthAPIList
	opts := []client.ListOption{client.MatchingFields{apiProviderIndexKey: providerIndexValue(kindOf(p), p.GetNamespace(), p.GetName())}}
	if ns := p.GetNamespace(); ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := r.List(ctx, &list, opts...); err != nil {
		return 0, fmt.Errorf("list the OAuthAPIs of %s %q: %w", kindOf(p), p.GetName(), err)
	}
	return len(list.Items), nil
}

// providerOfDeletedAPI maps the deletion of an OAuthAPI to its provider when that provider
// is itself being deleted.
func (r *ProviderReconciler) providerOfDeletedAPI() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		a, ok := o.(*oauthv1.OAuthAPI)
		if !ok || a.Spec.ProviderRef.Kind != kindOf(r.NewObject()) {
			return nil
		}
		key := client.ObjectKey{Name: a.Spec.ProviderRef.Name}
		if a.Spec.ProviderRef.Kind == oauthv1.KindOAuthProvider {
			key.Namespace = a.Namespace
		}
		p := r.NewObject()
		if err := r.Get(ctx, key, p); err != nil || p.GetDeletionTimestamp().IsZero() {
			return nil
		}
		return []reconcile.Request{{NamespacedName: key}}
	})
}

// providerOfDeletedClient maps the deletion of an OAuthClient to its provider when that
// provider is itself being deleted (it may be waiting for this last client); other
// providers are not woken, so deleting clients costs no health checks.
func (r *ProviderReconciler) providerOfDeletedClient() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		c, ok := o.(*oauthv1.OAuthClient)
		if !ok || c.Spec.ProviderRef.Kind != kindOf(r.NewObject()) {
			return nil
		}
		key := client.ObjectKey{Name: c.Spec.ProviderRef.Name}
		if c.Spec.ProviderRef.Kind == oauthv1.KindOAuthProvider {
			key.Namespace = c.Namespace
		}
		p := r.NewObject()
		if err := r.Get(ctx, key, p); err != nil || p.GetDeletionTimestamp().IsZero() {
			return nil
		}
		return []reconcile.Request{{NamespacedName: key}}
	})
}

// clientDeleted passes only deletions.
var clientDeleted = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
}
