package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// spec.adopt: exactly one of clientID and appID, fixed for the object's life.
func TestOAuthClientAdoptAdmission(t *testing.T) {
	tests := map[string]struct {
		spec    string
		wantErr string
	}{
		"by client id":       {spec: "\n  adopt: {clientID: 0oa1024tz4g3KGW0a698}"},
		"by app id":          {spec: "\n  adopt: {appID: 0oa1024tz4g3KGW0a698}"},
		"both":               {spec: "\n  adopt: {clientID: a, appID: b}", wantErr: "adopt needs exactly one of clientID and appID"},
		"neither":            {spec: "\n  adopt: {}", wantErr: "adopt needs exactly one of clientID and appID"},
		"empty client id":    {spec: "\n  adopt: {clientID: \"\"}", wantErr: "spec.adopt.clientID"},
		"client id w/ space": {spec: "\n  adopt: {clientID: \"a b\"}", wantErr: "spec.adopt.clientID"},
		"with orphan":        {spec: "\n  adopt: {appID: x}\n  deletionPolicy: Orphan"},
		"with delete":        {spec: "\n  adopt: {appID: x}\n  deletionPolicy: Delete"},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			obj := object(t, strings.Replace(validClient, "NAME", fmt.Sprintf("adopt-%d", i), 1)+tc.spec)
			checkAdmission(t, k8s.Create(context.Background(), obj), tc.wantErr)
		})
	}
}

func TestOAuthClientAdoptImmutable(t *testing.T) {
	ctx := context.Background()
	adopted := object(t, strings.Replace(validClient, "NAME", "adopt-immutable", 1)+"\n  adopt: {clientID: first}")
	created := object(t, strings.Replace(validClient, "NAME", "adopt-not-added", 1))
	for _, o := range []*unstructured.Unstructured{adopted, created} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[string]struct {
		obj     *unstructured.Unstructured
		mutate  func(spec map[string]any)
		wantErr string
	}{
		"client id changed":  {adopted, func(s map[string]any) { s["adopt"] = map[string]any{"clientID": "second"} }, "adopt is immutable"},
		"switched to app id": {adopted, func(s map[string]any) { s["adopt"] = map[string]any{"appID": "first"} }, "adopt is immutable"},
		"removed":            {adopted, func(s map[string]any) { delete(s, "adopt") }, "adopt cannot be added or removed"},
		"added":              {created, func(s map[string]any) { s["adopt"] = map[string]any{"clientID": "x"} }, "adopt cannot be added or removed"},
		"rest stays mutable": {adopted, func(s map[string]any) { s["displayName"] = "New Label" }, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cur := &unstructured.Unstructured{}
			cur.SetGroupVersionKind(tc.obj.GroupVersionKind())
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(tc.obj), cur); err != nil {
				t.Fatal(err)
			}
			tc.mutate(cur.Object["spec"].(map[string]any))
			checkAdmission(t, k8s.Update(ctx, cur), tc.wantErr)
		})
	}
}
