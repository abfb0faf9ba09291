package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// The manager reads namespaces' labels to apply ClusterOAuthProviders' namespaceSelector.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// admit checks that provider p admits the OAuthClient: its namespace (p's
// namespaceSelector, ClusterOAuthProviders only) and every scope it asks for, its own and
// its APIs' (p's allowedScopes). A refusal is a stall with reason NamespaceNotAllowed or ScopeNotAllowed:
// the client is not reconciled further, so the backend is not called, and nothing it
// already has (app, Secret) is touched. A change of the namespace's labels, of the
// provider's spec or of the client's spec wakes it again (see the watches).
func (r *OAuthClientReconciler) admit(ctx context.Context, obj *oauthv1.OAuthClient, p oauthv1.ProviderObject, scopes []string) error {
	spec := p.ProviderSpec()
	kind := kindOf(p)
	var ns corev1.Namespace
	err := r.Get(ctx, client.ObjectKey{Name: obj.Namespace}, &ns)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("read namespace %s: %w", obj.Namespace, err)
	}
	found := err == nil
	if !ns.DeletionTimestamp.IsZero() {
		// Whatever goes missing now (the Secret) is being deleted with the namespace; putting
		// it back would cost backend calls and fail anyway.
		return &conditionError{kind: waitKind, reason: oauthv1.ReasonNamespaceTerminating, retryAfter: waitForProvider,
			msg: fmt.Sprintf("Namespace %s is being deleted; waiting for this OAuthClient's deletion", obj.Namespace)}
	}
	if sel := spec.NamespaceSelector; sel != nil && p.GetNamespace() == "" {
		if ok, why := namespaceMatches(&ns, found, sel); !ok {
			return &conditionError{kind: stallKind, reason: oauthv1.ReasonNamespaceNotAllowed,
				msg: fmt.Sprintf("%s %q does not admit namespace %q (%s); this OAuthClient is not reconciled and its app, if any, is left as it is",
					kind, p.GetName(), obj.Namespace, why)}
		}
	}
	if denied := deniedScopes(scopes, spec.AllowedScopes); len(denied) > 0 {
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonScopeNotAllowed,
			msg: fmt.Sprintf("%s %q does not allow the scope(s) %s; allowed: %s",
				kind, p.GetName(), strings.Join(denied, ", "), describeAllowed(spec.AllowedScopes))}
	}
	return nil
}

// namespaceMatches reports whether namespace ns (found: it exists) carries labels sel
// selects. A selector that does not parse, or a namespace that cannot be found, admits
// nothing (fail closed); why says which.
func namespaceMatches(ns *corev1.Namespace, found bool, sel *metav1.LabelSelector) (bool, string) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, "its namespaceSelector is invalid: " + err.Error()
	}
	if !found {
		return false, "the namespace was not found"
	}
	if !s.Matches(labels.Set(ns.Labels)) {
		return false, fmt.Sprintf("its labels do not match the namespaceSelector %s", s)
	}
	return true, ""
}

// deniedScopes returns the scopes allowed does not admit, in the order asked. A nil
// allowed admits every scope; an empty one none. An entry ending in "*" admits every
// scope that starts with what precedes the "*".
func deniedScopes(scopes, allowed []string) []string {
	if allowed == nil {
		return nil
	}
	var denied []string
	for _, s := range scopes {
		if !scopeAllowed(s, allowed) {
			denied = append(denied, s)
		}
	}
	return denied
}

func scopeAllowed(scope string, allowed []string) bool {
	for _, a := range allowed {
		if prefix, wild := strings.CutSuffix(a, "*"); wild {
			if strings.HasPrefix(scope, prefix) {
				return true
			}
		} else if scope == a {
			return true
		}
	}
	return false
}

func describeAllowed(allowed []string) string {
	if len(allowed) == 0 {
		return "none"
	}
	return strings.Join(allowed, ", ")
}

// clientsInNamespace maps a Namespace event to the OAuthClients in it, so a change of its
// labels is judged again against the namespaceSelectors without a restart.
func (r *OAuthClientReconciler) clientsInNamespace() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var list oauthv1.OAuthClientList
		if err := r.List(ctx, &list, client.InNamespace(o.GetName())); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return reqs
	})
}
