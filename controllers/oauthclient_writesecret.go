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
	"github.com/clientcreds/clientcreds/internal/secrettemplate"
)

// reconcileSecret writes the Secret: exactly the keys of the contract and the rendered
// templates (tmpl, nil when there are none), the template's labels and annotations, the
// content hash, and a controller reference. current is the Secret as the earlier phases
// found or claimed it (nil when absent); plan holds the credentials to publish. A template
// that does not render leaves the Secret as it was.
func (r *OAuthClientReconciler) reconcileSecret(ctx context.Context, obj *oauthv1.OAuthClient, be backend,
	current *corev1.Secret, plan credentialPlan, tmpl *secrettemplate.Templates) error {
	next := plan.next
	var rendered map[string][]byte
	if tmpl != nil {
		var err error
		if rendered, err = tmpl.Render(templateData(obj, be, next)); err != nil {
			return invalidTemplate(err)
		}
	}
	data := map[string][]byte{
		KeyClientID:   []byte(clientIDOf(obj, next)),
		KeyTokenURL:   []byte(be.endpoints.TokenURL),
		KeyIssuer:     []byte(be.endpoints.Issuer),
		KeyScope:      []byte(strings.Join(be.granted.scopes, " ")),
		KeyAuthMethod: []byte(obj.AuthMethod()),
	}
	if len(be.granted.audiences) > 0 {
		// Absent when there are none, so Secrets of clients without audiences stay as they
		// were (same content hash: no consumer restarts on upgrade).
		data[KeyAudience] = []byte(strings.Join(be.granted.audiences, " "))
	}
	if next.publicKey != nil {
		data[KeyPrivateKey] = next.privateKeyPEM
		data[KeyKeyID] = []byte(next.keyID())
	} else {
		data[KeyClientSecret] = []byte(next.clientSecret)
	}
	dropDefaultKeys(obj, data)
	// Admission keeps rendered keys apart from the default ones.
	maps.Copy(data, rendered)
	hash := contentHash(data)
	labels, annotations := map[string]string{}, map[string]string{}
	if t := obj.Spec.SecretTemplate; t != nil {
		maps.Copy(labels, t.Labels)
		maps.Copy(annotations, t.Annotations)
	}
	// A label value has at most 63 characters; an OAuthClient name up to 253.
	labels[LabelClient] = oauthv1.ShortenName(obj.Name, 63)
	annotations[annotationCredentialHash] = next.hash()
	annotations[AnnotationContentHash] = hash
	if next.secretID != "" {
		annotations[AnnotationClientSecretID] = next.secretID
	}

	if current == nil {
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
		obj.Status.SecretHash = hash
		r.published(obj, plan)
		return nil
	}

	s := current.DeepCopy()
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
	if next.secretID == "" {
		delete(s.Annotations, AnnotationClientSecretID)
	}
	if err := controllerutil.SetControllerReference(obj, s, r.Scheme()); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(s.Data, current.Data) && equality.Semantic.DeepEqual(s.ObjectMeta, current.ObjectMeta) &&
		s.Type == current.Type {
		obj.Status.SecretHash = hash
		return nil
	}
	if err := r.Update(ctx, s); err != nil {
		return fmt.Errorf("update Secret %s: %w", s.Name, err)
	}
	obj.Status.SecretHash = hash
	r.published(obj, plan)
	return nil
}

// published records that newly issued credentials are in the Secret.
func (r *OAuthClientReconciler) published(obj *oauthv1.OAuthClient, plan credentialPlan) {
	if plan.issued == "" {
		return
	}
	if plan.next.clientID != "" {
		switchClient(obj, plan.next.secretID) // a rotation by a new client (oauthclient_generation.go)
	}
	now := statusTime(r.now())
	obj.Status.LastRotationTime = &now
	obj.Status.KeyID = plan.next.keyID()
	obj.Status.SecretID = plan.next.secretID
	if !plan.retireAt.IsZero() {
		retire := statusTime(plan.retireAt)
		if obj.Status.RetireAfter == nil || retire.Before(obj.Status.RetireAfter) {
			obj.Status.RetireAfter = &retire
		}
	}
	if plan.issued != issuedCreate {
		startRollout(obj, r.now())
		r.event(obj, corev1.EventTypeNormal, EventCredentialsIssued, "Issue",
			"Published new credentials in Secret %s (%s)", obj.SecretName(), plan.issued)
	}
}
