package controllers

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// The state Secret keeps the operator's own copy of the published credential values for a
// client whose spec.secretTemplate.keys is None: its output Secret holds only the rendered
// keys, from which no value can be read back. The output Secret stays the record of what is
// published — its annotations name the client id (AnnotationClientID), the client secret's
// backend id and the credential's hash — and the state Secret supplies the value of that
// hash. So every decision that reads "what the Secret holds" (restore, rotation and
// retirement, rotation by a new client, credentialsFrom, Observe) reads the same thing under
// both settings.
//
// Writes are ordered so that a crash between any two leaves the output Secret's values
// readable: the state Secret first gains the new credentials (keeping those the output
// Secret names), then the output Secret is written, then the state Secret drops the rest.
// An output Secret that names a hash the state Secret does not hold — the state Secret was
// deleted or edited — has no readable credentials, as a Secret whose CLIENT_SECRET was
// deleted or edited under keys Default: new credentials are issued and the old ones retired
// at once. The state Secret exists only under keys None; switching to Default writes the
// values back into the output Secret, then deletes it.

const (
	// stateSecretSuffix ends the state Secret's name: "<output Secret name>-clientcreds-state".
	stateSecretSuffix = "-clientcreds-state"
	// LabelState marks the state Secret (value "true"), besides LabelClient, which puts it in
	// the manager's Secret cache like the output Secret.
	LabelState = "oauth.clientcreds.dev/state"
	// AnnotationClientID is the client id an output Secret without a CLIENT_ID key (keys
	// None) publishes credentials of. An identifier, not a secret (status.clientID holds it).
	AnnotationClientID = "oauth.clientcreds.dev/client-id"
)

// StateSecretName is the name of the state Secret of obj (spec.secretTemplate.keys None).
func StateSecretName(obj *oauthv1.OAuthClient) string {
	return oauthv1.ShortenName(obj.SecretName(), 253-len(stateSecretSuffix)) + stateSecretSuffix
}

// keysNone says the output Secret holds only the rendered keys.
func keysNone(obj *oauthv1.OAuthClient) bool {
	t := obj.Spec.SecretTemplate
	return t != nil && t.Keys == oauthv1.SecretKeysNone
}

// stateKey is the state Secret's key for credentials of the given hash (credentials.hash):
// the kind of value and the hash the output Secret's annotationCredentialHash names.
func stateKey(privateKey bool, hash string) string {
	if privateKey {
		return KeyPrivateKey + "." + hash
	}
	return KeyClientSecret + "." + hash
}

// stateEntry is the state Secret's key and value for c.
func stateEntry(c *credentials) (string, []byte) {
	if c.publicKey != nil {
		return stateKey(true, c.hash()), c.privateKeyPEM
	}
	return stateKey(false, c.hash()), []byte(c.clientSecret)
}

// holdsValues says the output Secret's data holds a credential value (keys Default, or a
// Secret written before a switch to None).
func holdsValues(s *corev1.Secret) bool {
	return s != nil && (len(s.Data[KeyClientSecret]) > 0 || len(s.Data[KeyPrivateKey]) > 0)
}

// heldClientID is the client id the output Secret publishes credentials of: its CLIENT_ID
// key, else (keys None) its AnnotationClientID.
func heldClientID(s *corev1.Secret) string {
	if v, ok := s.Data[KeyClientID]; ok {
		return string(v)
	}
	return s.Annotations[AnnotationClientID]
}

// loadState reads the state Secret from the cache (it carries LabelClient), or from the API
// server when fromAPI says so. nil when there is none. One that this OAuthClient does not
// control is never read: under keys None it stops the client with SecretConflict before any
// backend call, as the output Secret's name does.
func (r *OAuthClientReconciler) loadState(ctx context.Context, obj *oauthv1.OAuthClient, fromAPI bool) (*corev1.Secret, error) {
	key := client.ObjectKey{Namespace: obj.Namespace, Name: StateSecretName(obj)}
	s := &corev1.Secret{}
	var err error
	if fromAPI {
		err = r.APIReader.Get(ctx, key, s)
	} else {
		err = r.Get(ctx, key, s)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Secret %s: %w", key.Name, err)
	}
	if !metav1.IsControlledBy(s, obj) {
		if keysNone(obj) {
			return nil, stateConflict(obj)
		}
		return nil, nil
	}
	return s, nil
}

