package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Rotation by a new client, for backends that keep one secret per client and declare
// Capabilities.RotationByNewClient. Each rotation is a new client generation:
//
//  1. status.pendingClient records the next generation (guard write), then the client is
//     created with the same spec and a marker naming this OAuthClient and the generation;
//  2. its ids go into status.pendingClient at once (before the Secret is written), so the
//     Secret never holds a client id status does not know;
//  3. its client id and secret are published together in the Secret; status then names it
//     as the current client and the one before as status.previousClient;
//  4. after the grace period, once the Secret (as the API server has it) holds the current
//     client id, the previous client is deleted.
//
// A crash anywhere leaves status.pendingClient: the next reconcile finds the client — by
// the ids recorded in step 2, else by its marker — adopts it (a new secret: nobody holds
// its first one) or creates it, and deletes any duplicate of the same generation; a Secret
// that already holds the new client's credentials is recorded as published.

// rotatesByNewClient says the backend rotates by a new client per generation.
func rotatesByNewClient(be backend) bool {
	return be.client != nil && be.client.Capabilities().RotationByNewClient
}

// clientIDOf is the client id creds belong to: a new generation's, else the current one
// status names.
func clientIDOf(obj *oauthv1.OAuthClient, creds *credentials) string {
	if creds != nil && creds.clientID != "" {
		return creds.clientID
	}
	return obj.Status.ClientID
}

// isPendingClientID says id is the client id of the generation status.pendingClient
// records: credentials of it in the Secret were published by an attempt whose status write
// was lost.
func isPendingClientID(obj *oauthv1.OAuthClient, id string) bool {
	pc := obj.Status.PendingClient
	return pc != nil && pc.ClientID != "" && pc.ClientID == id
}

// rotateByNewClient starts a rotation: the client of the next generation.
func (r *OAuthClientReconciler) rotateByNewClient(ctx context.Context, obj *oauthv1.OAuthClient, be backend, now time.Time,
	sp *statusPatcher) (credentialPlan, error) {
	obj.Status.PendingClient = &oauthv1.PendingClient{Generation: obj.Status.ClientGeneration + 1, Label: obj.Label(),
		Since: statusTime(now)}
	return r.createClientGeneration(ctx, obj, be, now, sp)
}

// resumeClientGeneration settles a rotation status.pendingClient records: the new client's
// credentials are in the Secret already (recorded as published), or the client exists
// (adopted with a new secret), or it is created.
func (r *OAuthClientReconciler) resumeClientGeneration(ctx context.Context, obj *oauthv1.OAuthClient, be backend,
	cached *corev1.Secret, current *credentials, now time.Time, sp *statusPatcher) (credentialPlan, error) {
	if err := sp.guard(ctx); err != nil {
		return credentialPlan{}, err
	}
	pc := obj.Status.PendingClient
	if current != nil && isPendingClientID(obj, current.clientID) {
		switchClient(obj, current.secretID)
		t := statusTime(now)
		obj.Status.LastRotationTime = &t
		retire := statusTime(now.Add(gracePeriod(obj)))
		obj.Status.RetireAfter = &retire
		log.FromContext(ctx).Info("The Secret holds the credentials of a new client its status did not record as published; adopting them",
			"appID", obj.Status.AppID, "generation", obj.Status.ClientGeneration)
		current.clientID = ""
		return credentialPlan{next: current}, nil
	}
	if pc.ClientID != "" {
		// The Secret read from the cache does not hold the new client. If the API server's
		// does (a Secret write whose status write failed, not yet in the cache), a new secret
		// now would replace one consumers may hold: wait for the cache.
		held, err := r.publishedClientID(ctx, obj)
		if err != nil {
			return credentialPlan{}, err
		}
		if held == pc.ClientID && (cached == nil || heldClientID(cached) != held) {
			return credentialPlan{}, errStaleObject
		}
	}
	app, err := r.findPendingClient(ctx, obj, be)
	if err != nil {
		return credentialPlan{}, err
	}
	if app == nil {
		return r.createClientGeneration(ctx, obj, be, now, sp)
	}
	pc.AppID, pc.ClientID = app.ID, app.ClientID
	if err := sp.patch(ctx); err != nil {
		return credentialPlan{}, err
	}
	// Created for an earlier spec or grants, maybe: it follows the current ones.
	desired := withCapabilities(desiredApp(obj, keyPlan{}), be.granted, be.client.Capabilities())
	if err := r.matchGeneration(ctx, obj, be, app, desired, pc.Generation); err != nil {
		return credentialPlan{}, err
	}
	// Its first secret was in an answer that was lost, or in a Secret write that failed: no
	// consumer holds it, so a new one replaces it.
	s, err := be.client.CreateSecret(ctx, app.ID)
	if err != nil {
		return credentialPlan{}, err
	}
	r.event(obj, corev1.EventTypeNormal, EventAppAdopted, "Adopt",
		"Adopted app %s of rotation generation %d, created by an earlier attempt whose result was not published", app.ID, pc.Generation)
	credentialsIssued.WithLabelValues(issuedRotate).Inc()
	return credentialPlan{next: &credentials{clientID: app.ClientID, clientSecret: s.Value, secretID: s.ID}, issued: issuedRotate,
		retireAt: now.Add(gracePeriod(obj))}, nil
}

