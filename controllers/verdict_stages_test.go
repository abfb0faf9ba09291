package controllers

import (
	"fmt"
	"testing"
	"time"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// TestJudgeStages pins the rows of rules that depend on where the error happened, and
// which provider reasons reach the clients waiting for it.
func TestJudgeStages(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	accessDenied := &provider.Error{Class: provider.ErrPermanent, Op: "request token", Code: provider.OAuthAccessDenied}
	tests := map[string]struct {
		at         stage
		err        error
		wantKind   conditionKind
		wantReason string
		wantRefuse bool
	}{
		"token: access_denied is a denial":                  {at: stageToken, err: accessDenied, wantKind: waitKind, wantReason: oauthv1.ReasonAccessPolicyDenied},
		"client: access_denied is a refusal of the call":    {at: stageClient, err: accessDenied, wantKind: stallKind, wantReason: oauthv1.ReasonBackendRejected},
		"token: invalid_client is the client's credentials": {at: stageToken, err: provider.Errorf(provider.ErrInvalidClient, "request token", "401"), wantKind: progressKind, wantReason: oauthv1.ReasonTokenRequestFailed},
		"client: invalid_client is progress":                {at: stageClient, err: provider.Errorf(provider.ErrInvalidClient, "x", "401"), wantKind: progressKind, wantReason: oauthv1.ReasonProgressing},
		"token: scopes refused":                             {at: stageToken, err: provider.Errorf(provider.ErrInvalidScope, "request token", "400"), wantKind: progressKind, wantReason: oauthv1.ReasonInvalidScope},
		"token: a refused API token is not the client's":    {at: stageToken, err: provider.Errorf(provider.ErrUnauthorized, "request token", "401"), wantKind: progressKind, wantReason: oauthv1.ReasonTokenRequestFailed},
		"token: transient is a backend error":               {at: stageToken, err: provider.Errorf(provider.ErrTransient, "request token", "503"), wantKind: progressKind, wantReason: oauthv1.ReasonBackendError},
		"token: anything else failed the request":           {at: stageToken, err: provider.Errorf(provider.ErrPermanent, "request token", "400"), wantKind: progressKind, wantReason: oauthv1.ReasonTokenRequestFailed},
		"health: transient is unreachable":                  {at: stageHealth, err: provider.Errorf(provider.ErrTransient, "get metadata", "503"), wantKind: failKind, wantReason: oauthv1.ReasonUnreachable},
		"health: a refused API token":                       {at: stageHealth, err: provider.Errorf(provider.ErrUnauthorized, "list apps", "401"), wantKind: waitKind, wantReason: oauthv1.ReasonInvalidAPIToken, wantRefuse: true},
		"health: forbidden":                                 {at: stageHealth, err: provider.Errorf(provider.ErrForbidden, "list apps", "403"), wantKind: waitKind, wantReason: oauthv1.ReasonForbidden, wantRefuse: true},
		"health: anything else is a discovery failure":      {at: stageHealth, err: provider.Errorf(provider.ErrPermanent, "get metadata", "404"), wantKind: waitKind, wantReason: oauthv1.ReasonDiscoveryFailed},
		"health: an unclassified error too":                 {at: stageHealth, err: fmt.Errorf("metadata: bad JSON"), wantKind: waitKind, wantReason: oauthv1.ReasonDiscoveryFailed},
		"a marked stage wins over the judged one":           {at: stageClient, err: atStage(stageHealth, provider.Errorf(provider.ErrTransient, "x", "503")), wantKind: failKind, wantReason: oauthv1.ReasonUnreachable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := judgeAt(tc.at, tc.err, now, time.Minute)
			if v.kind != tc.wantKind || v.reason != tc.wantReason || v.credentialsRefused != tc.wantRefuse {
				t.Errorf("verdict %+v, want kind %d reason %s refused %v", v, tc.wantKind, tc.wantReason, tc.wantRefuse)
			}
		})
	}

	// The reasons a provider gives its waiting clients: those about its own credentials.
	passed := map[string]bool{}
	for _, r := range rules {
		if passedToClients(r.reason) {
			passed[r.reason] = true
		}
	}
	want := []string{oauthv1.ReasonAPITokenSecretNotFound, oauthv1.ReasonCredentialsSecretNotLabelled, oauthv1.ReasonInvalidAPIToken,
		oauthv1.ReasonPrivateKeySecretNotFound, oauthv1.ReasonPrivateKeyInvalid,
		oauthv1.ReasonOAuthClientRejected, oauthv1.ReasonOAuthScopeNotGranted, oauthv1.ReasonDPoPRejected,
		oauthv1.ReasonForbidden, oauthv1.ReasonFeatureNotEnabled}
	for _, r := range want {
		if !passed[r] {
			t.Errorf("provider reason %s is not passed to its clients", r)
		}
	}
	if len(passed) != len(want) {
		t.Errorf("passed to clients: %v, want exactly %v", passed, want)
	}
}
