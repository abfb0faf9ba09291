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
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	client    provider.Client
	endpoints provider.Endpoints
	// granted is what the client is granted (resolveAPIs): the scopes and audiences every
	// phase after resolveProvider uses.
	granted grants
}

// resolveProvider finds the referenced provider, requires it to be Ready (so a missing or
// refused API token costs no backend call here), and gets its backend client.
//
// scopes are all the scopes the client asks for (spec.scopes and its APIs' grants): the
// provider's allowedScopes bound them.
func (r *OAuthClientReconciler) resolveProvider(ctx context.Context, obj *oauthv1.OAuthClient, scopes []string) (backend, error) {
	var be backend
	ref := obj.Spec.ProviderRef
	p, err := getProvider(ctx, r.Client, ref, obj.Namespace)
	if err != nil {
		return be, err
	}
	be.object = p
	deleting := !obj.DeletionTimestamp.IsZero()
	if !deleting {
		if err := r.admit(ctx, obj, p, scopes); err != nil {
			return be, err
		}
	}
	// A provider being deleted waits for its clients (InUse): their apps are deleted
	// through it (provider_finalizer.go).
	usable := deleting && !p.GetDeletionTimestamp().IsZero()
	if !usable {
		if err := providerNotReady(p, ref); err != nil {
			return be, err
		}
	}

	prov, err := r.ClientSource.Client(ctx, p)
	if err != nil {
		return be, providerClientError(err, ref, r.now(), r.resyncPeriod())
	}
	be.client = prov
	if !deleting {
		if err := checkCapabilities(obj, prov); err != nil {
			return be, err
		}
	}
	status := p.ProviderStatus()
	be.endpoints = provider.Endpoints{Issuer: status.Issuer, TokenURL: status.TokenURL, JWKSURL: status.JWKSURL}
	obj.Status.Issuer, obj.Status.TokenURL = status.Issuer, status.TokenURL
	return be, nil
}

// getProvider reads the provider ref names for an object in namespace ns (an OAuthProvider
// is always the object's own namespace's).
func getProvider(ctx context.Context, c client.Reader, ref oauthv1.ProviderReference, ns string) (oauthv1.ProviderObject, error) {
	var p oauthv1.ProviderObject
	key := types.NamespacedName{Name: ref.Name}
	switch ref.Kind {
	case oauthv1.KindClusterOAuthProvider:
		p = &oauthv1.ClusterOAuthProvider{}
	case oauthv1.KindOAuthProvider:
		p = &oauthv1.OAuthProvider{}
		key.Namespace = ns
	default:
		return nil, &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: fmt.Sprintf("spec.providerRef.kind %q is not ClusterOAuthProvider or OAuthProvider", ref.Kind)}
	}
	if err := c.Get(ctx, key, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &conditionError{kind: waitKind, reason: oauthv1.ReasonProviderNotFound, retryAfter: waitForProvider,
				msg: fmt.Sprintf("%s %q not found", ref.Kind, ref.Name), err: errProviderNotFound}
		}
		return nil, err
	}
	return p, nil
}

// providerNotReady is the wait of an object whose provider p is not Ready for its
// generation; nil when it is.
func providerNotReady(p oauthv1.ProviderObject, ref oauthv1.ProviderReference) error {
	ready := meta.FindStatusCondition(p.ProviderStatus().Conditions, oauthv1.ConditionReady)
	if ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == p.GetGeneration() {
		return nil
	}
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
	return &conditionError{kind: waitKind, reason: reason, msg: msg, retryAfter: waitForProvider}
}

// providerClientError is the wait of an object whose Ready provider's backend client could
// not be built: the provider's credentials are its own business; wait for it with the
// reason its own health check would give.
func providerClientError(err error, ref oauthv1.ProviderReference, now time.Time, resync time.Duration) error {
	v := judge(err, now, resync)
	if v.kind != waitKind && v.kind != stallKind {
		return err
	}
	reason := v.reason
	if v.kind == stallKind {
		reason = oauthv1.ReasonProviderNotReady
	}
	return &conditionError{kind: waitKind, reason: reason, retryAfter: waitForProvider,
		msg: fmt.Sprintf("%s %q: %v", ref.Kind, ref.Name, err)}
}
