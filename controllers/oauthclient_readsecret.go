package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Keys of the output Secret (envFrom-friendly).
const (
	KeyClientID     = "CLIENT_ID"
	KeyClientSecret = "CLIENT_SECRET"
	KeyPrivateKey   = "PRIVATE_KEY"
	KeyKeyID        = "KEY_ID"
	KeyTokenURL     = "TOKEN_URL"
	KeyIssuer       = "ISSUER"
	KeyScope        = "SCOPE"
	// KeyAudience holds the audiences the client's tokens may be issued for, space
	// separated: its OAuthAPIs' audiences, then spec.audiences. Absent when there are none.
	KeyAudience   = "AUDIENCE"
	KeyAuthMethod = "AUTH_METHOD"
)

const (
	// LabelClient marks the Secrets the manager writes; its Secret cache selects on it.
	LabelClient = "oauth.clientcreds.dev/oauthclient"
	// annotationCredentialHash is a SHA-256 of the credential the manager wrote, so an
	// edit of CLIENT_SECRET / PRIVATE_KEY is noticed without asking the backend.
	annotationCredentialHash = "oauth.clientcreds.dev/credential-sha256"
	// AnnotationClientSecretID is the backend id of the client secret the Secret holds (an
	// identifier, not the secret). Kept with the Secret itself, so that no failure between
	// the Secret write and the status write can make the manager revoke what the Secret
	// holds: revocations are decided from it.
	AnnotationClientSecretID = "oauth.clientcreds.dev/client-secret-id"
)

// credentials are the secret part of what the Secret publishes.
type credentials struct {
	// clientID is set only for credentials of a new client generation, before status names
	// it as the current client (rotation by a new client); "" means status.clientID's.
	clientID string
	// clientSecret and, when known, its backend id (secret-based methods).
	clientSecret string
	secretID     string
	// privateKeyPEM and its public half (private_key_jwt).
	privateKeyPEM []byte
	publicKey     *provider.PublicKey
}

func (c *credentials) keyID() string {
	if c.publicKey == nil {
		return ""
	}
	return c.publicKey.KeyID
}

