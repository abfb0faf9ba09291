package controllers

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

// Unit tests of single phases against the fake provider: fast, and able to reach answers
// the emulator gives rarely. The envtest suite proves the same behaviour end to end.

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// readyClient is an OAuthClient that was Ready for its generation with a known app.
func readyClient() *oauthv1.OAuthClient {
	obj := &oauthv1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: "team-a", UID: "uid-1", Generation: 2},
		Spec: oauthv1.OAuthClientSpec{
			ProviderRef: oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: "p"},
			Scopes:      []string{"hello:read"},
		},
	}
	obj.Status.ObservedGeneration = 2
	obj.Status.AppID, obj.Status.ClientID, obj.Status.SecretID = "app-1", "client-1", "sec-pub"
	conditions{list: &obj.Status.Conditions, generation: 2}.ready(oauthv1.ReasonSucceeded, "fine")
	return obj
}

func TestVerifyCredentials(t *testing.T) {
	tests := map[string]struct {
		answer error
		// issued: new credentials in this reconcile; published: when the Secret last got new ones.
		issued    string
		published time.Duration
		notReady  bool
		wantCall  bool
		// wantReason of a conditionError; "" with wantClass: the error passes through.
		wantReason string
		wantClass  error
		wantRetry  time.Duration
		wantBad    bool
	}{
		"a steady Ready client costs no token request": {published: -time.Hour},
		"not Ready: the token request is made":         {notReady: true, published: -time.Hour, wantCall: true},
		"new credentials work":                         {issued: issuedRotate, wantCall: true},
		"new credentials refused: wait for the backend": {issued: issuedRotate, answer: provider.Errorf(provider.ErrInvalidClient, "request token", "invalid_client"),
			wantCall: true, wantReason: oauthv1.ReasonTokenRequestFailed},
		"recently published credentials refused: wait": {notReady: true, published: -time.Second / 2,
			answer:   provider.Errorf(provider.ErrInvalidClient, "request token", "invalid_client"),
			wantCall: true, wantReason: oauthv1.ReasonTokenRequestFailed},
		"old credentials refused: replace them": {notReady: true, published: -time.Hour,
			answer:   provider.Errorf(provider.ErrInvalidClient, "request token", "invalid_client"),
			wantCall: true, wantReason: oauthv1.ReasonTokenRequestFailed, wantRetry: time.Second, wantBad: true},
		"scopes refused": {issued: issuedCreate, answer: provider.Errorf(provider.ErrInvalidScope, "request token", "invalid_scope"),
			wantCall: true, wantReason: oauthv1.ReasonInvalidScope},
		"rate limited passes through": {issued: issuedCreate, answer: provider.Errorf(provider.ErrRateLimited, "request token", "429"),
			wantCall: true, wantClass: provider.ErrRateLimited},
		"transient passes through": {issued: issuedCreate, answer: provider.Errorf(provider.ErrTransient, "request token", "503"),
			wantCall: true, wantClass: provider.ErrTransient},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := readyClient()
			if tc.notReady {
				conditions{list: &obj.Status.Conditions, generation: 2}.notReady(oauthv1.ReasonProgressing, "working")
			}
			published := metav1.NewTime(testNow.Add(tc.published))
			obj.Status.LastRotationTime = &published
			var got []provider.Credentials
			prov := &fake.Provider{RequestTokenFn: func(_ context.Context, c provider.Credentials) error {
				got = append(got, c)
				return tc.answer
			}}
			r := &OAuthClientReconciler{Now: func() time.Time { return testNow }, PropagationGrace: time.Second}
			be := backend{client: prov, endpoints: provider.Endpoints{TokenURL: "https://as/token"}}

			err := r.verifyCredentials(context.Background(), obj, be, &credentials{clientSecret: "s3cr3t"},
				newTokenCheck(obj, tc.issued, false))

			if called := len(got) > 0; called != tc.wantCall {
				t.Fatalf("token request made = %v, want %v", called, tc.wantCall)
			}
			if tc.wantCall {
				c := got[0]
				if c.ClientID != "client-1" || c.ClientSecret != "s3cr3t" || c.TokenURL != "https://as/token" ||
					c.AuthMethod != provider.AuthClientSecretBasic || !slices.Equal(c.Scopes, []string{"hello:read"}) {
					t.Errorf("token request with %+v, not the published credentials", c)
				}
			}
			var n *note
			switch {
			case tc.wantReason != "":
				if v := judge(err, testNow, time.Minute); err == nil || v.reason != tc.wantReason || v.after != tc.wantRetry {
					t.Fatalf("error %#v judged %+v, want reason %s retrying after %v", err, v, tc.wantReason, tc.wantRetry)
				}
			case tc.wantClass != nil:
				if !errors.Is(err, tc.wantClass) || errors.As(err, &n) {
					t.Fatalf("error %v, want the class %v passed through", err, tc.wantClass)
				}
			case err != nil:
				t.Fatalf("error %v, want none", err)
			}
			if bad := r.memory.refused(obj.UID); bad != tc.wantBad {
				t.Errorf("credentials marked bad = %v, want %v", bad, tc.wantBad)
			}
		})
	}
}

