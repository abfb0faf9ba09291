package controllers

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

// The previous and pending clients of a rotation by a new client follow the current one's
// spec and grants (a withdrawn scope, a new lifetime) and keep their own generation and
// auth method; nothing is read without a rotation under way, nothing written to a client
// that matches, is gone or is not this OAuthClient's.
func TestReconcileGenerations(t *testing.T) {
	desired := provider.AppSpec{Label: "team-a/billing", AuthMethod: provider.AuthClientSecretBasic,
		Owner: provider.Owner{UID: "uid-1", Namespace: "team-a", Name: "billing"}, Scopes: []string{"hello:read"},
		AccessTokenLifetime: 7 * time.Minute, Generation: 1}
	// app is a client of generation n as the backend has it: with the withdrawn scope and the
	// old lifetime unless matching.
	app := func(id string, n int64, method provider.AuthMethod, matching bool) *provider.App {
		a := &provider.App{ID: id, ClientID: id, Label: desired.Label, Active: true, AuthMethod: method, ClientCredentialsOnly: true,
			Owner: desired.Owner, Generation: n, Scopes: []string{"hello:read", "orders:read"}, AccessTokenLifetime: 6 * time.Minute}
		if matching {
			a.Scopes, a.AccessTokenLifetime = desired.Scopes, desired.AccessTokenLifetime
		}
		return a
	}
	type update struct {
		id     string
		gen    int64
		method provider.AuthMethod
	}
	tests := map[string]struct {
		caps     provider.Capabilities
		previous bool
		pending  bool
		apps     map[string]*provider.App
		getErr   error
		// wantReads, wantUpdates: the apps read and updated (with the generation and method sent).
		wantReads   []string
		wantUpdates []update
		wantErr     error
	}{
		"no rotation under way": {caps: fake.HydraLike},
		"okta-like backend: one app": {caps: fake.OktaLike, previous: true, pending: true,
			apps: map[string]*provider.App{"app-0": app("app-0", 0, provider.AuthClientSecretBasic, false)}},
		"previous and pending follow the current one": {caps: fake.HydraLike, previous: true, pending: true,
			apps: map[string]*provider.App{
				"app-0": app("app-0", 0, provider.AuthClientSecretPost, false),
				"app-2": app("app-2", 2, provider.AuthClientSecretBasic, false)},
			wantReads:   []string{"app-0", "app-2"},
			wantUpdates: []update{{"app-0", 0, provider.AuthClientSecretPost}, {"app-2", 2, provider.AuthClientSecretBasic}}},
		"matching: no write": {caps: fake.HydraLike, previous: true, pending: true,
			apps: map[string]*provider.App{
				"app-0": app("app-0", 0, provider.AuthClientSecretBasic, true),
				"app-2": app("app-2", 2, provider.AuthClientSecretBasic, true)},
			wantReads: []string{"app-0", "app-2"}},
		"previous gone, pending follows": {caps: fake.HydraLike, previous: true, pending: true,
			apps:        map[string]*provider.App{"app-2": app("app-2", 2, provider.AuthClientSecretBasic, false)},
			wantReads:   []string{"app-0", "app-2"},
			wantUpdates: []update{{"app-2", 2, provider.AuthClientSecretBasic}}},
		"another OAuthClient's client is left alone": {caps: fake.HydraLike, previous: true,
			apps: map[string]*provider.App{"app-0": func() *provider.App {
				a := app("app-0", 0, provider.AuthClientSecretBasic, false)
				a.Owner.UID = "uid-other"
				return a
			}()},
			wantReads: []string{"app-0"}},
		"a failed read is returned": {caps: fake.HydraLike, previous: true,
			getErr: provider.Errorf(provider.ErrTransient, "get app", "503"), wantReads: []string{"app-0"}, wantErr: provider.ErrTransient},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := readyClient()
			obj.Status.AppID, obj.Status.ClientGeneration = "app-1", 1
			if tc.previous {
				obj.Status.PreviousClient = &oauthv1.ClientGeneration{Generation: 0, AppID: "app-0", ClientID: "app-0"}
			}
			if tc.pending {
				obj.Status.PendingClient = &oauthv1.PendingClient{Generation: 2, AppID: "app-2", ClientID: "app-2"}
			}
			var reads []string
			var updates []update
			caps := tc.caps
			prov := &fake.Client{Caps: &caps,
				GetAppFn: func(_ context.Context, id string) (*provider.App, error) {
					reads = append(reads, id)
					if tc.getErr != nil {
						return nil, tc.getErr
					}
					if a := tc.apps[id]; a != nil {
						return a, nil
					}
					return nil, provider.Errorf(provider.ErrNotFound, "get app", "404")
				},
				UpdateAppFn: func(_ context.Context, a *provider.App, s provider.AppSpec) (*provider.App, error) {
					updates = append(updates, update{a.ID, s.Generation, s.AuthMethod})
					if !slices.Equal(s.Scopes, desired.Scopes) || s.AccessTokenLifetime != desired.AccessTokenLifetime || s.TakeOver {
						t.Errorf("update of %s sent scopes %v lifetime %s takeOver %v; want the current spec's", a.ID, s.Scopes, s.AccessTokenLifetime, s.TakeOver)
					}
					return a, nil
				},
			}
			r := &OAuthClientReconciler{Now: func() time.Time { return testNow }}
			err := r.reconcileGenerations(context.Background(), obj, backend{client: prov}, desired)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(reads, tc.wantReads) {
				t.Errorf("read %v, want %v", reads, tc.wantReads)
			}
			if !slices.Equal(updates, tc.wantUpdates) {
				t.Errorf("updated %v, want %v", updates, tc.wantUpdates)
			}
		})
	}
}
