package controllers

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// errProviderNotFound marks a reference to a provider that does not exist.
var errProviderNotFound = errors.New("provider not found")

// resolveProvider finds the referenced provider, requires it to be Ready (so a missing or
// refused API token costs no backend call here), and gets its backend client.
func (r *OAuthClientReconciler) resolveProvider(ctx context.Context, st *reconcileState) error {
	obj := st.obj
	ref := obj.Spec.ProviderRef
	var p oauthv1.ProviderObject
	key := types.NamespacedName{Name: ref.Name}
	switch ref.Kind {
	case oauthv1.KindClusterOAuthProvider:
		p = &oauthv1.ClusterOAuthProvider{}
	case oauthv1.KindOAuthProvider:
		p = &oauthv1.OAuthProvider{}
		key.Namespace = obj.Namespace
	default:
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: fmt.Sprintf("spec.providerRef.kind %q is not ClusterOAuthProvider or OAuthProvider", ref.Kind)}
	}
	if err := r.Get(ctx, key, p); err != nil {
		if apierrors.IsNotFound(err) {
			return &conditionError{kind: waitKind, reason: oauthv1.ReasonProviderNotFound, retryAfter: waitForProvider,
				msg: fmt.Sprintf("%s %q not found", ref.Kind, ref.Name), err: errProviderNotFound}
		}
		return err
	}
	st.providerObj = p

	ready := meta.FindStatusCondition(p.ProviderStatus().Conditions, oauthv1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != p.GetGeneration() {
		reason := oauthv1.ReasonProviderNotReady
		msg := fmt.Sprintf("%s %q is not ready", ref.Kind, ref.Name)
		if ready != nil {
			switch ready.Reason {
			case oauthv1.ReasonAPITokenSecretNotFound, oauthv1.ReasonInvalidAPIToken,
				oauthv1.ReasonForbidden, oauthv1.ReasonFeatureNotEnabled:
				reason = ready.Reason
			}
			if ready.Message != "" {
				msg += ": " + ready.Message
			}
		}
		return &conditionError{kind: waitKind, reason: reason, msg: msg, retryAfter: waitForProvider}
	}

	prov, err := r.Providers.Get(ctx, p)
	switch {
	case errors.Is(err, errAPITokenMissing):
		return &conditionError{kind: waitKind, reason: oauthv1.ReasonAPITokenSecretNotFound, retryAfter: waitForProvider,
			msg: fmt.Sprintf("%s %q: %v", ref.Kind, ref.Name, err)}
	case errors.Is(err, errInvalidProvider):
		return &conditionError{kind: waitKind, reason: oauthv1.ReasonProviderNotReady, retryAfter: waitForProvider,
			msg: fmt.Sprintf("%s %q: %v", ref.Kind, ref.Name, err)}
	case err != nil:
		return err
	}
	st.prov = prov
	status := p.ProviderStatus()
	st.endpoints = provider.Endpoints{Issuer: status.Issuer, TokenURL: status.TokenURL, JWKSURL: status.JWKSURL}
	obj.Status.Issuer, obj.Status.TokenURL = status.Issuer, status.TokenURL
	return nil
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
// deletion, and changes of readiness or endpoints — not every health check.
type providerReadinessChanged struct {
	predicate.Funcs
}

func (providerReadinessChanged) Update(e event.UpdateEvent) bool {
	oldP, ok1 := e.ObjectOld.(oauthv1.ProviderObject)
	newP, ok2 := e.ObjectNew.(oauthv1.ProviderObject)
	if !ok1 || !ok2 {
		return false
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
