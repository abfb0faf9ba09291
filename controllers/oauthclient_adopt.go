package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// adoptRecheck is when an OAuthClient whose app cannot be adopted (not a client-credentials
// app, another OAuthClient's) looks again: the fix is made in the backend, not in the object.
const adoptRecheck = 5 * time.Minute

// adoptExisting takes over the app spec.adopt names: it checks that the app is a
// client-credentials app no other OAuthClient owns, marks it as this object's while making
// it match the spec, and asks the credentials phase for a new client secret. The app's
// current secrets are not read and not published: they keep working for the grace period
// and are then revoked (takenOver), so consumers holding them switch without an outage.
// Like a create it claims the Secret first and acts on what status says (no app), so it
// makes a guard write before changing the app.
func (r *OAuthClientReconciler) adoptExisting(ctx context.Context, obj *oauthv1.OAuthClient, be backend, obs appObservation,
	desired provider.AppSpec, sp *statusPatcher) (appObservation, error) {
	obs.synced = true
	secret, err := r.claimSecret(ctx, obj, obs.secret)
	if err != nil {
		return obs, err
	}
	obs.secret = secret
	ref := provider.AppRef{ID: obj.Spec.Adopt.AppID, ClientID: obj.Spec.Adopt.ClientID}
	app, err := provider.LookupApp(ctx, be.client, ref)
	if err != nil {
		return obs, err
	}
	if err := checkAdoptable(obj, app); err != nil {
		return obs, err
	}
	if err := sp.guard(ctx); err != nil {
		return obs, err
	}
	if !app.Matches(desired) {
		updated, err := be.client.UpdateApp(ctx, app, desired)
		if err != nil {
			return obs, err
		}
		updated.ClientSecret = "" // a secret answered here is replaced by the one issued next
		app = updated
	}
	obj.Status.PendingCreate = nil
	obj.Status.AppID, obj.Status.ClientID = app.ID, app.ClientID
	obj.Status.SecretID = ""
	obs.needSecret = desired.AuthMethod.UsesSecret()
	obs.takenOver = true
	r.event(obj, corev1.EventTypeNormal, EventAppAdopted, "Adopt",
		"Adopted existing app %s with client id %s (spec.adopt)", app.ID, app.ClientID)
	return obs, nil
}

// checkAdoptable refuses an app that is not a client-credentials app (NotAdoptable) or that
// another OAuthClient owns (AlreadyOwned); both leave the app as it is.
func checkAdoptable(obj *oauthv1.OAuthClient, app *provider.App) error {
	if why := app.NotAdoptable(); why != "" {
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonNotAdoptable, retryAfter: adoptRecheck,
			msg: fmt.Sprintf("App %s (client id %s) cannot be adopted: %s; it is left as it is", app.ID, app.ClientID, why)}
	}
	return checkOwned(obj, app)
}

// checkOwned refuses an app that another OAuthClient owns (AlreadyOwned). After adoption it
// is the only check: what else differs from the spec is drift, and repaired.
func checkOwned(obj *oauthv1.OAuthClient, app *provider.App) error {
	if owner := app.Owner; owner.UID != "" && owner.UID != string(obj.UID) {
		who := owner.Name
		if owner.Namespace != "" {
			who = owner.Namespace + "/" + owner.Name
		}
		if who == "" {
			who = "uid " + owner.UID
		}
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonAlreadyOwned, retryAfter: adoptRecheck,
			msg: fmt.Sprintf("App %s (client id %s) belongs to OAuthClient %s; it is left as it is", app.ID, app.ClientID, who)}
	}
	return nil
}
