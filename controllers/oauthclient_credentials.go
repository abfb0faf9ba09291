package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Why credentials were issued (events, metrics).
const (
	issuedCreate  = "create"
	issuedAdopt   = "adopt"
	issuedRestore = "restore"
	issuedRotate  = "rotate"
)

// DefaultPropagationGrace is how long after issuing credentials a refusal at the token
// endpoint is taken for propagation delay in the backend rather than bad credentials.
const DefaultPropagationGrace = 30 * time.Second

// reconcileCredentials settles the credentials to publish: fresh from a create, the intact
// ones already in the Secret, or newly issued ones (Secret deleted or edited, app adopted,
// rotation due).
func (r *OAuthClientReconciler) reconcileCredentials(ctx context.Context, st *reconcileState) error {
	obj := st.obj
	if obj.AuthMethod() == oauthv1.AuthPrivateKeyJWT {
		return nil // settled by prepareKey; the app has the public key
	}
	now := r.now()
	switch {
	case st.issued == issuedCreate && !st.needSecret:
		return nil
	case st.needSecret:
		// Retire at once: no one holds the other secrets.
		return r.issueSecret(ctx, st, issuedAdopt, now)
	case st.current == nil || st.current.clientSecret == "":
		// Retire at once: the old value was deleted or tampered with, so it must stop working.
		return r.issueSecret(ctx, st, issuedRestore, now)
	}
	st.next = st.current
	if due, ok := rotationDue(obj); ok && obj.Status.RetireAfter == nil && !now.Before(due) {
		return r.issueSecret(ctx, st, issuedRotate, now.Add(obj.Spec.Rotation.GracePeriodOrDefault()))
	}
	return nil
}

// issueSecret adds a client secret to the app and makes it the one to publish. Every other
// secret is revoked at retireAt — recorded in status, so a failure in between does not
// forget it — and only after the new secret is published and works.
func (r *OAuthClientReconciler) issueSecret(ctx context.Context, st *reconcileState, why string, retireAt time.Time) error {
	obj := st.obj
	appID := obj.Status.AppID
	log.FromContext(ctx).Info("Issuing a new client secret", "reason", why, "appID", appID)
	s, err := st.prov.CreateSecret(ctx, appID)
	if errors.Is(err, provider.ErrConflict) {
		// The backend holds two secrets already: make room by revoking one we don't publish.
		if err := r.makeRoomForSecret(ctx, st); err != nil {
			return err
		}
		s, err = st.prov.CreateSecret(ctx, appID)
	}
	if err != nil {
		return err
	}
	st.next = &credentials{clientSecret: s.Value, secretID: s.ID}
	st.issued = why
	obj.Status.SecretID = s.ID
	retire := statusTime(retireAt)
	if obj.Status.RetireAfter == nil || retire.Before(obj.Status.RetireAfter) {
		obj.Status.RetireAfter = &retire
	}
	credentialsIssued.WithLabelValues(why).Inc()
	rotations.WithLabelValues("started").Inc()
	return nil
}

// makeRoomForSecret revokes one secret that is not the published one: an inactive one if
// there is one, else the newest (an unknown secret added outside the operator).
func (r *OAuthClientReconciler) makeRoomForSecret(ctx context.Context, st *reconcileState) error {
	secrets, err := st.prov.ListSecrets(ctx, st.obj.Status.AppID)
	if err != nil {
		return err
	}
	var candidates []provider.ClientSecret
	for _, s := range secrets {
		if s.ID != st.obj.Status.SecretID {
			candidates = append(candidates, s)
		}
	}
	if len(candidates) == 0 {
		return provider.Errorf(provider.ErrConflict, "create client secret", "no secret can be revoked to make room")
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		if candidates[i].Active != candidates[j].Active {
			return !candidates[i].Active
		}
		return candidates[i].Created.After(candidates[j].Created)
	})
	err = st.prov.RevokeSecret(ctx, st.obj.Status.AppID, candidates[0].ID)
	if err != nil && !errors.Is(err, provider.ErrNotFound) {
		return err
	}
	return nil
}

