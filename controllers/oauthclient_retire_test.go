package controllers

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

func TestRetireSecrets(t *testing.T) {
	secrets := []provider.ClientSecret{{ID: "sec-old"}, {ID: "sec-pub", Active: true}, {ID: "sec-other", Active: true}}
	tests := map[string]struct {
		retireIn    *time.Duration
		revokeErr   map[string]error
		wantRevoked []string
		wantErr     bool
		wantKept    bool // RetireAfter stays in status
		// held is the client-secret id the Secret holds (annotation); "" means sec-pub.
		held string
	}{
		"nothing to retire":            {},
		"the grace period is not over": {retireIn: ptrTo(time.Minute), wantKept: true},
		"due: every unpublished secret goes": {retireIn: ptrTo(-time.Second),
			wantRevoked: []string{"sec-old", "sec-other"}},
		"one already gone": {retireIn: ptrTo(0 * time.Second),
			revokeErr:   map[string]error{"sec-old": provider.Errorf(provider.ErrNotFound, "revoke client secret", "404")},
			wantRevoked: []string{"sec-old", "sec-other"}},
		"a failure keeps the plan for the next reconcile": {retireIn: ptrTo(-time.Second),
			revokeErr:   map[string]error{"sec-other": provider.Errorf(provider.ErrTransient, "revoke client secret", "503")},
			wantRevoked: []string{"sec-old", "sec-other"}, wantErr: true, wantKept: true},
		// The status write after publishing sec-other failed: status still names sec-pub, but
		// the Secret holds sec-other. Nothing may be revoked from status alone.
		"the Secret holds another secret than status names": {retireIn: ptrTo(-time.Second), held: "sec-other", wantKept: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := readyClient()
			if tc.retireIn != nil {
				at := metav1.NewTime(testNow.Add(*tc.retireIn))
				obj.Status.RetireAfter = &at
			}
			var revoked []string
			prov := &fake.Client{
				ListSecretsFn: func(_ context.Context, appID string) ([]provider.ClientSecret, error) {
					if appID != "app-1" {
						t.Errorf("listed the secrets of %q", appID)
					}
					return secrets, nil
				},
				RevokeSecretFn: func(_ context.Context, _, id string) error {
					revoked = append(revoked, id)
					return tc.revokeErr[id]
				},
			}
			held := tc.held
			if held == "" {
				held = "sec-pub"
			}
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: obj.SecretName(), Namespace: obj.Namespace,
				Annotations: map[string]string{AnnotationClientSecretID: held}}}
			if err := controllerutil.SetControllerReference(obj, secret, testScheme(t)); err != nil {
				t.Fatal(err)
			}
			reader := fakeclient.NewClientBuilder().WithScheme(testScheme(t)).WithStatusSubresource(&oauthv1.OAuthClient{}).
				WithObjects(secret, obj.DeepCopy()).Build()
			if err := reader.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Fatal(err)
			}
			r := &OAuthClientReconciler{Now: func() time.Time { return testNow }, APIReader: reader}
			sp := &statusPatcher{client: reader, obj: obj, base: obj.DeepCopy()}
			err := r.retireSecrets(context.Background(), obj, backend{client: prov},
				&credentials{clientSecret: "v", secretID: held}, consumerState{}, sp)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			if !slices.Equal(revoked, tc.wantRevoked) {
				t.Errorf("revoked %v, want %v", revoked, tc.wantRevoked)
			}
			if kept := obj.Status.RetireAfter != nil; kept != tc.wantKept {
				t.Errorf("RetireAfter kept = %v, want %v", kept, tc.wantKept)
			}
		})
	}
}