// createClientGeneration creates the client status.pendingClient names, recording the
// intent before the call and the new ids right after it.
func (r *OAuthClientReconciler) createClientGeneration(ctx context.Context, obj *oauthv1.OAuthClient, be backend, now time.Time,
	sp *statusPatcher) (credentialPlan, error) {
	pc := obj.Status.PendingClient
	desired := withCapabilities(desiredApp(obj, keyPlan{}), be.granted, be.client.Capabilities())
	desired.Generation = pc.Generation
	pc.Label, pc.AppID, pc.ClientID = desired.Label, "", ""
	if err := sp.guard(ctx); err != nil {
		return credentialPlan{}, err
	}
	// The guard write replaced status with the API server's answer: read it again.
	pc = obj.Status.PendingClient
	log.FromContext(ctx).Info("Rotating by a new client", "generation", pc.Generation, "previousAppID", obj.Status.AppID)
	app, err := be.client.CreateApp(ctx, desired)
	if err != nil {
		if createNotApplied(err) {
			obj.Status.PendingClient = nil
		}
		return credentialPlan{}, err
	}
	// Recorded before the Secret is written: the Secret never names a client status does
	// not know.
	pc.AppID, pc.ClientID = app.ID, app.ClientID
	if err := sp.patch(ctx); err != nil {
		return credentialPlan{}, err
	}
	next := &credentials{clientID: app.ClientID, clientSecret: app.ClientSecret}
	if next.clientSecret == "" {
		s, err := be.client.CreateSecret(ctx, app.ID)
		if err != nil {
			return credentialPlan{}, err
		}
		next.clientSecret, next.secretID = s.Value, s.ID
	}
	credentialsIssued.WithLabelValues(issuedRotate).Inc()
	rotations.WithLabelValues("started").Inc()
	r.event(obj, corev1.EventTypeNormal, EventAppCreated, "Rotate",
		"Created app %s with client id %s for rotation generation %d", app.ID, app.ClientID, pc.Generation)
	return credentialPlan{next: next, issued: issuedRotate, retireAt: now.Add(gracePeriod(obj))}, nil
}

