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
// templates (tmpl, nil when there are none) — only the rendered ones with keys None — the
// template's labels and annotations, the content hash, and a controller reference. current
// is the Secret as the earlier phases found or claimed it (nil when absent), state the state
// Secret (oauthclient_state.go, nil when absent); plan holds the credentials to publish. With
// keys None the state Secret gains their values before the Secret is written and drops the
// others after; with Default it is deleted once the Secret holds the values. A template that
// does not render leaves both as they were.
func (r *OAuthClientReconciler) reconcileSecret(ctx context.Context, obj *oauthv1.OAuthClient, be backend,
	current, state *corev1.Secret, plan credentialPlan, tmpl *secrettemplate.Templates) error {
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
	none := keysNone(obj)
	if none {
		annotations[AnnotationClientID] = clientIDOf(obj, next)
		// The values first, keeping those the Secret names until it is written: a crash
		// after this write leaves the Secret's credentials readable.
		held := ""
		if current != nil {
			held = current.Annotations[annotationCredentialHash]
		}
		var err error
		if state, err = r.writeState(ctx, obj, state, next, held); err != nil {
			return err
		}
	}

	var drop []string // annotations of an earlier write that no longer hold
	if next.secretID == "" {
		drop = append(drop, AnnotationClientSecretID)
	}
	if !none {
		drop = append(drop, AnnotationClientID)
	}
	written, err := r.writeOutput(ctx, obj, current, data, labels, annotations, drop)
	if err != nil {
		return err
	}
	obj.Status.SecretHash = hash
	if written {
		r.published(obj, plan)
	}
	if none {
		// The Secret names next now: the other values go.
		_, err = r.writeState(ctx, obj, state, next, "")
		return err
	}
	if state != nil {
		return r.deleteState(ctx, obj, state)
	}
	return nil
}

// writeOutput creates or updates the output Secret with data, labels and annotations, and a
// controller reference, without the annotations drop names. It reports whether it wrote:
// nothing is written when nothing would change.
func (r *OAuthClientReconciler) writeOutput(ctx context.Context, obj *oauthv1.OAuthClient, current *corev1.Secret,
	data map[string][]byte, labels, annotations map[string]string, drop []string) (bool, error) {
	if current == nil {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: obj.SecretName(), Namespace: obj.Namespace, Labels: labels, Annotations: annotations},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		if err := controllerutil.SetControllerReference(obj, s, r.Scheme()); err != nil {
			return false, err
		}
		if err := r.Create(ctx, s); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return false, fmt.Errorf("create Secret %s: it appeared meanwhile: %w", s.Name, err)
			}
			return false, fmt.Errorf("create Secret %s: %w", s.Name, err)
		}
		return true, nil
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
	for _, k := range drop {
		delete(s.Annotations, k)
	}
	if err := controllerutil.SetControllerReference(obj, s, r.Scheme()); err != nil {
		return false, err
	}
	if equality.Semantic.DeepEqual(s.Data, current.Data) && equality.Semantic.DeepEqual(s.ObjectMeta, current.ObjectMeta) &&
		s.Type == current.Type {
		return false, nil
	}
	if err := r.Update(ctx, s); err != nil {
		return false, fmt.Errorf("update Secret %s: %w", s.Name, err)
	}
	return true, nil
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
