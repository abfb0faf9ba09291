package controllers

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// retireSecrets revokes the secrets that are no longer published: after a restore at once,
// after a rotation when the grace period is over. The one kept is the one the Secret holds
// now (as the API server has it), never one status alone names.
func (r *OAuthClientReconciler) retireSecrets(ctx context.Context, st *reconcileState) error {
	obj := st.obj
	if obj.Status.RetireAfter == nil || r.now().Before(obj.Status.RetireAfter.Time) || obj.Status.SecretID == "" {
		return nil
	}
	held, err := r.publishedSecretID(ctx, obj)
	if err != nil {
		return err
	}
	if st.next == nil || st.next.secretID != obj.Status.SecretID || held != obj.Status.SecretID {
		// The Secret does not hold the secret status names: revoking anything could
		// revoke what consumers use. The next reconcile settles it first.
		return nil
	}
	secrets, err := st.prov.ListSecrets(ctx, obj.Status.AppID)
	if err != nil {
		return err
	}
	revoked := 0
	for _, s := range secrets {
		if s.ID == obj.Status.SecretID {
			continue
		}
		if err := st.prov.RevokeSecret(ctx, obj.Status.AppID, s.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
		revoked++
	}
	obj.Status.RetireAfter = nil
	rotations.WithLabelValues("completed").Inc()
	if revoked > 0 {
		r.event(obj, corev1.EventTypeNormal, "SecretsRevoked", "Revoke",
			"Revoked %d client secret(s) no longer published", revoked)
	}
	return nil
}
