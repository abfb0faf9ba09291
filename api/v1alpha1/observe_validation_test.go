package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// spec.managementPolicy and spec.credentialsFrom: Observe needs adopt; credentialsFrom
// excludes rotation and private_key_jwt, and names a valid Secret.
func TestOAuthClientObserveAndCredentialsFromAdmission(t *testing.T) {
	const ref = "\n  credentialsFrom: {secretRef: {name: billing-from-vault, key: secret}}"
	tests := map[string]struct {
		spec    string
		wantErr string
	}{
		"manage by default":           {spec: ""},
		"manage explicit":             {spec: "\n  managementPolicy: Manage"},
		"observe with adopt":          {spec: "\n  managementPolicy: Observe\n  adopt: {clientID: 0oa1}"},
		"observe without adopt":       {spec: "\n  managementPolicy: Observe", wantErr: "managementPolicy Observe needs spec.adopt"},
		"unknown policy":              {spec: "\n  managementPolicy: Ignore", wantErr: "spec.managementPolicy"},
		"credentialsFrom":             {spec: ref},
		"credentialsFrom default key": {spec: "\n  credentialsFrom: {secretRef: {name: from-vault}}"},
		"credentialsFrom observe":     {spec: ref + "\n  managementPolicy: Observe\n  adopt: {appID: 0oa2}"},
		"credentialsFrom no name":     {spec: "\n  credentialsFrom: {secretRef: {key: k}}", wantErr: "spec.credentialsFrom.secretRef.name"},
		"credentialsFrom bad name":    {spec: "\n  credentialsFrom: {secretRef: {name: Not_A_Name}}", wantErr: "credentialsFrom.secretRef.name must be a valid Secret name"},
		"credentialsFrom bad key":     {spec: "\n  credentialsFrom: {secretRef: {name: a, key: \"a/b\"}}", wantErr: "spec.credentialsFrom.secretRef.key"},
		"credentialsFrom + rotation":  {spec: ref + "\n  rotation: {interval: 24h}", wantErr: "credentialsFrom cannot be combined with rotation"},
		"credentialsFrom + private_key_jwt": {spec: ref + "\n  tokenEndpointAuthMethod: private_key_jwt",
			wantErr: "credentialsFrom supplies a client secret; it cannot be used with private_key_jwt"},
		"credentialsFrom + post":               {spec: ref + "\n  tokenEndpointAuthMethod: client_secret_post"},
		"credentialsFrom grace":                {spec: "\n  credentialsFrom: {secretRef: {name: a}, gracePeriod: 30s}"},
		"credentialsFrom grace too short":      {spec: "\n  credentialsFrom: {secretRef: {name: a}, gracePeriod: 0s}", wantErr: "credentialsFrom.gracePeriod must be between 1s and 720h"},
		"credentialsFrom grace not a duration": {spec: "\n  credentialsFrom: {secretRef: {name: a}, gracePeriod: soon}", wantErr: "spec.credentialsFrom.gracePeriod"},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			obj := object(t, strings.Replace(validClient, "NAME", fmt.Sprintf("observe-%d", i), 1)+tc.spec)
			checkAdmission(t, k8s.Create(context.Background(), obj), tc.wantErr)
		})
	}
}

// Switching managementPolicy either way is allowed (with adopt); dropping adopt is not.
func TestOAuthClientManagementPolicySwitch(t *testing.T) {
	ctx := context.Background()
	obj := object(t, strings.Replace(validClient, "NAME", "observe-switch", 1)+"\n  adopt: {clientID: x}\n  managementPolicy: Observe")
	if err := k8s.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		policy  string
		wantErr string
	}{
		{"to manage", "Manage", ""},
		{"back to observe", "Observe", ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			cur := &unstructured.Unstructured{}
			cur.SetGroupVersionKind(obj.GroupVersionKind())
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
				t.Fatal(err)
			}
			cur.Object["spec"].(map[string]any)["managementPolicy"] = st.policy
			checkAdmission(t, k8s.Update(ctx, cur), st.wantErr)
		})
	}
}
