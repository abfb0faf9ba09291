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

// DefaultHealthInterval between health checks of a healthy provider.
const DefaultHealthInterval = 5 * time.Minute

// DefaultHealthTimeout bounds one provider's health check (all its backend calls), so a
// slow or hanging backend holds a worker of its kind for at most this long.
const DefaultHealthTimeout = 10 * time.Second

// ProviderReconciler checks a ClusterOAuthProvider or OAuthProvider: it reads its
// credentials, proves the backend accepts them, discovers the authorization server's
// endpoints from its metadata and reports all of it in status. One instance serves one kind.
type ProviderReconciler struct {
	client.Client
	// ClientSource gives the backend client of a provider object.
	ClientSource *ClientSource
	// NewObject returns an empty object of the kind this instance reconciles.
	NewObject func() oauthv1.ProviderObject
	// HealthInterval between checks of a healthy provider.
	HealthInterval time.Duration
	// HealthTimeout bounds one health check (DefaultHealthTimeout when 0).
	HealthTimeout time.Duration
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
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
			r.ClientSource.Forget(obj)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if obj.GetDeletionTimestamp().IsZero() {
		if err := r.addFinalizer(ctx, obj); err != nil {
			return ctrl.Result{}, err
		}
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
	wasReady := isReady(status.Conditions, obj.GetGeneration())
	if !obj.GetDeletionTimestamp().IsZero() {
		return r.reconcileDelete(ctx, obj, conds)
	}

	eps, err := r.checkHealth(ctx, obj)
	if err != nil {
		v := judge(err, r.now(), r.healthInterval())
		if v.credentialsRefused {
			r.ClientSource.Forget(obj)
		}
		return v.apply(conds, wasReady, err)
	}
	status.Issuer, status.TokenURL, status.JWKSURL = eps.Issuer, eps.TokenURL, eps.JWKSURL
	conds.ready(oauthv1.ReasonSucceeded, fmt.Sprintf("Credentials accepted; issuer %s", eps.Issuer))
	log.FromContext(ctx).V(1).Info("Provider healthy", "issuer", eps.Issuer)
	if err := r.holdCredentials(ctx, obj, true); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: jitter(r.healthInterval())}, nil
}

// checkHealth gets the provider's backend client and asks the backend whether it accepts
// the credentials and serves the authorization server's metadata. A failure of the check
// itself is judged at stageHealth, one of loading the client at stageClient.
func (r *ProviderReconciler) checkHealth(ctx context.Context, obj oauthv1.ProviderObject) (provider.Endpoints, error) {
	prov, err := r.ClientSource.Client(ctx, obj)
	if err != nil {
		return provider.Endpoints{}, err
	}
	checkCtx, cancel := context.WithTimeout(ctx, r.healthTimeout())
	defer cancel()
	eps, err := prov.CheckHealth(checkCtx)
	now := statusTime(r.now())
	obj.ProviderStatus().LastCheckTime = &now
	return eps, atStage(stageHealth, err)
}

func (r *ProviderReconciler) healthInterval() time.Duration {
	if r.HealthInterval > 0 {
		return r.HealthInterval
	}
	return DefaultHealthInterval
}

func (r *ProviderReconciler) healthTimeout() time.Duration {
	if r.HealthTimeout > 0 {
		return r.HealthTimeout
	}
	return DefaultHealthTimeout
}

func (r *ProviderReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
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
		Watches(&oauthv1.OAuthClient{}, r.providerOfDeletedClient(), builder.WithPredicates(clientDeleted)).
		Watches(&oauthv1.OAuthAPI{}, r.providerOfDeletedAPI(), builder.WithPredicates(clientDeleted)).
		Named(strings.ToLower(kindOf(obj))).
		WithOptions(opts).
		Complete(r)
}
