package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

func TestReconcileAppOfAKnownApp(t *testing.T) {
	matching := func(spec provider.AppSpec) *provider.App {
		return &provider.App{ID: "app-1", ClientID: "client-1", Label: spec.Label, Active: true, AuthMethod: spec.AuthMethod,
			ClientCredentialsOnly: true, Owner: spec.Owner}
	}
	tests := map[string]struct {
		get func(spec provider.AppSpec) (*provider.App, error)
		// create answers a create; nil means no create is expected.
		create      func(spec provider.AppSpec) (*provider.App, error)
		wantUpdate  bool
		wantAppID   string
		wantPending bool
		wantClass   error
	}{
		"an app as the spec asks is left alone": {
			get:       func(s provider.AppSpec) (*provider.App, error) { return matching(s), nil },
			wantAppID: "app-1",
		},
		"an app edited in the console is put back": {
			get: func(s provider.AppSpec) (*provider.App, error) {
				a := matching(s)
				a.Label = "edited"
				return a, nil
			},
			wantUpdate: true, wantAppID: "app-1",
		},
		"an app that is no longer a client-credentials client is put back": {
			get: func(s provider.AppSpec) (*provider.App, error) {
				a := matching(s)
				a.ClientCredentialsOnly = false
				return a, nil
			},
			wantUpdate: true, wantAppID: "app-1",
		},
		"a deleted app is created again": {
			get: func(provider.AppSpec) (*provider.App, error) {
				return nil, provider.Errorf(provider.ErrNotFound, "get app", "404")
			},
			create: func(s provider.AppSpec) (*provider.App, error) {
				a := matching(s)
				a.ID, a.ClientID, a.ClientSecret = "app-2", "client-2", "fresh"
				return a, nil
			},
			wantAppID: "app-2",
		},
		"a refused create leaves no intent behind": {
			get: func(provider.AppSpec) (*provider.App, error) {
				return nil, provider.Errorf(provider.ErrNotFound, "get app", "404")
			},
			create: func(provider.AppSpec) (*provider.App, error) {
				return nil, provider.Errorf(provider.ErrRateLimited, "create app", "429")
			},
			wantClass: provider.ErrRateLimited,
		},
		"a create whose answer was lost keeps the intent": {
			get: func(provider.AppSpec) (*provider.App, error) {
				return nil, provider.Errorf(provider.ErrNotFound, "get app", "404")
			},
			create: func(provider.AppSpec) (*provider.App, error) {
				return nil, provider.Errorf(provider.ErrTransient, "create app", "connection reset")
			},
			wantPending: true, wantClass: provider.ErrTransient,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := readyClient()
			obj.Status.ObservedGeneration = 1 // a spec change: the app is read
			k8s := fakeclient.NewClientBuilder().WithScheme(testScheme(t)).
				WithStatusSubresource(&oauthv1.OAuthClient{}).WithObjects(obj.DeepCopy()).Build()
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Fatal(err)
			}
			obj.Status.ObservedGeneration = 1
			updated := false
			prov := &fake.Client{
				GetAppFn: func(_ context.Context, id string) (*provider.App, error) {
					if id != "app-1" {
						t.Errorf("read app %q", id)
					}
					return tc.get(desiredApp(obj, keyPlan{}))
				},
				UpdateAppFn: func(_ context.Context, a *provider.App, s provider.AppSpec) (*provider.App, error) {
					updated = true
					return matching(s), nil
				},
			}
			if tc.create != nil {
				prov.CreateAppFn = func(_ context.Context, s provider.AppSpec) (*provider.App, error) {
					if obj.Status.PendingCreate == nil {
						t.Error("create called before the intent was recorded")
					}
					return tc.create(s)
				}
			}
			r := &OAuthClientReconciler{Client: k8s, Now: func() time.Time { return testNow }}
			sp := &statusPatcher{client: k8s, obj: obj, base: obj.DeepCopy()}

			app, err := r.reconcileApp(context.Background(), obj, backend{client: prov}, secretObservation{}, keyPlan{}, sp)

			if tc.wantClass != nil {
				if !errors.Is(err, tc.wantClass) {
					t.Fatalf("error %v, want class %v", err, tc.wantClass)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if updated != tc.wantUpdate {
				t.Errorf("updated = %v, want %v", updated, tc.wantUpdate)
			}
			if obj.Status.AppID != tc.wantAppID {
				t.Errorf("status app %q, want %q", obj.Status.AppID, tc.wantAppID)
			}
			if pending := obj.Status.PendingCreate != nil; pending != tc.wantPending {
				t.Errorf("create intent recorded = %v, want %v", pending, tc.wantPending)
			}
			if tc.wantAppID == "app-2" && (app.answered == nil || app.answered.clientSecret != "fresh" || app.issued != issuedCreate) {
				t.Error("the new app's secret is not the one to publish")
			}
		})
	}
}
