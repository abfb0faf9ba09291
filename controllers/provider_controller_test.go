package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

// stubRegistry hands out one client, or an error, and counts Forget calls.
type stubRegistry struct {
	prov    provider.Client
	err     error
	forgets int
}

func (s *stubRegistry) Client(context.Context, oauthv1.ProviderObject, provider.SecretReader) (provider.Client, error) {
	return s.prov, s.err
}

func (s *stubRegistry) Forget(oauthv1.ProviderObject) { s.forgets++ }

// TestProviderHealthCheck runs the provider reconciler on a fake API server and a fake
// backend: each outcome of the health check ends in its conditions, the reconciler's clock
// stamps the check, and a wait is always positive.
func TestProviderHealthCheck(t *testing.T) {
	eps := provider.Endpoints{Issuer: "https://as", TokenURL: "https://as/token", JWKSURL: "https://as/keys"}
	tests := map[string]struct {
		registryErr error
		health      error
		wantReady   metav1.ConditionStatus
		wantReason  string
		wantStalled bool
		// wantAfter: the exact wait; -1 any positive wait; 0 none.
		wantAfter   time.Duration
		wantErr     bool
		wantForgets int
		wantChecked bool
	}{
		"healthy": {wantReady: metav1.ConditionTrue, wantReason: oauthv1.ReasonSucceeded, wantAfter: -1, wantChecked: true},
		"credentials refused": {health: provider.Errorf(provider.ErrUnauthorized, "check health", "401"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonInvalidAPIToken, wantAfter: refusedCredentialsRecheck,
			wantForgets: 1, wantChecked: true},
		"rate limited until a reset already past": {
			health:    &provider.Error{Class: provider.ErrRateLimited, Op: "check health", RetryAt: testNow.Add(-time.Minute)},
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonRateLimited, wantAfter: time.Second, wantChecked: true},
		"unreachable": {health: provider.Errorf(provider.ErrTransient, "check health", "dial tcp: refused"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonUnreachable, wantErr: true, wantChecked: true},
		"metadata unreadable": {health: provider.Errorf(provider.ErrPermanent, "check health", "metadata is not JSON"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonDiscoveryFailed, wantErr: true, wantChecked: true},
		"credentials Secret missing": {registryErr: fmt.Errorf("%w: Secret ns/tok not found", provider.ErrSecretNotFound),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonAPITokenSecretNotFound, wantAfter: missingSecretRecheck},
		"no backend in the spec": {registryErr: fmt.Errorf("%w: the spec sets no backend", provider.ErrInvalidProvider),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonInvalidSpec, wantStalled: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 1}}
			k8s := fakeclient.NewClientBuilder().WithScheme(testScheme(t)).
				WithStatusSubresource(&oauthv1.ClusterOAuthProvider{}).WithObjects(obj).Build()
			reg := &stubRegistry{err: tc.registryErr, prov: &fake.Client{CheckHealthFn: func(context.Context) (provider.Endpoints, error) {
				if tc.health != nil {
					return provider.Endpoints{}, tc.health
				}
				return eps, nil
			}}}
			r := &ProviderReconciler{
				Client: k8s, ClientSource: &ClientSource{Cache: reg}, HealthInterval: time.Minute,
				NewObject: func() oauthv1.ProviderObject { return &oauthv1.ClusterOAuthProvider{} },
				Now:       func() time.Time { return testNow },
			}

			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)})

			if res.RequeueAfter < 0 || (res.RequeueAfter > 0 && err != nil) {
				t.Fatalf("result %+v with error %v: a wait must be positive and never come with an error", res, err)
			}
			switch {
			case tc.wantAfter == -1 && res.RequeueAfter <= 0:
				t.Errorf("RequeueAfter %v, want a positive wait", res.RequeueAfter)
			case tc.wantAfter >= 0 && res.RequeueAfter != tc.wantAfter:
				t.Errorf("RequeueAfter %v, want %v", res.RequeueAfter, tc.wantAfter)
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("error %v, want one: %v", err, tc.wantErr)
			}
			if reg.forgets != tc.wantForgets {
				t.Errorf("Forget called %d times, want %d", reg.forgets, tc.wantForgets)
			}
			got := &oauthv1.ClusterOAuthProvider{}
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), got); err != nil {
				t.Fatal(err)
			}
			st := got.Status
			ready := meta.FindStatusCondition(st.Conditions, oauthv1.ConditionReady)
			if ready == nil || ready.Status != tc.wantReady || ready.Reason != tc.wantReason {
				t.Fatalf("Ready = %+v, want %s/%s", ready, tc.wantReady, tc.wantReason)
			}
			if stalled := meta.IsStatusConditionTrue(st.Conditions, oauthv1.ConditionStalled); stalled != tc.wantStalled {
				t.Errorf("Stalled = %v, want %v", stalled, tc.wantStalled)
			}
			if st.ObservedGeneration != 1 {
				t.Errorf("observedGeneration %d, want 1", st.ObservedGeneration)
			}
			if checked := st.LastCheckTime != nil; checked != tc.wantChecked ||
				(checked && !st.LastCheckTime.Time.Equal(testNow.Truncate(time.Second))) {
				t.Errorf("lastCheckTime %v, want set from the reconciler's clock: %v", st.LastCheckTime, tc.wantChecked)
			}
			if wantEps := tc.wantReady == metav1.ConditionTrue; wantEps != (st.Issuer == eps.Issuer && st.TokenURL == eps.TokenURL && st.JWKSURL == eps.JWKSURL) {
				t.Errorf("endpoints in status %q %q %q, want them only when healthy", st.Issuer, st.TokenURL, st.JWKSURL)
			}
		})
	}
}
