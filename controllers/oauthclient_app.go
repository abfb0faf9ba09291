package controllers

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// appObservation is what reconcileApp found and did.
type appObservation struct {
	// synced says the app was read from (or written to) the backend in this reconcile.
	synced bool
	// secret is the output Secret after the phase: as loadSecret found it, or claimed
	// (created empty) before the app was created; nil when absent.
	secret *corev1.Secret
	// state is the state Secret as loadSecret found it (keys None), nil when absent.
	state *corev1.Secret
	// current are the intact credentials loadSecret found in the Secret, nil if none.
	current *credentials
	// answered are the credentials the backend answered with (a create, a change of
	// tokenEndpointAuthMethod), to be published; nil when it answered none.
	answered *credentials
	// issued says why answered were issued (issuedCreate, issuedAuthMethod).
	issued string
	// needSecret says the app has no secret value the operator knows (adopted, or created
	// without one): the credentials phase issues one.
	needSecret bool
	// takenOver says the app was adopted through spec.adopt in this reconcile: the secrets
	// it had are someone's, so they are retired only after the grace period.
	takenOver bool
}

// desiredApp is the app the spec asks for, with the key pair key settled.
func desiredApp(obj *oauthv1.OAuthClient, key keyPlan) provider.AppSpec {
	spec := provider.AppSpec{
		Label:      obj.Label(),
		AuthMethod: provider.AuthMethod(obj.AuthMethod()),
		Owner:      provider.Owner{UID: string(obj.UID), Namespace: obj.Namespace, Name: obj.Name},
		TakeOver:   obj.Spec.Adopt != nil,
		Generation: obj.Status.ClientGeneration,
	}
	if key.next != nil && key.next.publicKey != nil {
		spec.PublicKeys = []provider.PublicKey{*key.next.publicKey}
	}
	if l := obj.Spec.AccessTokenLifetime; l != nil {
		// Not defaulted: unset is the authorization server's default (withCapabilities
		// keeps it only for a backend that keeps the lifetime on the app).
		spec.AccessTokenLifetime = l.Duration
	}
	return spec
}

// withCapabilities adds to spec what the backend keeps on the app itself, by the
// capabilities it declares: the scopes (when the app lists what it may request) and the
// audiences; and it keeps the access-token lifetime only when the app carries it (else the
// access policy does, oauthclient_accesspolicy.go).
func withCapabilities(spec provider.AppSpec, g grants, caps provider.Capabilities) provider.AppSpec {
	if caps.AppScopes {
		spec.Scopes = g.scopes
	}
	if caps.Audiences {
		spec.Audiences = g.audiences
	}
	if !caps.AppTokenLifetime {
		spec.AccessTokenLifetime = 0
	}
	return spec
}

// reconcileApp makes the app exist and match the spec. An app the status knows is read
// from the backend only when something may have changed — a spec change, a failed previous
// attempt, a new key pair, the periodic resync — so a steady client costs no backend call.
func (r *OAuthClientReconciler) reconcileApp(ctx context.Context, obj *oauthv1.OAuthClient, be backend, found secretObservation,
	key keyPlan, sp *statusPatcher) (appObservation, error) {
	obs := appObservation{secret: found.secret, state: found.state, current: found.current}
	desired := withCapabilities(desiredApp(obj, key), be.granted, be.client.Capabilities())
	if obj.Status.AppID == "" {
		if obj.Spec.Adopt != nil {
			return r.adoptExisting(ctx, obj, be, obs, desired, sp)
		}
		return r.createOrAdoptApp(ctx, obj, be, obs, desired, sp)
	}
	if key.issued == "" && !r.syncDue(obj) && !r.memory.grantsChanged(obj.UID, be.granted.key()) {
		return obs, nil
	}
	obs.synced = true
	app, err := be.client.GetApp(ctx, obj.Status.AppID)
	if errors.Is(err, provider.ErrNotFound) && obj.Spec.Adopt != nil {
		// An adopted app is not recreated: adopting again says it is gone (NotAdoptable).
		forgetApp(obj)
		return r.adoptExisting(ctx, obj, be, obs, desired, sp)
	}
	if errors.Is(err, provider.ErrNotFound) {
		r.event(obj, corev1.EventTypeWarning, EventAppMissing, "Recreate",
			"App %s no longer exists in the backend; creating a new one", obj.Status.AppID)
		forgetApp(obj)
		return r.createOrAdoptApp(ctx, obj, be, obs, desired, sp)
	}
	if err != nil {
		return obs, err
	}
	if obj.Spec.Adopt != nil {
		// Another OAuthClient may have adopted the same app meanwhile: never fight over it.
		if err := checkOwned(obj, app); err != nil {
			return obs, err
		}
	}
	if !app.Matches(desired) {
		updated, err := be.client.UpdateApp(ctx, app, desired)
		if err != nil {
			return obs, err
		}
		r.event(obj, corev1.EventTypeNormal, EventAppUpdated, "Update", "Updated app %s to match the spec", app.ID)
		if app.AuthMethod != desired.AuthMethod {
			answered, err := r.takeAnsweredSecret(ctx, obj, be, found.current, updated)
			if err != nil {
				return obs, err
			}
			if answered != nil {
				obs.answered, obs.issued = answered, issuedAuthMethod
			}
		}
	}
	// oauthclient_generation.go: the previous and pending clients of a rotation by a new
	// client follow the current one.
	return obs, r.reconcileGenerations(ctx, obj, be, desired)
}

