package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

func TestSecretReaderRules(t *testing.T) {
	const label = "oauth.clientcreds.dev/provider-credentials"
	secret := func(ns, name string, labels map[string]string, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	objects := []*corev1.Secret{
		secret("team-a", "tok", nil, map[string]string{"token": "a-value"}),
		secret("team-a", "labelled", map[string]string{label: "true"}, map[string]string{"token": "l-value"}),
		secret("team-a", "empty", nil, map[string]string{"token": ""}),
		secret("system", "tok", nil, map[string]string{"token": "s-value"}),
	}
	c := fake.NewClientBuilder().WithObjects(objects[0], objects[1], objects[2], objects[3]).Build()
	namespaced := &oauthv1.OAuthProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "p"}}
	cluster := &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "p"}}

	tests := map[string]struct {
		obj       oauthv1.ProviderObject
		labels    map[string]string
		ref       provider.SecretRef
		want      string
		wantClass error
	}{
		"namespaced, own namespace implied": {obj: namespaced, ref: provider.SecretRef{Name: "tok", Key: "token"}, want: "a-value"},
		"namespaced, own namespace named":   {obj: namespaced, ref: provider.SecretRef{Namespace: "team-a", Name: "tok", Key: "token"}, want: "a-value"},
		"namespaced, another namespace": {obj: namespaced, ref: provider.SecretRef{Namespace: "system", Name: "tok", Key: "token"},
			wantClass: provider.ErrSecretForbidden},
		"cluster, namespace named": {obj: cluster, ref: provider.SecretRef{Namespace: "system", Name: "tok", Key: "token"}, want: "s-value"},
		"cluster, no namespace":    {obj: cluster, ref: provider.SecretRef{Name: "tok", Key: "token"}, wantClass: provider.ErrInvalidProvider},
		"missing Secret":           {obj: namespaced, ref: provider.SecretRef{Name: "nope", Key: "token"}, wantClass: provider.ErrSecretNotFound},
		"missing key":              {obj: namespaced, ref: provider.SecretRef{Name: "tok", Key: "other"}, wantClass: provider.ErrSecretNotFound},
		"empty key":                {obj: namespaced, ref: provider.SecretRef{Name: "empty", Key: "token"}, wantClass: provider.ErrSecretNotFound},
		"label required and present": {obj: namespaced, labels: map[string]string{label: "true"},
			ref: provider.SecretRef{Name: "labelled", Key: "token"}, want: "l-value"},
		"label required and absent": {obj: namespaced, labels: map[string]string{label: "true"},
			ref: provider.SecretRef{Name: "tok", Key: "token"}, wantClass: provider.ErrSecretNotLabelled},
		"label required of a missing Secret": {obj: namespaced, labels: map[string]string{label: "true"},
			ref: provider.SecretRef{Name: "nope", Key: "token"}, wantClass: provider.ErrSecretNotFound},
		"labels are a rule for namespaced providers only": {obj: cluster, labels: map[string]string{label: "true"},
			ref: provider.SecretRef{Namespace: "system", Name: "tok", Key: "token"}, want: "s-value"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &secretReader{reader: c, obj: tc.obj, requiredLabels: tc.labels}
			got, err := r.ReadSecretKey(context.Background(), tc.ref)
			if tc.wantClass != nil {
				if !errors.Is(err, tc.wantClass) {
					t.Fatalf("error %v, want class %v", err, tc.wantClass)
				}
				for _, s := range objects {
					if v := s.Data["token"]; len(v) > 0 && strings.Contains(err.Error(), string(v)) {
						t.Errorf("the error %q holds a Secret value", err)
					}
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
