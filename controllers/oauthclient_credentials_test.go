package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

// TestReconcileCredentialsPlan pins the typed result of the credentials phase for each
// thing the earlier phases can hand it: which credentials to publish, why they are new,
// and when the others are retired.
func TestReconcileCredentialsPlan(t *testing.T) {
	intact := &credentials{clientSecret: "v", secretID: "sec-pub"}
	key := &credentials{privateKeyPEM: []byte("pem"), publicKey: &provider.PublicKey{KeyID: "k1"}}
	grace := 2 * time.Hour
	tests := map[string]struct {
		pkj      bool
		rotation time.Duration // interval; 0: no rotation
		lastRot  time.Duration // last rotation, relative to now
		retiring bool          // a retirement is pending
		rotGrace time.Duration // the rotation's grace period; 0: grace
		caps     *provider.Capabilities
		app      appObservation
		key      keyPlan
		// want
		wantIssued string
		wantNext   string // the client secret, or "key" for the key pair
		wantRetire time.Duration
		wantCalls  int // CreateSecret calls
	}{
		"private_key_jwt: the key phase decided": {pkj: true, key: keyPlan{next: key, issued: issuedRestore},
			wantIssued: issuedRestore, wantNext: "key"},
		"private_key_jwt, intact key: nothing new": {pkj: true, key: keyPlan{next: key}, wantNext: "key"},
		"created with a secret: publish it": {app: appObservation{answered: &credentials{clientSecret: "fresh"}, issued: issuedCreate},
			wantIssued: issuedCreate, wantNext: "fresh"},
		"created without a secret: issue one": {app: appObservation{answered: &credentials{}, issued: issuedCreate, needSecret: true},
			wantIssued: issuedAdopt, wantNext: "issued", wantCalls: 1},
		"adopted: issue one, retire the others now": {app: appObservation{needSecret: true},
			wantIssued: issuedAdopt, wantNext: "issued", wantCalls: 1},
		"Secret intact: keep it": {app: appObservation{current: intact}, wantNext: "v"},
		// Pods that mount a deleted Secret keep its value until kubelet syncs the restored one.
		"Secret deleted: restore, the old secret kept for RestoreGracePeriod": {app: appObservation{},
			wantIssued: issuedRestore, wantNext: "issued", wantRetire: RestoreGracePeriod, wantCalls: 1},
		"Secret deleted, grace period shorter: retire after it": {rotation: 24 * time.Hour, lastRot: -time.Hour, rotGrace: time.Minute,
			app: appObservation{}, wantIssued: issuedRestore, wantNext: "issued", wantRetire: time.Minute, wantCalls: 1},
		"Secret deleted, backend holds one secret: retire now": {caps: &fake.HydraLike, app: appObservation{},
			wantIssued: issuedRestore, wantNext: "issued", wantCalls: 1},
		"Secret edited: restore, retire now": {app: appObservation{secret: &corev1.Secret{}},
			wantIssued: issuedRestore, wantNext: "issued", wantCalls: 1},
		"auth method changed: publish the answer": {app: appObservation{current: intact, answered: &credentials{clientSecret: "answer"}, issued: issuedAuthMethod}, wantIssued: issuedAuthMethod, wantNext: "answer"},
		"rotation due: rotate, retire after grace": {rotation: 24 * time.Hour, lastRot: -25 * time.Hour, app: appObservation{current: intact},
			wantIssued: issuedRotate, wantNext: "issued", wantRetire: grace, wantCalls: 1},
		"rotation due while retiring: wait": {rotation: 24 * time.Hour, lastRot: -25 * time.Hour, retiring: true,
			app: appObservation{current: intact}, wantNext: "v"},
		"rotation not due: keep": {rotation: 24 * time.Hour, lastRot: -time.Hour, app: appObservation{current: intact}, wantNext: "v"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := readyClient()
			if tc.pkj {
				obj.Spec.TokenEndpointAuthMethod = oauthv1.AuthPrivateKeyJWT
			}
			if tc.rotation > 0 {
				g := grace
				if tc.rotGrace > 0 {
					g = tc.rotGrace
				}
				obj.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: tc.rotation}, GracePeriod: &metav1.Duration{Duration: g}}
				last := metav1.NewTime(testNow.Add(tc.lastRot))
				obj.Status.LastRotationTime = &last
			}
			if tc.retiring {
				later := metav1.NewTime(testNow.Add(time.Hour))
				obj.Status.RetireAfter = &later
			}
			k8s := fakeclient.NewClientBuilder().WithScheme(testScheme(t)).WithStatusSubresource(&oauthv1.OAuthClient{}).
				WithObjects(obj.DeepCopy()).Build()
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Fatal(err)
			}
			calls := 0
			prov := &fake.Client{Caps: tc.caps, CreateSecretFn: func(_ context.Context, appID string) (*provider.ClientSecret, error) {
				calls++
				return &provider.ClientSecret{ID: "sec-new", Value: "issued", Active: true}, nil
			}}
			r := &OAuthClientReconciler{Client: k8s, APIReader: k8s, Now: func() time.Time { return testNow }}
			sp := &statusPatcher{client: k8s, obj: obj, base: obj.DeepCopy()}

			plan, err := r.reconcileCredentials(context.Background(), obj, backend{client: prov}, tc.app, tc.key, secretSource{}, sp)
			if err != nil {
				t.Fatal(err)
			}
			if plan.issued != tc.wantIssued {
				t.Errorf("issued %q, want %q", plan.issued, tc.wantIssued)
			}
			got := ""
			switch {
			case plan.next == nil:
			case plan.next.publicKey != nil:
				got = "key"
			default:
				got = plan.next.clientSecret
			}
			if got != tc.wantNext {
				t.Errorf("next %q, want %q", got, tc.wantNext)
			}
			if calls != tc.wantCalls {
				t.Errorf("%d secrets issued, want %d", calls, tc.wantCalls)
			}
			if tc.wantCalls > 0 && plan.retireAt != testNow.Add(tc.wantRetire) {
				t.Errorf("retire at %v, want now + %v", plan.retireAt, tc.wantRetire)
			}
			if tc.wantCalls == 0 && !plan.retireAt.IsZero() {
				t.Errorf("retire at %v with nothing issued", plan.retireAt)
			}
		})
	}
}
