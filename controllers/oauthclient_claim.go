package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// claimSecret settles who owns the output Secret's name before any app is created: it
// creates the Secret empty, with this OAuthClient as its controller. The API server lets
// exactly one create of a name succeed, so of two OAuthClients naming the same Secret at
// the same moment one gets it and creates its app, and the other stops with
// SecretConflict before it has called the backend — one app, one owner.
// secret is the Secret loadSecret found (nil when absent); the result is the Secret now.
func (r *OAuthClientReconciler) claimSecret(ctx context.Context, obj *oauthv1.OAuthClient, secret *corev1.Secret) (*corev1.Secret, error) {
	if secret != nil {
		return secret, nil
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: obj.SecretName(), Namespace: obj.Namespace, Labels: map[string]string{LabelClient: oauthv1.ShortenName(obj.Name, 63)}},
		Type:       corev1.SecretTypeOpaque,
	}
	if err := controllerutil.SetControllerReference(obj, s, r.Scheme()); err != nil {
		return nil, err
	}
	err := r.Create(ctx, s)
	if apierrors.IsAlreadyExists(err) {
		cur := &corev1.Secret{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s), cur); err != nil {
			return nil, fmt.Errorf("read Secret %s: %w", s.Name, err)
		}
		if !metav1.IsControlledBy(cur, obj) {
			return nil, secretConflict(obj)
		}
		return cur, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim Secret %s: %w", s.Name, err)
	}
	return s, nil
}
