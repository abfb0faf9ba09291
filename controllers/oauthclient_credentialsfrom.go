package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Why credentials were issued: the value of spec.credentialsFrom's Secret was registered.
const issuedFromSecret = "credentials-from"

// credentialsFromIndexKey indexes OAuthClients by the Secret spec.credentialsFrom names.
const credentialsFromIndexKey = "spec.credentialsFrom.secretRef.name"

// credentialsFromRecheck is how often a client whose client secret comes from a Secret
// reads that Secret again: a Secret without the LabelClient label is not in the manager's
// Secret cache, so no watch event tells of its changes.
const credentialsFromRecheck = time.Minute

// secretSource is the client secret spec.credentialsFrom supplies; the zero value when the
// spec sets none.
type secretSource struct {
	// value of the Secret's key; never logged, put in status, events or errors.
	value string
}

func (s secretSource) set() bool { return s.value != "" }

// readCredentialsFrom reads the client secret spec.credentialsFrom names, before any backend
// call: a Secret or key that is missing (or empty) is waited for — nothing is created and no
// secret is invented meanwhile.
//
// The read goes around the manager's cache (APIReader, limited to the watched namespaces):
// the cache holds only Secrets labelled LabelClient, so a cached read of the user's Secret
// would see nothing, and widening the cache would keep every Secret of the cluster in the
// manager's memory. One uncached GET per reconcile of such a client is the price.
func (r *OAuthClientReconciler) readCredentialsFrom(ctx context.Context, obj *oauthv1.OAuthClient) (secretSource, error) {
	cf := obj.Spec.CredentialsFrom
	if cf == nil || obj.AuthMethod() == oauthv1.AuthPrivateKeyJWT {
		return secretSource{}, nil
	}
	ref := cf.SecretRef
	if ref.Name == obj.SecretName() {
		return secretSource{}, &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: fmt.Sprintf("spec.credentialsFrom.secretRef.name %q is the output Secret; name the Secret you manage", ref.Name)}
	}
	s := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: obj.Namespace, Name: ref.Name}, s)
	if apierrors.IsNotFound(err) {
		return secretSource{}, fmt.Errorf("%w: Secret %s/%s does not exist", provider.ErrCredentialsSecretNotFound, obj.Namespace, ref.Name)
	}
	if err != nil {
		return secretSource{}, fmt.Errorf("read Secret %s (spec.credentialsFrom): %w", ref.Name, err)
	}
	v := s.Data[ref.CredentialsKey()]
	if len(v) == 0 {
		return secretSource{}, fmt.Errorf("%w: Secret %s/%s has no key %q, or it is empty", provider.ErrCredentialsSecretNotFound,
			obj.Namespace, ref.Name, ref.CredentialsKey())
	}
	return secretSource{value: string(v)}, nil
}

// credentialsFromSecret settles the credentials of a client whose secret comes from
// spec.credentialsFrom: the published ones while they hold the Secret's value, else the
// value registered on the app as a new client secret. The secrets it replaces are revoked at
// once when no consumer can hold them (a new app's generated secret, a Secret that was lost
// or tampered with), after the grace period when consumers may (the previous value, an
// adopted app's secrets).
func (r *OAuthClientReconciler) credentialsFromSecret(ctx context.Context, obj *oauthv1.OAuthClient, be backend,
	app appObservation, src secretSource, sp *statusPatcher) (credentialPlan, error) {
	now := r.now()
	if c := app.current; c != nil && c.clientSecret == src.value && !app.needSecret && app.answered == nil {
		return credentialPlan{next: c}, nil
	}
	retireAt := now
	if (app.current != nil && app.current.clientSecret != "") || app.takenOver || takeOverPending(obj) {
		retireAt = now.Add(gracePeriod(obj))
	}
	if err := sp.guard(ctx); err != nil {
		return credentialPlan{}, err
	}
	appID := obj.Status.AppID
	log.FromContext(ctx).Info("Registering the client secret of spec.credentialsFrom", "appID", appID,
		"secret", obj.Spec.CredentialsFrom.SecretRef.Name)
	s, err := be.client.ImportSecret(ctx, appID, src.value)
	if errors.Is(err, provider.ErrConflict) {
		// The backend holds two secrets already: make room by revoking one we don't publish.
		if err := r.makeRoomForSecret(ctx, obj, be); err != nil {
			return credentialPlan{}, err
		}
		s, err = be.client.ImportSecret(ctx, appID, src.value)
	}
	if err != nil {
		return credentialPlan{}, err
	}
	credentialsIssued.WithLabelValues(issuedFromSecret).Inc()
	return credentialPlan{next: &credentials{clientSecret: src.value, secretID: s.ID}, issued: issuedFromSecret, retireAt: retireAt}, nil
}

// indexCredentialsFrom indexes OAuthClients by the Secret their spec.credentialsFrom names.
func indexCredentialsFrom(o client.Object) []string {
	c := o.(*oauthv1.OAuthClient)
	if c.Spec.CredentialsFrom == nil {
		return nil
	}
	return []string{c.Spec.CredentialsFrom.SecretRef.Name}
}

// clientsOfCredentialsSecret maps an event of a Secret in the manager's cache — the Secrets
// labelled LabelClient, so a user's Secret carrying that label too — to the OAuthClients
// whose spec.credentialsFrom names it. It adds no watch and no cache beyond the Secrets the
// manager already watches.
func (r *OAuthClientReconciler) clientsOfCredentialsSecret() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var list oauthv1.OAuthClientList
		if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()),
			client.MatchingFields{credentialsFromIndexKey: o.GetName()}); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return reqs
	})
}
