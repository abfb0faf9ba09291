package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// verifyCredentials asks the token endpoint for a token with exactly the published values.
// It runs when the credentials changed, when the app was read from the backend, and until
// the client is Ready; a steady client costs no token request.
func (r *OAuthClientReconciler) verifyCredentials(ctx context.Context, st *reconcileState) error {
	obj := st.obj
	if st.issued == "" && !st.sync && isReady(obj.Status.Conditions, obj.Generation) {
		return nil
	}
	if err := r.heldDenial(st); err != nil {
		return err
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
