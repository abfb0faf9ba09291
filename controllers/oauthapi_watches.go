package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
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

const (
	// apiProviderIndexKey indexes OAuthAPIs by the provider (authorization server) their
	// scopes live on (apiProviderKey).
	apiProviderIndexKey = "oauthapi.spec.providerRef"
	// apiClientsIndexKey indexes OAuthClients by the OAuthAPIs their spec.apis names
	// ("namespace/name").
	apiClientsIndexKey = "spec.apis"
)

// indexAPIs registers the indexes both controllers use to find OAuthAPIs by provider and
// OAuthClients by the OAuthAPIs they name.
func indexAPIs(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &oauthv1.OAuthAPI{}, apiProviderIndexKey, func(o client.Object) []string {
		return []string{apiProviderKey(o.(*oauthv1.OAuthAPI))}
	}); err != nil {
		return fmt.Errorf("index oauthapis by provider: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &oauthv1.OAuthClient{}, apiClientsIndexKey, func(o client.Object) []string {
		c := o.(*oauthv1.OAuthClient)
		out := make([]string, 0, len(c.Spec.APIs))
		for _, g := range c.Spec.APIs {
			out = append(out, apiKey(g.Namespace, g.Name))
		}
		return out
	}); err != nil {
		return fmt.Errorf("index oauthclients by api: %w", err)
	}
	return nil
}

// SetupWithManager registers the OAuthAPI controller: OAuthAPIs (spec changes; one API's
// change wakes the others on its authorization server, for ScopeConflict), the OAuthClients
// that name them (grantedClients), namespaces' labels (namespaceSelector), and providers.
func (r *OAuthAPIReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&oauthv1.OAuthAPI{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("oauthapi").
		Watches(&oauthv1.OAuthAPI{}, r.apisOnSameServer(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&oauthv1.OAuthClient{}, apisOfClient(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, r.apisSelectingNamespaces(), builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Watches(&oauthv1.ClusterOAuthProvider{}, r.apisOfProvider(), builder.WithPredicates(providerReadinessChanged{})).
		Watches(&oauthv1.OAuthProvider{}, r.apisOfProvider(), builder.WithPredicates(providerReadinessChanged{})).
		WithOptions(opts).
		Complete(r)
}

// apisOnSameServer maps an OAuthAPI event to every OAuthAPI on the same authorization
// server: a scope one declares or drops may start or end another's conflict.
func (r *OAuthAPIReconciler) apisOnSameServer() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		api, ok := o.(*oauthv1.OAuthAPI)
		if !ok {
			return nil
		}
		return r.apisOnServer(ctx, apiProviderKey(api))
	})
}

func (r *OAuthAPIReconciler) apisOnServer(ctx context.Context, key string) []reconcile.Request {
	var list oauthv1.OAuthAPIList
	if err := r.List(ctx, &list, client.MatchingFields{apiProviderIndexKey: key}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, apiRequest(list.Items[i].Namespace, list.Items[i].Name))
	}
	return reqs
}

// apisOfClient maps an OAuthClient event to the OAuthAPIs its spec.apis names.
func apisOfClient() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		c, ok := o.(*oauthv1.OAuthClient)
		if !ok {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(c.Spec.APIs))
		for _, g := range c.Spec.APIs {
			reqs = append(reqs, apiRequest(g.Namespace, g.Name))
		}
		return reqs
	})
}

// apisSelectingNamespaces maps a namespace label change to the OAuthAPIs that select
// clients by namespace labels.
func (r *OAuthAPIReconciler) apisSelectingNamespaces() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list oauthv1.OAuthAPIList
		if err := r.List(ctx, &list); err != nil {
			return nil
		}
		var reqs []reconcile.Request
		for i := range list.Items {
			if ac := list.Items[i].Spec.AllowedClients; ac != nil && ac.NamespaceSelector != nil {
				reqs = append(reqs, apiRequest(list.Items[i].Namespace, list.Items[i].Name))
			}
		}
		return reqs
	})
}

// apisOfProvider maps a provider event to the OAuthAPIs on it.
func (r *OAuthAPIReconciler) apisOfProvider() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		switch o.(type) {
		case *oauthv1.ClusterOAuthProvider:
			return r.apisOnServer(ctx, providerIndexValue(oauthv1.KindClusterOAuthProvider, "", o.GetName()))
		case *oauthv1.OAuthProvider:
			return r.apisOnServer(ctx, providerIndexValue(oauthv1.KindOAuthProvider, o.GetNamespace(), o.GetName()))
		}
		return nil
	})
}

// clientsOfAPIs maps an OAuthAPI event to the OAuthClients of every OAuthAPI on the same
// authorization server: the API's own clients (scopes, allowed clients, audience), and
// those of the APIs whose ScopeConflict it may start or end.
func (r *OAuthClientReconciler) clientsOfAPIs() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		api, ok := o.(*oauthv1.OAuthAPI)
		if !ok {
			return nil
		}
		keys := []string{apiKey(api.Namespace, api.Name)}
		var apis oauthv1.OAuthAPIList
		if err := r.List(ctx, &apis, client.MatchingFields{apiProviderIndexKey: apiProviderKey(api)}); err == nil {
			for i := range apis.Items {
				keys = appendNew(keys, apiKey(apis.Items[i].Namespace, apis.Items[i].Name))
			}
		}
		var reqs []reconcile.Request
		for _, k := range keys {
			var list oauthv1.OAuthClientList
			if err := r.List(ctx, &list, client.MatchingFields{apiClientsIndexKey: k}); err != nil {
				continue
			}
			for i := range list.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
			}
		}
		return reqs
	})
}

// apiChangedForClients passes the OAuthAPI events its clients care about: creation,
// deletion (and its start), spec changes, and a new audience in status.
type apiChangedForClients struct {
	predicate.Funcs
}

func (apiChangedForClients) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*oauthv1.OAuthAPI)
	n, ok2 := e.ObjectNew.(*oauthv1.OAuthAPI)
	if !ok1 || !ok2 {
		return false
	}
	return o.Generation != n.Generation || o.Status.Audience != n.Status.Audience ||
		o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
}

func (apiChangedForClients) Generic(event.GenericEvent) bool { return false }