// stateHolds says the state Secret holds the value of the credential hash h.
func stateHolds(state *corev1.Secret, h string) bool {
	if state == nil || h == "" {
		return false
	}
	_, k := state.Data[stateKey(true, h)]
	_, v := state.Data[stateKey(false, h)]
	return k || v
}

func stateConflict(obj *oauthv1.OAuthClient) error {
	return &conditionError{kind: stallKind, reason: oauthv1.ReasonSecretConflict, retryAfter: secretConflictRecheck,
		msg: fmt.Sprintf("Secret %s, where spec.secretTemplate.keys None keeps the operator's copy of the credentials, "+
			"already exists and is not owned by this OAuthClient; it was left untouched. Delete it, or use keys Default",
			StateSecretName(obj))}
}

// writeState makes the state Secret hold exactly the values of keep (credentials; nil ones
// are skipped) and the entry of the hash alsoKeep names if the Secret holds it — the
// credentials the output Secret publishes until it is written. It returns the state Secret
// as written.
func (r *OAuthClientReconciler) writeState(ctx context.Context, obj *oauthv1.OAuthClient, state *corev1.Secret,
	keep *credentials, alsoKeep string) (*corev1.Secret, error) {
	data := map[string][]byte{}
	k, v := stateEntry(keep)
	data[k] = v
	if state != nil && alsoKeep != "" {
		for _, key := range []string{stateKey(true, alsoKeep), stateKey(false, alsoKeep)} {
			if v, ok := state.Data[key]; ok {
				data[key] = v
			}
		}
	}
	labels := map[string]string{LabelClient: oauthv1.ShortenName(obj.Name, 63), LabelState: "true"}
	if state == nil {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: StateSecretName(obj), Namespace: obj.Namespace, Labels: labels},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		if err := controllerutil.SetControllerReference(obj, s, r.Scheme()); err != nil {
			return nil, err
		}
		err := r.Create(ctx, s)
		if err == nil {
			return s, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create Secret %s: %w", s.Name, err)
		}
		// Not in the cache yet, or no longer labelled: take the API server's.
		cur := &corev1.Secret{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s), cur); err != nil {
			return nil, fmt.Errorf("read Secret %s: %w", s.Name, err)
		}
		if !metav1.IsControlledBy(cur, obj) {
			return nil, stateConflict(obj)
		}
		state = cur
	}
	s := state.DeepCopy()
	s.Data, s.StringData = data, nil
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	maps.Copy(s.Labels, labels)
	if err := controllerutil.SetControllerReference(obj, s, r.Scheme()); err != nil {
		return nil, err
	}
	if equality.Semantic.DeepEqual(s.Data, state.Data) && equality.Semantic.DeepEqual(s.ObjectMeta, state.ObjectMeta) {
		return state, nil
	}
	if err := r.Update(ctx, s); err != nil {
		return nil, fmt.Errorf("update Secret %s: %w", s.Name, err)
	}
	return s, nil
}

// deleteState deletes the state Secret (nil: read it first), if this object controls one:
// after a switch to keys Default (once the output Secret holds the values), or with the
// OAuthClient.
func (r *OAuthClientReconciler) deleteState(ctx context.Context, obj *oauthv1.OAuthClient, state *corev1.Secret) error {
	if state == nil {
		key := client.ObjectKey{Namespace: obj.Namespace, Name: StateSecretName(obj)}
		s := &corev1.Secret{}
		err := r.Get(ctx, key, s)
		if apierrors.IsNotFound(err) && keysNone(obj) {
			err = r.APIReader.Get(ctx, key, s)
		}
		if err != nil {
			return client.IgnoreNotFound(err)
		}
		state = s
	}
	if !metav1.IsControlledBy(state, obj) {
		return nil
	}
	uid := state.UID
	if err := r.Delete(ctx, state, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Secret %s: %w", state.Name, err)
	}
	return nil
}
