package controllers

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// reconcileSecret writes the Secret: exactly the keys of the contract, the template's
// labels and annotations, and a controller reference.
func (r *OAuthClientReconciler) reconcileSecret(ctx context.Context, st *reconcileState) error {
	obj := st.obj
	data := map[string][]byte{
		KeyClientID:   []byte(obj.Status.ClientID),
		KeyTokenURL:   []byte(st.endpoints.TokenURL),
		KeyIssuer:     []byte(st.endpoints.Issuer),
		KeyScope:      []byte(strings.Join(obj.Spec.Scopes, " ")),
		KeyAuthMethod: []byte(obj.AuthMethod()),
	}
	if st.next.publicKey != nil {
		data[KeyPrivateKey] = st.next.privateKeyPEM
		data[KeyKeyID] = []byte(st.next.keyID())
	} else {
		data[KeyClientSecret] = []byte(st.next.clientSecret)
	}
	labels, annotations := map[string]string{}, map[string]string{}
	if t := obj.Spec.SecretTemplate; t != nil {
		maps.Copy(labels, t.Labels)
		maps.Copy(annotations, t.Annotations)
	}
	// A label value has at most 63 characters; an OAuthClient name up to 253.
	labels[LabelClient] = oauthv1.ShortenName(obj.Name, 63)
	annotations[annotationCredentialHash] = st.next.hash()
	if st.next.secretID != "" {
		annotations[AnnotationClientSecretID] = st.next.secretID
	}

	if st.secret == nil {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: obj.SecretName(), Namespace: obj.Namespace, Labels: labels, Annotations: annotations},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		if err := controllerutil.SetControllerReference(obj, s, r.Scheme()); err != nil {
			return err
		}
		if err := r.Create(ctx, s); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create Secret %s: it appeared meanwhile: %w", s.Name, err)
			}
			return fmt.Errorf("create Secret %s: %w", s.Name, err)
		}
		st.secret = s
		r.published(st)
		return nil
	}

	s := st.secret.DeepCopy()
	s.Data = data
	s.StringData = nil
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	maps.Copy(s.Labels, labels)
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	maps.Copy(s.Annotations, annotations)
	if st.next.secretID == "" {
		delete(s.Annotations, AnnotationClientSecretID)
	}
	if err := controllerutil.SetControllerReference(obj, s, r.Scheme()); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(s.Data, st.secret.Data) && equality.Semantic.DeepEqual(s.ObjectMeta, st.secret.ObjectMeta) &&
		s.Type == st.secret.Type {
		return nil
	}
	if err := r.Update(ctx, s); err != nil {
		return fmt.Errorf("update Secret %s: %w", s.Name, err)
	}
	st.secret = s
	r.published(st)
	return nil
}

// published records that newly issued credentials are in the Secret.
func (r *OAuthClientReconciler) published(st *reconcileState) {
	if st.issued == "" {
		return
	}
	obj := st.obj
	now := statusTime(r.now())
	obj.Status.LastRotationTime = &now
	obj.Status.KeyID = st.next.keyID()
	obj.Status.SecretID = st.next.secretID
	if !st.retireAt.IsZero() {
		retire := statusTime(st.retireAt)
		if obj.Status.RetireAfter == nil || retire.Before(obj.Status.RetireAfter) {
			obj.Status.RetireAfter = &retire
		}
	}
	if st.issued != issuedCreate {
		r.event(obj, corev1.EventTypeNormal, "CredentialsIssued", "Issue",
			"Published new credentials in Secret %s (%s)", obj.SecretName(), st.issued)
	}
}