// hash is what annotationCredentialHash holds for these credentials.
func (c *credentials) hash() string {
	h := sha256.New()
	if c.publicKey != nil {
		h.Write([]byte("private_key_jwt\x00"))
		h.Write(c.privateKeyPEM)
	} else {
		h.Write([]byte("client_secret\x00"))
		h.Write([]byte(c.clientSecret))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// secretObservation is what loadSecret found.
type secretObservation struct {
	// secret is the output Secret, nil when absent.
	secret *corev1.Secret
	// state is the state Secret (keys None: the values the Secret's annotations name), nil
	// when absent.
	state *corev1.Secret
	// current are the credentials the Secret publishes when they are intact and not known bad.
	current *credentials
}

// loadSecret reads the output Secret and the state Secret (oauthclient_state.go), refuses to
// touch one this OAuthClient does not own, and keeps the published credentials when they
// are intact.
func (r *OAuthClientReconciler) loadSecret(ctx context.Context, obj *oauthv1.OAuthClient) (secretObservation, error) {
	// The state Secret first: a cache that moves on between the two reads then has the state
	// Secret of that moment or before, which still holds the value the Secret names.
	state, err := r.loadState(ctx, obj, false)
	if err != nil {
		return secretObservation{}, err
	}
	key := client.ObjectKey{Namespace: obj.Namespace, Name: obj.SecretName()}
	s := &corev1.Secret{}
	err = r.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		// The cache holds only labelled Secrets; one without the label may still exist.
		err = r.APIReader.Get(ctx, key, s)
	}
	if apierrors.IsNotFound(err) {
		s = nil
	} else if err != nil {
		return secretObservation{}, fmt.Errorf("read Secret %s: %w", key.Name, err)
	} else if !metav1.IsControlledBy(s, obj) {
		return secretObservation{}, secretConflict(obj)
	}
	namesValue := s != nil && !holdsValues(s) && s.Annotations[annotationCredentialHash] != ""
	if (state == nil && keysNone(obj)) || (namesValue && !stateHolds(state, s.Annotations[annotationCredentialHash])) {
		// Not in the cache, or not yet as new as a Secret read from the API server (or a
		// state Secret whose label was removed): ask the API server before taking the
		// credentials for lost.
		if state, err = r.loadState(ctx, obj, true); err != nil {
			return secretObservation{}, err
		}
	}
	found := secretObservation{secret: s, state: state}
	if s != nil && !r.memory.refused(obj.UID) {
		found.current = credentialsInSecret(s, state, obj)
	}
	return found, nil
}

// secretConflictRecheck is how often a client whose Secret name is taken looks again.
const secretConflictRecheck = 5 * time.Minute

func secretConflict(obj *oauthv1.OAuthClient) error {
	return &conditionError{kind: stallKind, reason: oauthv1.ReasonSecretConflict, retryAfter: secretConflictRecheck,
		msg: fmt.Sprintf("Secret %s already exists and is not owned by this OAuthClient; it was left untouched. "+
			"Delete it, or recreate this OAuthClient with another spec.secretTemplate.name", obj.SecretName())}
}

// credentialsInSecret returns the credentials the Secret publishes if they belong to the
// client's current app and are as the manager wrote them; nil otherwise. The values are the
// Secret's own keys when it has them (keys Default), else those the state Secret holds for
// the hash the Secret names (keys None).
func credentialsInSecret(s, state *corev1.Secret, obj *oauthv1.OAuthClient) *credentials {
	id := heldClientID(s)
	if obj.Status.ClientID == "" || (id != obj.Status.ClientID && !isPendingClientID(obj, id)) {
		return nil
	}
	var c credentials
	if id != obj.Status.ClientID {
		c.clientID = id // a new generation's client, published before status said so
	}
	pemKey, secret := publishedValues(s, state)
	if len(pemKey) > 0 {
		pub, err := oauth2client.PublicKeyOf(pemKey)
		if err != nil {
			return nil
		}
		if holdsValues(s) && pub.KeyID != string(s.Data[KeyKeyID]) {
			return nil
		}
		c.privateKeyPEM, c.publicKey = pemKey, &pub
	} else {
		c.clientSecret = secret
		if c.clientSecret == "" {
			return nil
		}
		secretID, ok := s.Annotations[AnnotationClientSecretID]
		if !ok && c.clientID == "" {
			secretID = obj.Status.SecretID // written before the annotation existed
		}
		c.secretID = secretID
	}
	if s.Annotations[annotationCredentialHash] != c.hash() {
		return nil
	}
	return &c
}

// publishedValues are the credential values the Secret publishes: its own PRIVATE_KEY or
// CLIENT_SECRET when it holds one, else the state Secret's value of the credential hash the
// Secret names.
func publishedValues(s, state *corev1.Secret) (pemKey []byte, secret string) {
	if holdsValues(s) {
		return s.Data[KeyPrivateKey], string(s.Data[KeyClientSecret])
	}
	h := s.Annotations[annotationCredentialHash]
	if state == nil || h == "" {
		return nil, ""
	}
	return state.Data[stateKey(true, h)], string(state.Data[stateKey(false, h)])
}

// publishedSecretID is the backend id of the client secret the Secret holds now, whether or
// not its value is intact: the one secret no revocation may touch. It reads the Secret from
// the API server, not the cache: a cache that lags behind a write whose status update failed
// would name the secret published before.
func (r *OAuthClientReconciler) publishedSecretID(ctx context.Context, obj *oauthv1.OAuthClient) (string, error) {
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
	if id, ok := s.Annotations[AnnotationClientSecretID]; ok {
		return id, nil
	}
	return obj.Status.SecretID, nil
}
