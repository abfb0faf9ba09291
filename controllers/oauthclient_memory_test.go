package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// TestClientMemoryEmpty pins what a reconciler that remembers nothing (a restarted manager)
// does, for each thing the memory holds: the documented, bounded cost of losing it.
func TestClientMemoryEmpty(t *testing.T) {
	obj := readyClient()
	intact := &credentials{clientSecret: "v", secretID: "sec-pub"}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: obj.SecretName(), Namespace: obj.Namespace,
			Annotations: map[string]string{annotationCredentialHash: intact.hash(), AnnotationClientSecretID: "sec-pub"}},
		Data: map[string][]byte{KeyClientID: []byte("client-1"), KeyClientSecret: []byte("v")},
	}
	if err := controllerutil.SetControllerReference(obj, secret, testScheme(t)); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		// remember fills the memory as a running manager would have; nil: a restarted one.
		remember func(m *clientMemory)
		// check returns what the reconciler decides, and whether that is what is wanted.
		check func(t *testing.T, r *OAuthClientReconciler) (string, bool)
	}{
		"restarted: a Ready client's app is compared with the backend once": {
			check: func(_ *testing.T, r *OAuthClientReconciler) (string, bool) {
				due := r.syncDue(obj)
				return fmt.Sprintf("sync due %v", due), due
			},
		},
		"running: a Ready client's app read just now is not read again": {
			remember: func(m *clientMemory) { m.synced(obj.UID, testNow) },
			check: func(_ *testing.T, r *OAuthClientReconciler) (string, bool) {
				due := r.syncDue(obj)
				return fmt.Sprintf("sync due %v", due), !due
			},
		},
		"restarted: published credentials are kept until the token endpoint refuses them again": {
			check: func(t *testing.T, r *OAuthClientReconciler) (string, bool) {
				found, err := r.loadSecret(context.Background(), obj)
				if err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("current %v", found.current != nil), found.current != nil && found.current.secretID == "sec-pub"
			},
		},
		"running: refused credentials are not kept": {
			remember: func(m *clientMemory) { m.markRefused(obj.UID) },
			check: func(t *testing.T, r *OAuthClientReconciler) (string, bool) {
				found, err := r.loadSecret(context.Background(), obj)
				if err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("current %v", found.current != nil), found.current == nil && found.secret != nil
			},
		},
		"restarted: a denied client asks for a token now": {
			check: func(_ *testing.T, r *OAuthClientReconciler) (string, bool) {
				err := r.heldDenial(obj, backend{}, tokenCheck{needed: true})
				return fmt.Sprintf("held: %v", err), err == nil
			},
		},
		"running: a denied client waits out its backoff": {
			remember: func(m *clientMemory) { m.denied(obj.UID, denialKey(obj, grants{}), testNow) },
			check: func(_ *testing.T, r *OAuthClientReconciler) (string, bool) {
				v := judgeAt(stageToken, r.heldDenial(obj, backend{}, tokenCheck{needed: true}), testNow, time.Minute)
				return fmt.Sprintf("verdict %+v", v), v.reason == oauthv1.ReasonAccessPolicyDenied && v.after == accessDeniedMinBackoff
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reader := fakeclient.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(secret.DeepCopy()).Build()
			r := &OAuthClientReconciler{Client: reader, APIReader: reader, Now: func() time.Time { return testNow }}
			if tc.remember != nil {
				tc.remember(&r.memory)
			}
			if got, ok := tc.check(t, r); !ok {
				t.Errorf("decided %s", got)
			}
		})
	}
}

// TestClientMemoryBound: the memory never holds more than its bound; the newest client is
// remembered, and a deleted client is forgotten.
func TestClientMemoryBound(t *testing.T) {
	m := clientMemory{maxEntries: 3}
	for i := range 10 {
		m.synced(types.UID(fmt.Sprint(i)), testNow)
		if n := m.size(); n > 3 {
			t.Fatalf("%d entries after %d clients, bound 3", n, i+1)
		}
	}
	if _, ok := m.lastSynced("9"); !ok {
		t.Error("the newest client is not remembered")
	}
	m.forget("9")
	if _, ok := m.lastSynced("9"); ok {
		t.Error("a forgotten client is still remembered")
	}
	if m.refused("9") {
		t.Error("an unknown client is taken for refused")
	}
}
