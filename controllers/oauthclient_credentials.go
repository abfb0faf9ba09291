package controllers

import (
	"context"
	"errors"
	"sort"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Why credentials were issued (events, metrics).
const (
	issuedCreate = "create"
	issuedAdopt  = "adopt"
	// issuedTakeOver says the app was adopted through spec.adopt.
	issuedTakeOver = "take-over"
	issuedRestore  = "restore"
	issuedRotate   = "rotate"
	// issuedAuthMethod says the backend answered a tokenEndpointAuthMethod change with a secret.
	issuedAuthMethod = "auth-method-change"
)

// DefaultPropagationGrace is how long after issuing credentials a refusal at the token
// endpoint is taken for propagation delay in the backend rather than bad credentials.
const DefaultPropagationGrace = 30 * time.Second

// credentialPlan is what reconcileCredentials settled: the credentials to publish and
// why they are new.
type credentialPlan struct {
	// next are the credentials to publish.
	next *credentials
	// issued says why next were issued in this reconcile; "" when next are the ones the
	// Secret holds.
	issued string
	// retireAt is when, once next are published, the other client secrets are revoked;
	// zero when nothing is to be retired because of next.
	retireAt time.Time
}

// reconcileCredentials settles the credentials to publish: fresh from a create, the intact
// ones already in the Secret, or newly issued ones (Secret deleted or edited, app adopted,
// rotation due).
func (r *OAuthClientReconciler) reconcileCredentials(ctx context.Context, obj *oauthv1.OAuthClient, be backend,
	app appObservation, key keyPlan, src secretSource, sp *statusPatcher) (credentialPlan, error) {
	if obj.Status.PendingClient != nil && (obj.AuthMethod() == oauthv1.AuthPrivateKeyJWT || app.answered != nil || app.needSecret || src.set()) {
		// A rotation by a new client that can no longer be finished (oauthclient_generation.go);
		// with credentialsFrom no generated secret may be published.
		if err := r.dropPendingClient(ctx, obj, be, sp); err != nil {
			return credentialPlan{}, err
		}
	}
	if obj.AuthMethod() == oauthv1.AuthPrivateKeyJWT {
		// Settled by prepareKey; the app has the public key.
		return credentialPlan{next: key.next, issued: key.issued}, nil
	}
	now := r.now()
	if obj.Status.PendingClient != nil {
		return r.resumeClientGeneration(ctx, obj, be, app.secret, app.current, now, sp)
	}
	recoverPublished(ctx, obj, app.current, now)
	if src.set() {
		// oauthclient_credentialsfrom.go: the user's Secret decides, never a generated secret.
		return r.credentialsFromSecret(ctx, obj, be, app, src, sp)
	}
	switch {
	case app.answered != nil && !app.needSecret:
		return credentialPlan{next: app.answered, issued: app.issued}, nil
	case (app.needSecret && app.takenOver) || (takeOverPending(obj) && (app.current == nil || app.current.clientSecret == "")):
		// Adopted through spec.adopt and nothing published yet: the app's secrets are held by
		// its consumers, who get the grace period to switch to the published one.
		return r.issueSecret(ctx, obj, be, issuedTakeOver, now.Add(gracePeriod(obj)), sp)
	case app.needSecret:
		// Retire at once: no one holds the other secrets.
		return r.issueSecret(ctx, obj, be, issuedAdopt, now, sp)
	case app.current == nil || app.current.clientSecret == "":
		return r.issueSecret(ctx, obj, be, issuedRestore, now.Add(restoreGrace(obj, be, app)), sp)
	}
	if due, ok := rotationDue(obj); ok && obj.Status.RetireAfter == nil && !now.Before(due) {
		if rotatesByNewClient(be) {
			if obj.Status.PreviousClient != nil {
				return credentialPlan{next: app.current}, nil // retired first (retireSecrets)
			}
			return r.rotateByNewClient(ctx, obj, be, now, sp)
		}
		return r.issueSecret(ctx, obj, be, issuedRotate, now.Add(obj.Spec.Rotation.GracePeriodOrDefault()), sp)
	}
	return credentialPlan{next: app.current}, nil
}

// recoverPublished notices credentials a previous reconcile published in the Secret without
// recording them in status (the status write failed, or the manager stopped in between):
// the Secret's client-secret id — kept with the Secret itself — is the truth, so status
// takes it over, and the other secrets are retired as after any new secret.
func recoverPublished(ctx context.Context, obj *oauthv1.OAuthClient, current *credentials, now time.Time) {
	if current == nil || current.secretID == "" || current.secretID == obj.Status.SecretID {
		return
	}
	obj.Status.SecretID = current.secretID
	t := statusTime(now)
	obj.Status.LastRotationTime = &t
	retire := t
	if obj.Spec.Rotation != nil || obj.Spec.Adopt != nil {
		// An adopted app's other secrets may be its consumers' (spec.adopt): they get the
		// grace period too.
		retire = statusTime(now.Add(gracePeriod(obj)))
	}
	if obj.Status.RetireAfter == nil || retire.Before(obj.Status.RetireAfter) {
		obj.Status.RetireAfter = &retire
	}
	// The consumers of spec.rotation.restart were not restarted for it either.
	startRollout(obj, now)
	log.FromContext(ctx).Info("The Secret holds a client secret its status did not record; adopting it", "secretID", current.secretID)
}

// issueSecret adds a client secret to the app and makes it the one to publish. Every other
// secret is revoked at retireAt, and only after the new secret is published (status records
// the time together with the new secret's id, see published) and works. Nothing is recorded
// before the Secret holds the new secret: a secret issued by an attempt whose Secret write
// failed is never published, and the next attempt revokes it to make room. Status decided
// that a secret is needed, so a guard write comes first (errStaleObject on a stale read).
func (r *OAuthClientReconciler) issueSecret(ctx context.Context, obj *oauthv1.OAuthClient, be backend, why string,
	retireAt time.Time, sp *statusPatcher) (credentialPlan, error) {
	if err := sp.guard(ctx); err != nil {
		return credentialPlan{}, err
	}
	appID := obj.Status.AppID
	log.FromContext(ctx).Info("Issuing a new client secret", "reason", why, "appID", appID)
	s, err := be.client.CreateSecret(ctx, appID)
	if errors.Is(err, provider.ErrConflict) {
		// The backend holds two secrets already: make room by revoking one we don't publish.
		if err := r.makeRoomForSecret(ctx, obj, be); err != nil {
			return credentialPlan{}, err
		}
		s, err = be.client.CreateSecret(ctx, appID)
	}
	if err != nil {
		return credentialPlan{}, err
	}
	credentialsIssued.WithLabelValues(why).Inc()
	rotations.WithLabelValues("started").Inc()
	return credentialPlan{next: &credentials{clientSecret: s.Value, secretID: s.ID}, issued: why, retireAt: retireAt}, nil
}

// makeRoomForSecret revokes one secret that is not the one the Secret holds (or, with the
// Secret deleted, last held): an inactive one
// if there is one, else the newest (one issued by an attempt whose Secret write failed, or
// added outside the operator).
func (r *OAuthClientReconciler) makeRoomForSecret(ctx context.Context, obj *oauthv1.OAuthClient, be backend) error {
	secrets, err := be.client.ListSecrets(ctx, obj.Status.AppID)
	if err != nil {
		return err
	}
	held, err := r.publishedSecretID(ctx, obj)
	if err != nil {
		return err
	}
	if held == "" {
		// The Secret is gone: the pods that mounted it still hold the value last published,
		// the one status names (a restore's grace period, restoreGrace).
		held = obj.Status.SecretID
	}
	var candidates []provider.ClientSecret
	for _, s := range secrets {
		if s.ID != held {
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
	err = be.client.RevokeSecret(ctx, obj.Status.AppID, candidates[0].ID)
	if err != nil && !errors.Is(err, provider.ErrNotFound) {
		return err
	}
	return nil
}

// RestoreGracePeriod bounds how long the previous client secret keeps working after a
// deleted Secret is restored. Pods that mount the Secret keep the deleted files until kubelet
// syncs the new Secret — within its sync period plus its Secret cache TTL (one minute each by
// default; on a real node we measured p50 4.4 s and up to 85 s) — and have only their cached
// token until then.
const RestoreGracePeriod = 5 * time.Minute

// restoreGrace is how long the secrets a restore replaces keep working. A deleted Secret:
// RestoreGracePeriod, or the client's grace period when that is shorter, so pods that still
// hold the deleted value ride through kubelet's delay; only where the backend holds two
// secrets at once (else the new secret replaces the old one anyway). An edited Secret, a
// removed key, credentials the token endpoint refused: none — the value the pods will read
// is not the old one, or the old one does not work.
func restoreGrace(obj *oauthv1.OAuthClient, be backend, app appObservation) time.Duration {
	if app.secret != nil || !be.client.Capabilities().OverlappingSecrets {
		return 0
	}
	return min(RestoreGracePeriod, gracePeriod(obj))
}

// takeOverPending says the client adopted its app (spec.adopt) and has not published a
// secret for it yet — status keeps that across failed attempts: no lastRotationTime.
func takeOverPending(obj *oauthv1.OAuthClient) bool {
	return obj.Spec.Adopt != nil && obj.Status.LastRotationTime == nil
}

// gracePeriod is how long secrets replaced by a new one keep working: the rotation's grace
// period, spec.credentialsFrom's, or the default.
func gracePeriod(obj *oauthv1.OAuthClient) time.Duration {
	if rot := obj.Spec.Rotation; rot != nil {
		return rot.GracePeriodOrDefault()
	}
	if cf := obj.Spec.CredentialsFrom; cf != nil && cf.GracePeriod != nil && cf.GracePeriod.Duration > 0 {
		return cf.GracePeriod.Duration
	}
	return oauthv1.DefaultGracePeriod
}

// rotationDue returns when the next scheduled rotation is due, if rotation is on.
func rotationDue(obj *oauthv1.OAuthClient) (time.Time, bool) { return obj.NextRotation() }

// takeAnsweredSecret publishes the client secret the backend answered a change of
// tokenEndpointAuthMethod with (a backend may issue one when a private_key_jwt app turns to
// a secret-based method), so consumers never hold a secret the backend no longer accepts.
// Its id is known when the app then has exactly one active secret. It returns nil when
// there is nothing new to publish.
func (r *OAuthClientReconciler) takeAnsweredSecret(ctx context.Context, obj *oauthv1.OAuthClient, be backend,
	current *credentials, app *provider.App) (*credentials, error) {
	if !provider.AuthMethod(obj.AuthMethod()).UsesSecret() || app.ClientSecret == "" {
		return nil, nil
	}
	value := app.ClientSecret
	app.ClientSecret = "" // not kept beyond this point
	if current != nil && current.clientSecret == value {
		return nil, nil // the Secret holds it already
	}
	next := &credentials{clientSecret: value}
	secrets, err := be.client.ListSecrets(ctx, obj.Status.AppID)
	if err != nil {
		return nil, err
	}
	var active []provider.ClientSecret
	for _, s := range secrets {
		if s.Active {
			active = append(active, s)
		}
	}
	if len(active) == 1 {
		next.secretID = active[0].ID
	}
	credentialsIssued.WithLabelValues(issuedAuthMethod).Inc()
	return next, nil
}
