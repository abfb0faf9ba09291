package controllers

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// The uncached reader of a manager limited by --watch-namespaces refuses every other
// namespace before the request is sent.
func TestGuardedReader(t *testing.T) {
	c := fake.NewClientBuilder().WithObjects(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "s"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "s"}},
	).Build()
	tests := map[string]struct {
		allowed []string
		ns      string
		list    bool
		wantErr bool
	}{
		"unlimited get":        {allowed: nil, ns: "team-b"},
		"unlimited list all":   {allowed: nil, ns: "", list: true},
		"watched get":          {allowed: []string{"team-a"}, ns: "team-a"},
		"other get":            {allowed: []string{"team-a"}, ns: "team-b", wantErr: true},
		"watched list":         {allowed: []string{"team-a"}, ns: "team-a", list: true},
		"other list":           {allowed: []string{"team-a"}, ns: "team-b", list: true, wantErr: true},
		"cluster-wide list":    {allowed: []string{"team-a"}, ns: "", list: true, wantErr: true},
		"cluster-scoped get":   {allowed: []string{"team-a"}, ns: "", wantErr: true},
		"second watched list":  {allowed: []string{"team-a", "team-b"}, ns: "team-b", list: true},
		"second watched get":   {allowed: []string{"team-a", "team-b"}, ns: "team-b"},
		"prefix is not enough": {allowed: []string{"team"}, ns: "team-a", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := guardedReader{Reader: c, allowed: newNamespaceSet(tc.allowed)}
			var err error
			if tc.list {
				err = g.List(context.Background(), &corev1.SecretList{}, client.InNamespace(tc.ns))
			} else {
				err = g.Get(context.Background(), client.ObjectKey{Namespace: tc.ns, Name: "s"}, &corev1.Secret{})
				if tc.ns == "" && err != nil && !errors.Is(err, provider.ErrSecretForbidden) {
					t.Fatalf("error %v is not a refusal", err)
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, provider.ErrSecretForbidden) {
				t.Errorf("error %v, want class ErrSecretForbidden", err)
			}
		})
	}
}
