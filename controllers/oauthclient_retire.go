package controllers

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// retireSecrets revokes the secrets that are no longer published: after a restore at once,
// after a rotation when the grace period is over. The one kept is the one the Secret holds
// now (as the API server has it), never one status alone names; next are the credentials
// this reconcile published. Status decided that the time has come, so a guard write comes
// before the first revocation (errStaleObject on a stale read).
func (r *OAuthClientReconciler) retireSecrets(ctx context.Context, obj *oauthv1.OAuthClient, be backend, next *credentials,
	sp *statusPatcher) error {
	if obj.Status.PreviousClient != nil && (obj.Status.RetireAfter == nil || !r.now().Before(obj.Status.RetireAfter.Time)) {
		// Rotation by a new client: the previous generation's client goes (oauthclient_generation.go).
		return r.retirePreviousClient(ctx, obj, be, sp)
	}
	if obj.Status.RetireAfter == nil || r.now().Before(obj.Status.RetireAfter.Time) || obj.Status.SecretID == "" {
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
	rotations.WithLabelValues("completed").Inc()
	if revoked > 0 {
		r.event(obj, corev1.EventTypeNormal, EventSecretsRevoked, "Revoke",
			"Revoked %d client secret(s) no longer published", revoked)
	}
	return nil
}