// rotationDue returns when the next scheduled rotation is due, if rotation is on.
func rotationDue(obj *oauthv1.OAuthClient) (time.Time, bool) {
	rot := obj.Spec.Rotation
	if rot == nil || obj.AuthMethod() == oauthv1.AuthPrivateKeyJWT || obj.Status.LastRotationTime == nil {
		return time.Time{}, false
	}
	return obj.Status.LastRotationTime.Add(rot.Interval.Duration), true
}

// verifyCredentials asks the token endpoint for a token with exactly the published values.
// It runs when the credentials changed, when the app was read from the backend, and until
// the client is Ready; a steady client costs no token request.
func (r *OAuthClientReconciler) verifyCredentials(ctx context.Context, st *reconcileState) error {
	obj := st.obj
	if st.issued == "" && !st.sync && isReady(obj.Status.Conditions, obj.Generation) {
		return nil
	}
	creds := provider.Credentials{
		ClientID:      obj.Status.ClientID,
		AuthMethod:    provider.AuthMethod(obj.AuthMethod()),
		ClientSecret:  st.next.clientSecret,
		PrivateKeyPEM: st.next.privateKeyPEM,
		KeyID:         st.next.keyID(),
		TokenURL:      st.endpoints.TokenURL,
		Scopes:        obj.Spec.Scopes,
	}
	err := st.prov.RequestToken(ctx, creds)
	switch {
	case err == nil:
		r.badCreds.Delete(obj.UID)
		r.denials.reset(obj.UID)
		return nil
	case provider.Code(err) == provider.OAuthAccessDenied:
		return r.accessDenied(st, err)
	case errors.Is(err, provider.ErrInvalidClient):
		if st.issued != "" || r.recentlyIssued(obj) {
			return &conditionError{kind: progressKind, reason: oauthv1.ReasonTokenRequestFailed, err: err,
				msg: "The token endpoint refused the new credentials; retrying while the backend catches up"}
		}
		// The published credentials stopped working (secret or key removed in the backend):
		// the next reconcile issues new ones.
		r.badCreds.Store(obj.UID, true)
		return &conditionError{kind: progressKind, reason: oauthv1.ReasonTokenRequestFailed, retryAfter: time.Second,
			msg: "The token endpoint refused the published credentials; issuing new ones", err: err}
	case errors.Is(err, provider.ErrInvalidScope):
		return &conditionError{kind: progressKind, reason: oauthv1.ReasonInvalidScope, err: err,
			msg: fmt.Sprintf("The authorization server refused the scopes %q", obj.Spec.Scopes)}
	case errors.Is(err, provider.ErrRateLimited), errors.Is(err, provider.ErrTransient):
		return err
	default:
		return &conditionError{kind: progressKind, reason: oauthv1.ReasonTokenRequestFailed, err: err,
			msg: "The token request with the published credentials failed"}
	}
}

func (r *OAuthClientReconciler) recentlyIssued(obj *oauthv1.OAuthClient) bool {
	t := obj.Status.LastRotationTime
	grace := r.PropagationGrace
	if grace <= 0 {
		grace = DefaultPropagationGrace
	}
	return t != nil && r.now().Sub(t.Time) < grace
}

// retireSecrets revokes the secrets that are no longer published: after a restore at once,
// after a rotation when the grace period is over.
func (r *OAuthClientReconciler) retireSecrets(ctx context.Context, st *reconcileState) error {
	obj := st.obj
	if obj.Status.RetireAfter == nil || r.now().Before(obj.Status.RetireAfter.Time) || obj.Status.SecretID == "" {
		return nil
	}
	secrets, err := st.prov.ListSecrets(ctx, obj.Status.AppID)
	if err != nil {
		return err
	}
	revoked := 0
	for _, s := range secrets {
		if s.ID == obj.Status.SecretID {
			continue
		}
		if err := st.prov.RevokeSecret(ctx, obj.Status.AppID, s.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
		revoked++
	}
	obj.Status.RetireAfter = nil
	rotations.WithLabelValues("completed").Inc()
	if revoked > 0 {
		r.event(obj, corev1.EventTypeNormal, "SecretsRevoked", "Revoke",
			"Revoked %d client secret(s) no longer published", revoked)
	}
	return nil
}
