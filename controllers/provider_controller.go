package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Default waits of the provider health check.
const (
	DefaultHealthInterval = 5 * time.Minute
	missingTokenRecheck   = 15 * time.Second
	refusedTokenRecheck   = time.Minute
)

// ProviderReconciler checks a ClusterOAuthProvider or OAuthProvider: it reads the API token,
// proves the backend accepts it, discovers the authorization server's endpoints from its
// metadata and reports all of it in status. One instance serves one kind.
type ProviderReconciler struct {
	client.Client
	Providers *Providers
	// NewObject returns an empty object of the kind this instance reconciles.
	NewObject func() oauthv1.ProviderObject
	// HealthInterval between checks of a healthy provider.
	HealthInterval time.Duration
}

// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=clusteroauthproviders;oauthproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=clusteroauthproviders/status;oauthproviders/status,verbs=get;update;patch

// Reconcile runs the health check of one provider.
func (r *ProviderReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	obj := r.NewObject()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			obj.SetName(req.Name)
			obj.SetNamespace(req.Namespace)
			r.Providers.Forget(obj)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := obj.DeepCopyObject().(oauthv1.ProviderObject)
	defer func() {
		if equality.Semantic.DeepEqual(base.ProviderStatus(), obj.ProviderStatus()) {
			return
		}
		if err := r.Status().Patch(ctx, obj, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patch status: %w", err))
		}
	}()

	status := obj.ProviderStatus()
	status.ObservedGeneration = obj.GetGeneration()
	conds := conditions{list: &status.Conditions, generation: obj.GetGeneration()}
	kind := kindOf(obj)

	prov, err := r.Providers.Get(ctx, obj)
	switch {
	case errors.Is(err, errAPITokenMissing):
		conds.notReady(oauthv1.ReasonAPITokenSecretNotFound, err.Error())
		return ctrl.Result{RequeueAfter: missingTokenRecheck}, nil
	case errors.Is(err, errInvalidProvider):
		conds.stalled(oauthv1.ReasonInvalidSpec, err.Error())
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	}

	eps, err := prov.CheckHealth(ctx)
	now := statusTime(time.Now())
	status.LastCheckTime = &now
	if err != nil {
		wasReady := isReady(status.Conditions, obj.GetGeneration())
		switch {
		case errors.Is(err, provider.ErrUnauthorized):
			r.Providers.Forget(obj)
			conds.notReady(oauthv1.ReasonInvalidAPIToken,
				fmt.Sprintf("%s %s: the backend refused the API token: %v", kind, obj.GetName(), err))
			return ctrl.Result{RequeueAfter: refusedTokenRecheck}, nil
		case errors.Is(err, provider.ErrForbidden):
			r.Providers.Forget(obj)
			conds.notReady(oauthv1.ReasonForbidden,
				fmt.Sprintf("%s %s: the API token is valid but may not make a call the operator needs: %v", kind, obj.GetName(), err))
			return ctrl.Result{RequeueAfter: refusedTokenRecheck}, nil
		case errors.Is(err, provider.ErrFeatureNotEnabled):
			conds.notReady(oauthv1.ReasonFeatureNotEnabled,
				fmt.Sprintf("%s %s: the Okta org lacks a feature the operator needs: %v", kind, obj.GetName(), err))
			return ctrl.Result{RequeueAfter: featureRecheck}, nil
		case errors.Is(err, provider.ErrRateLimited):
			conds.progressing(oauthv1.ReasonRateLimited, err.Error(), wasReady)
			if at, ok := provider.RetryAt(err); ok {
				return ctrl.Result{RequeueAfter: time.Until(at)}, nil
			}
			return ctrl.Result{}, err
		case errors.Is(err, provider.ErrTransient):
			conds.progressing(oauthv1.ReasonUnreachable, err.Error(), false)
			return ctrl.Result{}, err
		default:
			conds.notReady(oauthv1.ReasonDiscoveryFailed, err.Error())
			return ctrl.Result{}, err
		}
	}
	status.Issuer, status.TokenURL, status.JWKSURL = eps.Issuer, eps.TokenURL, eps.JWKSURL
	conds.ready(oauthv1.ReasonSucceeded, fmt.Sprintf("API token accepted; issuer %s", eps.Issuer))
	log.FromContext(ctx).V(1).Info("Provider healthy", "issuer", eps.Issuer)
	return ctrl.Result{RequeueAfter: jitter(r.healthInterval())}, nil
}

func (r *ProviderReconciler) healthInterval() time.Duration {
	if r.HealthInterval > 0 {
		return r.HealthInterval
	}
	return DefaultHealthInterval
}

func kindOf(p oauthv1.ProviderObject) string {
	if _, ok := p.(*oauthv1.ClusterOAuthProvider); ok {
		return oauthv1.KindClusterOAuthProvider
	}
	return oauthv1.KindOAuthProvider
}

// SetupWithManager registers the reconciler for its kind.
func (r *ProviderReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	obj := r.NewObject()
	return ctrl.NewControllerManagedBy(mgr).
		// Only spec (generation) and annotation changes: the status this reconciler writes
		// must not trigger it again.
		For(obj, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Named(strings.ToLower(kindOf(obj))).
		WithOptions(opts).
		Complete(r)
}
