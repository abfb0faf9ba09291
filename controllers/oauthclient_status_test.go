package controllers

import (
	"context"
	"errors"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// TestStatusPatcherGuard: a guard write succeeds on the version the server has, and on an
// older read fails with errStaleObject and writes nothing — also when the reconcile has
// changed nothing in status yet. The final patch of a stale reconcile is discarded.
func TestStatusPatcherGuard(t *testing.T) {
	tests := map[string]struct {
		stale   bool
		change  bool
		wantErr error
	}{
		"current read, a marker to write": {change: true},
		"current read, nothing to write":  {},
		"stale read, a marker to write":   {stale: true, change: true, wantErr: errStaleObject},
		"stale read, nothing to write":    {stale: true, wantErr: errStaleObject},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			k8s := fakeclient.NewClientBuilder().WithScheme(testScheme(t)).WithStatusSubresource(&oauthv1.OAuthClient{}).
				WithObjects(readyClient()).Build()
			obj := &oauthv1.OAuthClient{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(readyClient()), obj); err != nil {
				t.Fatal(err)
			}
			if tc.stale {
				// Someone writes after our read.
				newer := obj.DeepCopy()
				newer.Status.TokenURL = "https://newer/token"
				if err := k8s.Status().Update(ctx, newer); err != nil {
					t.Fatal(err)
				}
			}
			sp := &statusPatcher{client: k8s, obj: obj, base: obj.DeepCopy()}
			if tc.change {
				obj.Status.PendingCreate = &oauthv1.PendingCreate{Label: "billing"}
			}
			err := sp.guard(ctx)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("guard() = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				sp.discard()
				if perr := sp.patch(ctx); perr != nil {
					t.Fatalf("patch after discard: %v", perr)
				}
			}
			got := &oauthv1.OAuthClient{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
				t.Fatal(err)
			}
			if written := got.Status.PendingCreate != nil; written != (tc.change && !tc.stale) {
				t.Errorf("marker written = %v, want %v", written, tc.change && !tc.stale)
			}
		})
	}
}
