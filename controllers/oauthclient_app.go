package controllers

import (
	"context"
	"errors"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// desiredApp is the app the spec asks for.
func desiredApp(st *reconcileState) provider.AppSpec {
	obj := st.obj
	spec := provider.AppSpec{
		Label:      obj.Label(),
		AuthMethod: provider.AuthMethod(obj.AuthMethod()),
		Owner:      provider.Owner{UID: string(obj.UID), Namespace: obj.Namespace, Name: obj.Name},
	}
	if st.next != nil && st.next.publicKey != nil {
		spec.PublicKeys = []provider.PublicKey{*st.next.publicKey}
	}
	if st.prov == nil {
		return spec
	}
	caps := st.prov.Capabilities()
	if caps.AppScopes {
		spec.Scopes = obj.Spec.Scopes
	}
	if caps.Audiences {
		spec.Audiences = obj.Spec.Audiences
	}
	return spec
}

// reconcileApp makes the app exist and match the spec. An app the status knows is read
// from the backend only when something may have changed — a spec change, a failed previous
// attempt, the periodic resync — so a steady client costs no backend call.
func (r *OAuthClientReconciler) reconcileApp(ctx context.Context, st *reconcileState, sp *statusPatcher) error {
	obj := st.obj
	desired := desiredApp(st)
	if obj.Status.AppID == "" {
		return r.createOrAdoptApp(ctx, st, sp, desired)
	}
	if !st.sync && !r.syncDue(obj) {
		return nil
	}
	st.sync = true
	app, err := st.prov.GetApp(ctx, obj.Status.AppID)
	if errors.Is(err, provider.ErrNotFound) {
		r.event(obj, corev1.EventTypeWarning, "AppMissing", "Recreate",
			"App %s no longer exists in the backend; creating a new one", obj.Status.AppID)
		forgetApp(obj)
		return r.createOrAdoptApp(ctx, st, sp, desired)
	}
	if err != nil {
		return err
	}
	st.app = app
	if app.Matches(desired) {
		return nil
	}
	updated, err := st.prov.UpdateApp(ctx, app, desired)
	if err != nil {
		return err
	}
	st.app = updated
	r.event(obj, corev1.EventTypeNormal, "AppUpdated", "Update", "Updated app %s to match the spec", app.ID)
	if app.AuthMethod != desired.AuthMethod {
		return r.takeAnsweredSecret(ctx, st, updated)
	}
	return nil
}

// createOrAdoptApp creates the app — or, when an earlier create may have succeeded without
// its answer being recorded, finds that app by its owner UID and adopts it.
func (r *OAuthClientReconciler) createOrAdoptApp(ctx context.Context, st *reconcileState, sp *statusPatcher, desired provider.AppSpec) error {
	obj := st.obj
	st.sync = true
	if err := r.claimSecret(ctx, st); err != nil {
		return err
	}
	if pc := obj.Status.PendingCreate; pc != nil {
		adopted, err := r.adoptApp(ctx, st, pc.Label, desired)
		if err != nil || adopted {
			return err
		}
	}

	// Record the intent before the call: if the answer is lost, the next attempt looks
	// for the app instead of creating a second one.
	if pc := obj.Status.PendingCreate; pc == nil || pc.Label != desired.Label {
		obj.Status.PendingCreate = &oauthv1.PendingCreate{Label: desired.Label, Since: statusTime(r.now())}
	}
	if err := sp.patch(ctx); err != nil {
		return err
	}
	app, err := st.prov.CreateApp(ctx, desired)
	if err != nil {
		if createNotApplied(err) {
			obj.Status.PendingCreate = nil
		}
		return err
	}
	obj.Status.PendingCreate = nil
	obj.Status.AppID, obj.Status.ClientID = app.ID, app.ClientID
	st.app = app
	if desired.AuthMethod.UsesSecret() {
		st.next = &credentials{clientSecret: app.ClientSecret}
		obj.Status.SecretID = ""
		st.issued = issuedCreate
		if app.ClientSecret == "" {
			st.needSecret = true
		}
	}
	credentialsIssued.WithLabelValues(issuedCreate).Inc()
	r.event(obj, corev1.EventTypeNormal, "AppCreated", "Create", "Created app %s with client id %s", app.ID, app.ClientID)
	return nil
}

// adoptApp looks for apps created for this object whose creation was not recorded. It
// adopts one (deleting any extra) and reports whether it did.
func (r *OAuthClientReconciler) adoptApp(ctx context.Context, st *reconcileState, label string, desired provider.AppSpec) (bool, error) {
	obj := st.obj
	labels := []string{label}
	if desired.Label != label {
		labels = append(labels, desired.Label)
	}
	var mine []provider.App
	for _, l := range labels {
		apps, err := st.prov.FindApps(ctx, l)
		if err != nil {
			return false, err
		}
		for _, a := range apps {
			if a.Owner.UID == string(obj.UID) && !containsApp(mine, a.ID) {
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
		if err := st.prov.DeleteApp(ctx, extra.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return false, err
		}
		log.FromContext(ctx).Info("Deleted duplicate app", "appID", extra.ID)
	}
	app := &mine[0]
	if !app.Matches(desired) {
		updated, err := st.prov.UpdateApp(ctx, app, desired)
		if err != nil {
			return false, err
		}
		app = updated
	}
	obj.Status.PendingCreate = nil
	obj.Status.AppID, obj.Status.ClientID = app.ID, app.ClientID
	obj.Status.SecretID = ""
	st.app = app
	// The answer that carried the secret was lost: a new secret is needed.
	st.needSecret = desired.AuthMethod.UsesSecret()
	r.event(obj, corev1.EventTypeNormal, "AppAdopted", "Adopt",
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
	last, ok := r.lastSync.Load(obj.UID)
	if !ok {
		return true
	}
	// The resync wake-up is jittered ±10%; anything from 85% of the period on counts.
	return r.now().Sub(last.(time.Time)) >= r.resyncPeriod()*85/100
}
