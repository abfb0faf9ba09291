package controllers

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

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
			prov := &fake.Client{RequestTokenFn: func(_ context.Context, c provider.Credentials) error {
				got = append(got, c)
				return tc.answer
			}}
			r := &OAuthClientReconciler{Now: func() time.Time { return testNow }, PropagationGrace: time.Second}
			be := backend{client: prov, endpoints: provider.Endpoints{TokenURL: "https://as/token"}, granted: grants{scopes: obj.Spec.Scopes}}

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
