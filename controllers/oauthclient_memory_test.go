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
	"github.com/clientcreds/clientcreds/internal/provider"
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
			remember: func(m *clientMemory) { m.denied(obj.UID, denialKey(obj), testNow) },
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

// TestJudgeStages pins the rows of rules that depend on where the error happened, and
// which provider reasons reach the clients waiting for it.
func TestJudgeStages(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	accessDenied := &provider.Error{Class: provider.ErrPermanent, Op: "request token", Code: provider.OAuthAccessDenied}
	tests := map[string]struct {
		at         stage
		err        error
		wantKind   conditionKind
		wantReason string
		wantRefuse bool
	}{
		"token: access_denied is a denial":                  {at: stageToken, err: accessDenied, wantKind: waitKind, wantReason: oauthv1.ReasonAccessPolicyDenied},
		"client: access_denied is a refusal of the call":    {at: stageClient, err: accessDenied, wantKind: stallKind, wantReason: oauthv1.ReasonBackendRejected},
		"token: invalid_client is the client's credentials": {at: stageToken, err: provider.Errorf(provider.ErrInvalidClient, "request token", "401"), wantKind: progressKind, wantReason: oauthv1.ReasonTokenRequestFailed},
		"client: invalid_client is progress":                {at: stageClient, err: provider.Errorf(provider.ErrInvalidClient, "x", "401"), wantKind: progressKind, wantReason: oauthv1.ReasonProgressing},
		"token: scopes refused":                             {at: stageToken, err: provider.Errorf(provider.ErrInvalidScope, "request token", "400"), wantKind: progressKind, wantReason: oauthv1.ReasonInvalidScope},
		"token: a refused API token is not the client's":    {at: stageToken, err: provider.Errorf(provider.ErrUnauthorized, "request token", "401"), wantKind: progressKind, wantReason: oauthv1.ReasonTokenRequestFailed},
		"token: transient is a backend error":               {at: stageToken, err: provider.Errorf(provider.ErrTransient, "request token", "503"), wantKind: progressKind, wantReason: oauthv1.ReasonBackendError},
		"token: anything else failed the request":           {at: stageToken, err: provider.Errorf(provider.ErrPermanent, "request token", "400"), wantKind: progressKind, wantReason: oauthv1.ReasonTokenRequestFailed},
		"health: transient is unreachable":                  {at: stageHealth, err: provider.Errorf(provider.ErrTransient, "get metadata", "503"), wantKind: failKind, wantReason: oauthv1.ReasonUnreachable},
		"health: a refused API token":                       {at: stageHealth, err: provider.Errorf(provider.ErrUnauthorized, "list apps", "401"), wantKind: waitKind, wantReason: oauthv1.ReasonInvalidAPIToken, wantRefuse: true},
		"health: forbidden":                                 {at: stageHealth, err: provider.Errorf(provider.ErrForbidden, "list apps", "403"), wantKind: waitKind, wantReason: oauthv1.ReasonForbidden, wantRefuse: true},
		"health: anything else is a discovery failure":      {at: stageHealth, err: provider.Errorf(provider.ErrPermanent, "get metadata", "404"), wantKind: waitKind, wantReason: oauthv1.ReasonDiscoveryFailed},
		"health: an unclassified error too":                 {at: stageHealth, err: fmt.Errorf("metadata: bad JSON"), wantKind: waitKind, wantReason: oauthv1.ReasonDiscoveryFailed},
		"a marked stage wins over the judged one":           {at: stageClient, err: atStage(stageHealth, provider.Errorf(provider.ErrTransient, "x", "503")), wantKind: failKind, wantReason: oauthv1.ReasonUnreachable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := judgeAt(tc.at, tc.err, now, time.Minute)
			if v.kind != tc.wantKind || v.reason != tc.wantReason || v.credentialsRefused != tc.wantRefuse {
				t.Errorf("verdict %+v, want kind %d reason %s refused %v", v, tc.wantKind, tc.wantReason, tc.wantRefuse)
			}
		})
	}

	// The reasons a provider gives its waiting clients: those about its own credentials.
	passed := map[string]bool{}
	for _, r := range rules {
		if passedToClients(r.reason) {
			passed[r.reason] = true
		}
	}
	want := []string{oauthv1.ReasonAPITokenSecretNotFound, oauthv1.ReasonCredentialsSecretNotLabelled, oauthv1.ReasonInvalidAPIToken,
		oauthv1.ReasonPrivateKeySecretNotFound, oauthv1.ReasonPrivateKeyInvalid,
		oauthv1.ReasonOAuthClientRejected, oauthv1.ReasonOAuthScopeNotGranted, oauthv1.ReasonDPoPRejected,
		oauthv1.ReasonForbidden, oauthv1.ReasonFeatureNotEnabled}
	for _, r := range want {
		if !passed[r] {
			t.Errorf("provider reason %s is not passed to its clients", r)
		}
	}
	if len(passed) != len(want) {
		t.Errorf("passed to clients: %v, want exactly %v", passed, want)
	}
}