func TestRetireSecrets(t *testing.T) {
	secrets := []provider.ClientSecret{{ID: "sec-old"}, {ID: "sec-pub", Active: true}, {ID: "sec-other", Active: true}}
	tests := map[string]struct {
		retireIn    *time.Duration
		revokeErr   map[string]error
		wantRevoked []string
		wantErr     bool
		wantKept    bool // RetireAfter stays in status
		// held is the client-secret id the Secret holds (annotation); "" means sec-pub.
		held string
	}{
		"nothing to retire":            {},
		"the grace period is not over": {retireIn: ptrTo(time.Minute), wantKept: true},
		"due: every unpublished secret goes": {retireIn: ptrTo(-time.Second),
			wantRevoked: []string{"sec-old", "sec-other"}},
		"one already gone": {retireIn: ptrTo(0 * time.Second),
			revokeErr:   map[string]error{"sec-old": provider.Errorf(provider.ErrNotFound, "revoke client secret", "404")},
			wantRevoked: []string{"sec-old", "sec-other"}},
		"a failure keeps the plan for the next reconcile": {retireIn: ptrTo(-time.Second),
			revokeErr:   map[string]error{"sec-other": provider.Errorf(provider.ErrTransient, "revoke client secret", "503")},
			wantRevoked: []string{"sec-old", "sec-other"}, wantErr: true, wantKept: true},
		// The status write after publishing sec-other failed: status still names sec-pub, but
		// the Secret holds sec-other. Nothing may be revoked from status alone.
		"the Secret holds another secret than status names": {retireIn: ptrTo(-time.Second), held: "sec-other", wantKept: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := readyClient()
			if tc.retireIn != nil {
				at := metav1.NewTime(testNow.Add(*tc.retireIn))
				obj.Status.RetireAfter = &at
			}
			var revoked []string
			prov := &fake.Provider{
				ListSecretsFn: func(_ context.Context, appID string) ([]provider.ClientSecret, error) {
					if appID != "app-1" {
						t.Errorf("listed the secrets of %q", appID)
					}
					return secrets, nil
				},
				RevokeSecretFn: func(_ context.Context, _, id string) error {
					revoked = append(revoked, id)
					return tc.revokeErr[id]
				},
			}
			held := tc.held
			if held == "" {
				held = "sec-pub"
			}
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: obj.SecretName(), Namespace: obj.Namespace,
				Annotations: map[string]string{AnnotationClientSecretID: held}}}
			if err := controllerutil.SetControllerReference(obj, secret, testScheme(t)); err != nil {
				t.Fatal(err)
			}
			reader := fakeclient.NewClientBuilder().WithScheme(testScheme(t)).WithStatusSubresource(&oauthv1.OAuthClient{}).
				WithObjects(secret, obj.DeepCopy()).Build()
			if err := reader.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Fatal(err)
			}
			r := &OAuthClientReconciler{Now: func() time.Time { return testNow }, APIReader: reader}
			sp := &statusPatcher{client: reader, obj: obj, base: obj.DeepCopy()}
			err := r.retireSecrets(context.Background(), obj, backend{client: prov},
				&credentials{clientSecret: "v", secretID: held}, sp)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			if !slices.Equal(revoked, tc.wantRevoked) {
				t.Errorf("revoked %v, want %v", revoked, tc.wantRevoked)
			}
			if kept := obj.Status.RetireAfter != nil; kept != tc.wantKept {
				t.Errorf("RetireAfter kept = %v, want %v", kept, tc.wantKept)
			}
		})
	}
}

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
			prov := &fake.Provider{
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

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := oauthv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func ptrTo[T any](v T) *T { return &v }