// createOrAdoptApp creates the app — or, when an earlier create may have succeeded without
// its answer being recorded, finds that app by its owner UID and adopts it. Both act on
// what status says (no app, or a pending create), so both start with a guard write: a
// reconcile that read a stale status stops there (errStaleObject).
func (r *OAuthClientReconciler) createOrAdoptApp(ctx context.Context, obj *oauthv1.OAuthClient, be backend, obs appObservation,
	desired provider.AppSpec, sp *statusPatcher) (appObservation, error) {
	obs.synced = true
	secret, err := r.claimSecret(ctx, obj, obs.secret)
	if err != nil {
		return obs, err
	}
	obs.secret = secret
	if pc := obj.Status.PendingCreate; pc != nil {
		if err := sp.guard(ctx); err != nil {
			return obs, err
		}
		adopted, err := r.adoptApp(ctx, obj, be, pc.Label, desired)
		if err != nil || adopted {
			// The answer that carried the secret was lost: a new secret is needed.
			obs.needSecret = adopted && desired.AuthMethod.UsesSecret()
			return obs, err
		}
	}

	// Record the intent before the call: if the answer is lost, the next attempt looks
	// for the app instead of creating a second one.
	if pc := obj.Status.PendingCreate; pc == nil || pc.Label != desired.Label {
		obj.Status.PendingCreate = &oauthv1.PendingCreate{Label: desired.Label, Since: statusTime(r.now())}
	}
	if err := sp.guard(ctx); err != nil {
		return obs, err
	}
	app, err := be.client.CreateApp(ctx, desired)
	if err != nil {
		if createNotApplied(err) {
			obj.Status.PendingCreate = nil
		}
		return obs, err
	}
	obj.Status.PendingCreate = nil
	obj.Status.AppID, obj.Status.ClientID = app.ID, app.ClientID
	if desired.AuthMethod.UsesSecret() {
		obs.answered, obs.issued = &credentials{clientSecret: app.ClientSecret}, issuedCreate
		obj.Status.SecretID = ""
		obs.needSecret = app.ClientSecret == ""
	}
	credentialsIssued.WithLabelValues(issuedCreate).Inc()
	r.event(obj, corev1.EventTypeNormal, EventAppCreated, "Create", "Created app %s with client id %s", app.ID, app.ClientID)
	return obs, nil
}

// adoptApp looks for apps created for this object whose creation was not recorded. It
// adopts one (deleting any extra) and reports whether it did.
func (r *OAuthClientReconciler) adoptApp(ctx context.Context, obj *oauthv1.OAuthClient, be backend, label string, desired provider.AppSpec) (bool, error) {
	labels := []string{label}
	if desired.Label != label {
		labels = append(labels, desired.Label)
	}
	var mine []provider.App
	for _, l := range labels {
		apps, err := be.client.FindApps(ctx, l)
		if err != nil {
			return false, err
		}
		for _, a := range apps {
			if a.Owner.UID == string(obj.UID) && a.Generation == desired.Generation && !containsApp(mine, a.ID) {
				mine = append(mine, a)
			}
		}
	}
	if len(mine) == 0 {
		return false, nil
	}
	// Keep the active one if any, then the one with the lowest id, for a stable choice.
	sort.SliceStable(mine, func(i, j int) bool {
		if mine[i].Active != mine[j].Active {
			return mine[i].Active
		}
		return mine[i].ID < mine[j].ID
	})
	for _, extra := range mine[1:] {
		if err := be.client.DeleteApp(ctx, extra.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return false, err
		}
		log.FromContext(ctx).Info("Deleted duplicate app", "appID", extra.ID)
	}
	app := &mine[0]
	if !app.Matches(desired) {
		updated, err := be.client.UpdateApp(ctx, app, desired)
		if err != nil {
			return false, err
		}
		app = updated
	}
	obj.Status.PendingCreate = nil
	obj.Status.AppID, obj.Status.ClientID = app.ID, app.ClientID
	obj.Status.SecretID = ""
	r.event(obj, corev1.EventTypeNormal, EventAppAdopted, "Adopt",
		"Adopted app %s, created by an earlier attempt whose result was not recorded", app.ID)
	return true, nil
}

func containsApp(apps []provider.App, id string) bool {
	for _, a := range apps {
		if a.ID == id {
			return true
		}
	}
	return false
}

// createNotApplied reports whether a failed create certainly did not create the app: the
// backend answered with a refusal (or the local rate budget refused to send it).
func createNotApplied(err error) bool {
	return errors.Is(err, provider.ErrRateLimited) || errors.Is(err, provider.ErrPermanent) ||
		errors.Is(err, provider.ErrUnauthorized) || errors.Is(err, provider.ErrConflict) ||
		errors.Is(err, provider.ErrForbidden) || errors.Is(err, provider.ErrFeatureNotEnabled)
}

// forgetApp clears what the status knows of an app that is gone.
func forgetApp(obj *oauthv1.OAuthClient) {
	obj.Status.AppID, obj.Status.ClientID, obj.Status.SecretID = "", "", ""
	obj.Status.RetireAfter = nil
}

// syncDue reports whether the app should be read from the backend now.
func (r *OAuthClientReconciler) syncDue(obj *oauthv1.OAuthClient) bool {
	if obj.Status.ObservedGeneration != obj.Generation || !isReady(obj.Status.Conditions, obj.Generation) {
		return true
	}
	last, ok := r.memory.lastSynced(obj.UID)
	if !ok {
		// A restarted manager (or an evicted memory entry) compares every Ready app once,
		// but not all at once: the app counts as read at a random moment of the last 85%
		// of a period, so that nextWake spreads the reads over the coming period instead
		// of sending one per client in the first minute (10,000 at once, at scale).
		last = r.now().Add(-time.Duration(rand.Int64N(int64(r.resyncPeriod() * 85 / 100))))
		r.memory.synced(obj.UID, last)
	}
	// The resync wake-up is jittered ±10%; anything from 85% of the period on counts.
	return r.now().Sub(last) >= r.resyncPeriod()*85/100
}
