package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/secrettemplate"
)

// Classes of a refused spec.apis entry (verdict.go maps each to its reason).
var (
	// errAPINotFound: the OAuthAPI does not exist.
	errAPINotFound = errors.New("oauthapi not found")
	// errAPINotAllowed: the OAuthAPI does not allow the client, or lives on another provider.
	errAPINotAllowed = errors.New("oauthapi does not allow the client")
	// errScopeNotInAPI: a scope asked for is not one of the OAuthAPI's.
	errScopeNotInAPI = errors.New("scope not declared by the oauthapi")
	// errScopeConflict: the scope belongs to an earlier OAuthAPI on the same authorization
	// server.
	errScopeConflict = errors.New("scope claimed by another oauthapi")
)

// waitForAPI is how often a client whose OAuthAPI does not exist looks again (the OAuthAPI
// watch usually wakes it sooner).
const waitForAPI = waitForProvider

// grants is what resolveAPIs found: everything the client is granted, which every later
// phase uses instead of spec.scopes and spec.audiences.
type grants struct {
	// scopes: spec.scopes, then the granted scopes of spec.apis, without repeats.
	scopes []string
	// audiences: the granted APIs' audiences, then spec.audiences, without repeats.
	audiences []string
	// refused is the first refused spec.apis entry (nil when all were granted). The
	// grants above leave it out.
	refused error
}

// key identifies the grants, to tell when the backend must be told again.
func (g grants) key() string {
	return strings.Join(g.scopes, " ") + "\x00" + strings.Join(g.audiences, " ")
}

// resolveAPIs checks every spec.apis entry against its OAuthAPI, before any backend call:
// the API exists (else APINotFound), lives on the client's provider and allows the client
// (else APINotAllowed, naming the API), declares every scope asked for (else ScopeNotInAPI,
// naming the API and scope), and owns it on its authorization server (else ScopeConflict).
// Refused entries are left out of the grants and reported in refused; the caller decides
// whether the backend must be told (a client that had them).
func (r *OAuthClientReconciler) resolveAPIs(ctx context.Context, obj *oauthv1.OAuthClient) (grants, error) {
	g := grants{scopes: appendNew(nil, obj.Spec.Scopes...)}
	var apiAudiences []string
	owners := map[string]map[string]*oauthv1.OAuthAPI{}
	for _, ref := range obj.Spec.APIs {
		api, err := r.grantOf(ctx, obj, ref, owners)
		if err != nil {
			var ce *conditionError
			if errors.As(err, &ce) || !isRefusal(err) {
				return g, err
			}
			if g.refused == nil {
				g.refused = err
			}
			continue
		}
		g.scopes = appendNew(g.scopes, ref.Scopes...)
		if aud := apiAudience(api); aud != "" {
			apiAudiences = appendNew(apiAudiences, aud)
		}
	}
	g.audiences = appendNew(apiAudiences, obj.Spec.Audiences...)
	if err := r.checkNamedDirectly(ctx, obj, &g); err != nil {
		return g, err
	}
	return g, nil
}

