package controllers

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/logreason"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// TestJudge pins the one mapping from error classes to conditions and results, and that
// a result never asks for a wait of zero or less and never carries both a wait and an error.
func TestJudge(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	rateLimited := func(at time.Time) error {
		return &provider.Error{Class: provider.ErrRateLimited, Op: "list apps", RetryAt: at}
	}
	tests := map[string]struct {
		err        error
		wasReady   bool
		wantReady  metav1.ConditionStatus
		wantReason string
		// wantCond is the other kstatus condition that must be True ("" for none).
		wantCond string
		// wantAfter: the exact wait; -1 any positive wait; 0 none.
		wantAfter  time.Duration
		wantErr    bool
		wantForget bool
	}{
		"rate limited with a reset in the future": {
			err: rateLimited(now.Add(42 * time.Second)), wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonRateLimited,
			wantCond: oauthv1.ConditionReconciling, wantAfter: 42 * time.Second,
		},
		"rate limited with a reset in the past": {
			err: rateLimited(now.Add(-time.Minute)), wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonRateLimited,
			wantCond: oauthv1.ConditionReconciling, wantAfter: time.Second,
		},
		"rate limited with a reset right now": {
			err: rateLimited(now), wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonRateLimited,
			wantCond: oauthv1.ConditionReconciling, wantAfter: time.Second,
		},
		"rate limited without a reset time": {
			err: rateLimited(time.Time{}), wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonRateLimited,
			wantCond: oauthv1.ConditionReconciling, wantErr: true,
		},
		"rate limited while Ready keeps Ready": {
			err: rateLimited(now.Add(time.Second)), wasReady: true, wantReady: metav1.ConditionTrue, wantReason: oauthv1.ReasonSucceeded,
			wantCond: oauthv1.ConditionReconciling, wantAfter: time.Second,
		},
		"an OAuthAPI in spec.apis does not exist": {
			err:       waitFor(errAPINotFound, waitForAPI, "OAuthAPI default/hello (spec.apis) not found"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonAPINotFound, wantAfter: waitForAPI,
		},
		"an OAuthAPI does not allow the client": {
			err:       waitFor(errAPINotAllowed, 0, "OAuthAPI default/hello does not allow OAuthClient team-b/c"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonAPINotAllowed, wantCond: oauthv1.ConditionStalled,
		},
		"a scope the OAuthAPI does not declare": {
			err:       waitFor(errScopeNotInAPI, 0, "OAuthAPI default/hello does not declare the scope \"x\""),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonScopeNotInAPI, wantCond: oauthv1.ConditionStalled,
		},
		"a scope an earlier OAuthAPI claims": {
			err:       waitFor(errScopeConflict, 0, "scope hello:read declared first by OAuthAPI default/other"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonScopeConflict, wantCond: oauthv1.ConditionStalled,
		},
		"the app spec.adopt names does not exist": {
			err:       &provider.Error{Class: provider.ErrNoSuchApp, Op: "look up app", Err: errors.New("no app with client id x")},
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonNotAdoptable, wantCond: oauthv1.ConditionStalled, wantAfter: adoptRecheck,
		},
		"credentials refused": {
			err:       provider.Errorf(provider.ErrUnauthorized, "get app", "401"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonInvalidAPIToken, wantAfter: refusedCredentialsRecheck, wantForget: true,
		},
		"oauth client refused": {
			err:       provider.Errorf(provider.ErrOAuthClientRejected, "list apps", "invalid_client"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonOAuthClientRejected, wantAfter: refusedCredentialsRecheck, wantForget: true,
		},
		"oauth scope not granted": {
			err:       provider.Errorf(provider.ErrOAuthScopeNotGranted, "list apps", "invalid_scope"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonOAuthScopeNotGranted, wantAfter: refusedCredentialsRecheck, wantForget: true,
		},
		"dpop proof refused": {
			err:       provider.Errorf(provider.ErrDPoPRejected, "get app", "invalid_dpop_proof"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonDPoPRejected, wantAfter: refusedCredentialsRecheck, wantForget: true,
		},
		"credentialsFrom Secret missing": {
			err:       fmt.Errorf("%w: Secret ns/from-vault not found", provider.ErrCredentialsSecretNotFound),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonCredentialsSecretNotFound, wantAfter: missingSecretRecheck,
		},
		"credentialsFrom value refused": {
			err:       provider.Errorf(provider.ErrSecretValueRefused, "create client secret", "client_secret must be at least 14 characters long"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonCredentialsSecretInvalid, wantCond: oauthv1.ConditionStalled,
			wantAfter: missingSecretRecheck,
		},
		"observed secret not readable": {
			err:       provider.Errorf(provider.ErrSecretNotReadable, "read client secrets", "hash only"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonSecretNotReadable, wantAfter: featureRecheck,
		},
		"private key Secret missing": {
			err:       fmt.Errorf("%w: %w: Secret ns/key not found", provider.ErrPrivateKeyNotFound, provider.ErrSecretNotFound),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonPrivateKeySecretNotFound, wantAfter: missingSecretRecheck,
		},
		"private key not usable": {
			err:       fmt.Errorf("%w: key \"private.pem\" of Secret ns/key: not PEM", provider.ErrPrivateKeyInvalid),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonPrivateKeyInvalid, wantAfter: missingSecretRecheck,
		},
		"forbidden is not an invalid token": {
			err:       provider.Errorf(provider.ErrForbidden, "create access policy", "403"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonForbidden, wantAfter: refusedCredentialsRecheck, wantForget: true,
		},
		"feature not enabled": {
			err:       provider.Errorf(provider.ErrFeatureNotEnabled, "list access policies", "401 E0000015"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonFeatureNotEnabled, wantAfter: featureRecheck,
		},
		"transient": {
			err:       provider.Errorf(provider.ErrTransient, "get app", "503"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonBackendError, wantCond: oauthv1.ConditionReconciling, wantErr: true,
		},
		"permanent": {
			err:       provider.Errorf(provider.ErrPermanent, "create app", "400"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonBackendRejected, wantCond: oauthv1.ConditionStalled, wantAfter: -1,
		},
		"conflict": {
			err:       provider.Errorf(provider.ErrConflict, "create secret", "two secrets"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonBackendRejected, wantCond: oauthv1.ConditionStalled, wantAfter: -1,
		},
		"credentials Secret missing": {
			err:       fmt.Errorf("%w: Secret ns/tok not found", provider.ErrSecretNotFound),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonAPITokenSecretNotFound, wantAfter: missingSecretRecheck,
		},
		"credentials Secret not labelled": {
			err:       fmt.Errorf("%w: Secret ns/tok", provider.ErrSecretNotLabelled),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonCredentialsSecretNotLabelled, wantAfter: missingSecretRecheck,
		},
		"credentials Secret in another namespace": {
			err:       fmt.Errorf("%w: Secret other/tok", provider.ErrSecretForbidden),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonInvalidSpec, wantCond: oauthv1.ConditionStalled,
		},
		"invalid provider": {
			err:       fmt.Errorf("%w: the spec sets no backend", provider.ErrInvalidProvider),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonInvalidSpec, wantCond: oauthv1.ConditionStalled,
		},
		"unclassified": {
			err:       errors.New("the API server is away"),
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonProgressing, wantCond: oauthv1.ConditionReconciling, wantErr: true,
		},
		"a phase's wait": {
			err:       &conditionError{kind: waitKind, reason: oauthv1.ReasonProviderNotFound, msg: "gone", retryAfter: waitForProvider},
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonProviderNotFound, wantAfter: waitForProvider,
		},
		"a phase's wait with a negative retry": {
			err:       &conditionError{kind: waitKind, reason: oauthv1.ReasonProviderNotFound, msg: "gone", retryAfter: -time.Second},
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonProviderNotFound, wantErr: true,
		},
		"a phase's stall": {
			err:       &conditionError{kind: stallKind, reason: oauthv1.ReasonSecretConflict, msg: "taken", retryAfter: secretConflictRecheck},
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonSecretConflict, wantCond: oauthv1.ConditionStalled, wantAfter: secretConflictRecheck,
		},
		"a phase's failure keeps nothing Ready": {
			err: &conditionError{kind: failKind, reason: oauthv1.ReasonUnreachable, msg: "down"}, wasReady: true,
			wantReady: metav1.ConditionFalse, wantReason: oauthv1.ReasonUnreachable, wantCond: oauthv1.ConditionReconciling, wantErr: true,
		},
		"a phase's progress while Ready keeps Ready": {
			err: &conditionError{kind: progressKind, reason: oauthv1.ReasonTokenRequestFailed, msg: "refused"}, wasReady: true,
			wantReady: metav1.ConditionTrue, wantReason: oauthv1.ReasonSucceeded, wantCond: oauthv1.ConditionReconciling, wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var list []metav1.Condition
			conds := conditions{list: &list, generation: 3}
			if tc.wasReady {
				conds.ready(oauthv1.ReasonSucceeded, "fine")
			}
			v := judge(tc.err, now, time.Minute)
			res, err := v.apply(conds, tc.wasReady, tc.err)

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
				t.Errorf("error returned = %v, want returned: %v", err, tc.wantErr)
			}
			if err != nil {
				// The returned error is the one judged, carrying its reason for the
				// framework's "Reconciler error" line.
				if reason, ok := logreason.Of(err); !ok || reason != v.reason || reason == "" {
					t.Errorf("returned error carries reason %q (%v), want %q", reason, ok, v.reason)
				}
				if !errors.Is(err, tc.err) || err.Error() != tc.err.Error() {
					t.Errorf("returned error %v is not the judged one %v", err, tc.err)
				}
			}
			if v.credentialsRefused != tc.wantForget {
				t.Errorf("credentialsRefused = %v, want %v", v.credentialsRefused, tc.wantForget)
			}
			ready := meta.FindStatusCondition(list, oauthv1.ConditionReady)
			if ready == nil || ready.Status != tc.wantReady || ready.Reason != tc.wantReason || ready.ObservedGeneration != 3 {
				t.Errorf("Ready = %+v, want %s/%s for generation 3", ready, tc.wantReady, tc.wantReason)
			}
			for _, typ := range []string{oauthv1.ConditionReconciling, oauthv1.ConditionStalled} {
				if present := meta.IsStatusConditionTrue(list, typ); present != (typ == tc.wantCond) {
					t.Errorf("%s present = %v, want %v (%v)", typ, present, typ == tc.wantCond, list)
				}
			}
		})
	}
}

func TestDenialBackoff(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var d clientMemory
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		if got := d.denied("uid", "k", now); got != w {
			t.Fatalf("denial %d: wait %v, want %v", i+1, got, w)
		}
	}
	tests := map[string]struct {
		key      string
		at       time.Time
		wantHold bool
	}{
		"same key, within the wait":   {key: "k", at: now.Add(9 * time.Minute), wantHold: true},
		"same key, after the wait":    {key: "k", at: now.Add(10 * time.Minute)},
		"spec or annotations changed": {key: "k2", at: now.Add(time.Second)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, hold := d.holdingDenial("uid", tc.key, tc.at); hold != tc.wantHold {
				t.Fatalf("holding = %v, want %v", hold, tc.wantHold)
			}
		})
	}
	d.accepted("uid")
	if got := d.denied("uid", "k", now); got != time.Minute {
		t.Fatalf("after reset: %v, want 1m", got)
	}
}
