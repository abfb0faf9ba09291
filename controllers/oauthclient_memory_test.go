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
		"restarted: a Ready client's app is compared with the backend once, within one period, not at once": {
			check: func(_ *testing.T, r *OAuthClientReconciler) (string, bool) {
				due := r.syncDue(obj)
				wake := r.nextWake(obj)
				// Read at the latest 110% of a period after the moment syncDue drew, which
				// lies within the last 85% of a period: from 25% to 110% of a period on.
				p := r.resyncPeriod()
				return fmt.Sprintf("sync due %v, wake in %s", due, wake), !due && wake > p/4 && wake <= p*11/10
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

// TestRestartSpreadsReads is issue 25's regression test: a restarted manager used to read
// every Ready client's app (and ask for a token) in its first minute — 10,000 reads in 40s
// at 10,000 clients. Now each client's first read is due at a random moment of the coming
// period: over many clients the wake-ups spread evenly from 25% to 110% of the period,
// and none is read at once.
func TestRestartSpreadsReads(t *testing.T) {
	r := &OAuthClientReconciler{Now: func() time.Time { return testNow }, ResyncPeriod: 10 * time.Minute}
	const n = 4000
	buckets := make([]int, 10) // tenths of 1.1 periods
	for i := 0; i < n; i++ {
		obj := readyClient()
		obj.UID = types.UID(fmt.Sprintf("uid-%d", i))
		if r.syncDue(obj) {
			t.Fatalf("client %d: read at once after a restart", i)
		}
		wake := r.nextWake(obj)
		if wake < r.ResyncPeriod/4 || wake > r.ResyncPeriod*11/10 {
			t.Fatalf("client %d: wakes after %s, want 25%%..110%% of %s", i, wake, r.ResyncPeriod)
		}
		buckets[min(int(wake*10/(r.ResyncPeriod*11/10)), 9)]++
		// Woken then, the app is due.
		r.Now = func() time.Time { return testNow.Add(wake) }
		if !r.syncDue(obj) {
			t.Fatalf("client %d: not due when its wake-up came (%s)", i, wake)
		}
		r.Now = func() time.Time { return testNow }
	}
	// 0.25..1.1 periods: buckets 2 (partly) to 9; a full tenth holds ~n/7.7 (520) wake-ups.
	// The wake-up is the sooner of the first read (uniform over 0.25..1.1) and the resync
	// jitter (uniform over 0.9..1.1), so bucket 8 (0.88..0.99) expects ~0.19n (750, σ 25)
	// and bucket 9 ~0.07n (285, σ 16); the bounds leave both 2σ and more of room.
	for b := 3; b < 10; b++ {
		if buckets[b] < n/17 || buckets[b] > n/4 {
			t.Errorf("wake-ups per tenth of the period: %v — not spread evenly", buckets)
			break
		}
	}
}

// TestResyncNotPostponed: a client reconciled for another reason (its Secret changed, say)
// still has its app read within 110% of a period of the last read; the wake-up is not
// pushed a whole period past every unrelated reconcile.
func TestResyncNotPostponed(t *testing.T) {
	r := &OAuthClientReconciler{Now: func() time.Time { return testNow }, ResyncPeriod: 10 * time.Minute}
	obj := readyClient()
	r.memory.synced(obj.UID, testNow.Add(-9*time.Minute))
	if wake := r.nextWake(obj); wake > 2*time.Minute {
		t.Errorf("last read 9m ago, period 10m: wakes in %s, want at most 2m", wake)
	}
}
