package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// waitForProvider is how often a client waiting for its provider looks again (the provider
// watch usually wakes it sooner).
const waitForProvider = 30 * time.Second

// errProviderNotFound marks a reference to a provider that does not exist.
var errProviderNotFound = errors.New("provider not found")

// backend is what resolveProvider found: the provider object, the live client of its
// backend, and the endpoints the provider's health check discovered.
type backend struct {
	// object is the provider object; set as soon as it was read, also on failure.
	object oauthv1.ProviderObject
	// client is the backend client of object; nil on failure.
	client    provider.Provider
	endpoints provider.Endpoints
}

// resolveProvider finds the referenced provider, requires it to be Ready (so a missing or
// refused API token costs no backend call here), and gets its backend client.
func (r *OAuthClientReconciler) resolveProvider(ctx context.Context, obj *oauthv1.OAuthClient) (backend, error) {
	var be backend
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
		return be, &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: fmt.Sprintf("spec.providerRef.kind %q is not ClusterOAuthProvider or OAuthProvider", ref.Kind)}
	}
	if err := r.Get(ctx, key, p); err != nil {
		if apierrors.IsNotFound(err) {
			return be, &conditionError{kind: waitKind, reason: oauthv1.ReasonProviderNotFound, retryAfter: waitForProvider,
				msg: fmt.Sprintf("%s %q not found", ref.Kind, ref.Name), err: errProviderNotFound}
		}
		return be, err
	}
	be.object = p
	deleting := !obj.DeletionTimestamp.IsZero()
	if !deleting {
		if err := r.admit(ctx, obj, p); err != nil {
			return be, err
		}
	}

	ready := meta.FindStatusCondition(p.ProviderStatus().Conditions, oauthv1.ConditionReady)
	// A provider being deleted waits for its clients (InUse): their apps are deleted
	// through it (provider_finalizer.go).
	usable := deleting && !p.GetDeletionTimestamp().IsZero()
	if !usable && (ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != p.GetGeneration()) {
		reason := oauthv1.ReasonProviderNotReady
		msg := fmt.Sprintf("%s %q is not ready", ref.Kind, ref.Name)
		if ready != nil {
			// A reason about the provider's own credentials is the client's reason too.
			if passedToClients(ready.Reason) {
				reason = ready.Reason
			}
			if ready.Message != "" {
				msg += ": " + ready.Message
			}
		}
		return be, &conditionError{kind: waitKind, reason: reason, msg: msg, retryAfter: waitForProvider}
	}

	prov, err := r.Backends.Client(ctx, p)
	if err != nil {
		// The provider was Ready a moment ago; its credentials are its own business. Wait for
		// it with the reason its own health check would give.
		v := judge(err, r.now(), r.resyncPeriod())
		if v.kind != waitKind && v.kind != stallKind {
			return be, err
		}
		reason := v.reason
		if v.kind == stallKind {
			reason = oauthv1.ReasonProviderNotReady
		}
		return be, &conditionError{kind: waitKind, reason: reason, retryAfter: waitForProvider,
			msg: fmt.Sprintf("%s %q: %v", ref.Kind, ref.Name, err)}
	}
	be.client = prov
	status := p.ProviderStatus()
	be.endpoints = provider.Endpoints{Issuer: status.Issuer, TokenURL: status.TokenURL, JWKSURL: status.JWKSURL}
	obj.Status.Issuer, obj.Status.TokenURL = status.Issuer, status.TokenURL
	return be, nil
}
