package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// readCredentialsFrom reads the user's Secret around the cache — an unlabelled Secret is not
// in the manager's Secret cache — refuses the output Secret as a source, and names a missing
// Secret or key without a value. The cache (Client) holds nothing here: a read through it
// would see no Secret at all.
func TestReadCredentialsFrom(t *testing.T) {
	const value = "from-vault-0123456789"
	user := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault", Namespace: "team-a"},
		Data: map[string][]byte{"secret": []byte(value), "empty": nil}}
	tests := map[string]struct {
		ref       oauthv1.CredentialsSecretRef
		want      string
		wantClass error
		wantStall bool
	}{
		"unlabelled Secret read uncached": {ref: oauthv1.CredentialsSecretRef{Name: "vault", Key: "secret"}, want: value},
		"missing Secret":                  {ref: oauthv1.CredentialsSecretRef{Name: "nope", Key: "secret"}, wantClass: provider.ErrCredentialsSecretNotFound},
		"missing key":                     {ref: oauthv1.CredentialsSecretRef{Name: "vault", Key: "other"}, wantClass: provider.ErrCredentialsSecretNotFound},
		"empty key":                       {ref: oauthv1.CredentialsSecretRef{Name: "vault", Key: "empty"}, wantClass: provider.ErrCredentialsSecretNotFound},
		"the output Secret":               {ref: oauthv1.CredentialsSecretRef{Name: "billing-oauth-client"}, wantStall: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &OAuthClientReconciler{
				Client:    fakeclient.NewClientBuilder().WithScheme(testScheme(t)).Build(),
				APIReader: fakeclient.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(user.DeepCopy()).Build(),
			}
			obj := readyClient()
			obj.Spec.CredentialsFrom = &oauthv1.CredentialsFrom{SecretRef: tc.ref}
			src, err := r.readCredentialsFrom(context.Background(), obj)
			var ce *conditionError
			switch {
			case tc.wantStall:
				if !errors.As(err, &ce) || ce.reason != oauthv1.ReasonInvalidSpec {
					t.Fatalf("err = %v, want InvalidSpec", err)
				}
			case tc.wantClass != nil:
				if !errors.Is(err, tc.wantClass) {
					t.Fatalf("err = %v, want %v", err, tc.wantClass)
				}
				if v := judge(err, time.Now(), time.Minute); v.reason != oauthv1.ReasonCredentialsSecretNotFound {
					t.Fatalf("reason = %s", v.reason)
				}
			default:
				if err != nil || src.value != tc.want {
					t.Fatalf("got set=%v err=%v, want the Secret's value", src.set(), err)
				}
			}
		})
	}
}

// A client whose secret comes from a Secret looks again within a minute (±10%), so a change
// of a Secret outside the manager's cache (no watch event) is noticed.
func TestNextWakeCredentialsFrom(t *testing.T) {
	r := &OAuthClientReconciler{ResyncPeriod: 10 * time.Minute}
	plain := readyClient()
	from := readyClient()
	from.Spec.CredentialsFrom = &oauthv1.CredentialsFrom{SecretRef: oauthv1.CredentialsSecretRef{Name: "vault"}}
	if w := r.nextWake(plain); w < 9*time.Minute {
		t.Fatalf("plain client wakes after %v, want the resync", w)
	}
	if w := r.nextWake(from); w > credentialsFromRecheck*11/10 || w < credentialsFromRecheck*9/10 {
		t.Fatalf("credentialsFrom client wakes after %v, want about %v", w, credentialsFromRecheck)
	}
}