// reconcileGenerations makes the other live clients of a rotation by a new client — the
// previous one, kept through its grace period, and the pending one, not yet published —
// match what the spec and the grants ask for now, as the current one does (desired): a
// scope or audience withdrawn, or a changed access-token lifetime, reaches every client
// whose credentials may still be in use, so none of them gets a token the current one
// cannot. Each keeps its generation, its token endpoint auth method (its consumers
// authenticate as they did) and its secret. A client that is gone is left to the phases
// that settle it (retirePreviousClient, resumeClientGeneration). It costs one read per
// other generation, and only while a rotation is under way.
func (r *OAuthClientReconciler) reconcileGenerations(ctx context.Context, obj *oauthv1.OAuthClient, be backend, desired provider.AppSpec) error {
	if !rotatesByNewClient(be) {
		return nil
	}
	type generation struct {
		appID string
		n     int64
	}
	var others []generation
	if prev := obj.Status.PreviousClient; prev != nil && prev.AppID != "" && prev.AppID != obj.Status.AppID {
		others = append(others, generation{prev.AppID, prev.Generation})
	}
	if pc := obj.Status.PendingClient; pc != nil && pc.AppID != "" && pc.AppID != obj.Status.AppID {
		others = append(others, generation{pc.AppID, pc.Generation})
	}
	for _, g := range others {
		app, err := be.client.GetApp(ctx, g.appID)
		if errors.Is(err, provider.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := r.matchGeneration(ctx, obj, be, app, desired, g.n); err != nil {
			return err
		}
	}
	return nil
}

// matchGeneration updates app, the client of rotation generation n, to desired (the
// current client's spec) unless it matches already; it keeps the app's generation and auth
// method, and leaves alone an app that is not this OAuthClient's or has no secret (a
// rotation by a new client publishes secrets only).
func (r *OAuthClientReconciler) matchGeneration(ctx context.Context, obj *oauthv1.OAuthClient, be backend, app *provider.App,
	desired provider.AppSpec, n int64) error {
	if app.Owner.UID != string(obj.UID) || !app.AuthMethod.UsesSecret() {
		return nil
	}
	want := desired
	want.Generation, want.AuthMethod, want.PublicKeys, want.TakeOver = n, app.AuthMethod, nil, false
	if app.Matches(want) {
		return nil
	}
	if _, err := be.client.UpdateApp(ctx, app, want); err != nil {
		return err
	}
	r.event(obj, corev1.EventTypeNormal, EventAppUpdated, "Update",
		"Updated app %s of rotation generation %d to match the spec", app.ID, n)
	return nil
}

// findPendingClient finds the client of the generation status.pendingClient records: by its
// recorded id, else by the marker (owner and generation) among the clients with its label.
// Of several of the same generation it keeps one and deletes the others. nil when none
// exists.
func (r *OAuthClientReconciler) findPendingClient(ctx context.Context, obj *oauthv1.OAuthClient, be backend) (*provider.App, error) {
	pc := obj.Status.PendingClient
	mine := func(a *provider.App) bool { return a.Owner.UID == string(obj.UID) && a.Generation == pc.Generation }
	if pc.AppID != "" {
		app, err := be.client.GetApp(ctx, pc.AppID)
		if errors.Is(err, provider.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if !mine(app) {
			return nil, fmt.Errorf("app %s recorded for rotation generation %d does not carry this OAuthClient's marker for it", pc.AppID, pc.Generation)
		}
		return app, nil
	}
	found, err := r.generationApps(ctx, obj, be, []string{pc.Label, obj.Label()}, func(a provider.App) bool { return mine(&a) })
	if err != nil || len(found) == 0 {
		return nil, err
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	for _, extra := range found[1:] {
		if err := be.client.DeleteApp(ctx, extra.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return nil, err
		}
		log.FromContext(ctx).Info("Deleted duplicate app of a rotation generation", "appID", extra.ID, "generation", pc.Generation)
	}
	return &found[0], nil
}

// generationApps lists the apps with one of labels that keep says are wanted, once each.
func (r *OAuthClientReconciler) generationApps(ctx context.Context, obj *oauthv1.OAuthClient, be backend, labels []string,
	keep func(provider.App) bool) ([]provider.App, error) {
	var out []provider.App
	seen := map[string]bool{}
	for _, l := range labels {
		if seen["label:"+l] {
			continue
		}
		seen["label:"+l] = true
		apps, err := be.client.FindApps(ctx, l)
		if err != nil {
			return nil, err
		}
		for _, a := range apps {
			if keep(a) && !seen[a.ID] {
				seen[a.ID] = true
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// dropPendingClient abandons a rotation that can no longer be finished (the client turned
// to private_key_jwt, or its app was recreated): the new generation's client, if it was
// created, is deleted — its credentials were never published.
func (r *OAuthClientReconciler) dropPendingClient(ctx context.Context, obj *oauthv1.OAuthClient, be backend, sp *statusPatcher) error {
	if obj.Status.PendingClient == nil {
		return nil
	}
	if err := sp.guard(ctx); err != nil {
		return err
	}
	app, err := r.findPendingClient(ctx, obj, be)
	if err != nil {
		return err
	}
	if app != nil && app.ID != obj.Status.AppID {
		if err := be.client.DeleteApp(ctx, app.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
	}
	obj.Status.PendingClient = nil
	return nil
}

// switchClient records that the Secret holds the pending generation's client: it becomes
// the current one, and the current one the previous, deleted at retireAfter.
func switchClient(obj *oauthv1.OAuthClient, secretID string) {
	pc := obj.Status.PendingClient
	if pc == nil || pc.ClientID == "" {
		return
	}
	if obj.Status.AppID != "" && obj.Status.AppID != pc.AppID {
		obj.Status.PreviousClient = &oauthv1.ClientGeneration{Generation: obj.Status.ClientGeneration,
			AppID: obj.Status.AppID, ClientID: obj.Status.ClientID}
	}
	obj.Status.AppID, obj.Status.ClientID, obj.Status.ClientGeneration = pc.AppID, pc.ClientID, pc.Generation
	obj.Status.SecretID = secretID
	obj.Status.PendingClient = nil
}

// retirePreviousClient deletes the previous generation's client once the grace period is
// over and the Secret, as the API server has it, holds the current client's id — never
// the client whose credentials the Secret holds.
func (r *OAuthClientReconciler) retirePreviousClient(ctx context.Context, obj *oauthv1.OAuthClient, be backend, sp *statusPatcher) error {
	prev := obj.Status.PreviousClient
	held, err := r.publishedClientID(ctx, obj)
	if err != nil {
		return err
	}
	if held != obj.Status.ClientID || held == prev.ClientID {
		// The next reconcile settles the Secret first.
		return nil
	}
	if err := sp.guard(ctx); err != nil {
		return err
	}
	if prev.AppID != obj.Status.AppID {
		if err := be.client.DeleteApp(ctx, prev.AppID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
		r.event(obj, corev1.EventTypeNormal, EventAppDeleted, "Retire",
			"Deleted app %s (client id %s) of rotation generation %d after its grace period", prev.AppID, prev.ClientID, prev.Generation)
	}
	obj.Status.PreviousClient = nil
	obj.Status.RetireAfter = nil
	rotations.WithLabelValues("completed").Inc()
	return nil
}

// publishedClientID is the client id the Secret publishes now — its CLIENT_ID, or with keys
// None its AnnotationClientID — read from the API server (not the cache, which may lag
// behind a write whose status update failed); "" when the Secret is absent or not this
// object's.
func (r *OAuthClientReconciler) publishedClientID(ctx context.Context, obj *oauthv1.OAuthClient) (string, error) {
	s := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: obj.Namespace, Name: obj.SecretName()}, s)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read Secret %s: %w", obj.SecretName(), err)
	}
	if !metav1.IsControlledBy(s, obj) {
		return "", nil
	}
	return heldClientID(s), nil
}

// generationAppIDs are the apps of other generations than the current one that deleting
// the OAuthClient must delete too: the previous client, and the pending one (found by its
// marker when its id was not recorded).
func (r *OAuthClientReconciler) generationAppIDs(ctx context.Context, obj *oauthv1.OAuthClient, be backend) ([]string, error) {
	var ids []string
	if prev := obj.Status.PreviousClient; prev != nil && prev.AppID != "" {
		ids = append(ids, prev.AppID)
	}
	if obj.Status.PendingClient != nil {
		app, err := r.findPendingClient(ctx, obj, be)
		if err != nil {
			return nil, err
		}
		if app != nil {
			ids = append(ids, app.ID)
		}
	}
	return ids, nil
}
