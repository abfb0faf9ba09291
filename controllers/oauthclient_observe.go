package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/secrettemplate"
)

// Why credentials were published: read from the observed app (or taken from
// spec.credentialsFrom) under managementPolicy Observe.
const issuedObserve = "observe"

// observation is what reconcileObserved found and did.
type observation struct {
	// synced says the app was read from the backend in this reconcile.
	synced bool
	// issued says why the published credentials changed in this reconcile; "" when they did not.
	issued string
}

// reconcileObserved is the whole of managementPolicy Observe: it reads the app spec.adopt
// names and its client secret, reports what differs from the spec (condition Drifted),
// publishes what it read in the output Secret and checks it with a token request. It makes
// no write to the backend — no app update, no ownership mark, no client secret, no access
// policy, no revocation — so it needs no guard write either: nothing in the backend follows
// from what status says. It does not claim the app: an app another OAuthClient manages or
// observes may be observed too (AlreadyOwned is for Manage, which writes).
func (r *OAuthClientReconciler) reconcileObserved(ctx context.Context, obj *oauthv1.OAuthClient, be backend,
	found secretObservation, src secretSource, tmpl *secrettemplate.Templates) (observation, error) {
	var obs observation
	if obj.Spec.Adopt == nil {
		return obs, &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: "managementPolicy Observe needs spec.adopt naming the app to observe"}
	}
	if obj.AuthMethod() == oauthv1.AuthPrivateKeyJWT {
		return obs, &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: "managementPolicy Observe publishes the app's client secret; a private_key_jwt app's private key is never in the backend"}
	}
	cur := found.current
	if cur != nil && obj.Status.AppID != "" && !r.syncDue(obj) && (!src.set() || cur.clientSecret == src.value) {
		// Steady: the published credentials are intact and nothing is due.
		return obs, r.verifyCredentials(ctx, obj, be, cur, newTokenCheck(obj, "", false))
	}
	obs.synced = true
	app, err := provider.LookupApp(ctx, be.client, provider.AppRef{ID: obj.Spec.Adopt.AppID, ClientID: obj.Spec.Adopt.ClientID})
	if err != nil {
		return obs, err
	}
	if !app.ClientCredentialsOnly && !slices.Contains(app.GrantTypes, "client_credentials") {
		return obs, &conditionError{kind: stallKind, reason: oauthv1.ReasonNotAdoptable, retryAfter: adoptRecheck,
			msg: fmt.Sprintf("App %s (client id %s) cannot be observed as a client-credentials client: %s", app.ID, app.ClientID, app.NotAdoptable())}
	}
	obj.Status.AppID, obj.Status.ClientID = app.ID, app.ClientID
	reportDrift(obj, app, withCapabilities(desiredApp(obj, keyPlan{}), be.granted, be.client.Capabilities()))

	next, issued, err := r.observedCredentials(ctx, obj, be, cur, src)
	if err != nil {
		return obs, err
	}
	obs.issued = issued
	if err := r.reconcileSecret(ctx, obj, be, found.secret, found.state, credentialPlan{next: next, issued: issued}, tmpl); err != nil {
		return obs, err
	}
	return obs, r.verifyCredentials(ctx, obj, be, next, newTokenCheck(obj, issued, true))
}

// observedCredentials are the credentials to publish for an observed app: spec.credentialsFrom's
// value when set (published, not registered), else the app's current client secret as the
// backend returns it — the published one while it is still active, otherwise the newest
// active one. A backend that returns no values is provider.ErrSecretNotReadable.
// issued is "" when the Secret holds them already.
func (r *OAuthClientReconciler) observedCredentials(ctx context.Context, obj *oauthv1.OAuthClient, be backend,
	cur *credentials, src secretSource) (*credentials, string, error) {
	unchanged := func(c *credentials) string {
		if cur != nil && cur.clientSecret == c.clientSecret && cur.secretID == c.secretID {
			return ""
		}
		return issuedObserve
	}
	if src.set() {
		next := &credentials{clientSecret: src.value}
		if cur != nil && cur.clientSecret == src.value {
			next.secretID = cur.secretID
		}
		return next, unchanged(next), nil
	}
	secrets, err := be.client.ReadSecrets(ctx, obj.Status.AppID)
	if err != nil {
		return nil, "", err
	}
	var pick *provider.ClientSecret
	for i := range secrets {
		s := &secrets[i]
		if !s.Active || s.Value == "" {
			continue
		}
		if cur != nil && s.Value == cur.clientSecret {
			pick = s
			break
		}
		if pick == nil || s.Created.After(pick.Created) {
			pick = s
		}
	}
	if pick == nil {
		return nil, "", provider.Errorf(provider.ErrSecretNotReadable, "read client secrets",
			"the backend returned no active client secret with its value for app %s", obj.Status.AppID)
	}
	next := &credentials{clientSecret: pick.Value, secretID: pick.ID}
	return next, unchanged(next), nil
}

// reportDrift sets the Drifted condition of an observed app: True with the fields that
// differ from the spec, False when none does.
func reportDrift(obj *oauthv1.OAuthClient, app *provider.App, desired provider.AppSpec) {
	c := metav1.Condition{Type: oauthv1.ConditionDrifted, ObservedGeneration: obj.Generation,
		Status: metav1.ConditionFalse, Reason: oauthv1.ReasonNoDrift, Message: fmt.Sprintf("App %s matches the spec", app.ID)}
	if diffs := app.Differences(desired); len(diffs) > 0 {
		c.Status, c.Reason = metav1.ConditionTrue, oauthv1.ReasonSpecDiffers
		c.Message = fmt.Sprintf("App %s differs from the spec in: %s. managementPolicy Observe leaves it as it is; Manage repairs it",
			app.ID, strings.Join(diffs, "; "))
	}
	meta.SetStatusCondition(&obj.Status.Conditions, c)
}
