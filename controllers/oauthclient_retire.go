package controllers

import (
	"context"
	"errors"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// retireSecrets revokes the secrets that are no longer published: after a restore at once,
// after a rotation when the grace period is over. The one kept is the one the Secret holds
// now (as the API server has it), never one status alone names; next are the credentials
// this reconcile published. Status decided that the time has come, so a guard write comes
// before the first revocation (errStaleObject on a stale read). While the consumers of
// spec.rotation.restart roll out (consumers.waiting) the retirement waits, at most until
// maxGracePeriod after the new secret was published.
func (r *OAuthClientReconciler) retireSecrets(ctx context.Context, obj *oauthv1.OAuthClient, be backend, next *credentials,
	consumers consumerState, sp *statusPatcher) error {
	now := r.now()
	overdue := rolloutOverdue(obj, now)
	if obj.Status.PreviousClient != nil && (obj.Status.RetireAfter == nil || !now.Before(obj.Status.RetireAfter.Time)) {
		// Rotation by a new client: the previous generation's client goes
		// (oauthclient_generation.go), once the restarted consumers rolled out too.
		if len(consumers.waiting) > 0 && !overdue {
			return nil
		}
		if err := r.retirePreviousClient(ctx, obj, be, sp); err != nil {
			return err
		}
		if obj.Status.PreviousClient == nil {
			r.endRollout(ctx, obj, consumers, now)
		}
		return nil
	}
	if obj.Status.RetireAfter == nil {
		if len(consumers.waiting) == 0 || overdue {
			obj.Status.Rollout = nil
		}
		return nil
	}
	if now.Before(obj.Status.RetireAfter.Time) || obj.Status.SecretID == "" {
		return nil
	}
	if len(consumers.waiting) > 0 && !overdue {
		return nil
	}
	held, err := r.publishedSecretID(ctx, obj)
	if err != nil {
		return err
	}
	if next == nil || next.secretID != obj.Status.SecretID || held != obj.Status.SecretID {
		// The Secret does not hold the secret status names: revoking anything could
		// revoke what consumers use. The next reconcile settles it first.
		return nil
	}
	secrets, err := be.client.ListSecrets(ctx, obj.Status.AppID)
	if err != nil {
		return err
	}
	if err := sp.guard(ctx); err != nil {
		return err
	}
	revoked := 0
	for _, s := range secrets {
		if s.ID == obj.Status.SecretID {
			continue
		}
		if err := be.client.RevokeSecret(ctx, obj.Status.AppID, s.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
		revoked++
	}
	obj.Status.RetireAfter = nil
	r.endRollout(ctx, obj, consumers, now)
	rotations.WithLabelValues("completed").Inc()
	if revoked > 0 {
		r.event(obj, corev1.EventTypeNormal, EventSecretsRevoked, "Revoke",
			"Revoked %d client secret(s) no longer published", revoked)
	}
	return nil
}

// endRollout ends the wait for the consumers once the previous secret (or client) is
// retired: a Warning names those still not ready (maxGracePeriod was over).
func (r *OAuthClientReconciler) endRollout(ctx context.Context, obj *oauthv1.OAuthClient, consumers consumerState, now time.Time) {
	ro := obj.Status.Rollout
	if ro == nil {
		return
	}
	if len(consumers.waiting) > 0 {
		r.event(obj, corev1.EventTypeWarning, EventConsumersNotReady, "Retire",
			"Retired the previous credentials after maxGracePeriod (%s) although these consumers were not ready: %s",
			maxGracePeriod(obj), strings.Join(consumers.waiting, "; "))
	}
	log.FromContext(ctx).Info("Retiring the previous credentials", "sincePublished", now.Sub(ro.PublishedAt.Time).String(),
		"consumersWaiting", len(consumers.waiting))
	obj.Status.Rollout = nil
}