// checkNamedDirectly refuses what spec.scopes and spec.audiences name directly that
// belongs to an OAuthAPI on the client's provider which does not allow the client: an
// API's scopes and audience are granted by the API (allowedClients), never by naming them.
// A refused value is left out of the grants and reported like a refused spec.apis entry
// (APINotAllowed, naming the API). What no OAuthAPI claims stays as before: the provider's
// allowedScopes decide.
func (r *OAuthClientReconciler) checkNamedDirectly(ctx context.Context, obj *oauthv1.OAuthClient, g *grants) error {
	if len(obj.Spec.Scopes) == 0 && len(obj.Spec.Audiences) == 0 {
		return nil
	}
	pk := providerIndexValue(obj.Spec.ProviderRef.Kind, obj.Namespace, obj.Spec.ProviderRef.Name)
	owners, err := scopeOwners(ctx, r.Client, pk)
	if err != nil {
		return err
	}
	var apis oauthv1.OAuthAPIList
	if err := r.List(ctx, &apis, client.MatchingFields{apiProviderIndexKey: pk}); err != nil {
		return fmt.Errorf("list oauthapis: %w", err)
	}
	allowed := map[string]bool{} // by API namespace/name
	allows := func(api *oauthv1.OAuthAPI) (bool, string, error) {
		k := apiKey(api.Namespace, api.Name)
		if ok, seen := allowed[k]; seen && ok {
			return true, "", nil
		}
		ok, why, err := apiAllows(ctx, r.Client, api, obj.Namespace, obj.Name)
		if err == nil {
			allowed[k] = ok
		}
		return ok, why, err
	}
	refuse := func(what, value string, api *oauthv1.OAuthAPI, why string) {
		if g.refused == nil {
			g.refused = waitFor(errAPINotAllowed, 0, fmt.Sprintf("%s names %q, which belongs to OAuthAPI %s; it does not allow OAuthClient %s: %s",
				what, value, apiKey(api.Namespace, api.Name), apiKey(obj.Namespace, obj.Name), why))
		}
	}
	for _, s := range obj.Spec.Scopes {
		api := owners[s]
		if api == nil {
			continue
		}
		ok, why, err := allows(api)
		if err != nil {
			return err
		}
		if !ok {
			g.scopes = slices.DeleteFunc(g.scopes, func(x string) bool { return x == s })
			refuse("spec.scopes", s, api, why)
		}
	}
	for _, a := range obj.Spec.Audiences {
		for i := range apis.Items {
			api := &apis.Items[i]
			if apiAudience(api) != a {
				continue
			}
			ok, why, err := allows(api)
			if err != nil {
				return err
			}
			if !ok {
				g.audiences = slices.DeleteFunc(g.audiences, func(x string) bool { return x == a })
				refuse("spec.audiences", a, api, why)
			}
			break
		}
	}
	return nil
}

// grantOf checks one spec.apis entry and returns its OAuthAPI when the grant holds.
func (r *OAuthClientReconciler) grantOf(ctx context.Context, obj *oauthv1.OAuthClient, ref oauthv1.APIGrant,
	owners map[string]map[string]*oauthv1.OAuthAPI) (*oauthv1.OAuthAPI, error) {
	name := apiKey(ref.Namespace, ref.Name)
	api := &oauthv1.OAuthAPI{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, api); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, waitFor(errAPINotFound, waitForAPI, fmt.Sprintf("OAuthAPI %s (spec.apis) not found", name))
		}
		return nil, err
	}
	if !api.DeletionTimestamp.IsZero() {
		return nil, waitFor(errAPINotFound, waitForAPI, fmt.Sprintf("OAuthAPI %s (spec.apis) is being deleted", name))
	}
	if apiProviderKey(api) != providerIndexValue(obj.Spec.ProviderRef.Kind, obj.Namespace, obj.Spec.ProviderRef.Name) {
		return nil, waitFor(errAPINotAllowed, 0, fmt.Sprintf(
			"OAuthAPI %s is served by %s %q, not by this client's provider: its tokens come from another authorization server",
			name, api.Spec.ProviderRef.Kind, api.Spec.ProviderRef.Name))
	}
	ok, why, err := apiAllows(ctx, r.Client, api, obj.Namespace, obj.Name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, waitFor(errAPINotAllowed, 0, fmt.Sprintf("OAuthAPI %s does not allow OAuthClient %s: %s",
			name, apiKey(obj.Namespace, obj.Name), why))
	}
	for _, s := range ref.Scopes {
		if !apiDeclares(api, s) {
			return nil, waitFor(errScopeNotInAPI, 0, fmt.Sprintf("OAuthAPI %s does not declare the scope %q (spec.apis)", name, s))
		}
	}
	pk := apiProviderKey(api)
	if owners[pk] == nil {
		o, err := scopeOwners(ctx, r.Client, pk)
		if err != nil {
			return nil, err
		}
		owners[pk] = o
	}
	for _, s := range ref.Scopes {
		if o := owners[pk][s]; o != nil && o.UID != api.UID {
			return nil, waitFor(errScopeConflict, 0, fmt.Sprintf("the scope %q of OAuthAPI %s belongs to OAuthAPI %s, which declared it first on the same authorization server",
				s, name, apiKey(o.Namespace, o.Name)))
		}
	}
	return api, nil
}

