package controllers

import (
	"errors"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Waits after failures the controllers cannot fix themselves.
const (
	// missingSecretRecheck: a provider whose credentials Secret is missing looks again.
	missingSecretRecheck = 15 * time.Second
	// refusedCredentialsRecheck: a provider whose credentials the backend refused looks again.
	refusedCredentialsRecheck = time.Minute
	// featureRecheck: a provider or client whose backend lacks a feature looks again.
	featureRecheck = 5 * time.Minute
)

// conditionError is a phase's verdict on its own failure, when the class of the error
// alone would not say it right (a missing provider, a Secret owned by someone else, a
// refused token request).
type conditionError struct {
	kind       conditionKind
	reason     string
	msg        string
	retryAfter time.Duration
	err        error
}

func (e *conditionError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *conditionError) Unwrap() error { return e.err }

// conditionKind is which of the kstatus conditions a failure sets.
type conditionKind int

const (
	// progressKind: working on it (Reconciling); Ready stays True if it was for this
	// generation.
	progressKind conditionKind = iota
	// failKind: working on it (Reconciling), and Ready turns False.
	failKind
	// waitKind: waiting for something outside the object (a provider, a Secret): Ready
	// False, neither Reconciling nor Stalled.
	waitKind
	// stallKind: needs a human (Stalled).
	stallKind
)

// verdict is what the outcome of a reconcile means: the conditions to set and when to
// look again.
type verdict struct {
	kind   conditionKind
	reason string
	msg    string
	// after, when > 0, is a known wait: look again then, without backoff. Otherwise the
	// error is returned and retried with backoff, except for a stall, which waits for a
	// change of the object.
	after time.Duration
	// credentialsRefused: the backend refused the provider's credentials; its cached
	// client must go so the Secret is read again.
	credentialsRefused bool
	// rateLimited: the reconcile stopped to wait for the backend's rate limit.
	rateLimited bool
	// logged: a refusal the framework will not log (no error is returned).
	logged bool
}

// judge maps a failed reconcile's error to its verdict. It is the one place where error
// classes turn into condition reasons; phases that need another reason return a
// conditionError. now is the reconciler's clock; resync its resync period.
func judge(err error, now time.Time, resync time.Duration) verdict {
	var ce *conditionError
	switch {
	case errors.As(err, &ce):
		msg := ce.msg
		if ce.kind == progressKind || ce.kind == failKind {
			msg = ce.Error()
		}
		return verdict{kind: ce.kind, reason: ce.reason, msg: msg, after: max(ce.retryAfter, 0)}
	case errors.Is(err, provider.ErrPrivateKeyNotFound):
		return verdict{kind: waitKind, reason: oauthv1.ReasonPrivateKeySecretNotFound, after: missingSecretRecheck,
			msg: err.Error() + "; create it with the PEM private key of the provider's OAuth client under the key the reference names"}
	case errors.Is(err, provider.ErrPrivateKeyInvalid):
		return verdict{kind: waitKind, reason: oauthv1.ReasonPrivateKeyInvalid, msg: err.Error(), after: missingSecretRecheck}
	case errors.Is(err, provider.ErrSecretNotFound):
		return verdict{kind: waitKind, reason: oauthv1.ReasonAPITokenSecretNotFound, msg: err.Error(), after: missingSecretRecheck}
	case errors.Is(err, provider.ErrSecretNotLabelled):
		return verdict{kind: waitKind, reason: oauthv1.ReasonCredentialsSecretNotLabelled, msg: err.Error(), after: missingSecretRecheck}
	case errors.Is(err, provider.ErrInsecureURL):
		return verdict{kind: stallKind, reason: oauthv1.ReasonInsecureURL, msg: err.Error()}
	case errors.Is(err, provider.ErrInvalidProvider), errors.Is(err, provider.ErrSecretForbidden):
		return verdict{kind: stallKind, reason: oauthv1.ReasonInvalidSpec, msg: err.Error()}
	case errors.Is(err, provider.ErrRateLimited):
		v := verdict{kind: progressKind, reason: oauthv1.ReasonRateLimited, rateLimited: true,
			msg: "Waiting for the backend's rate limit to reset: " + err.Error()}
		if at, ok := provider.RetryAt(err); ok {
			v.after = max(at.Sub(now), time.Second)
		}
		return v
	case errors.Is(err, provider.ErrOAuthClientRejected):
		return verdict{kind: waitKind, reason: oauthv1.ReasonOAuthClientRejected, after: refusedCredentialsRecheck, credentialsRefused: true,
			msg: "The backend refused the provider's OAuth client: " + err.Error()}
	case errors.Is(err, provider.ErrOAuthScopeNotGranted):
		return verdict{kind: waitKind, reason: oauthv1.ReasonOAuthScopeNotGranted, after: refusedCredentialsRecheck, credentialsRefused: true,
			msg: "The backend did not grant the provider's OAuth scopes: " + err.Error()}
	case errors.Is(err, provider.ErrDPoPRejected):
		return verdict{kind: waitKind, reason: oauthv1.ReasonDPoPRejected, after: refusedCredentialsRecheck, credentialsRefused: true,
			msg: "The backend refused the provider's DPoP proof: " + err.Error()}
	case errors.Is(err, provider.ErrUnauthorized):
		return verdict{kind: waitKind, reason: oauthv1.ReasonInvalidAPIToken, after: refusedCredentialsRecheck, credentialsRefused: true,
			msg: "The backend refused the API token: " + err.Error()}
	case errors.Is(err, provider.ErrForbidden):
		// A valid token whose admin role may not make the call; the message names the call
		// and the role. A new token (or role) is read on the next attempt.
		return verdict{kind: waitKind, reason: oauthv1.ReasonForbidden, after: refusedCredentialsRecheck, credentialsRefused: true,
			msg: "The backend's API token may not make a call the operator needs: " + err.Error()}
	case errors.Is(err, provider.ErrFeatureNotEnabled):
		return verdict{kind: waitKind, reason: oauthv1.ReasonFeatureNotEnabled, after: featureRecheck,
			msg: "The backend org lacks a feature the operator needs: " + err.Error()}
	case errors.Is(err, provider.ErrTransient):
		return verdict{kind: progressKind, reason: oauthv1.ReasonBackendError, msg: err.Error()}
	case errors.Is(err, provider.ErrResponseTooLarge):
		return verdict{kind: stallKind, reason: oauthv1.ReasonResponseTooLarge, msg: err.Error(), after: jitter(resync), logged: true}
	case errors.Is(err, provider.ErrRedirectRefused):
		return verdict{kind: stallKind, reason: oauthv1.ReasonRedirectRefused, msg: err.Error(), after: jitter(resync), logged: true}
	case errors.Is(err, provider.ErrPermanent), errors.Is(err, provider.ErrConflict):
		return verdict{kind: stallKind, reason: oauthv1.ReasonBackendRejected, msg: err.Error(), after: jitter(resync), logged: true}
	default:
		return verdict{kind: progressKind, reason: oauthv1.ReasonProgressing, msg: err.Error()}
	}
}

// apply sets the verdict's conditions and returns the result for err: a known wait, the
// error itself (backoff), or nothing (a stall waits for a change). Never both a wait and
// an error.
func (v verdict) apply(conds conditions, wasReady bool, err error) (ctrl.Result, error) {
	switch v.kind {
	case progressKind:
		conds.progressing(v.reason, v.msg, wasReady)
	case failKind:
		conds.progressing(v.reason, v.msg, false)
	case waitKind:
		conds.notReady(v.reason, v.msg)
	case stallKind:
		conds.stalled(v.reason, v.msg)
	}
	if v.rateLimited {
		rateLimitWaits.Inc()
	}
	switch {
	case v.after > 0:
		return ctrl.Result{RequeueAfter: v.after}, nil
	case v.kind == stallKind:
		return ctrl.Result{}, nil
	default:
		return ctrl.Result{}, err
	}
}
