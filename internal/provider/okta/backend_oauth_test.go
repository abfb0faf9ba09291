package okta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// mapSecrets is a SecretReader over a map "namespace/name/key" → value.
type mapSecrets struct {
	values map[string][]byte
	read   []string
}

func (m *mapSecrets) ReadSecretKey(_ context.Context, ref provider.SecretRef) ([]byte, error) {
	k := ref.Namespace + "/" + ref.Name + "/" + ref.Key
	m.read = append(m.read, k)
	v := m.values[k]
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: Secret %s has no key %q", provider.ErrSecretNotFound, ref, ref.Key)
	}
	return v, nil
}

func TestBackendLoadOAuth(t *testing.T) {
	key, _ := rsaPEM(t, false)
	oauth := &oauthv1.OktaOAuth{ClientID: "0oaOp", PrivateKeySecretRef: oauthv1.PrivateKeySecretReference{Name: "op-key", Namespace: "sys"}}
	tests := map[string]struct {
		spec     oauthv1.OktaProvider
		secrets  map[string][]byte
		wantErr  error
		wantRead string
	}{
		"oauth, key under the default name": {spec: oauthv1.OktaProvider{OAuth: oauth},
			secrets: map[string][]byte{"sys/op-key/private.pem": key}, wantRead: "sys/op-key/private.pem"},
		"oauth, key under another name": {spec: oauthv1.OktaProvider{OAuth: &oauthv1.OktaOAuth{ClientID: "0oaOp",
			PrivateKeySecretRef: oauthv1.PrivateKeySecretReference{Name: "op-key", Namespace: "sys", Key: "tls.key"}}},
			secrets: map[string][]byte{"sys/op-key/tls.key": key}, wantRead: "sys/op-key/tls.key"},
		"oauth, key missing": {spec: oauthv1.OktaProvider{OAuth: oauth}, wantErr: provider.ErrPrivateKeyNotFound, wantRead: "sys/op-key/private.pem"},
		"oauth, key not PEM": {spec: oauthv1.OktaProvider{OAuth: oauth},
			secrets: map[string][]byte{"sys/op-key/private.pem": []byte("hunter2-not-a-key")}, wantErr: provider.ErrPrivateKeyInvalid},
		"both": {spec: oauthv1.OktaProvider{OAuth: oauth, APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "t", Namespace: "sys"}},
			wantErr: provider.ErrInvalidProvider},
		"neither": {spec: oauthv1.OktaProvider{}, wantErr: provider.ErrInvalidProvider},
		"api token": {spec: oauthv1.OktaProvider{APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "t", Namespace: "sys", Key: "token"}},
			secrets: map[string][]byte{"sys/t/token": []byte(testToken)}, wantRead: "sys/t/token"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec := tc.spec
			spec.OrgURL = "https://example.okta.com"
			obj := &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: oauthv1.OAuthProviderSpec{Okta: &spec}}
			secrets := &mapSecrets{values: tc.secrets}
			build, err := backend{}.Load(context.Background(), obj, secrets)
			if tc.wantRead != "" && (len(secrets.read) != 1 || secrets.read[0] != tc.wantRead) {
				t.Errorf("read %v, want [%s]", secrets.read, tc.wantRead)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Load error = %v, want %v", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error quotes the Secret's value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			prov, err := build()
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			if gotOAuth := prov.(*Client).oauth != nil; gotOAuth != (spec.OAuth != nil) {
				t.Errorf("oauth mode %v, want %v", gotOAuth, spec.OAuth != nil)
			}
		})
	}
}
