package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// ServiceAccount tokens are never read, labelled or not; a namespaced provider outside
// --watch-namespaces reads nothing.
func TestSecretReaderRefusals(t *testing.T) {
	const label = LabelProviderCredentials
	sa := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "sa", Labels: map[string]string{label: "true"},
			Annotations: map[string]string{corev1.ServiceAccountNameKey: "robot"}},
		Type: corev1.SecretTypeServiceAccountToken, Data: map[string][]byte{"token": []byte("sa-value")},
	}
	typed := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "system", Name: "typed"},
		Type:       corev1.SecretTypeServiceAccountToken, Data: map[string][]byte{"token": []byte("t-value")},
	}
	ok := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "ok", Labels: map[string]string{label: "true"}},
		Data:       map[string][]byte{"token": []byte("ok-value")},
	}
	c := fake.NewClientBuilder().WithObjects(sa, typed, ok).Build()
	namespaced := &oauthv1.OAuthProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "p"}}
	cluster := &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	labels := map[string]string{label: "true"}
	tests := map[string]struct {
		obj        oauthv1.ProviderObject
		namespaces []string
		ref        provider.SecretRef
		wantClass  error
	}{
		"labelled SA token, namespaced": {obj: namespaced, ref: provider.SecretRef{Name: "sa", Key: "token"}, wantClass: provider.ErrSecretForbidden},
		"SA token type, cluster":        {obj: cluster, ref: provider.SecretRef{Namespace: "system", Name: "typed", Key: "token"}, wantClass: provider.ErrSecretForbidden},
		"outside watched namespaces":    {obj: namespaced, namespaces: []string{"team-b"}, ref: provider.SecretRef{Name: "ok", Key: "token"}, wantClass: provider.ErrSecretForbidden},
		"inside watched namespaces":     {obj: namespaced, namespaces: []string{"team-a"}, ref: provider.SecretRef{Name: "ok", Key: "token"}},
		"cluster credentials namespace is not limited": {obj: cluster, namespaces: []string{"team-b"},
			ref: provider.SecretRef{Namespace: "team-a", Name: "ok", Key: "token"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var read []client.ObjectKey
			r := &secretReader{reader: c, obj: tc.obj, requiredLabels: labels, namespaces: newNamespaceSet(tc.namespaces),
				onRead: func(k client.ObjectKey) { read = append(read, k) }}
			_, err := r.ReadSecretKey(context.Background(), tc.ref)
			if tc.wantClass == nil {
				if err != nil || len(read) != 1 {
					t.Fatalf("error %v, reads %v; want one read", err, read)
				}
				return
			}
			if !errors.Is(err, tc.wantClass) {
				t.Fatalf("error %v, want class %v", err, tc.wantClass)
			}
			if len(read) != 0 {
				t.Errorf("a refused Secret was recorded as read: %v", read)
			}
			for _, v := range []string{"sa-value", "t-value", "ok-value"} {
				if err != nil && strings.Contains(err.Error(), v) {
					t.Errorf("the error %q holds a Secret value", err)
				}
			}
		})
	}
}
