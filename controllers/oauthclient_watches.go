package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// providerIndexKey indexes OAuthClients by the provider they reference.
const providerIndexKey = "spec.providerRef"

// SetupWithManager registers the controller: OAuthClients (spec and annotation changes),
// their Secrets (owned, from the label-selected cache) and the providers they reference.
func (r *OAuthClientReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts controller.Options) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &oauthv1.OAuthClient{}, providerIndexKey,
		func(o client.Object) []string {
			c := o.(*oauthv1.OAuthClient)
			return []string{providerIndexValue(c.Spec.ProviderRef.Kind, c.Namespace, c.Spec.ProviderRef.Name)}
		}); err != nil {
		return fmt.Errorf("index oauthclients by provider: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &oauthv1.OAuthClient{}, credentialsFromIndexKey, indexCredentialsFrom); err != nil {
		return fmt.Errorf("index oauthclients by credentialsFrom Secret: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&oauthv1.OAuthClient{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}).
		// The same label-selected Secret cache: a user's Secret named by spec.credentialsFrom
		// and labelled LabelClient wakes its clients (oauthclient_credentialsfrom.go).
		Watches(&corev1.Secret{}, r.clientsOfCredentialsSecret()).
		Watches(&oauthv1.ClusterOAuthProvider{}, r.clientsOfProvider(), builder.WithPredicates(providerReadinessChanged{})).
		Watches(&oauthv1.OAuthProvider{}, r.clientsOfProvider(), builder.WithPredicates(providerReadinessChanged{})).
		Watches(&corev1.Namespace{}, r.clientsInNamespace(), builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Watches(&oauthv1.OAuthAPI{}, r.clientsOfAPIs(), builder.WithPredicates(apiChangedForClients{})).
		WithOptions(opts).
		Complete(r)
}

func providerIndexValue(kind, clientNamespace, name string) string {
	if kind == oauthv1.KindClusterOAuthProvider {
		return kind + "//" + name
	}
	return kind + "/" + clientNamespace + "/" + name
}

// clientsOfProvider maps a provider event to the OAuthClients that reference it.
func (r *OAuthClientReconciler) clientsOfProvider() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var value string
		var opts []client.ListOption
		switch o.(type) {
		case *oauthv1.ClusterOAuthProvider:
			value = providerIndexValue(oauthv1.KindClusterOAuthProvider, "", o.GetName())
		case *oauthv1.OAuthProvider:
			value = providerIndexValue(oauthv1.KindOAuthProvider, o.GetNamespace(), o.GetName())
			opts = append(opts, client.InNamespace(o.GetNamespace()))
		default:
			return nil
		}
		var list oauthv1.OAuthClientList
		if err := r.List(ctx, &list, append(opts, client.MatchingFields{providerIndexKey: value})...); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return reqs
	})
}

// providerReadinessChanged passes provider events that matter to clients: creation,
// deletion, spec changes, and changes of readiness or endpoints — not every health check.
type providerReadinessChanged struct {
	predicate.Funcs
}

func (providerReadinessChanged) Update(e event.UpdateEvent) bool {
	oldP, ok1 := e.ObjectOld.(oauthv1.ProviderObject)
	newP, ok2 := e.ObjectNew.(oauthv1.ProviderObject)
	if !ok1 || !ok2 {
		return false
	}
	if oldP.GetGeneration() != newP.GetGeneration() {
		return true // e.g. namespaceSelector, allowedScopes
	}
	o, n := oldP.ProviderStatus(), newP.ProviderStatus()
	if o.Issuer != n.Issuer || o.TokenURL != n.TokenURL {
		return true
	}
	oc := meta.FindStatusCondition(o.Conditions, oauthv1.ConditionReady)
	nc := meta.FindStatusCondition(n.Conditions, oauthv1.ConditionReady)
	if oc == nil || nc == nil {
		return oc != nc
	}
	return oc.Status != nc.Status || oc.Reason != nc.Reason || oc.ObservedGeneration != nc.ObservedGeneration
}

func (providerReadinessChanged) Generic(event.GenericEvent) bool { return false }