// isRefusal reports whether err refuses a spec.apis entry.
func isRefusal(err error) bool {
	for _, c := range []error{errAPINotFound, errAPINotAllowed, errScopeNotInAPI, errScopeConflict} {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}

// appendNew appends the values not in to yet, in order.
func appendNew(to []string, values ...string) []string {
	for _, v := range values {
		if !slices.Contains(to, v) {
			to = append(to, v)
		}
	}
	return to
}

// withdrawGrants runs for a client that has an app when a spec.apis entry is refused
// (be.granted leaves it out): the backend is told the smaller grants — the app's scopes and
// audiences (reconcileApp already did, on backends that keep them on the app) and the
// managed access policy's rule (deleted when no scope is left) — so the authorization
// server refuses the withdrawn scopes from the next token request on. The Secret is left as
// it is unless the app phase issued credentials that must be published. The refusal is the
// verdict.
func (r *OAuthClientReconciler) withdrawGrants(ctx context.Context, obj *oauthv1.OAuthClient, be backend,
	app appObservation, key keyPlan, src secretSource, tmpl *secrettemplate.Templates, sp *statusPatcher) error {
	if app.answered != nil || app.needSecret || key.issued != "" {
		plan, err := r.reconcileCredentials(ctx, obj, be, app, key, src, sp)
		if err != nil {
			return err
		}
		if err := r.reconcileSecret(ctx, obj, be, app.secret, app.state, plan, tmpl); err != nil {
			return err
		}
	}
	if _, err := r.reconcileAccessPolicy(ctx, obj, be, true); err != nil {
		return err
	}
	wake, err := r.retireDuringRefusal(ctx, obj, be, sp)
	if err != nil {
		return err
	}
	if wake > 0 {
		return withWait(be.granted.refused, wake)
	}
	return be.granted.refused
}

// withWait is err with a known wait before the next look, its message kept.
func withWait(err error, after time.Duration) error {
	//nolint:errorlint // only a note made by waitFor itself is copied; anything else is wrapped
	if n, ok := err.(*note); ok {
		c := *n
		c.after = after
		return &c
	}
	return waitFor(err, after, "")
}

// retireDuringRefusal keeps a rotation by a new client going while a grant is refused
// (the refusal is a stall, which waits for a change): the previous client — withdrawn from
// already, reconcileGenerations — is deleted when its grace period is over, as
// retireSecrets would. While consumers restarted by spec.rotation.restart may still roll
// out (their readiness is not looked at here) it waits until maxGracePeriod. It returns
// when to look again (0: no wait).
func (r *OAuthClientReconciler) retireDuringRefusal(ctx context.Context, obj *oauthv1.OAuthClient, be backend, sp *statusPatcher) (time.Duration, error) {
	if obj.Status.PreviousClient == nil {
		return 0, nil
	}
	now := r.now()
	due := now
	if t := obj.Status.RetireAfter; t != nil && now.Before(t.Time) {
		due = t.Time
	}
	if ro := obj.Status.Rollout; ro != nil && !rolloutOverdue(obj, now) {
		due = maxTime(due, ro.PublishedAt.Add(maxGracePeriod(obj)))
	}
	if now.Before(due) {
		return max(due.Sub(now), time.Second), nil
	}
	if err := r.retirePreviousClient(ctx, obj, be, sp); err != nil {
		return 0, err
	}
	if obj.Status.PreviousClient != nil {
		// The Secret does not hold the current client yet: look again soon.
		return consumerPoll, nil
	}
	r.endRollout(ctx, obj, consumerState{}, now)
	return 0, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
