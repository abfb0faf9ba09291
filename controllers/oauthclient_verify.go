package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// tokenCheck is what decides whether verifyCredentials asks for a token.
type tokenCheck struct {
	// needed says a token request is due: the credentials changed, the app or its access policy was read from or
	// written to the backend, or the client is not Ready.
	needed bool
	// fresh says the credentials were issued in this reconcile.
	fresh bool
}

// newTokenCheck says whether a token request is needed: credentials issued in this
// reconcile (issued), the app or its policy compared with the backend (synced), or a client
// not Ready for its generation.
func newTokenCheck(obj *oauthv1.OAuthClient, issued string, synced bool) tokenCheck {
	return tokenCheck{needed: issued != "" || synced || !isReady(obj.Status.Conditions, obj.Generation), fresh: issued != ""}
}

// verifyCredentials asks the token endpoint for a token with exactly the published values,
// next. It runs when check says it is needed; a steady client costs no token request.
// Every failure it returns is judged at stageToken.
func (r *OAuthClientReconciler) verifyCredentials(ctx context.Context, obj *oauthv1.OAuthClient, be backend,
	next *credentials, check tokenCheck) error {
	if !check.needed {
		return nil
	}
	if err := r.heldDenial(obj, be, check); err != nil {
		return atStage(stageToken, err)
	}
	creds := provider.Credentials{
		ClientID:      obj.Status.ClientID,
		AuthMethod:    provider.AuthMethod(obj.AuthMethod()),
		ClientSecret:  next.clientSecret,
		PrivateKeyPEM: next.privateKeyPEM,
		KeyID:         next.keyID(),
		TokenURL:      be.endpoints.TokenURL,
		Scopes:        be.granted.scopes,
	}
	err := be.client.RequestToken(ctx, creds)
	switch {
	case err == nil:
		r.memory.accepted(obj.UID)
		return nil
	case errors.Is(err, provider.ErrAccessDenied):
		return atStage(stageToken, r.accessDenied(obj, be, err))
	case errors.Is(err, provider.ErrInvalidClient):
		if check.fresh || r.recentlyIssued(obj) {
			return atStage(stageToken, explain(err, "The token endpoint refused the new credentials; retrying while the backend catches up"))
		}
		// The published credentials stopped working (secret or key removed in the backend):
		// the next reconcile issues new ones.
		r.memory.markRefused(obj.UID)
		return atStage(stageToken, &note{err: err, msg: "The token endpoint refused the published credentials; issuing new ones",
			withErr: true, after: time.Second})
	case errors.Is(err, provider.ErrInvalidScope):
		return atStage(stageToken, explain(err, fmt.Sprintf("The authorization server refused the scopes %q", be.granted.scopes)))
	default:
		return atStage(stageToken, err)
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
