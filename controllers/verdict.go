package controllers

import (
	"errors"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/logreason"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Waits after failures the controllers cannot fix themselves.
const (
	// missingSecretRecheck is when a provider whose credentials Secret is missing looks again.
	missingSecretRecheck = 15 * time.Second
	// refusedCredentialsRecheck is when a provider whose credentials the backend refused
	// looks again.
	refusedCredentialsRecheck = time.Minute
	// featureRecheck is when a provider or client whose backend lacks a feature looks again.
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
	// progressKind is working on it (Reconciling); Ready stays True if it was for this
	// generation.
	progressKind conditionKind = iota
	// failKind is working on it (Reconciling), and Ready turns False.
	failKind
	// waitKind is waiting for something outside the object (a provider, a Secret): Ready
	// False, neither Reconciling nor Stalled.
	waitKind
	// stallKind is what needs a human (Stalled).
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
	// credentialsRefused says the backend refused the provider's credentials; its cached
	// client must go so the Secret is read again.
	credentialsRefused bool
	// rateLimited says the reconcile stopped to wait for the backend's rate limit.
	rateLimited bool
	// logged says this is a refusal the framework will not log (no error is returned).
	logged bool
}

// stage is where an error happened; the same class can mean different things in
// different places (a refused client secret at the token endpoint is the client's problem,
// a 5xx during a health check makes the provider unreachable).
type stage uint8

const (
	// stageClient is a backend call or a Secret read of an OAuthClient's phases, or loading
	// a provider's backend client.
	stageClient stage = 1 << iota
	// stageToken is the token request with an OAuthClient's published credentials.
	stageToken
	// stageHealth is a provider's health check call (credentials and metadata).
	stageHealth

	allStages = stageClient | stageToken | stageHealth
)

// rule is one row of verdicts: an error of class in one of the stages at gets this
// verdict. A nil class matches every error (the default of a stage).
type rule struct {
	class error
	at    stage
	kind  conditionKind
	// reason of the Ready (and Stalled) condition.
	reason string
	// prefix, when set, comes before the error in the condition's message; hint after it.
	prefix, hint string
	// after is the known wait before the next look (0: back off, or wait for a change).
	after time.Duration
	// credentialsRefused says the provider's cached backend client must go.
	credentialsRefused bool
	// passedToClients says a provider whose health check failed with this reason gives it to
	// the OAuthClients waiting for it (it is about the provider's credentials).
	passedToClients bool
	// logged says the framework will not log the error (no error is returned), so it is logged.
	logged bool
}

// rules is the one table from error classes to condition reasons; the first row whose
// class and stage match decides. Adding a reason means adding a row here (and a case to
// TestJudge or TestJudgeStages). Phases never name a reason for an error: they may add
// words (explain), a wait (waitFor) or say the backend needs a moment (retrying), and a
// conditionError is only for what is not an error of a call (a provider that is missing,
// a Secret someone else owns, an invalid spec).
var rules = []rule{
	// spec.credentialsFrom: the user's Secret is waited for, never replaced by a generated
	// secret; a value the backend refuses needs the user (the message never holds it).
	{class: provider.ErrCredentialsSecretNotFound, at: stageClient, kind: waitKind, reason: oauthv1.ReasonCredentialsSecretNotFound,
		after: missingSecretRecheck,
		hint:  "; create it (or let an ExternalSecret fill it) with the client secret under the key spec.credentialsFrom.secretRef names"},
	{class: provider.ErrSecretValueRefused, at: stageClient, kind: stallKind, reason: oauthv1.ReasonCredentialsSecretInvalid,
		after: missingSecretRecheck, prefix: "The backend refused the client secret in the Secret spec.credentialsFrom names",
		hint: "; put a value the backend accepts there"},
	// Observe on a backend that does not return client secret values.
	{class: provider.ErrSecretNotReadable, at: stageClient, kind: waitKind, reason: oauthv1.ReasonSecretNotReadable,
		after: featureRecheck, prefix: "The observed app's client secret cannot be published",
		hint: "; set spec.credentialsFrom to a Secret holding it"},
	{class: provider.ErrPrivateKeyNotFound, at: stageClient, kind: waitKind, reason: oauthv1.ReasonPrivateKeySecretNotFound,
		after: missingSecretRecheck, passedToClients: true,
		hint: "; create it with the PEM private key of the provider's OAuth client under the key the reference names"},
	{class: provider.ErrPrivateKeyInvalid, at: stageClient, kind: waitKind, reason: oauthv1.ReasonPrivateKeyInvalid,
		after: missingSecretRecheck, passedToClients: true},
	{class: provider.ErrSecretNotFound, at: stageClient, kind: waitKind, reason: oauthv1.ReasonAPITokenSecretNotFound,
		after: missingSecretRecheck, passedToClients: true},
	{class: provider.ErrSecretNotLabelled, at: stageClient, kind: waitKind, reason: oauthv1.ReasonCredentialsSecretNotLabelled,
		after: missingSecretRecheck, passedToClients: true},
	{class: provider.ErrInsecureURL, at: stageClient, kind: stallKind, reason: oauthv1.ReasonInsecureURL},
	// spec.adopt names an app the backend does not have; it may be made there later.
	{class: provider.ErrNoSuchApp, at: stageClient, kind: stallKind, reason: oauthv1.ReasonNotAdoptable, after: adoptRecheck,
		hint: "; check spec.adopt"},
	{class: provider.ErrInvalidProvider, at: stageClient, kind: stallKind, reason: oauthv1.ReasonInvalidSpec},
	{class: provider.ErrSecretForbidden, at: stageClient, kind: stallKind, reason: oauthv1.ReasonInvalidSpec},
	// OAuthAPIs (oauthclient_apis.go, oauthapi_controller.go): refusals decided from the
	// cluster alone, before any backend call. A missing API may be created later (and its
	// watch wakes the client); the others need someone to change a spec.
	{class: errAPINotFound, at: stageClient, kind: waitKind, reason: oauthv1.ReasonAPINotFound, after: waitForAPI},
	{class: errAPINotAllowed, at: stageClient, kind: stallKind, reason: oauthv1.ReasonAPINotAllowed},
	{class: errScopeNotInAPI, at: stageClient, kind: stallKind, reason: oauthv1.ReasonScopeNotInAPI},
	{class: errScopeConflict, at: stageClient, kind: stallKind, reason: oauthv1.ReasonScopeConflict},
	// At the token endpoint: the client's own credentials and scopes.
	{class: provider.ErrAccessDenied, at: stageToken, kind: waitKind, reason: oauthv1.ReasonAccessPolicyDenied},
	{class: provider.ErrInvalidClient, at: stageToken, kind: progressKind, reason: oauthv1.ReasonTokenRequestFailed},
	{class: provider.ErrInvalidScope, at: stageToken | stageClient, kind: progressKind, reason: oauthv1.ReasonInvalidScope},
	{class: provider.ErrRateLimited, at: allStages, kind: progressKind, reason: oauthv1.ReasonRateLimited,
		prefix: "Waiting for the backend's rate limit to reset"},
	{class: provider.ErrOAuthClientRejected, at: stageClient | stageHealth, kind: waitKind, reason: oauthv1.ReasonOAuthClientRejected,
		after: refusedCredentialsRecheck, credentialsRefused: true, passedToClients: true,
		prefix: "The backend refused the provider's OAuth client"},
	{class: provider.ErrOAuthScopeNotGranted, at: stageClient | stageHealth, kind: waitKind, reason: oauthv1.ReasonOAuthScopeNotGranted,
		after: refusedCredentialsRecheck, credentialsRefused: true, passedToClients: true,
		prefix: "The backend did not grant the provider's OAuth scopes"},
	{class: provider.ErrDPoPRejected, at: stageClient | stageHealth, kind: waitKind, reason: oauthv1.ReasonDPoPRejected,
		after: refusedCredentialsRecheck, credentialsRefused: true, passedToClients: true,
		prefix: "The backend refused the provider's DPoP proof"},
	{class: provider.ErrUnauthorized, at: stageClient | stageHealth, kind: waitKind, reason: oauthv1.ReasonInvalidAPIToken,
		after: refusedCredentialsRecheck, credentialsRefused: true, passedToClients: true,
		prefix: "The backend refused the API token"},
	// A valid token whose admin role may not make the call; the message names the call and
	// the role. A new token (or role) is read on the next attempt.
	{class: provider.ErrForbidden, at: stageClient | stageHealth, kind: waitKind, reason: oauthv1.ReasonForbidden,
		after: refusedCredentialsRecheck, credentialsRefused: true, passedToClients: true,
		prefix: "The backend's API token may not make a call the operator needs"},
	{class: provider.ErrFeatureNotEnabled, at: stageClient | stageHealth, kind: waitKind, reason: oauthv1.ReasonFeatureNotEnabled,
		after: featureRecheck, passedToClients: true,
		prefix: "The backend org lacks a feature the operator needs"},
	{class: provider.ErrTransient, at: stageClient | stageToken, kind: progressKind, reason: oauthv1.ReasonBackendError},
	{class: provider.ErrTransient, at: stageHealth, kind: failKind, reason: oauthv1.ReasonUnreachable,
		prefix: "The backend could not be reached"},
	// A hostile or broken backend: an answer over provider.MaxResponseBytes, or a redirect.
	// Neither is retried before the resync (or the next health check).
	{class: provider.ErrResponseTooLarge, at: stageClient | stageHealth, kind: stallKind, reason: oauthv1.ReasonResponseTooLarge, logged: true},
	{class: provider.ErrRedirectRefused, at: stageClient | stageHealth, kind: stallKind, reason: oauthv1.ReasonRedirectRefused, logged: true},
	{class: provider.ErrPermanent, at: stageClient, kind: stallKind, reason: oauthv1.ReasonBackendRejected, logged: true},
	{class: provider.ErrConflict, at: stageClient, kind: stallKind, reason: oauthv1.ReasonBackendRejected, logged: true},
	// Defaults.
	{at: stageClient, kind: progressKind, reason: oauthv1.ReasonProgressing},
	{at: stageToken, kind: progressKind, reason: oauthv1.ReasonTokenRequestFailed,
		prefix: "The token request with the published credentials failed"},
	{at: stageHealth, kind: waitKind, reason: oauthv1.ReasonDiscoveryFailed},
}

// passedToClients reports whether a provider's Ready reason is one the OAuthClients
// waiting for it show as their own.
func passedToClients(reason string) bool {
	for _, r := range rules {
		if r.passedToClients && r.reason == reason {
			return true
		}
	}
	return false
}

// judge maps a failed OAuthClient reconcile's error to its verdict (judgeAt stageClient).
func judge(err error, now time.Time, resync time.Duration) verdict {
	return judgeAt(stageClient, err, now, resync)
}

// judgeAt maps an error that happened at stage to its verdict: a phase's conditionError
// as the phase said, anything else by the first matching row of rules, with the words,
// wait and urgency phases added (explain, waitFor, retrying). now is the reconciler's
// clock; resync its resync period.
func judgeAt(at stage, err error, now time.Time, resync time.Duration) verdict {
	var ce *conditionError
	var st *staged
	switch {
	case errors.As(err, &ce):
		msg := ce.msg
		if ce.kind == progressKind || ce.kind == failKind {
			msg = ce.Error()
		}
		return verdict{kind: ce.kind, reason: ce.reason, msg: msg, after: max(ce.retryAfter, 0)}
	case errors.As(err, &st):
		at = st.at
	}
	var row rule
	for _, r := range rules {
		if r.at&at != 0 && (r.class == nil || errors.Is(err, r.class)) {
			row = r
			break
		}
	}
	v := verdict{kind: row.kind, reason: row.reason, after: row.after, credentialsRefused: row.credentialsRefused,
		logged: row.logged, msg: err.Error()}
	if row.prefix != "" {
		v.msg = row.prefix + ": " + v.msg
	}
	v.msg += row.hint
	switch {
	case errors.Is(err, provider.ErrRateLimited):
		v.rateLimited = true
		if at, ok := provider.RetryAt(err); ok {
			v.after = max(at.Sub(now), time.Second)
		}
	case row.kind == stallKind && row.logged:
		// Retrying the same request cannot help; look again at the resync, when the
		// backend may have changed.
		v.after = jitter(resync)
	}
	var n *note
	if errors.As(err, &n) {
		if n.msg != "" {
			v.msg = n.msg
			if n.withErr {
				v.msg += ": " + n.err.Error()
			}
		}
		if n.after != 0 {
			v.after = max(n.after, 0)
		}
		if n.retrying {
			v.kind = progressKind
		}
	}
	return v
}

// note is what a phase adds to an error it returns: the words of the condition's
// message, a known wait, or that the backend needs a moment (so Ready stays as it was).
// The reason still comes from rules, by the class of err.
type note struct {
	err error
	// msg replaces the message; with withErr the error follows it.
	msg     string
	withErr bool
	// after is the known wait before the next look.
	after time.Duration
	// retrying says the backend needs a moment; the verdict is progress, not a wait.
	retrying bool
}

func (n *note) Error() string {
	if n.msg == "" {
		return n.err.Error()
	}
	return n.msg + ": " + n.err.Error()
}

func (n *note) Unwrap() error { return n.err }

// staged says at which stage its error happened, when not at the stage judged.
type staged struct {
	at  stage
	err error
}

func (s *staged) Error() string { return s.err.Error() }
func (s *staged) Unwrap() error { return s.err }

// atStage marks err as having happened at stage (nil stays nil).
func atStage(at stage, err error) error {
	if err == nil {
		return nil
	}
	return &staged{at: at, err: err}
}

// explain makes msg (followed by the error) the condition's message of err.
func explain(err error, msg string) error { return &note{err: err, msg: msg, withErr: true} }

// waitFor adds a known wait to err (and, when msg is set, the message without the error).
func waitFor(err error, after time.Duration, msg string) error {
	return &note{err: err, msg: msg, after: after}
}

// retrying marks err as a moment the backend needs (the reason stays; the verdict is
// progress), with msg followed by the error as the message.
func retrying(err error, msg string) error {
	return &note{err: err, msg: msg, withErr: true, retrying: true}
}

// apply sets the verdict's conditions and returns the result for err: a known wait, the
// error itself (backoff), or nothing (a stall waits for a change). Never both a wait and
// an error.
//
// A stall returns no error rather than reconcile.TerminalError(err), which the style guide
// suggests: both stop the retries, but a terminal error is also logged by the framework
// and counted as a reconcile error at every wake-up (a watched Secret, a provider's
// health check), while the Stalled condition already tells the user, and a backend's
// refusal is logged once here (verdict.logged).
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
		// The reason rides along so that the framework's "Reconciler error" line names it
		// (logreason.Logger); the error itself is unchanged.
		return ctrl.Result{}, logreason.Wrap(err, v.reason)
	}
}
