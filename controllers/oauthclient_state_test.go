package controllers

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/oauth2client"
)

// TestCredentialsInSecret pins where the published credentials are read from: the output
// Secret's own keys (keys Default), or the state Secret's value of the hash the output
// Secret names (keys None) — and that a value that no longer matches, or is missing,
// counts as none.
func TestCredentialsInSecret(t *testing.T) {
	kp, err := oauth2client.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	secretCreds := &credentials{clientSecret: "s3cr3t-value", secretID: "sec-1"}
	keyCreds := &credentials{privateKeyPEM: kp.PrivateKeyPEM, publicKey: &kp.Public}
	obj := &oauthv1.OAuthClient{Status: oauthv1.OAuthClientStatus{ClientID: "cid-1",
		PendingClient: &oauthv1.PendingClient{ClientID: "cid-2"}}}

	// The output Secret as reconcileSecret writes it, with keys Default or None.
	output := func(c *credentials, none bool, clientID string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{annotationCredentialHash: c.hash()}},
			Data: map[string][]byte{"app.properties": []byte("rendered")}}
		if c.secretID != "" {
			s.Annotations[AnnotationClientSecretID] = c.secretID
		}
		if none {
			s.Annotations[AnnotationClientID] = clientID
			return s
		}
		s.Data[KeyClientID] = []byte(clientID)
		if c.publicKey != nil {
			s.Data[KeyPrivateKey], s.Data[KeyKeyID] = c.privateKeyPEM, []byte(c.keyID())
		} else {
			s.Data[KeyClientSecret] = []byte(c.clientSecret)
		}
		return s
	}
	state := func(cs ...*credentials) *corev1.Secret {
		s := &corev1.Secret{Data: map[string][]byte{}}
		for _, c := range cs {
			k, v := stateEntry(c)
			s.Data[k] = v
		}
		return s
	}
	other := &credentials{clientSecret: "another-value"}

	tests := map[string]struct {
		output, state *corev1.Secret
		want          *credentials // nil: none readable
		wantClientID  string       // credentials.clientID: set for a pending generation's client only
	}{
		"Default: the Secret's keys":                    {output: output(secretCreds, false, "cid-1"), want: secretCreds},
		"Default: a lingering state Secret is not read": {output: output(secretCreds, false, "cid-1"), state: state(other), want: secretCreds},
		"Default: CLIENT_SECRET edited": {output: func() *corev1.Secret {
			s := output(secretCreds, false, "cid-1")
			s.Data[KeyClientSecret] = []byte("tampered")
			return s
		}(), state: state(secretCreds), want: nil},
		"None: the state Secret's value":              {output: output(secretCreds, true, "cid-1"), state: state(other, secretCreds), want: secretCreds},
		"None: state Secret deleted":                  {output: output(secretCreds, true, "cid-1"), want: nil},
		"None: state Secret holds only another value": {output: output(secretCreds, true, "cid-1"), state: state(other), want: nil},
		"None: state value edited": {output: output(secretCreds, true, "cid-1"), state: func() *corev1.Secret {
			s := state(secretCreds)
			k, _ := stateEntry(secretCreds)
			s.Data[k] = []byte("tampered")
			return s
		}(), want: nil},
		"None: hash annotation edited": {output: func() *corev1.Secret {
			s := output(secretCreds, true, "cid-1")
			s.Annotations[annotationCredentialHash] = other.hash()
			return s
		}(), state: state(secretCreds), want: nil},
		"None: another client's id":                 {output: output(secretCreds, true, "cid-9"), state: state(secretCreds), want: nil},
		"None: the pending generation's client":     {output: output(secretCreds, true, "cid-2"), state: state(secretCreds), want: secretCreds, wantClientID: "cid-2"},
		"None: no client id annotation":             {output: output(secretCreds, true, ""), state: state(secretCreds), want: nil},
		"Default: private key":                      {output: output(keyCreds, false, "cid-1"), want: keyCreds},
		"None: private key from the state Secret":   {output: output(keyCreds, true, "cid-1"), state: state(keyCreds), want: keyCreds},
		"None: private key, state Secret deleted":   {output: output(keyCreds, true, "cid-1"), want: nil},
		"migration: values still in the Secret":     {output: output(secretCreds, false, "cid-1"), want: secretCreds},
		"None: a client secret stored as a key too": {output: output(secretCreds, true, "cid-1"), state: state(keyCreds, secretCreds), want: secretCreds},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := credentialsInSecret(tc.output, tc.state, obj)
			if tc.want == nil {
				if got != nil {
					t.Fatal("credentials read although none should be readable")
				}
				return
			}
			if got == nil {
				t.Fatal("no credentials read")
			}
			if got.hash() != tc.want.hash() || got.secretID != tc.want.secretID || got.keyID() != tc.want.keyID() || got.clientID != tc.wantClientID {
				t.Errorf("read credentials differ: secret id %q, key id %q, client id %q", got.secretID, got.keyID(), got.clientID)
			}
		})
	}
}

// TestHeldClientID: CLIENT_ID when the Secret has it, else the annotation keys None writes.
func TestHeldClientID(t *testing.T) {
	tests := map[string]struct {
		s    *corev1.Secret
		want string
	}{
		"CLIENT_ID": {s: &corev1.Secret{Data: map[string][]byte{KeyClientID: []byte("a")}}, want: "a"},
		"annotation": {s: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationClientID: "b"}}},
			want: "b"},
		"neither": {s: &corev1.Secret{}, want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := heldClientID(tc.s); got != tc.want {
				t.Errorf("heldClientID = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestStateSecretName: a valid Secret name for every output Secret name, distinct from it.
func TestStateSecretName(t *testing.T) {
	for _, name := range []string{"billing-oauth-client", "a", strings.Repeat("a", 253), strings.Repeat("ab.", 80) + "c",
		strings.Repeat("x", 235) + "-" + strings.Repeat("y", 17)} {
		obj := &oauthv1.OAuthClient{Spec: oauthv1.OAuthClientSpec{SecretTemplate: &oauthv1.SecretTemplate{Name: name}}}
		got := StateSecretName(obj)
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
			t.Errorf("state Secret name of %q (%d chars): %q is not a Secret name: %v", name[:min(len(name), 20)], len(name), got, errs)
		}
		if got == name || !strings.HasSuffix(got, stateSecretSuffix) {
			t.Errorf("state Secret name of %q: %q", name[:min(len(name), 20)], got)
		}
	}
	obj := &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "billing"}}
	if got := StateSecretName(obj); got != "billing-oauth-client-clientcreds-state" {
		t.Errorf("state Secret name of the default Secret name: %q", got)
	}
}
